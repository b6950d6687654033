"""Provider inbound webhooks (SPEC 8): requests built as Mailgun, Postmark and SendGrid
document them, through the Flask test client, into the one door and on to a handoff."""

from __future__ import annotations

import base64
import hashlib
import hmac
import io
import json
import logging
import secrets
from email import message_from_bytes, policy
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select, text

from handoff.db import make_engine, make_session_factory
from handoff.inbound_queue import process_pending
from handoff.models import Handoff, InboundMessage
from tests.conftest import SERVICE, Clock, Flow, handoff_mail, make_settings
from web import create_app
from webhooks.inbound import inbound_blueprint

MAILGUN_KEY = "mg-signing-key-0123456789"
PM_AUTH = ("pm", "secret")
SG_AUTH = ("sg", "secret")
MB = 1024 * 1024


class Inbound:
    """The app ``handoff serve`` mounts, its database, and the worker, driven by hand."""

    def __init__(self, tmp_path: Path, database_url: str, clock: Clock, **overrides: Any):
        values = dict(database_url=database_url, mailgun_signing_key=MAILGUN_KEY,
                      postmark_auth="pm:secret", sendgrid_auth="sg:secret")
        values.update(overrides)
        self.settings = make_settings(tmp_path, **values)
        self.engine = make_engine(self.settings.database_url)
        self.sessions = make_session_factory(self.engine)
        self.clock = clock
        self.woken: list[int] = []
        app = create_app(self.settings, self.sessions, clock=clock)
        app.register_blueprint(inbound_blueprint(self.settings, self.sessions, clock,
                                                 on_stored=self.woken.append))
        self.client = app.test_client()

    def rows(self) -> list[InboundMessage]:
        with self.sessions() as session:
            return list(session.scalars(select(InboundMessage).order_by(InboundMessage.id)))

    def handoffs(self) -> list[Handoff]:
        process_pending(self.sessions, self.settings, self.clock)
        with self.sessions() as session:
            return list(session.scalars(select(Handoff).order_by(Handoff.id)))

    def post_form(self, path: str, fields: dict[str, bytes | str], **kwargs: Any) -> Any:
        body, content_type = multipart(fields)
        return self.client.post(path, data=body, content_type=content_type, **kwargs)


@pytest.fixture
def inbound(tmp_path: Path, database_url: str, clock: Clock) -> Any:
    door = Inbound(tmp_path, database_url, clock)
    yield door
    door.engine.dispose()


def multipart(fields: dict[str, bytes | str]) -> tuple[bytes, str]:
    """A ``multipart/form-data`` body (RFC 7578) of plain fields, as the providers post."""
    boundary = secrets.token_hex(16)
    out = io.BytesIO()
    for name, value in fields.items():
        data = value.encode() if isinstance(value, str) else value
        out.write(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'
                  .encode())
        out.write(data + b"\r\n")
    out.write(f"--{boundary}--\r\n".encode())
    return out.getvalue(), f"multipart/form-data; boundary={boundary}"


def mailgun_fields(raw: bytes, clock: Clock, *, key: str = MAILGUN_KEY, token: str | None = None,
                   recipient: str = SERVICE, timestamp: int | None = None) -> dict[str, Any]:
    """What a Mailgun route's forward() to a URL ending in ``mime`` posts."""
    token = token or secrets.token_hex(25)  # 50 characters, like Mailgun's
    stamp = str(timestamp if timestamp is not None else int(clock().timestamp()))
    signature = hmac.new(key.encode(), (stamp + token).encode(), hashlib.sha256).hexdigest()
    return {"recipient": recipient, "sender": "ana@corp.test",
            "from": "Ana Example <ana@corp.test>", "subject": "Renew the TLS certificate",
            "body-mime": raw, "timestamp": stamp, "token": token, "signature": signature}


def sendgrid_fields(raw: bytes, to: list[str] | None = None) -> dict[str, Any]:
    """Inbound Parse with "POST the raw, full MIME message" ticked."""
    return {"headers": "", "dkim": "{@corp.test : pass}", "email": raw,
            "to": "Bob Builder <bob@corp.test>", "from": "Ana Example <ana@corp.test>",
            "subject": "Renew the TLS certificate", "sender_ip": "192.0.2.7",
            "spam_report": "", "envelope": json.dumps({"to": to or [SERVICE],
                                                       "from": "ana@corp.test"}),
            "charsets": json.dumps({"to": "UTF-8", "from": "UTF-8", "subject": "UTF-8"}),
            "spam_score": "0.1", "SPF": "pass"}


def postmark_json(*, raw: bytes | None = None, attachments: list[dict[str, Any]] | None = None,
                  **fields: Any) -> dict[str, Any]:
    """Postmark's inbound webhook document (postmarkapp.com's example, our mail)."""
    doc: dict[str, Any] = {
        "FromName": "Ana Example", "MessageStream": "inbound",
        "From": "ana@corp.test",
        "FromFull": {"Email": "ana@corp.test", "Name": "Ana Example", "MailboxHash": ""},
        "To": '"Bob Builder" <bob@corp.test>',
        "ToFull": [{"Email": "bob@corp.test", "Name": "Bob Builder", "MailboxHash": ""}],
        "Cc": SERVICE, "CcFull": [{"Email": SERVICE, "Name": "", "MailboxHash": ""}],
        "Bcc": "", "BccFull": [], "OriginalRecipient": SERVICE, "ReplyTo": "",
        "Subject": "Renew the TLS certificate", "MessageID": "22c74902-a0c1-4511-804f-341342852c90",
        "Date": "Mon, 23 Nov 2026 10:00:00 +0100", "MailboxHash": "",
        "TextBody": "Hi Bob,\n\nplease renew the certificate.\n\nDone when: the new cert is "
                    "live\nDeadline: Friday 5pm\n",
        "HtmlBody": "<p>Hi Bob,</p><p>please renew the certificate.</p>",
        "StrippedTextReply": "", "Tag": "",
        "Headers": [{"Name": "Return-Path", "Value": "<ana@corp.test>"},
                    {"Name": "X-Spam-Status", "Value": "No"},
                    {"Name": "MIME-Version", "Value": "1.0"},
                    {"Name": "Message-ID", "Value": "<pm1@corp.test>"}],
        "Attachments": attachments or [],
    }
    if raw is not None:
        doc["RawEmail"] = raw.decode()
    doc.update(fields)
    return doc


def assert_handoff_for_bob(door: Inbound, title: str = "Renew the TLS certificate") -> Handoff:
    handoffs = door.handoffs()
    assert len(handoffs) == 1
    assert handoffs[0].title == title
    assert handoffs[0].owner is not None and handoffs[0].owner.address == "bob@corp.test"
    assert handoffs[0].sender.address == "ana@corp.test"
    return handoffs[0]


# --- Mailgun ----------------------------------------------------------------------------


def test_mailgun_raw_mime_forward_is_stored_before_200_and_becomes_a_handoff(inbound):
    """A signed Mailgun forward is committed, named in the 200, and the worker makes Bob
    the owner of "Renew the TLS certificate"."""
    raw = handoff_mail().as_bytes()
    reply = inbound.post_form("/inbound/mailgun/mime", mailgun_fields(raw, inbound.clock))
    assert reply.status_code == 200
    rows = inbound.rows()
    assert reply.get_json() == {"stored": rows[0].id}
    assert rows[0].raw == raw and rows[0].source == "webhook"
    assert rows[0].rcpt_tos == [SERVICE] and rows[0].mail_from == "ana@corp.test"
    assert inbound.woken == [rows[0].id]
    assert_handoff_for_bob(inbound)
    mails = Flow(inbound.settings, inbound.sessions, inbound.clock).flush()
    assert {str(m["To"]) for m in mails} >= {"Bob Builder <bob@corp.test>"}


def test_mailgun_without_signature_is_401_stores_nothing_and_is_logged(inbound, caplog):
    """No signature fields: 401, no row, and a warning naming the provider."""
    fields = mailgun_fields(handoff_mail().as_bytes(), inbound.clock)
    for name in ("timestamp", "token", "signature"):
        del fields[name]
    with caplog.at_level(logging.WARNING, logger="webhooks.inbound"):
        reply = inbound.post_form("/inbound/mailgun/mime", fields)
    assert reply.status_code == 401
    assert inbound.rows() == []
    assert any("mailgun" in r.getMessage() and "127.0.0.1" in r.getMessage()
               for r in caplog.records)
    assert MAILGUN_KEY not in caplog.text


def test_mailgun_signed_with_another_key_or_tampered_is_401(inbound):
    """A signature made with the wrong key, or one whose token was changed, is refused."""
    raw = handoff_mail().as_bytes()
    wrong = mailgun_fields(raw, inbound.clock, key="someone-elses-key")
    assert inbound.post_form("/inbound/mailgun/mime", wrong).status_code == 401
    tampered = mailgun_fields(raw, inbound.clock)
    tampered["token"] = secrets.token_hex(25)
    assert inbound.post_form("/inbound/mailgun/mime", tampered).status_code == 401
    assert inbound.rows() == []


def test_mailgun_timestamp_outside_the_replay_window_is_401(inbound):
    """A validly signed request made longer ago (or ahead) than the window is refused."""
    raw = handoff_mail().as_bytes()
    window = inbound.settings.webhook_replay_seconds
    now = int(inbound.clock().timestamp())
    for stamp in (now - window - 1, now + window + 1):
        fields = mailgun_fields(raw, inbound.clock, timestamp=stamp)
        assert inbound.post_form("/inbound/mailgun/mime", fields).status_code == 401
    fields = mailgun_fields(raw, inbound.clock, timestamp=now - window + 5)
    assert inbound.post_form("/inbound/mailgun/mime", fields).status_code == 200


def test_mailgun_replayed_token_answers_200_with_the_same_receipt_and_stores_once(inbound):
    """The same signed request twice (a replay, or Mailgun's own retry): one row."""
    fields = mailgun_fields(handoff_mail().as_bytes(), inbound.clock)
    first = inbound.post_form("/inbound/mailgun/mime", fields)
    inbound.clock.advance(seconds=30)
    second = inbound.post_form("/inbound/mailgun/mime", fields)
    assert first.status_code == second.status_code == 200
    assert first.get_json() == second.get_json()
    rows = inbound.rows()
    assert len(rows) == 1 and rows[0].external_id == f"mailgun:{fields['token']}"


def test_mailgun_recipient_not_ours_is_406_so_it_is_not_retried(inbound):
    """Never a relay: a forward for someone else's address is refused with Mailgun's
    "do not retry" code; of several recipients only ours are kept."""
    raw = handoff_mail().as_bytes()
    fields = mailgun_fields(raw, inbound.clock, recipient="victim@gmail.test")
    reply = inbound.post_form("/inbound/mailgun/mime", fields)
    assert reply.status_code == 406 and reply.get_json()["stored"] is None
    assert inbound.rows() == []
    fields = mailgun_fields(raw, inbound.clock, recipient=f"victim@gmail.test, {SERVICE}")
    assert inbound.post_form("/inbound/mailgun/mime", fields).status_code == 200
    assert inbound.rows()[0].rcpt_tos == [SERVICE]


def test_a_refused_mailgun_token_cannot_be_sent_again_with_another_body(inbound):
    """Mailgun signs the timestamp and token, not the body: a signed request we refused
    (not ours, malformed) must not become a way in for a forged message later."""
    refused = mailgun_fields(handoff_mail().as_bytes(), inbound.clock,
                             recipient="victim@gmail.test")
    assert inbound.post_form("/inbound/mailgun/mime", refused).status_code == 406
    inbound.clock.advance(hours=1)
    forged = {**refused, "recipient": SERVICE,
              "body-mime": handoff_mail(subject="Wire the money").as_bytes()}
    assert inbound.post_form("/inbound/mailgun/mime", forged).status_code == 401
    malformed = mailgun_fields(b"", inbound.clock)
    del malformed["body-mime"]
    assert inbound.post_form("/inbound/mailgun/mime", malformed).status_code == 400
    again = {**malformed, "body-mime": handoff_mail().as_bytes()}
    assert inbound.post_form("/inbound/mailgun/mime", again).status_code == 401
    assert inbound.rows() == []


def test_mailgun_8bit_latin1_message_is_stored_byte_for_byte(inbound):
    """An 8-bit body that is not UTF-8 (RFC 6152) is stored exactly as Mailgun sent it."""
    raw = (b"From: Ana <ana@corp.test>\r\nTo: Bob <bob@corp.test>\r\nCc: " + SERVICE.encode()
           + b"\r\nSubject: Caf\xe9 order\r\nMessage-ID: <l1@corp.test>\r\nMIME-Version: 1.0\r\n"
           b"Content-Type: text/plain; charset=iso-8859-1\r\nContent-Transfer-Encoding: 8bit"
           b"\r\n\r\nBitte den Kaffee f\xfcr Montag bestellen.\r\n")
    reply = inbound.post_form("/inbound/mailgun/mime", mailgun_fields(raw, inbound.clock))
    assert reply.status_code == 200
    assert inbound.rows()[0].raw == raw


def test_mailgun_urlencoded_post_is_read_as_well(inbound):
    """Mailgun sends forms urlencoded when there are no files: the same fields work."""
    from urllib.parse import urlencode

    raw = handoff_mail().as_bytes()
    body = urlencode(mailgun_fields(raw, inbound.clock)).encode()
    reply = inbound.client.post("/inbound/mailgun/mime", data=body,
                                content_type="application/x-www-form-urlencoded")
    assert reply.status_code == 200 and inbound.rows()[0].raw == raw


def test_mailgun_parsed_post_without_body_mime_is_400_and_names_the_fix(inbound):
    """A route whose URL does not end in "mime" posts parsed fields: 400, so Mailgun
    keeps the message and retries while the operator fixes the URL."""
    fields = mailgun_fields(handoff_mail().as_bytes(), inbound.clock)
    del fields["body-mime"]
    fields["body-plain"] = "please renew the certificate"
    reply = inbound.post_form("/inbound/mailgun", fields)
    assert reply.status_code == 400 and "mime" in reply.get_json()["error"]
    assert inbound.rows() == []


# --- Postmark ---------------------------------------------------------------------------


def test_postmark_raw_email_is_stored_as_is_and_becomes_a_handoff(inbound):
    """With "include raw email content" on, RawEmail is what is stored."""
    raw = handoff_mail().as_bytes()
    reply = inbound.client.post("/inbound/postmark", json=postmark_json(raw=raw),
                                auth=PM_AUTH)
    assert reply.status_code == 200
    row = inbound.rows()[0]
    assert reply.get_json() == {"stored": row.id}
    assert row.raw == raw and row.rcpt_tos == [SERVICE] and row.mail_from == "ana@corp.test"
    assert row.external_id == "postmark:22c74902-a0c1-4511-804f-341342852c90"
    assert_handoff_for_bob(inbound)


def test_postmark_without_raw_email_is_rebuilt_with_headers_bodies_and_attachments(inbound):
    """No RawEmail: a faithful MIME message from the JSON — its Message-ID, both bodies,
    and the attachments, which the handoff's packet lists under "links"."""
    pdf = b"%PDF-1.4 fake certificate order\n" * 40
    attachments = [
        {"Name": "order.pdf", "Content": base64.b64encode(pdf).decode(),
         "ContentType": "application/pdf", "ContentLength": len(pdf)},
        {"Name": "chain.pem", "Content": base64.b64encode(b"-----BEGIN-----\n").decode(),
         "ContentType": "application/x-pem-file", "ContentLength": 16,
         "ContentID": "chain@corp.test"},
    ]
    reply = inbound.client.post("/inbound/postmark", json=postmark_json(attachments=attachments),
                                auth=PM_AUTH)
    assert reply.status_code == 200
    rebuilt = message_from_bytes(inbound.rows()[0].raw, policy=policy.default)
    assert rebuilt["Message-ID"] == "<pm1@corp.test>"
    assert rebuilt["Return-Path"] == "<ana@corp.test>"
    assert rebuilt["From"] == "Ana Example <ana@corp.test>"
    assert rebuilt["Subject"] == "Renew the TLS certificate"
    plain, html = rebuilt.get_body(("plain",)), rebuilt.get_body(("html",))
    assert plain is not None and plain.get_content().startswith("Hi Bob,")
    assert html is not None and "<p>Hi Bob,</p>" in html.get_content()
    parts = {p.get_filename(): p for p in rebuilt.iter_attachments()}
    assert parts["order.pdf"].get_content() == pdf
    assert parts["chain.pem"]["Content-ID"] == "<chain@corp.test>"
    handoff = assert_handoff_for_bob(inbound)
    assert handoff.packet["links"]["value"]["attachments"] == ["order.pdf", "chain.pem"]
    assert handoff.origin_message_id == "<pm1@corp.test>"


def test_postmark_rebuild_keeps_a_forwarded_mail_and_survives_a_broken_attachment(inbound):
    """A forward attached as message/rfc822 is a message again (the packet reads who asked
    originally); an attachment that is not base64 is noted, not fatal."""
    original = handoff_mail(subject="Renew the TLS certificate", message_id="<o1@corp.test>")
    attachments = [{"Name": "fwd.eml", "ContentType": "message/rfc822",
                    "Content": base64.b64encode(original.as_bytes()).decode()},
                   {"Name": "broken.bin", "ContentType": "application/octet-stream",
                    "Content": "abc"}]
    doc = postmark_json(attachments=attachments, Subject="Fwd: Renew the TLS certificate",
                        TextBody="Bob, please take this one.\n", HtmlBody="")
    assert inbound.client.post("/inbound/postmark", json=doc, auth=PM_AUTH).status_code == 200
    rebuilt = message_from_bytes(inbound.rows()[0].raw, policy=policy.default)
    assert "broken.bin" in rebuilt["X-Handoff-Rebuild-Problem"]
    enclosed = next(p for p in rebuilt.iter_attachments()
                    if p.get_content_type() == "message/rfc822")
    assert enclosed.get_content()["Message-ID"] == "<o1@corp.test>"
    assert_handoff_for_bob(inbound)


def test_postmark_on_its_hash_address_takes_our_addresses_from_to_and_cc(inbound):
    """Mail forwarded to <hash>@inbound.postmarkapp.com: OriginalRecipient is Postmark's,
    so our addresses among To/Cc are the recipients."""
    doc = postmark_json(OriginalRecipient="451d9b70cf9364d23ff6f9d51d870251@inbound.postmarkapp.com")
    assert inbound.client.post("/inbound/postmark", json=doc, auth=PM_AUTH).status_code == 200
    assert inbound.rows()[0].rcpt_tos == [SERVICE]


def test_postmark_for_nobody_of_ours_is_403_which_stops_its_retries(inbound):
    doc = postmark_json(OriginalRecipient="victim@gmail.test", CcFull=[])
    reply = inbound.client.post("/inbound/postmark", json=doc, auth=PM_AUTH)
    assert reply.status_code == 403 and inbound.rows() == []


def test_postmark_wrong_or_missing_basic_auth_is_401_with_a_challenge(inbound, caplog):
    """Credentials other than HANDOFF_POSTMARK_AUTH: 401, WWW-Authenticate, no row."""
    doc = postmark_json(raw=handoff_mail().as_bytes())
    with caplog.at_level(logging.WARNING, logger="webhooks.inbound"):
        for auth in (None, ("pm", "guess"), ("sg", "secret")):
            reply = inbound.client.post("/inbound/postmark", json=doc, auth=auth)
            assert reply.status_code == 401
            assert reply.headers["WWW-Authenticate"].startswith("Basic")
    assert inbound.rows() == []
    assert "postmark" in caplog.text and "secret" not in caplog.text


def test_postmark_redelivery_of_one_message_id_stores_once(inbound):
    doc = postmark_json(raw=handoff_mail().as_bytes())
    first = inbound.client.post("/inbound/postmark", json=doc, auth=PM_AUTH)
    second = inbound.client.post("/inbound/postmark", json=doc, auth=PM_AUTH)
    assert first.get_json() == second.get_json() and len(inbound.rows()) == 1


# --- SendGrid ---------------------------------------------------------------------------


def test_sendgrid_raw_parse_is_stored_with_the_envelope_and_becomes_a_handoff(inbound):
    raw = handoff_mail().as_bytes()
    reply = inbound.post_form("/inbound/sendgrid", sendgrid_fields(raw), auth=SG_AUTH)
    assert reply.status_code == 200
    row = inbound.rows()[0]
    assert reply.get_json() == {"stored": row.id}
    assert row.raw == raw and row.rcpt_tos == [SERVICE] and row.mail_from == "ana@corp.test"
    assert_handoff_for_bob(inbound)
    again = inbound.post_form("/inbound/sendgrid", sendgrid_fields(raw), auth=SG_AUTH)
    assert again.get_json() == reply.get_json() and len(inbound.rows()) == 1  # a retry


def test_sendgrid_wrong_basic_auth_is_401_and_stores_nothing(inbound):
    raw = handoff_mail().as_bytes()
    for auth in (None, ("sg", "wrong"), PM_AUTH):
        reply = inbound.post_form("/inbound/sendgrid", sendgrid_fields(raw), auth=auth)
        assert reply.status_code == 401 and "WWW-Authenticate" in reply.headers
    assert inbound.rows() == []


def test_sendgrid_for_nobody_of_ours_is_200_with_nothing_stored(inbound):
    """SendGrid retries every non-2xx, so "not ours" is a 200 that stores nothing."""
    fields = sendgrid_fields(handoff_mail().as_bytes(), to=["victim@gmail.test"])
    reply = inbound.post_form("/inbound/sendgrid", fields, auth=SG_AUTH)
    assert reply.status_code == 200 and reply.get_json()["stored"] is None
    assert inbound.rows() == []


# --- all of them ------------------------------------------------------------------------


def big_mail(size: int) -> bytes:
    """A real message of about ``size`` bytes: the handoff mail with an attachment."""
    msg = handoff_mail()
    msg.add_attachment(secrets.token_bytes(size * 3 // 4), "application", "octet-stream",
                       filename="big.bin")
    return msg.as_bytes()


def test_a_2_mb_message_is_accepted_by_every_provider(tmp_path, database_url, clock):
    """The app's 64 KiB form limit is for people; a provider's 2 MB message gets in."""
    door = Inbound(tmp_path, database_url, clock, max_message_size=3 * MB)
    try:
        raw = big_mail(2 * MB)
        assert len(raw) > 2 * MB
        assert door.post_form("/inbound/mailgun/mime", mailgun_fields(raw, clock)).status_code == 200
        doc = postmark_json(raw=raw, MessageID="big-1")
        assert door.client.post("/inbound/postmark", json=doc, auth=PM_AUTH).status_code == 200
        reply = door.post_form("/inbound/sendgrid", sendgrid_fields(raw), auth=SG_AUTH)
        assert reply.status_code == 200
        assert [len(r.raw) for r in door.rows()] == [len(raw)] * 3
    finally:
        door.engine.dispose()


class CountingStream(io.BytesIO):
    """A request body that remembers how much of it was read, and like a socket gives
    at most 64 KiB per read."""

    def __init__(self, data: bytes) -> None:
        super().__init__(data)
        self.taken = 0

    def read(self, size: int | None = -1) -> bytes:
        limit = 64 * 1024 if size is None or size < 0 else min(size, 64 * 1024)
        chunk = super().read(limit)
        self.taken += len(chunk)
        return chunk

    def readinto(self, buffer: Any) -> int:
        chunk = self.read(len(buffer))
        buffer[:len(chunk)] = chunk
        return len(chunk)


def post_without_length(door: Inbound, path: str, body: bytes, content_type: str,
                        auth: tuple[str, str]) -> tuple[int, int]:
    """POST as a chunked request arrives from a WSGI server that de-chunks it: no
    CONTENT_LENGTH, ``wsgi.input_terminated`` set.  The status and the bytes read."""
    from werkzeug.test import EnvironBuilder, run_wsgi_app

    environ = EnvironBuilder(path=path, method="POST", data=body, content_type=content_type,
                             auth=auth).get_environ()
    del environ["CONTENT_LENGTH"]
    stream = CountingStream(body)
    environ.update({"wsgi.input": stream, "wsgi.input_terminated": True})
    _app_iter, status, _headers = run_wsgi_app(door.client.application, environ)
    return int(status.split()[0]), stream.taken


def test_over_the_size_limit_is_413_and_stores_nothing_even_without_content_length(tmp_path, database_url, clock):
    """Over max_message_size: 413 from every route, by Content-Length or by reading."""
    door = Inbound(tmp_path, database_url, clock, max_message_size=1 * MB)
    try:
        # the request fits its limit (the slack), the message in it does not
        raw = big_mail(MB + 16 * 1024)
        assert MB < len(raw) < MB + 32 * 1024
        reply = door.post_form("/inbound/mailgun/mime", mailgun_fields(raw, clock))
        assert reply.status_code == 413
        # refused on Content-Length, before reading
        doc = postmark_json(raw=big_mail(3 * MB))
        assert door.client.post("/inbound/postmark", json=doc, auth=PM_AUTH).status_code == 413
        # no Content-Length (a chunked request): read no further than the limit
        body, ctype = multipart(sendgrid_fields(big_mail(2 * MB)))
        status, read = post_without_length(door, "/inbound/sendgrid", body, ctype, SG_AUTH)
        assert status == 413 and MB < read <= MB + 64 * 1024 + 1
        assert door.rows() == []
        body, ctype = multipart(sendgrid_fields(big_mail(MB // 2)))  # under: read whole
        status, read = post_without_length(door, "/inbound/sendgrid", body, ctype, SG_AUTH)
        assert status == 200 and read == len(body)
        assert len(door.rows()) == 1
    finally:
        door.engine.dispose()


def test_storage_failure_is_503_so_the_provider_retries(inbound):
    """The table is gone (a broken database): 503 and nothing stored; once it is back,
    the provider's retry of the same request is stored."""
    fields = mailgun_fields(handoff_mail().as_bytes(), inbound.clock)
    with inbound.engine.begin() as conn:
        conn.execute(text("ALTER TABLE inbound_messages RENAME TO inbound_messages_away"))
    try:
        reply = inbound.post_form("/inbound/mailgun/mime", fields)
        doc = postmark_json(raw=handoff_mail().as_bytes())
        pm_reply = inbound.client.post("/inbound/postmark", json=doc, auth=PM_AUTH)
    finally:
        with inbound.engine.begin() as conn:
            conn.execute(text("ALTER TABLE inbound_messages_away RENAME TO inbound_messages"))
    assert reply.status_code == pm_reply.status_code == 503
    assert reply.headers["Retry-After"]
    assert inbound.rows() == [] and inbound.woken == []
    assert inbound.post_form("/inbound/mailgun/mime", fields).status_code == 200
    assert len(inbound.rows()) == 1


def test_a_route_without_its_secret_is_off(tmp_path, database_url, clock):
    """Empty credential setting: that route answers 404 and stores nothing."""
    door = Inbound(tmp_path, database_url, clock, mailgun_signing_key="", postmark_auth="",
                   sendgrid_auth="")
    try:
        raw = handoff_mail().as_bytes()
        assert door.post_form("/inbound/mailgun/mime",
                              mailgun_fields(raw, clock, key="")).status_code == 404
        assert door.client.post("/inbound/postmark", json=postmark_json(raw=raw),
                                auth=("", "")).status_code == 404
        assert door.post_form("/inbound/sendgrid", sendgrid_fields(raw)).status_code == 404
        with door.sessions() as session:
            assert session.scalar(select(func.count(InboundMessage.id))) == 0
    finally:
        door.engine.dispose()


def test_basic_auth_credentials_that_are_not_user_colon_password_fail_at_start(tmp_path):
    from handoff.errors import ConfigError

    with pytest.raises(ConfigError, match="HANDOFF_POSTMARK_AUTH must be user:password"):
        make_settings(tmp_path, postmark_auth="just-a-password")


def test_handoff_serve_mounts_the_routes_and_a_posted_mail_becomes_an_offer(
        tmp_path, database_url, sink, clock):
    """Over real HTTP to ``handoff serve``'s web server: the SendGrid route stores the
    mail, the worker wakes, and Bob's offer reaches the smarthost."""
    import base64
    import urllib.request

    from handoff.cli import Service
    from tests.conftest import free_port, wait_until

    web_port = free_port()
    settings = make_settings(tmp_path, database_url=database_url, web_port=web_port,
                             base_url=f"http://127.0.0.1:{web_port}",
                             smarthost=f"127.0.0.1:{sink.port}", sendgrid_auth="sg:secret")
    service = Service(settings, clock=clock).start()
    try:
        body, content_type = multipart(sendgrid_fields(handoff_mail().as_bytes()))
        request = urllib.request.Request(
            f"http://127.0.0.1:{service.web_port}/inbound/sendgrid", data=body, headers={
                "Content-Type": content_type,
                "Authorization": "Basic " + base64.b64encode(b"sg:secret").decode()})
        with urllib.request.urlopen(request, timeout=10) as response:
            assert response.status == 200 and json.loads(response.read())["stored"] == 1
        assert wait_until(lambda: sink.to("bob@corp.test"))
    finally:
        service.stop()

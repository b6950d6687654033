"""The core loop end to end with real parts: smtplib -> handoff's SMTP server -> worker ->
offer and receipt at a real aiosmtpd smarthost."""

from __future__ import annotations

import re
import smtplib
import urllib.request

import pytest
from sqlalchemy import func, select

from handoff.addresses import ServiceAddresses
from handoff.models import ActionToken, Handoff, InboundMessage
from tests.conftest import SERVICE, handoff_mail, send, wait_until

LINK = re.compile(r"http://127\.0\.0\.1:\d+/a/[A-Za-z0-9_-]+")


def offer_and_receipt(sink, running):
    mails = sink.wait_for(2)
    offer = next(r for r in mails if "bob@corp.test" in r.rcpt_tos)
    receipt = next(r for r in mails if "ana@corp.test" in r.rcpt_tos)
    return offer, receipt


def test_cc_makes_a_handoff_and_mails_offer_to_owner_and_receipt_to_sender(running, sink):
    """Ana CCs the service: Bob gets an offer with action links, Ana a receipt."""
    send(running, handoff_mail())
    offer, receipt = offer_and_receipt(sink, running)

    o = offer.message
    assert o["Subject"] == "Re: Renew the TLS certificate [H-1]"
    assert o["In-Reply-To"] == "<m1@corp.test>"
    assert "<m1@corp.test>" in o["References"]
    assert o.get_content_type() == "multipart/alternative"
    text = o.get_body(("plain",)).get_content()
    html = o.get_body(("html",)).get_content()
    labels = re.findall(r"^\s+(Accept|Need info|Decline|Done|Snooze|Hand on): http", text,
                        re.M)
    assert labels == ["Accept", "Need info", "Decline", "Done", "Snooze", "Hand on"]
    assert all(url in html for url in LINK.findall(text))
    assert LINK.findall(text)[0].startswith(running.settings.base_url)

    service = ServiceAddresses(running.settings)
    # Message-ID, Reply-To and envelope sender are minted with a keyed hash.
    assert service.read_message_id(o["Message-ID"]) == 1
    reply_to = service.read(o["Reply-To"])
    assert reply_to is not None and reply_to.kind == "reply" and reply_to.handoff_id == 1
    bounce = service.read(offer.mail_from)
    assert bounce is not None and bounce.kind == "bounce"

    # The offer asks a person to act; the receipt is a notice (SPEC 7).
    assert o["Auto-Submitted"] is None
    assert o["X-Auto-Response-Suppress"] == "DR, RN, NRN, AutoReply"
    r = receipt.message
    assert r["Auto-Submitted"] == "auto-generated"
    assert r["X-Auto-Response-Suppress"] == "All"
    assert r["Subject"].endswith("[H-1]")
    assert "Bob Builder" in r.get_body(("plain",)).get_content()


def test_a_mail_in_other_scripts_travels_as_7_bit_quoted_printable_and_reads_back_whole(
        running, sink):
    why = "Müller & Söhne need the Zählerstände — all = signed " + "long " * 30
    send(running, handoff_mail(subject="Zählerstände für Q4 = fertig?",
                               body=f"Hi Bob,\n\nWhy: {why}\nDone when: PDF signed\n"
                                    "Deadline: Friday 5pm\n"))
    offer, _receipt = offer_and_receipt(sink, running)

    assert offer.raw.isascii()  # no 8BITMIME needed anywhere on the way
    assert max(len(line) for line in offer.raw.split(b"\r\n")) <= 78  # RFC 2045 6.7
    for subtype in ("plain", "html"):
        part = offer.message.get_body((subtype,))
        assert part["Content-Transfer-Encoding"] == "quoted-printable"
        assert part.get_content_charset() == "utf-8"
    text = offer.message.get_body(("plain",)).get_content()
    assert " ".join(why.split()) in " ".join(text.split())
    assert "Müller &amp; Söhne" in offer.message.get_body(("html",)).get_content()
    assert offer.message["Subject"] == "Re: Zählerstände für Q4 = fertig? [H-1]"


def test_a_packet_with_lines_like_our_boundaries_keeps_its_parts_and_its_text(
        running, sink):
    """Our multipart boundaries are '=_<random>', given rather than left to the email
    package (which checks a random one against the text with a regex compiled per mail):
    no part can hold such a line, since '=' is escaped in quoted-printable and absent
    from base64.  A packet that writes such lines keeps them, and the mail its parts."""
    tricky = "--=_0123456789abcdef01234567\n--=_0123456789abcdef01234567--\n--\n"
    send(running, handoff_mail(body=f"Hi Bob,\n\n{tricky}\nDone when: PDF signed\n"
                                    "Deadline: Friday 5pm\n"))
    offer, _receipt = offer_and_receipt(sink, running)
    boundaries = {part.get_boundary() for part in offer.message.walk()
                  if part.is_multipart()}
    assert all(b and b.startswith("=_") for b in boundaries), boundaries
    structure = {f"--{b}".encode() for b in boundaries} | {f"--{b}--".encode()
                                                           for b in boundaries}
    assert {line for line in offer.raw.split(b"\r\n") if line.startswith(b"--=_")} \
        == structure
    assert [p.get_content_type() for p in offer.message.walk()] == [
        "multipart/alternative", "text/plain", "text/html"]
    for line in tricky.split("\n")[:2]:
        assert line in offer.message.get_body(("plain",)).get_content()


def test_the_raw_message_and_envelope_are_stored_before_250(running):
    raw = handoff_mail().as_bytes()
    with smtplib.SMTP("127.0.0.1", running.smtp.port) as client:
        client.ehlo()
        client.mail("ana@corp.test")
        client.rcpt(SERVICE)
        code, reply = client.data(raw)
    assert code == 250
    receipt = int(reply.decode().rsplit(" ", 1)[1])
    with running.sessions() as session:
        row = session.get(InboundMessage, receipt)
        assert row is not None
        assert row.mail_from == "ana@corp.test" and row.rcpt_tos == [SERVICE]
        assert b"Renew the TLS certificate" in row.raw


def test_links_in_mail_hold_tokens_that_the_database_only_knows_hashed(running, sink):
    send(running, handoff_mail())
    offer, _ = offer_and_receipt(sink, running)
    tokens = [u.rsplit("/", 1)[1] for u in LINK.findall(offer.message.get_body(("plain",))
                                                         .get_content())]
    assert len(tokens) == 6 and all(len(t) >= 22 for t in tokens)  # >= 128 bits
    with running.sessions() as session:
        stored = list(session.scalars(select(ActionToken.token_hash)))
    assert stored and not set(tokens) & set(stored)
    from handoff.models import Base

    with running.engine.connect() as conn:  # every value of every table, as text
        dump = "\n".join(str(row) for table in Base.metadata.sorted_tables
                         for row in conn.execute(table.select()))
    assert "handoff" in dump.lower() and not any(t in dump for t in tokens)


def test_without_a_smarthost_mail_lands_in_the_dev_outbox_listed_on_the_page(tmp_path,
                                                                             database_url,
                                                                             clock):
    from handoff.cli import Service
    from tests.conftest import free_port, make_settings

    port = free_port()
    settings = make_settings(tmp_path, web_port=port, base_url=f"http://127.0.0.1:{port}",
                             database_url=database_url)
    service = Service(settings, clock=clock).start()
    try:
        send(service, handoff_mail())
        wait_until(lambda: len(list(settings.outbox_dir.glob("*.eml"))) >= 2)
        files = sorted(settings.outbox_dir.glob("*.eml"))
        assert len(files) == 2
        assert b"[H-1]" in files[0].read_bytes()
        page = urllib.request.urlopen(f"{settings.base_url}/").read().decode()
        assert files[0].name in page and "Dev outbox" in page
    finally:
        service.stop()


def test_healthz_answers_200_when_smtp_database_and_workers_are_up(running):
    with urllib.request.urlopen(f"{running.settings.base_url}/healthz") as resp:
        body = resp.read().decode()
    assert resp.status == 200
    assert "smtp: up" in body and "database: up" in body and "worker:inbound: up" in body
    assert body.startswith("ok\nprocess: serve (pid ")  # what it is, and its queues
    assert "inbound queue: empty" in body and "outbox queue: empty" in body


def test_a_message_that_fails_to_process_stays_stored_with_its_error_and_can_be_retried(
        settings, sessions, clock):
    """Break the schema under the worker: the message is kept, failed, with the error;
    after the repair, `handoff inbound retry` makes the handoff."""
    from handoff.inbound_queue import process_pending, retry_failed
    from handoff.intake import receive_message

    receipt = receive_message(sessions, handoff_mail().as_bytes(), mail_from="ana@corp.test",
                              rcpt_tos=[SERVICE], source="smtp", now=clock())
    with sessions.begin() as session:
        session.connection().exec_driver_sql("ALTER TABLE people RENAME TO people_away")
    process_pending(sessions, settings, clock)
    with sessions() as session:
        row = session.get(InboundMessage, receipt)
        assert row.status == "failed" and "people" in row.error
        assert session.scalar(select(func.count(Handoff.id))) == 0
    with sessions.begin() as session:
        session.connection().exec_driver_sql("ALTER TABLE people_away RENAME TO people")
    assert retry_failed(sessions) == 1
    process_pending(sessions, settings, clock)
    with sessions() as session:
        assert session.get(InboundMessage, receipt).status == "done"
        assert session.get(Handoff, 1).status == "offered"


@pytest.mark.parametrize("n", [3])
def test_several_mails_over_one_connection_make_as_many_handoffs(running, sink, n):
    with smtplib.SMTP("127.0.0.1", running.smtp.port) as client:
        for i in range(n):
            client.send_message(handoff_mail(message_id=f"<m{i}@corp.test>",
                                             subject=f"Task {i}"), to_addrs=[SERVICE])
    sink.wait_for(2 * n)
    with running.sessions() as session:
        titles = sorted(h.title for h in session.scalars(select(Handoff)))
    assert titles == [f"Task {i}" for i in range(n)]


def test_a_mail_claimed_by_a_sender_that_died_is_sent_after_its_lease(flow, sessions, clock):
    from datetime import timedelta

    from sqlalchemy import update

    from handoff.inbound_queue import process_pending
    from handoff.intake import receive_message
    from handoff.models import OutboxMail

    receive_message(sessions, handoff_mail().as_bytes(), mail_from="ana@corp.test",
                    rcpt_tos=[SERVICE], source="smtp", now=clock())
    process_pending(sessions, flow.settings, clock)
    with sessions.begin() as session:  # as if a sender claimed both rows, then crashed
        session.execute(update(OutboxMail).values(
            status="sending", next_attempt_at=clock() + timedelta(minutes=10)))
    assert flow.flush() == []
    clock.advance(minutes=11)
    assert len(flow.flush()) == 2
    with sessions() as session:
        assert set(session.scalars(select(OutboxMail.status))) == {"sent"}

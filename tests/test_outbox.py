"""The outbox against real smarthosts (issue 5, point 3): STARTTLS and AUTH; temporary
failures (4xx, refused connection, timeout) retried with exponential backoff; a
permanent 5xx marks the mail failed, shows it on the status page and, for an offer,
tells the sender."""

from __future__ import annotations

import socket
import threading
import ssl
from dataclasses import dataclass, field
from typing import Any, Iterator

import pytest
import trustme
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from sqlalchemy import select

from handoff.inbound_queue import process_pending
from handoff.intake import receive_message
from handoff.models import Event, Handoff, OutboxMail
from mailer.deliver import Deliverer, backoff
from tests.conftest import SERVICE, SinkHandler, free_port, handoff_mail, make_settings


@dataclass
class Smarthost(SinkHandler):
    """A recording smarthost that refuses some recipients, and remembers how each
    session was secured."""

    refuse_rcpt: dict[str, str] = field(default_factory=dict)
    sessions_seen: list[tuple[bool, bool]] = field(default_factory=list)

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str,
                          options: list[str]) -> str:
        if address in self.refuse_rcpt:
            return self.refuse_rcpt[address]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.sessions_seen.append((session.ssl is not None, bool(session.authenticated)))
        return await super().handle_DATA(server, session, envelope)


def start_smarthost(handler: Smarthost, **smtp_params: Any) -> Controller:
    controller = Controller(handler, hostname="127.0.0.1", port=free_port(), **smtp_params)
    controller.start()
    return controller


@pytest.fixture
def smarthost() -> Iterator[tuple[Smarthost, int]]:
    handler = Smarthost()
    controller = start_smarthost(handler)
    yield handler, controller.port
    controller.stop()


def queue_a_handoff(sessions: Any, settings: Any, clock: Any) -> None:
    """Ana's mail in, interpreted: an offer to Bob and a receipt to Ana are queued."""
    receive_message(sessions, handoff_mail().as_bytes(), mail_from="ana@corp.test",
                    rcpt_tos=[SERVICE], source="smtp", now=clock())
    process_pending(sessions, settings, clock)


def rows(sessions: Any) -> dict[str, OutboxMail]:
    with sessions() as session:
        return {m.kind: m for m in session.scalars(select(OutboxMail).order_by(OutboxMail.id))}


def test_a_451_is_retried_with_growing_backoff_and_the_mail_goes_once(
        tmp_path, database_url, sessions, clock, smarthost):
    handler, port = smarthost
    settings = make_settings(tmp_path, database_url=database_url,
                             smarthost=f"127.0.0.1:{port}")
    deliverer = Deliverer(settings, sessions, clock)
    queue_a_handoff(sessions, settings, clock)
    handler.answers = ["451 4.3.0 Try again later"] * 3  # the first three DATA answers

    deliverer.deliver_pending()  # offer and receipt: both refused for now
    first = rows(sessions)
    assert {m.status for m in first.values()} == {"queued"}
    assert "451" in (first["offer"].last_error or "")
    assert first["offer"].next_attempt_at == clock() + backoff(1)
    assert handler.received == []

    assert deliverer.deliver_pending() == 0  # not due yet: nothing is tried
    clock.advance(seconds=backoff(1).total_seconds())
    deliverer.deliver_pending()  # the offer meets the third 451, the receipt goes
    second = rows(sessions)
    assert second["offer"].status == "queued" and second["receipt"].status == "sent"
    assert second["offer"].next_attempt_at == clock() + backoff(2) > clock() + backoff(1)

    clock.advance(seconds=backoff(2).total_seconds())
    deliverer.deliver_pending()
    assert rows(sessions)["offer"].status == "sent"
    assert sorted(r.rcpt_tos[0] for r in handler.received) == ["ana@corp.test",
                                                               "bob@corp.test"]


def test_a_refused_connection_is_retried_later(tmp_path, database_url, sessions, clock):
    settings = make_settings(tmp_path, database_url=database_url,
                             smarthost=f"127.0.0.1:{free_port()}")  # nobody listens
    queue_a_handoff(sessions, settings, clock)
    Deliverer(settings, sessions, clock).deliver_pending()
    offer = rows(sessions)["offer"]
    assert offer.status == "queued" and "refused" in (offer.last_error or "").lower()
    assert offer.next_attempt_at == clock() + backoff(1)


def test_a_smarthost_that_never_answers_times_out_and_is_retried(
        tmp_path, database_url, sessions, clock):
    silent = socket.create_server(("127.0.0.1", 0))  # accepts, never greets
    try:
        settings = make_settings(tmp_path, database_url=database_url,
                                 smarthost=f"127.0.0.1:{silent.getsockname()[1]}")
        queue_a_handoff(sessions, settings, clock)
        Deliverer(settings, sessions, clock, smtp_timeout=0.3).deliver_pending()
    finally:
        silent.close()
    offer = rows(sessions)["offer"]
    assert offer.status == "queued" and "timed out" in (offer.last_error or "")


def test_a_550_for_the_owner_fails_the_offer_visibly_and_tells_the_sender(
        tmp_path, database_url, sessions, clock, smarthost):
    from web import create_app

    handler, port = smarthost
    handler.refuse_rcpt["bob@corp.test"] = "550 5.1.1 <bob@corp.test>: no such user"
    settings = make_settings(tmp_path, database_url=database_url,
                             smarthost=f"127.0.0.1:{port}")
    deliverer = Deliverer(settings, sessions, clock)
    queue_a_handoff(sessions, settings, clock)
    deliverer.deliver_pending()
    offer = rows(sessions)["offer"]
    assert offer.status == "failed" and "550" in (offer.last_error or "")

    deliverer.deliver_pending()  # the notice the failure caused
    to_ana = [r.message for r in handler.received if r.rcpt_tos == ["ana@corp.test"]]
    notice = [m for m in to_ana if "could not be delivered" in
              m.get_body(("plain",)).get_content()]
    assert len(notice) == 1 and "no such user" in notice[0].get_body(("plain",)).get_content()
    assert not [r for r in handler.received if "bob@corp.test" in r.rcpt_tos]

    clock.advance(hours=1)  # a permanent failure is never tried again
    assert deliverer.deliver_pending() == 0
    with sessions() as session:
        handoff = session.get(Handoff, 1)
        assert handoff is not None and handoff.owner_unreachable
        kinds = [e.kind for e in session.scalars(select(Event).order_by(Event.id))]
    assert "mail_failed" in kinds and "owner_unreachable" in kinds

    client = create_app(settings, sessions, clock=clock).test_client()
    page = client.get("/h/H-1").get_data(as_text=True)
    assert "failed" in page and "no such user" in page
    index = client.get("/").get_data(as_text=True)
    assert 'id="failed-mail"' in index and "bob@corp.test" in index


def test_a_550_at_data_fails_the_mail_without_retrying(
        tmp_path, database_url, sessions, clock, smarthost):
    handler, port = smarthost
    handler.answers = ["550 5.7.1 Message rejected as spam"]
    settings = make_settings(tmp_path, database_url=database_url,
                             smarthost=f"127.0.0.1:{port}")
    queue_a_handoff(sessions, settings, clock)
    Deliverer(settings, sessions, clock).deliver_pending()
    mails = rows(sessions)
    assert mails["offer"].status == "failed" and "spam" in (mails["offer"].last_error or "")
    assert mails["receipt"].status == "sent"  # the same connection carried on


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


def tls_smarthost(ca: trustme.CA, handler: Smarthost, password: str = "s3cret") -> Controller:
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(server_context)

    def authenticate(server: Any, session: Any, envelope: Any, mechanism: str,
                     auth_data: Any) -> AuthResult:
        ok = (isinstance(auth_data, LoginPassword) and auth_data.login == b"handoff"
              and auth_data.password == password.encode())
        return AuthResult(success=ok, handled=False)

    return start_smarthost(handler, tls_context=server_context, require_starttls=True,
                           authenticator=authenticate, auth_require_tls=True)


def test_starttls_and_auth_carry_the_mail_to_a_smarthost_that_requires_both(
        tmp_path, database_url, sessions, clock, ca):
    handler = Smarthost()
    controller = tls_smarthost(ca, handler)
    ca_file = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    try:
        settings = make_settings(
            tmp_path, database_url=database_url, smarthost=f"127.0.0.1:{controller.port}",
            smarthost_user="handoff", smarthost_password="s3cret",
            smarthost_ca=str(ca_file), smarthost_tls="starttls")
        queue_a_handoff(sessions, settings, clock)
        Deliverer(settings, sessions, clock).deliver_pending()
    finally:
        controller.stop()
    assert {m.status for m in rows(sessions).values()} == {"sent"}
    assert handler.sessions_seen == [(True, True), (True, True)]  # encrypted, logged in


def test_a_refused_login_or_untrusted_certificate_keeps_the_mail_queued(
        tmp_path, database_url, sessions, clock, ca):
    handler = Smarthost()
    controller = tls_smarthost(ca, handler, password="other")
    ca_file = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    try:
        wrong_password = make_settings(
            tmp_path, database_url=database_url, smarthost=f"127.0.0.1:{controller.port}",
            smarthost_user="handoff", smarthost_password="s3cret", smarthost_ca=str(ca_file))
        queue_a_handoff(sessions, wrong_password, clock)
        Deliverer(wrong_password, sessions, clock).deliver_pending()
        offer = rows(sessions)["offer"]
        assert offer.status == "queued" and "refused our login" in (offer.last_error or "")

        clock.advance(hours=1)
        untrusted = make_settings(  # the system trust store does not know our test CA
            tmp_path, database_url=database_url, smarthost=f"127.0.0.1:{controller.port}",
            smarthost_user="handoff", smarthost_password="other")
        Deliverer(untrusted, sessions, clock).deliver_pending()
        offer = rows(sessions)["offer"]
        assert offer.status == "queued" and "CERTIFICATE_VERIFY_FAILED" in (
            offer.last_error or "")
    finally:
        controller.stop()
    assert handler.received == []


def test_starttls_required_but_not_offered_never_falls_back_to_plain_text(
        tmp_path, database_url, sessions, clock, smarthost):
    handler, port = smarthost
    settings = make_settings(tmp_path, database_url=database_url,
                             smarthost=f"127.0.0.1:{port}", smarthost_tls="starttls")
    queue_a_handoff(sessions, settings, clock)
    Deliverer(settings, sessions, clock).deliver_pending()
    offer = rows(sessions)["offer"]
    assert offer.status == "queued" and "STARTTLS" in (offer.last_error or "")
    assert handler.received == []


def test_a_smarthost_that_refuses_us_at_greeting_delays_the_mail_and_blames_nobody(
        tmp_path, database_url, sessions, clock):
    """A 554 greeting (RFC 5321 3.1) is about the connection, not about Bob's address:
    every mail waits, nothing is failed, and Ana is not told Bob is unreachable."""
    server = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def greet_and_hang_up() -> None:
        server.settimeout(0.1)
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except OSError:
                continue
            conn.sendall(b"554 5.7.1 No service for you\r\n")
            conn.close()

    thread = threading.Thread(target=greet_and_hang_up, daemon=True)
    thread.start()
    try:
        settings = make_settings(tmp_path, database_url=database_url,
                                 smarthost=f"127.0.0.1:{server.getsockname()[1]}")
        queue_a_handoff(sessions, settings, clock)
        Deliverer(settings, sessions, clock).deliver_pending()
    finally:
        stop.set()
        thread.join(5)
        server.close()
    mails = rows(sessions)
    assert {m.status for m in mails.values()} == {"queued"}
    assert all("554" in (m.last_error or "") for m in mails.values())
    with sessions() as session:
        handoff = session.get(Handoff, 1)
        assert handoff is not None and handoff.owner_unreachable is None


def test_a_421_closes_the_connection_and_the_next_mail_goes_over_a_new_one(
        tmp_path, database_url, sessions, clock, smarthost):
    handler, port = smarthost
    handler.refuse_rcpt["bob@corp.test"] = "421 4.3.2 Service shutting down"
    settings = make_settings(tmp_path, database_url=database_url,
                             smarthost=f"127.0.0.1:{port}")
    queue_a_handoff(sessions, settings, clock)
    Deliverer(settings, sessions, clock).deliver_pending()
    mails = rows(sessions)
    assert mails["offer"].status == "queued" and "421" in (mails["offer"].last_error or "")
    assert mails["receipt"].status == "sent"


def test_the_bytes_sent_are_the_email_packages_own_for_every_kind_of_mail(
        flow, client, sessions, clock) -> None:
    """The sender writes mails with a generator that puts each body in one piece
    (``compose.wire_bytes``): byte for byte what the email package's BytesGenerator
    (smtplib's send_message) writes, for an offer, a receipt and an acceptance with its
    calendar file; international text included."""
    import io
    from email.generator import BytesGenerator

    from mailer.compose import MailRenderer, wire_bytes
    from tests.conftest import links_of, mail_to

    mails = flow.submit(handoff_mail(subject="Zählerstände = fertig?",
                                     body="Hi Bob,\n\nbitte übernehmen.\r\nDone when: "
                                          "signed\nDeadline: Friday 5pm\n"))
    accept = links_of(mail_to(mails, "bob@corp.test"))["Accept"]
    client.post(accept)
    renderer = MailRenderer(flow.settings)
    seen = set()
    with sessions() as session:
        for row in session.scalars(select(OutboxMail)):
            message = renderer.compose(session, row, clock()).message
            stock = io.BytesIO()
            BytesGenerator(stock).flatten(message, linesep="\r\n")
            assert wire_bytes(message) == stock.getvalue(), row.kind
            seen.add((row.kind, message.get_content_type()))
        session.rollback()
    assert {("offer", "multipart/alternative"), ("receipt", "multipart/alternative")} <= seen
    assert any(kind == "multipart/mixed" for _, kind in seen), seen  # with a calendar

"""A Sieve ``reject`` of the offer, end to end (issue 10, point 2): the real service
sends the offer through its smarthost into a real Dovecot over LMTP; the owner's
Pigeonhole script refuses it, and Pigeonhole's refusal (an RFC 5429 MDN, disposition
``deleted``, null sender, to our per-message bounce address) comes back to our SMTP
listener.  The sender hears at once that the owner's mailbox refused it, with the reason
the script gave, and the handoff's page shows it."""

from __future__ import annotations

import asyncio
import urllib.request
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any, Iterator

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import select

from handoff.cli import Service
from handoff.models import Event, Handoff, InboundMessage
from tests.conftest import (SERVICE, Clock, SinkHandler, free_port, handoff_mail,
                            make_settings, send, wait_until)
from tests.dovecot import Dovecot

OWNER = "bob@corp.test"
REASON = "I do not take handoffs by mail."
REJECT = f'require "reject";\nreject "{REASON}";\n'


@dataclass
class Relay(SinkHandler):
    """The smarthost: records every mail, and hands the owner's mail to their mail
    server over LMTP with the envelope sender as given (our VERP bounce address)."""

    dovecot: Dovecot | None = None
    local: tuple[str, ...] = (OWNER,)
    errors: list[str] = field(default_factory=list)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        answer = await super().handle_DATA(server, session, envelope)
        mine = [r for r in envelope.rcpt_tos if r in self.local]
        if mine and self.dovecot is not None:
            try:
                await asyncio.to_thread(self.dovecot.deliver_lmtp, envelope.original_content,
                                        envelope.mail_from, mine)
            except Exception as exc:  # noqa: BLE001 - the test reads it
                self.errors.append(repr(exc))
                return "451 4.3.0 LMTP delivery failed"
        return answer


@dataclass
class World:
    service: Service
    relay: Relay
    dovecot: Dovecot
    web: str

    def mails_to(self, address: str) -> list[EmailMessage]:
        return [r.message for r in self.relay.received if address in r.rcpt_tos]


@pytest.fixture
def world(tmp_path: Path, database_url: str, clock: Clock) -> Iterator[World]:
    relay = Relay()
    controller = Controller(relay, hostname="127.0.0.1", port=free_port())
    controller.start()
    web_port = free_port()
    settings = make_settings(tmp_path, database_url=database_url,
                             smarthost=f"127.0.0.1:{controller.port}", web_port=web_port,
                             base_url=f"http://127.0.0.1:{web_port}")
    service = Service(settings, clock=clock).start()
    dovecot: Dovecot | None = None
    try:  # Dovecot's refusals go to our listener: it starts once the port is known
        dovecot = Dovecot(sieve={OWNER: REJECT}, submission_port=service.smtp.port)
        relay.dovecot = dovecot.start()
        yield World(service, relay, dovecot, f"http://127.0.0.1:{web_port}")
    finally:  # also when it skipped or failed to start: nothing left behind
        if dovecot is not None:
            dovecot.remove()
        service.stop()
        controller.stop()


def refusal_row(world: World) -> InboundMessage | None:
    with world.service.sessions() as session:
        return session.scalars(select(InboundMessage).where(InboundMessage.mail_from == "")
                               .where(InboundMessage.status.not_in(("queued", "processing")))
                               ).first()


def handoff(world: World) -> Handoff:
    with world.service.sessions() as session:
        found = session.get(Handoff, 1)
        assert found is not None
        return found


@pytest.mark.realserver
def test_a_sieve_reject_of_the_offer_tells_the_sender_the_owners_mailbox_refused_it(
        world: World) -> None:
    """Pigeonhole's ``reject`` MDN reaches us, reads as a refusal, and Ana is told at
    once, with the script's reason; the page shows it on the timeline."""
    send(world.service, handoff_mail())
    assert wait_until(lambda: world.mails_to(OWNER), 20), world.relay.errors
    offer = world.mails_to(OWNER)[0]
    verp = next(r.mail_from for r in world.relay.received if OWNER in r.rcpt_tos)
    assert verp != SERVICE and verp.endswith("@acme.test")  # a per-message bounce address

    # Pigeonhole refused it: its MDN came back to our listener, null sender, to the VERP
    row = wait_until(lambda: refusal_row(world), 20)
    assert row is not None, f"no refusal reached us\n{world.dovecot.log()}"
    assert row.rcpt_tos == [verp] and row.kind == "bounce" and row.handoff_id == 1
    mdn = message_from_bytes(row.raw, policy=policy.default)
    assert mdn.get_content_type() == "multipart/report"
    assert "report-type=disposition-notification" in str(mdn["Content-Type"]).replace('"', "")
    assert "deleted" in row.raw.decode(errors="replace")

    # Ana hears at once: the owner's mailbox refused it, and why
    def notice() -> list[EmailMessage]:
        return [m for m in world.mails_to("ana@corp.test") if "refused" in _text(m)]
    told = wait_until(notice, 20)
    assert told, [_text(m) for m in world.mails_to("ana@corp.test")]
    text = _text(told[0])
    assert "the owner's mailbox refused it" in text and REASON in text
    assert "could not be delivered" not in text
    assert told[0]["Auto-Submitted"] == "auto-generated"
    assert str(told[0]["Subject"]) == str(offer["Subject"])  # in the handoff's thread

    marked = handoff(world)
    assert marked.owner_unreachable and REASON in marked.owner_unreachable
    with world.service.sessions() as session:
        events = {e.kind: e.detail for e in session.scalars(
            select(Event).where(Event.handoff_id == 1).order_by(Event.id))}
    assert events["received_refusal"]["report"] == "refused"
    assert REASON in events["owner_mailbox_refused"]["reason"]
    with urllib.request.urlopen(f"{world.web}/h/H-1") as page:
        html = page.read().decode()
    assert 'data-kind="owner_mailbox_refused"' in html and REASON in html

    # nobody answers the robot: the only mails are the offer, the receipt and the notice
    assert not world.mails_to(verp) and not world.mails_to("postmaster@corp.test")


def _text(mail: EmailMessage) -> str:
    body = mail.get_body(("plain",))
    return body.get_content() if body is not None else ""  # type: ignore[union-attr]

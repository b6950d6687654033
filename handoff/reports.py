"""What an automatic answer to one of our mails means for its handoff (SPEC 5).

Bounces, refusals, delay warnings, read receipts, abuse reports, moderation notices,
out-of-office replies and challenges come back to a mail's per-message bounce address
(VERP) or reply address.  Each goes on the handoff's timeline under what it says
happened (``report_meaning.REPORTS``); the few that are news for the sender tell them at once.
The robot itself never hears from us.
"""

from __future__ import annotations

import re
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from handoff.addresses import ServiceAddresses
from handoff.guards import Verdict
from handoff.models import Event, Handoff, OutboxMail
from handoff.outbox import queue_mail
from handoff.packet import strip_quoted
from handoff.parsing import ParsedMessage
from handoff.threads import ThreadMatch
from handoff.lifecycle import ENDED, record_event
from handoff.states import Status

# A report about one of our mails goes on its timeline under what it says happened; a
# report that says nothing more ("") is read as a bounce.
REPORT_EVENTS: dict[str, str] = {
    "": "received_bounce",
    "failed": "received_bounce",
    "refused": "received_refusal",
    "delayed": "received_delay_warning",
    "delivered": "received_delivery_report",
    "receipt": "received_receipt",
    "feedback": "received_abuse_report",
    "held": "received_held_notice",
    "challenge": "received_challenge",
    "recall": "received_recall",
}
# Only these tell the sender at once that the owner cannot be reached; a delay warning,
# a read receipt, an abuse report or a moderation notice blames nobody.
OWNER_UNREACHABLE_REPORTS = frozenset({"", "failed"})

_DSN_STATUS = re.compile(r"\b[45]\d\d[ -][245]\.\d{1,3}\.\d{1,3}\b.{0,200}|"
                         r"\b[45]\.\d{1,3}\.\d{1,3}\b.{0,200}")
# A Sieve refusal's human-readable part (RFC 5429 2.1.1) gives the script's reason after
# a lead-in: Pigeonhole's "Your message to <x> was automatically rejected:", Cyrus's
# "The following reason was given:".
_REFUSAL_LEAD = re.compile(r"(?:automatically rejected|reason was given)[^\n]*:[ \t]*\r?\n",
                           re.I)


def note_report(session: Session, service: ServiceAddresses, match: ThreadMatch,
                message: ParsedMessage, verdict: Verdict, rcpt_tos: tuple[str, ...],
                now: datetime) -> None:
    """Record an automatic answer about one of our mails, and tell the sender when it
    is news for them."""
    handoff = match.handoff
    record_event(session, handoff, event_kind(verdict), "mail", now, None,
                 reason=verdict.reason, subject=message.subject[:200],
                 **({"report": verdict.report} if verdict.report else {}))
    owner = handoff.owner
    if owner is None or Status(handoff.status) in ENDED:
        return  # an ended handoff waits for nobody: the timeline is enough
    # Only the routes we minted for mail to the owner speak for the owner's mailbox: a
    # From header and a subject tag are anybody's to write, and a forged "challenge"
    # would have us hand the sender a stranger's link.
    route = _route_to(session, service, handoff.id, owner.id, message, rcpt_tos)
    if verdict.report == "challenge":
        if route:
            note_owner_challenged(session, service, handoff, _first_lines(message), now)
        return
    if verdict.kind == "autoreply":
        if route and not verdict.report:  # out of office
            note_owner_away(session, service, handoff,
                            strip_quoted(message.text) or message.subject, now)
        return
    if verdict.kind != "bounce" or route != "bounce":  # a report comes to the VERP address
        return
    if verdict.report == "refused":
        note_owner_refused(session, service, handoff, _refusal_reason(message), now)
    elif verdict.report in OWNER_UNREACHABLE_REPORTS:
        note_owner_unreachable(session, service, handoff, _failure_reason(message), now)


def _route_to(session: Session, service: ServiceAddresses, handoff_id: int, person_id: int,
              message: ParsedMessage, rcpt_tos: tuple[str, ...]) -> str | None:
    """How an answer reached us, if by a route minted for mail to that person of that
    handoff: "bounce" (the per-message bounce address of a mail to them), "reply" (their
    reply address), "thread" (In-Reply-To/References one of our mails to them); else
    None."""
    for rcpt in rcpt_tos:
        meaning = service.read(rcpt)
        if meaning is None:
            continue
        if meaning.kind == "bounce" and meaning.outbox_id is not None:
            mail = session.get(OutboxMail, meaning.outbox_id)
            # a digest is filed under one of its handoffs but is about many: its bounce
            # says nothing about that handoff's owner
            if mail is not None and mail.kind != "digest" and (
                    mail.handoff_id, mail.recipient_id) == (handoff_id, person_id):
                return "bounce"
        elif meaning.kind == "reply" and (meaning.handoff_id, meaning.person_id) == (
                handoff_id, person_id):
            return "reply"
    answered = message.in_reply_to + message.references
    if answered and session.scalar(
            select(OutboxMail.id).where(OutboxMail.message_id.in_(answered),
                                        OutboxMail.handoff_id == handoff_id,
                                        OutboxMail.recipient_id == person_id).limit(1)):
        return "thread"
    return None


def event_kind(verdict: Verdict) -> str:
    if verdict.kind == "bounce" or verdict.report:
        return REPORT_EVENTS.get(verdict.report, "received_bounce")
    return f"received_{verdict.kind}"


def _failure_reason(message: ParsedMessage) -> str:
    """What the failing server said: the DSN's Diagnostic-Code (RFC 3464 2.3.6, e.g.
    "smtp; 550 5.1.1 <bob@corp.test>: Recipient address rejected"), else a status code
    and what follows it in the text, else the subject."""
    fields = dict(reversed(message.report))  # the first of each name wins
    diagnostic = fields.get("diagnostic-code", "")
    if diagnostic:
        kind, _, said = diagnostic.partition(";")
        return " ".join((said if kind.strip().lower() in ("smtp", "x-postfix", "x-unix")
                         and said else diagnostic).split())[:400]
    status = _DSN_STATUS.search(message.text)
    reason = status.group(0) if status else (message.subject or "undeliverable")
    return " ".join(reason.split())[:400]


def _refusal_reason(message: ParsedMessage) -> str:
    """The reason a Sieve ``reject`` gave, from the refusal's human-readable part; the
    whole part when it has no known lead-in."""
    leads = list(_REFUSAL_LEAD.finditer(message.text))
    reason = message.text[leads[-1].end():] if leads else message.text
    return (" ".join(reason.split()) or " ".join(message.text.split()) or message.subject
            or "refused")[:400]


def _first_lines(message: ParsedMessage, count: int = 12) -> list[str]:
    """What a challenge asks, links included: the sender is the person who can answer."""
    text = strip_quoted(message.text) or message.text or message.subject
    return [line.strip()[:300] for line in text.splitlines() if line.strip()][:count]


# What the sender hears, and how the handoff is marked (SPEC 5)

def note_owner_away(session: Session, service: ServiceAddresses, handoff: Handoff,
                    text: str, now: datetime) -> bool:
    """An out-of-office reply from the owner (SPEC 5): the sender hears at once, with
    its first lines, and the handoff is marked until the owner really replies or acts.
    Auto-responders answer once per period, so a second one changes nothing."""
    if handoff.owner is None or handoff.owner_away_since is not None:
        return False
    handoff.owner_away_since = now
    lines = [line.strip() for line in text.splitlines() if line.strip()][:5]
    lines = [line[:300] for line in lines]
    record_event(session, handoff, "owner_away", "mail", now, handoff.owner, lines=lines)
    queue_mail(session, service, handoff, "owner_away", handoff.sender, now,
               {"lines": lines})
    return True


def note_owner_unreachable(session: Session, service: ServiceAddresses, handoff: Handoff,
                           reason: str, now: datetime) -> bool:
    """A bounce of a mail to the owner (SPEC 5): the sender hears at once that the
    owner's address failed, and the handoff is marked."""
    return _mark_unreachable(session, service, handoff, "owner_unreachable",
                             reason or "undeliverable", reason or "undeliverable", now)


def note_owner_refused(session: Session, service: ServiceAddresses, handoff: Handoff,
                       reason: str, now: datetime) -> bool:
    """The owner's mailbox refused a mail to them: a Sieve ``reject`` (RFC 5429), read
    from its disposition notification.  As for a bounce, the sender hears at once — that
    the mailbox refused it, with the reason it gave — and the handoff is marked."""
    return _mark_unreachable(session, service, handoff, "owner_mailbox_refused",
                             f"the owner's mailbox refused it: {reason}", reason, now,
                             mail="owner_refused")


def note_owner_challenged(session: Session, service: ServiceAddresses, handoff: Handoff,
                          lines: list[str], now: datetime) -> bool:
    """The owner's mailbox holds our mail until its sender proves to be a person (a
    challenge-response filter).  The service cannot; the sender can, so they get the
    challenge's words, its link included, once per handoff.  Nothing is marked: the
    mail arrives once somebody answers."""
    if handoff.owner is None or session.scalar(
            select(Event.id).where(Event.handoff_id == handoff.id,
                                   Event.kind == "owner_mailbox_challenge").limit(1)):
        return False
    record_event(session, handoff, "owner_mailbox_challenge", "mail", now, None,
                 address=handoff.owner.address, lines=lines)
    queue_mail(session, service, handoff, "owner_challenged", handoff.sender, now,
               {"lines": lines})
    return True


def _mark_unreachable(session: Session, service: ServiceAddresses, handoff: Handoff,
                      event: str, mark: str, reason: str, now: datetime,
                      mail: str = "owner_unreachable") -> bool:
    """Once per handoff: a second bounce or refusal changes nothing."""
    if handoff.owner is None or handoff.owner_unreachable:
        return False
    handoff.owner_unreachable = mark[:500]
    record_event(session, handoff, event, "mail", now, None,
                 address=handoff.owner.address, reason=reason[:500])
    queue_mail(session, service, handoff, mail, handoff.sender, now, {"reason": reason[:500]})
    return True

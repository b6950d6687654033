"""The intent to send a mail, stored in the same transaction as the change that causes it
(SPEC 8).  ``mailer/`` renders and delivers the rows; this module only decides *what*."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from handoff.addresses import ServiceAddresses
from handoff.db import append_row
from handoff.models import Handoff, OutboxMail, Person
from handoff.states import CLARITY_ANSWERS, Action
from handoff.wakeups import OUTBOX, notify_on_commit


@dataclass(frozen=True)
class MailKind:
    asks_to_act: bool  # sent like a colleague's mail (SPEC 7); else a pure notice
    links: bool  # carries the recipient's action links for the current state
    summary: str  # one line for the timeline and the outbox listing
    calendar: bool = False  # carries the deadline as an .ics when there is one (SPEC 7)
    # about many handoffs, in no one's thread (the weekly digest): its template is the
    # whole mail, its subject is the context's, no threading headers, no action links
    standalone: bool = False
    # actions this mail asks for besides the state's links (the clarity answers)
    asks: tuple[Action, ...] = ()


MAIL_KINDS: dict[str, MailKind] = {
    "offer": MailKind(True, True, "offer to the owner"),
    "receipt": MailKind(False, False, "receipt to the sender"),
    "incomplete": MailKind(False, False, "checklist of what the packet is missing"),
    "accepted": MailKind(False, False, "accepted: notice to the sender", calendar=True),
    "accepted_by_you": MailKind(False, True,
                                "accepted: confirmation to the owner, deadline for the calendar",
                                calendar=True),
    "question": MailKind(True, False, "the owner's question, to the sender"),
    "answered": MailKind(True, True, "the sender's answer, to the owner"),
    "declined": MailKind(False, False, "declined: notice to the sender"),
    "done": MailKind(False, True, "done: confirm or reopen, to the sender"),
    "closed": MailKind(False, False, "closed: notice to the owner"),
    "reopened": MailKind(True, True, "reopened: to the owner"),
    "cancelled": MailKind(False, False, "cancelled: notice to the owner"),
    "comment": MailKind(True, True, "a comment in the thread"),
    "nudge": MailKind(True, False, "chase: a reminder (a digest of what waits)"),
    "escalation": MailKind(True, False, "chase: a handoff stalled"),
    "owner_away": MailKind(False, False, "the owner looks away: notice to the sender"),
    "owner_unreachable": MailKind(False, False,
                                  "the owner's address failed: notice to the sender"),
    "owner_refused": MailKind(False, False,
                              "the owner's mailbox refused it: notice to the sender"),
    "owner_challenged": MailKind(False, False, "the owner's mailbox asks the sender to "
                                               "prove to be a person: notice to the sender"),
    # decision rules (SPEC 6), the clarity question and hand on (SPEC 4): issue 11
    "decision_needed": MailKind(True, True, "decision needed: to the decision owner"),
    "decided": MailKind(False, True, "decided: notice to the sender and the owner"),
    "clarity": MailKind(False, True, "closed: notice to the owner, asking whether the "
                                     "handoff was clear", asks=CLARITY_ANSWERS),
    "released": MailKind(False, False, "handed on: the previous owner is released"),
    "handed_on": MailKind(False, False, "handed on: notice to the sender"),
    "digest": MailKind(False, False, "weekly digest: open, stalled and overdue handoffs",
                       standalone=True),
}


def queue_mail(
    session: Session,
    service: ServiceAddresses,
    handoff: Handoff,
    kind: str,
    recipient: Person,
    now: datetime,
    context: dict[str, Any] | None = None,
    *,
    due_at: datetime | None = None,
    message_id: str | None = None,
) -> int:
    """Queue a mail made at ``now``, due at ``due_at`` (default: at once); return the
    outbox row's number.  ``message_id``: the mail's own (default: one of the handoff's
    thread)."""
    if kind not in MAIL_KINDS:
        raise ValueError(f"unknown mail kind {kind!r}")
    mail_id = append_row(session, OutboxMail, {
        "handoff_id": handoff.id,
        "kind": kind,
        "recipient_id": recipient.id,
        "message_id": message_id or service.message_id(handoff.id),
        "context": context or {},
        "status": "queued",
        "attempts": 0,
        "next_attempt_at": now if due_at is None else due_at,
        "created_at": now,
    }, returning_id=True)
    notify_on_commit(session, OUTBOX)  # a sender in another process: at once
    assert mail_id is not None
    return mail_id

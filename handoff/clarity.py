""""Was the handoff clear enough to act on?" (SPEC 4, the seeds' "survey both sides").

When a handoff closes (the sender confirms, or the chaser closes it), the owner's one
mail about it is the closed notice with the question and three one-click answers:
clear, missing something, unclear.  It is asked at most once per handoff, never of an
owner whose address failed, nor of an address that is a robot's.  The mail is a notice
(``Auto-Submitted``): an out-of-office reply to it would otherwise tell the sender the
owner "looks away" from a handoff that is over.

An answer can be changed while the question's links live (``token_ttl_days``, 30 days by
default): pressing another of the three replaces the answer and its note; each link
acts once, like every link.  The answers are ``clarity_answers`` rows, one per handoff:
the figures read them per sender and per workflow.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from handoff.addresses import ServiceAddresses
from handoff.lifecycle import record_event
from handoff.models import ClarityAnswer, Event, Handoff, Person
from handoff.outbox import queue_mail
from handoff.robot_signs import is_robot_address
from handoff.states import Action

ANSWERS: dict[Action, str] = {Action.CLEAR: "clear", Action.MISSING: "missing",
                              Action.UNCLEAR: "unclear"}
def not_to_ask(session: Session, handoff: Handoff) -> str | None:
    """Why the question is not asked now; None when it may be."""
    owner = handoff.owner
    if owner is None:
        return "no owner"
    if session.scalar(select(Event.id).where(Event.handoff_id == handoff.id,
                                             Event.kind == "clarity_asked").limit(1)):
        return "asked before"
    if handoff.owner_unreachable:
        return f"the owner's address failed ({handoff.owner_unreachable})"
    if is_robot_address(owner.address):
        return f"{owner.address} is an automatic mailbox"
    return None


def tell_owner_closed(session: Session, service: ServiceAddresses, handoff: Handoff,
                      now: datetime, context: dict[str, Any]) -> None:
    """The owner's one mail when the handoff closes: with the question when it may be
    asked (mail kind ``clarity``), else the plain ``closed`` notice."""
    owner = handoff.owner
    if owner is None:
        return
    why_not = not_to_ask(session, handoff)
    if why_not is None:
        record_event(session, handoff, "clarity_asked", "system", now, None, to=owner.address)
        queue_mail(session, service, handoff, "clarity", owner, now, context)
        return
    if why_not != "asked before":
        record_event(session, handoff, "clarity_not_asked", "system", now, None,
                     reason=why_not)
    queue_mail(session, service, handoff, "closed", owner, now, context)


def answer_clarity(session: Session, handoff: Handoff, actor: Person, action: Action,
                   note: str, *, how: str, now: datetime) -> Handoff:
    """Store (or replace) the owner's answer.  Nobody is told: it feeds the figures."""
    answer = ANSWERS[action]
    note = note.strip()[:5000]
    row = session.scalar(select(ClarityAnswer).where(ClarityAnswer.handoff_id == handoff.id))
    if row is None:
        session.add(ClarityAnswer(handoff_id=handoff.id, person_id=actor.id, answer=answer,
                                  note=note or None, answered_at=now))
    else:
        row.person_id, row.answer, row.note, row.answered_at = actor.id, answer, note or None, now
    handoff.clarity = answer  # what the figures count (figure_sql)
    record_event(session, handoff, "clarity_answered", how, now, actor, answer=answer,
                 **({"note": note} if note else {}))
    return handoff


def find_answer(session: Session, handoff_id: int) -> ClarityAnswer | None:
    return session.scalar(select(ClarityAnswer).where(ClarityAnswer.handoff_id == handoff_id))

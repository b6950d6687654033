"""A decision the workflow's rules ask for (SPEC 6): marked at the first offer, taken by
the decision owner (link or reply ``decided: ...``), and awaited by "done".

The mark is set once per handoff, when it is first offered (a packet completed by the
sender's reply is read then), and it stays whoever owns the handoff later.  A decision
owner who sent the handoff decided in sending it (recorded at once).  A decision owner
who owns it decides in marking it done; if they hand it on undecided, they are asked for
the decision like any decision owner, and the new owner waits for it.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from handoff.addresses import ServiceAddresses
from handoff.decisions import DecisionRule, find_decision
from handoff.lifecycle import keep_figures, record_event
from handoff.models import Handoff, Person
from handoff.outbox import queue_mail
from handoff.people import ensure_person
from handoff.states import BALL, Role, Status

DECISION_LIMIT = 5000


def is_pending(handoff: Handoff) -> bool:
    return bool(handoff.needs_decision) and handoff.decided_at is None


def owed(handoff: Handoff) -> tuple[Role, str]:
    """Who holds the ball and what they owe next (states.BALL), saying so when "done"
    waits for somebody else's decision."""
    role, owes = BALL[Status(handoff.status)]
    decider = handoff.decision_owner
    if (is_pending(handoff) and handoff.status == Status.ACCEPTED and decider is not None
            and decider.id != handoff.owner_id):
        owes = f"deliver; done waits for a decision by {decider.address}"
    return role, owes


def mark_decision(session: Session, handoff: Handoff, rules: tuple[DecisionRule, ...],
                  now: datetime) -> Person | None:
    """Apply the workflow's rules to the packet; the decision owner when one must
    decide (the caller mails them), else None."""
    if handoff.needs_decision or not rules:
        return None
    needed = find_decision(rules, handoff.title, handoff.packet)
    if needed is None:
        return None
    decider = ensure_person(session, needed.rule.owner, "", now)
    handoff.needs_decision = needed.reason
    handoff.decision_owner_id, handoff.decision_owner = decider.id, decider
    record_event(session, handoff, "needs_decision", "system", now, None,
                 reason=needed.reason, decider=decider.address, found=needed.found)
    if decider.id == handoff.sender_id:
        _record_decision(session, handoff, decider, "decided by the sender, the decision "
                         "owner, in handing it off", "system", now)
        return None
    if decider.id == handoff.owner_id:
        return None  # the owner decides in marking it done
    return decider


def decide_in_doing(session: Session, handoff: Handoff, actor: Person,
                    now: datetime) -> None:
    """The owner who is also the decision owner marks it done: that is the decision."""
    if is_pending(handoff) and handoff.decision_owner_id == actor.id:
        _record_decision(session, handoff, actor, "decided by the owner, the decision "
                         "owner, in marking it done", "system", now)


def ask_after_hand_on(session: Session, service: ServiceAddresses, handoff: Handoff,
                      previous_owner: Person | None, now: datetime) -> None:
    """An owner who was the decision owner handed it on undecided: they are asked now,
    like any decision owner (unless the new owner is the decision owner)."""
    decider = handoff.decision_owner
    if (is_pending(handoff) and decider is not None and previous_owner is not None
            and decider.id == previous_owner.id and decider.id != handoff.owner_id):
        queue_mail(session, service, handoff, "decision_needed", decider, now)


def _record_decision(session: Session, handoff: Handoff, actor: Person, text: str,
                     how: str, now: datetime) -> None:
    handoff.decided_at, handoff.decision = now, text
    keep_figures(handoff)
    record_event(session, handoff, "decided", how, now, actor, note=text,
                 reason=handoff.needs_decision)


def done_refusal(handoff: Handoff, actor: Person) -> str | None:
    """Why the owner may not mark it done yet: a decision is awaited."""
    if not is_pending(handoff):
        return None
    decider = handoff.decision_owner
    if decider is not None and decider.id == actor.id:
        return None  # the owner is the decision owner: done is the decision
    if decider is None:
        who = "the decision owner"
    elif decider.id == actor.id:
        who = "you"
    else:
        who = decider.address if decider.label == decider.address else \
            f"{decider.label} <{decider.address}>"
    return (f"{handoff.ref} waits for a decision by {who}: {handoff.needs_decision}. "
            "It can be marked done once the decision is in.")


def decide_refusal(handoff: Handoff) -> str | None:
    if not handoff.needs_decision:
        return f"{handoff.ref} needs no decision."
    if handoff.decided_at is not None:
        return f"{handoff.ref} was decided already: {handoff.decision}"
    return None


def decide(session: Session, service: ServiceAddresses, handoff: Handoff, actor: Person,
           text: str, *, how: str, now: datetime) -> Handoff:
    """Record the decision; the sender and the owner are told (the owner's mail carries
    the "Done" link that was waiting for it).  Allowed-ness is checked by the caller
    (``workflow.refusal``)."""
    text = text.strip()[:DECISION_LIMIT]
    handoff.decided_at = now
    handoff.decision = text
    keep_figures(handoff)
    handoff.last_activity_at = now
    handoff.next_chase_at = now  # an action resets the chase timers (SPEC 5)
    record_event(session, handoff, "decided", how, now, actor, note=text,
                 reason=handoff.needs_decision)
    for person in (handoff.sender, handoff.owner):
        if person is not None and person.id != actor.id:
            queue_mail(session, service, handoff, "decided", person, now,
                       {"note": text, "actor": actor.label})
    return handoff

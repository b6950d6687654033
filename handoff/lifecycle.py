"""What every change of a handoff shares: the timeline event, who is who, and the status
with the milestones it keeps.  ``workflow``, ``hand_on``, ``deciding`` and ``clarity``
build on these."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from handoff.db import append_row
from handoff.models import Event, Handoff, Person
from handoff.states import BALL, LIMBO, TRANSITIONS, Action, Role, Status
from handoff.webhook_events import queue_webhook_event


def record_event(
    session: Session,
    handoff: Handoff,
    kind: str,
    how: str,
    now: datetime,
    actor: Person | None = None,
    **detail: Any,
) -> None:
    append_row(session, Event, {
        "handoff_id": handoff.id, "at": now, "actor_id": actor.id if actor else None,
        "kind": kind, "how": how, "detail": detail})
    queue_webhook_event(session, handoff, kind, how, actor.address if actor else None,
                        detail, now)


def role_of(handoff: Handoff, person: Person) -> Role:
    """The one role a person's mail is written for (owner before sender before decision
    owner); permissions read :func:`holds` instead, since one person can hold two."""
    for role in (Role.OWNER, Role.SENDER, Role.DECIDER):
        if holds(handoff, person, role):
            return role
    return Role.NOBODY


def holds(handoff: Handoff, person: Person, role: Role) -> bool:
    ids = {Role.OWNER: handoff.owner_id, Role.SENDER: handoff.sender_id,
           Role.DECIDER: handoff.decision_owner_id}
    return ids.get(role) is not None and ids.get(role) == person.id


def may_act(handoff: Handoff, person: Person, action: Action) -> bool:
    """Whether ``person`` holds a role that may take ``action`` (states.TRANSITIONS)."""
    return any(holds(handoff, person, role) for role in TRANSITIONS[action].actors)


def person_for(handoff: Handoff, role: Role) -> Person | None:
    return {Role.OWNER: handoff.owner, Role.SENDER: handoff.sender,
            Role.DECIDER: handoff.decision_owner}.get(role)


ENDED = frozenset({Status.CLOSED, Status.DECLINED, Status.CANCELLED})


def lock_handoff(session: Session, handoff: Handoff) -> None:
    """Hold the handoff's row until this transaction ends, and read it as committed now.
    Call before deciding what a reply or a click does: two workers (or a worker and a
    click) acting on one handoff then take turns, where the later commit overwrote the
    earlier (an accept and a cancel both applied).  PostgreSQL; SQLite has one writer."""
    if session.get_bind().dialect.name != "postgresql":
        return
    session.execute(select(Handoff.id).where(Handoff.id == handoff.id).with_for_update())
    session.refresh(handoff)


def set_status(handoff: Handoff, status: Status, now: datetime, *,
               new_offer: bool = False) -> None:
    """Every change of state goes through here: it keeps the ball, the chase clock and
    the milestones the figures read (offered, accepted, done, ended, time in limbo).
    ``new_offer``: an offer to a new owner (a hand on), also from needs_info."""
    leaving = Status(handoff.status) if handoff.status else None
    if leaving in LIMBO and handoff.state_changed_at is not None:
        waited = int((now - handoff.state_changed_at).total_seconds())
        handoff.limbo_seconds = (handoff.limbo_seconds or 0) + max(waited, 0)
    if status is Status.OFFERED and (new_offer or leaving is not Status.NEEDS_INFO):
        handoff.offered_at = now  # a new offer (also to a new owner) starts the count
    if status is Status.ACCEPTED and (handoff.accepted_at is None or (
            handoff.offered_at is not None and handoff.accepted_at < handoff.offered_at)):
        handoff.accepted_at = now
    if status is Status.DONE:
        handoff.done_at = now
    if status in ENDED:
        handoff.ended_at = now
    elif leaving in ENDED:
        handoff.ended_at = None  # handed on after a decline: open again
    handoff.status = status
    keep_figures(handoff)
    handoff.ball = BALL[status][0]
    handoff.state_changed_at = now
    handoff.last_activity_at = now
    handoff.next_chase_at = now  # the next chase pass works out what is due now


DONE_OR_CLOSED = frozenset({Status.DONE, Status.CLOSED})


def keep_figures(handoff: Handoff) -> None:
    """The whole seconds the figures add up, from the milestones (``figure_sql`` reads
    these, never the instants): called after every change of status or decision.
    Each is None where it does not apply: not accepted since the latest offer, not done
    or closed now, not decided."""
    offered, accepted, decided = handoff.offered_at, handoff.accepted_at, handoff.decided_at
    handoff.accept_seconds = _seconds(accepted, offered) \
        if offered is not None and accepted is not None and accepted >= offered else None
    handoff.done_seconds = _seconds(handoff.done_at, handoff.created_at) \
        if handoff.status in DONE_OR_CLOSED else None
    start = offered if offered is not None and decided is not None and offered <= decided \
        else handoff.created_at
    handoff.decision_seconds = _seconds(decided, start) \
        if handoff.needs_decision and decided is not None else None


def _seconds(later: datetime | None, earlier: datetime | None) -> int | None:
    if later is None or earlier is None:
        return None
    return round((later - earlier).total_seconds())

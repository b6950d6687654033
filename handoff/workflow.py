"""State changes: each is transition + timeline event + outbox rows, in the caller's one
transaction.  Whether an action is allowed is read from ``states.TRANSITIONS`` (who, from
which state) and the few gates of :func:`refusal` (a decision awaited before "done").
Hand on, decisions and the clarity question live in their own modules."""

from __future__ import annotations

from datetime import datetime
from typing import Callable

from sqlalchemy.orm import Session

from handoff.addresses import ServiceAddresses
from handoff.clarity import answer_clarity, tell_owner_closed
from handoff.deadlines import names_a_time, resolve_deadline
from handoff.deciding import (decide, decide_in_doing, decide_refusal, done_refusal,
                              mark_decision)
from handoff.decisions import DecisionRule
from handoff.errors import ActionRefused
from handoff.hand_on import hand_on
from handoff.lifecycle import holds, may_act, person_for, record_event, role_of, set_status
from handoff.models import Handoff, Person
from handoff.outbox import queue_mail
from handoff.packet import RECOMMENDED_DEFAULT, REQUIRED_DEFAULT, Packet
from handoff.states import (BALL, CLARITY_ANSWERS, SAME, TRANSITIONS, Action, Role,
                            Status)

# Who hears of an action, by which mail (SPEC 4, "who is told").  Hand on, decide and the
# clarity answers tell their own (hand_on.py, deciding.py, clarity.py).
ACTION_MAILS: dict[Action, tuple[str, Role]] = {
    Action.ACCEPT: ("accepted", Role.SENDER),
    Action.NEED_INFO: ("question", Role.SENDER),
    Action.ANSWER: ("answered", Role.OWNER),
    Action.DECLINE: ("declined", Role.SENDER),
    Action.DONE: ("done", Role.SENDER),
    Action.CONFIRM: ("closed", Role.OWNER),
    Action.REOPEN: ("reopened", Role.OWNER),
    Action.CANCEL: ("cancelled", Role.OWNER),
}
# What each action is called on the timeline.
EVENT_KINDS: dict[Action, str] = {
    Action.ACCEPT: "accepted",
    Action.NEED_INFO: "needs_info",
    Action.ANSWER: "answered",
    Action.DECLINE: "declined",
    Action.DONE: "done",
    Action.CONFIRM: "closed",
    Action.REOPEN: "reopened",
    Action.CANCEL: "cancelled",
}
# Beyond who and from which state: what else an action waits for (None: nothing).
GATES: dict[Action, Callable[[Handoff, Person], str | None]] = {
    Action.DONE: done_refusal,
    Action.DECIDE: lambda handoff, _actor: decide_refusal(handoff),
}


def open_handoff(
    session: Session,
    service: ServiceAddresses,
    *,
    title: str,
    sender: Person,
    owner: Person | None,
    packet: Packet,
    workflow: str,
    origin_message_id: str | None,
    origin_references: list[str],
    now: datetime,
    required: tuple[str, ...] = REQUIRED_DEFAULT,
    decisions: tuple[DecisionRule, ...] = (),
) -> Handoff:
    """Create a handoff from a packet: offered when complete, else incomplete (SPEC 2);
    the workflow's ``decisions`` rules are read when it is offered (SPEC 6)."""
    missing = packet.missing(required)
    status = Status.INCOMPLETE if missing or owner is None else Status.OFFERED
    handoff = Handoff(
        title=title or "(no subject)",
        status=status,
        ball=BALL[status][0],
        workflow=workflow,
        sender_id=sender.id,
        owner_id=owner.id if owner else None,
        packet=packet.fields,
        problems=packet.problems,
        deadline=packet.deadline_at,
        origin_message_id=origin_message_id,
        origin_references=origin_references,
        created_at=now,
        state_changed_at=now,
        last_activity_at=now,
        next_chase_at=now,
        offered_at=now if status is Status.OFFERED else None,
        limbo_seconds=0,
    )
    handoff.sender = sender
    handoff.owner = owner
    session.add(handoff)
    session.flush()
    record_event(session, handoff, "created", "mail", now, sender,
                 workflow=workflow, owner=owner.address if owner else None)
    if status is Status.OFFERED:
        assert owner is not None
        _offer(session, service, handoff, owner, sender, now, decisions)
    else:
        _ask_for_missing(session, service, handoff, sender, missing,
                         list(packet.owner_candidates), now)
    return handoff


def _offer(session: Session, service: ServiceAddresses, handoff: Handoff, owner: Person,
           sender: Person, now: datetime, decisions: tuple[DecisionRule, ...]) -> None:
    """The first offer: to the owner, a receipt to the sender, and when a decision rule
    fires, the decision owner's own "decision needed" mail with its Decide link."""
    decider = mark_decision(session, handoff, decisions, now)
    record_event(session, handoff, "offered", "system", now, None, to=owner.address)
    queue_mail(session, service, handoff, "offer", owner, now)
    recommended = [n for n in RECOMMENDED_DEFAULT if not handoff.packet.get(n)]
    queue_mail(session, service, handoff, "receipt", sender, now,
               {"missing_recommended": recommended})
    if decider is not None:
        queue_mail(session, service, handoff, "decision_needed", decider, now)


def _ask_for_missing(session: Session, service: ServiceAddresses, handoff: Handoff,
                     sender: Person, missing: list[str], candidates: list[str],
                     now: datetime) -> None:
    why = list(missing)
    if handoff.owner_id is None and "owner" not in why:
        why.append("owner")
    record_event(session, handoff, "incomplete", "system", now, None, missing=why,
                 candidates=candidates)
    queue_mail(session, service, handoff, "incomplete", sender, now,
               {"missing": why, "candidates": candidates})


# What a sender's reply to the checklist may supply: the labeled lines of SPEC 2.
SUPPLIABLE = ("why", "done", "deadline", "decisions", "contingency", "priority")


def supply_packet(
    session: Session,
    service: ServiceAddresses,
    handoff: Handoff,
    sender: Person,
    supplied: Packet,
    owner: Person | None,
    *,
    now: datetime,
    required: tuple[str, ...] = REQUIRED_DEFAULT,
    decisions: tuple[DecisionRule, ...] = (),
) -> bool:
    """The sender's reply to the checklist of an incomplete handoff (SPEC 2): the lines it
    states join the packet (a later line replaces an earlier one); once nothing required
    is missing the offer goes out, else the checklist again.  True when offered."""
    packet = dict(handoff.packet)
    added = [name for name in SUPPLIABLE
             if supplied.fields.get(name, {}).get("source") == "stated"]
    for name in added:
        packet[name] = supplied.fields[name]
    if "request" not in packet and supplied.value("request"):
        packet["request"] = supplied.fields["request"]
        handoff.title = str(supplied.value("request"))[:500]
        added.append("request")
    if "deadline" in added:
        handoff.deadline = supplied.deadline_at
    if owner is not None and owner.id != sender.id:
        packet["owner"] = supplied.fields["owner"]
        handoff.owner_id, handoff.owner = owner.id, owner
        added.append("owner")
    handoff.packet = packet
    handoff.problems = list(handoff.problems or []) + [
        p for p in supplied.problems if p not in (handoff.problems or [])]
    handoff.last_activity_at = now
    record_event(session, handoff, "packet_supplied", "reply", now, sender, fields=added)
    missing = [n for n in required if not packet.get(n)]
    if missing or handoff.owner is None:
        _ask_for_missing(session, service, handoff, sender, missing,
                         list(supplied.owner_candidates), now)
        return False
    set_status(handoff, Status.OFFERED, now)
    _offer(session, service, handoff, handoff.owner, sender, now, decisions)
    return True


def refusal(handoff: Handoff, action: Action, actor: Person) -> str | None:
    """Why ``actor`` may not take ``action`` now; None when they may.  Links (GET and
    POST) and reply commands ask the same question."""
    rule = TRANSITIONS[action]
    if not may_act(handoff, actor, action):
        if Role.OWNER in rule.actors and handoff.owner is not None and (
                Role.SENDER not in rule.actors or role_of(handoff, actor) is Role.NOBODY):
            return (f"{handoff.ref} is with {handoff.owner.address} now: only its "
                    f"{' or '.join(map(str, rule.actors))} may {rule.label.lower()}.")
        return f"“{rule.label}” is for the {' or the '.join(map(str, rule.actors))}."
    current = Status(handoff.status)
    if current not in rule.sources:
        return f"{handoff.ref} is {current}; {rule.label.lower()} is not possible now"
    gate = GATES.get(action)
    return gate(handoff, actor) if gate is not None else None


def perform_action(
    session: Session,
    service: ServiceAddresses,
    handoff: Handoff,
    action: Action,
    actor: Person,
    *,
    how: str,
    now: datetime,
    note: str = "",
    address: str = "",
) -> Handoff:
    """Apply one action of SPEC 4's table, or raise :class:`ActionRefused`.  ``address``
    is the new owner of a hand on (else its note's first line is read for it)."""
    reason = refusal(handoff, action, actor)
    if reason is not None:
        raise ActionRefused(reason, handoff_ref=handoff.ref)
    rule = TRANSITIONS[action]
    if rule.note_required and not note.strip():
        raise ActionRefused(f"{rule.note_prompt}: please write it.", handoff_ref=handoff.ref)
    if action is Action.SNOOZE:
        return snooze(session, handoff, actor, note, how=how, now=now)
    if action is Action.HAND_ON:
        if not address.strip():
            address, _, note = note.strip().partition("\n")
        return hand_on(session, service, handoff, actor, address, note, how=how, now=now)
    if action is Action.DECIDE:
        return decide(session, service, handoff, actor, note, how=how, now=now)
    if action in CLARITY_ANSWERS:
        return answer_clarity(session, handoff, actor, action, note, how=how, now=now)
    if action is Action.DONE:
        decide_in_doing(session, handoff, actor, now)
    current = Status(handoff.status)
    target = rule.target
    if target is None:  # the answer to a question returns to where it was asked
        target = Status(handoff.previous_status or Status.OFFERED)
    assert isinstance(target, Status) and target != SAME
    handoff.previous_status = current
    set_status(handoff, target, now)
    if holds(handoff, actor, Role.OWNER):
        handoff.owner_away_since = None  # acting is being back
    note = note.strip()[:5000]
    record_event(session, handoff, EVENT_KINDS[action], how, now, actor,
                 **({"note": note} if note else {}), **{"from": str(current), "to": str(target)})
    kind, role = ACTION_MAILS[action]
    recipient = person_for(handoff, role)
    context = {"note": note, "actor": actor.label}
    if target is Status.CLOSED:  # the owner's one mail: closed, and "was it clear?"
        tell_owner_closed(session, service, handoff, now, context)
    elif recipient is not None:
        queue_mail(session, service, handoff, kind, recipient, now, context)
    if action is Action.ACCEPT and handoff.deadline is not None and handoff.owner is not None:
        # the owner's own confirmation, carrying the deadline for their calendar (SPEC 7)
        queue_mail(session, service, handoff, "accepted_by_you", handoff.owner, now,
                   {"note": note})
    return handoff


def snooze(session: Session, handoff: Handoff, actor: Person, until_words: str, *,
           how: str, now: datetime) -> Handoff:
    """The owner pauses chasing until a date (SPEC 4, 5); the state stays, nobody is
    told.  The words are read like a deadline ("Monday", "Dec 3"), in the service's
    default zone (per-person zones: docs/chasing.md)."""
    reason = refusal(handoff, Action.SNOOZE, actor)
    if reason is not None:
        raise ActionRefused(reason, handoff_ref=handoff.ref)
    until = resolve_deadline(until_words or "tomorrow", now, "UTC")
    if until.at is None or until.at <= now:
        raise ActionRefused(f"snooze until {until_words!r}: give a date ahead",
                            handoff_ref=handoff.ref)
    at = until.at
    if not names_a_time(until_words):  # "until Monday": Monday morning, not evening
        at = at.replace(hour=0, minute=0, second=0, microsecond=0)
    handoff.snoozed_until = at
    handoff.next_chase_at = at
    record_event(session, handoff, "snoozed", how, now, actor, until=until.at.isoformat(),
                 words=until_words[:200])
    return handoff


def auto_close(session: Session, service: ServiceAddresses, handoff: Handoff,
               now: datetime) -> None:
    """Done and never confirmed (SPEC 5): the service closes it and tells the owner
    (with the clarity question, clarity.py)."""
    handoff.previous_status = handoff.status
    set_status(handoff, Status.CLOSED, now)
    record_event(session, handoff, "closed", "system", now, None,
                 reason="done and not confirmed within five business days")
    tell_owner_closed(session, service, handoff, now,
                      {"note": "No confirmation came; the service closed it.",
                       "actor": "handoff", "auto": True})


def add_comment(
    session: Session,
    service: ServiceAddresses,
    handoff: Handoff,
    author: Person,
    text: str,
    *,
    now: datetime,
    notify: list[Person],
) -> None:
    """A reply in the thread that is not a command (SPEC 4); ``notify``: who hears of it
    (the caller knows who had it already)."""
    record_event(session, handoff, "comment", "reply", now, author, text=text[:10000])
    handoff.last_activity_at = now
    handoff.next_chase_at = now  # a reply resets the chase timers (SPEC 5)
    if handoff.owner_id == author.id:
        handoff.owner_away_since = None  # a real reply: back
    for other in notify:
        if other.id != author.id:
            queue_mail(session, service, handoff, "comment", other, now,
                       {"note": text[:5000], "actor": author.label})

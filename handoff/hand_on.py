"""Hand on (SPEC 4): the owner or the sender passes the handoff to a new owner.

The new owner gets an offer with the packet, who handed it on (and their note) and the
timeline so far in short; the old owner is released (their links now show the current
state); the sender is told.  The handoff is offered anew: the ball, the chase clock and
the "offered" milestone start again with the new owner.  The chain of owners stays on
the timeline (``handed_on`` events).  Allowed-ness (who, from which state) is checked by
the caller (``workflow.refusal``); the new owner's address is checked here.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from handoff.addresses import ServiceAddresses, normalise_address
from handoff.deciding import ask_after_hand_on
from handoff.errors import ActionRefused
from handoff.event_words import describe_event
from handoff.lifecycle import record_event, set_status
from handoff.models import Event, Handoff, Person
from handoff.outbox import queue_mail
from handoff.people import ensure_person
from handoff.robot_signs import is_robot_address
from handoff.states import Status

_ADDRESS = re.compile(r"[\w.+'&%!#$*/=?^`{|}~-]+@[\w-]+(?:\.[\w-]+)+")
_NAME = re.compile(r"^\s*\"?(?P<name>[^\"<>@,;]+?)\"?\s*<")
HISTORY_LENGTH = 12
# timeline kinds the new owner's offer recounts (not the service's own book-keeping)
HISTORY_KINDS = frozenset({"created", "offered", "accepted", "needs_info", "answered",
                           "declined", "done", "reopened", "handed_on", "needs_decision",
                           "decided", "comment", "snoozed", "packet_supplied"})


def read_new_owner(text: str) -> tuple[str, str, str]:
    """``"Carol C <carol@example.com> knows the client"`` -> (name, address, the rest).
    Exactly one address, or :class:`ActionRefused` saying what to write."""
    found = list(dict.fromkeys(a.lower() for a in _ADDRESS.findall(text[:1000])))
    if not found:
        raise ActionRefused("Name the new owner by their address, e.g. "
                            "“hand on: carol@example.com”.")
    if len(found) > 1:
        raise ActionRefused(f"A handoff has one owner: name one address, not "
                            f"{', '.join(found)}.")
    m = _NAME.match(text)
    end = text.lower().rfind(found[0]) + len(found[0])
    rest = text[end:].lstrip(">").strip(" ,;:-–—\t")
    return (m["name"].strip() if m else ""), found[0], rest


def check_new_owner(service: ServiceAddresses, handoff: Handoff, address: str) -> None:
    addr = normalise_address(address)
    if service.is_service(addr):
        raise ActionRefused(f"{addr} is the service's own address: name a person.",
                            handoff_ref=handoff.ref)
    if handoff.owner is not None and addr == handoff.owner.address:
        raise ActionRefused(f"{addr} owns {handoff.ref} already.", handoff_ref=handoff.ref)
    if addr == handoff.sender.address:
        raise ActionRefused(f"{addr} handed {handoff.ref} off: the sender cannot own it "
                            "(cancel it instead).", handoff_ref=handoff.ref)
    if is_robot_address(addr):
        raise ActionRefused(f"{addr} looks like an automatic mailbox: name a person.",
                            handoff_ref=handoff.ref)


def hand_on(session: Session, service: ServiceAddresses, handoff: Handoff, actor: Person,
            address_text: str, note: str, *, how: str, now: datetime) -> Handoff:
    name, address, rest = read_new_owner(address_text)
    check_new_owner(service, handoff, address)
    note = "\n".join(part for part in (rest, note.strip()) if part)[:5000]
    history = short_history(session, handoff)
    old = handoff.owner
    new = ensure_person(session, address, name, now)
    handoff.previous_status = handoff.status
    handoff.owner_id, handoff.owner = new.id, new
    # what was known about the old owner's mailbox is not the new owner's
    handoff.owner_away_since = handoff.owner_unreachable = handoff.snoozed_until = None
    set_status(handoff, Status.OFFERED, now, new_offer=True)
    record_event(session, handoff, "handed_on", how, now, actor,
                 previous_owner=old.address if old else None, new_owner=new.address,
                 **({"note": note} if note else {}))
    record_event(session, handoff, "offered", "system", now, None, to=new.address)
    told: dict[str, Any] = {"actor": actor.label, "actor_address": actor.address,
                            "new_owner": new.label, "new_owner_address": new.address,
                            "previous_owner": old.label if old else "", "note": note}
    queue_mail(session, service, handoff, "offer", new, now,
               {**told, "handed_on": True, "history": history})
    if old is not None:
        queue_mail(session, service, handoff, "released", old, now,
                   {**told, "by_you": actor.id == old.id})
    queue_mail(session, service, handoff, "handed_on", handoff.sender, now,
               {**told, "by_you": actor.id == handoff.sender_id})
    ask_after_hand_on(session, service, handoff, old, now)
    return handoff


def short_history(session: Session, handoff: Handoff) -> list[dict[str, str]]:
    """The timeline so far, in short, for the new owner: when, who, what (last lines)."""
    events = list(session.scalars(
        select(Event).where(Event.handoff_id == handoff.id,
                            Event.kind.in_(sorted(HISTORY_KINDS)))
        .order_by(Event.at.desc(), Event.id.desc()).limit(HISTORY_LENGTH)))
    lines = []
    for event in reversed(events):
        detail = event.detail or {}
        what = describe_event(event.kind, detail, event.actor is not None)  # as the page
        said = str(detail.get("note") or detail.get("text") or detail.get("reason") or "")
        said = " ".join(said.split())
        if said:
            what += f": {said[:160]}{'…' if len(said) > 160 else ''}"
        lines.append({"at": event.at.isoformat(),
                      "who": event.actor.label if event.actor else "handoff",
                      "what": what})
    return lines


def owner_chain(events: list[Event], first_owner: str | None) -> list[str]:
    """Every owner in order, from the timeline's ``handed_on`` events."""
    chain: list[str] = []
    for event in events:
        if event.kind == "handed_on":
            previous = (event.detail or {}).get("previous_owner")
            if not chain and previous:
                chain.append(previous)
            chain.append(str((event.detail or {}).get("new_owner")))
    return chain if chain else ([first_owner] if first_owner else [])

"""What a weekly digest says (issue 11, point 5): its parts, each handoff in the first
section that fits, most pressing first, and the words for each.

* *overdue*: its deadline passed while offered, accepted or needing info (as the status
  page says); the longest overdue first;
* *stalled*: in limbo (incomplete, offered or needing info: waiting for someone to take
  it up or answer) and nothing happened to it (no state change, action or reply in its
  thread; a snooze's end counts) for ``stalled_after`` business days of whoever holds
  the ball; a snoozed handoff is not stalled; the longest quiet first;
* *open*: the rest, the nearest deadline first, then the oldest.

The context is stored on the outbox row; the renderer adds each item's handoff (its
current title and deadline, written in the reader's zone) and page link.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Callable

from babel.dates import format_date, format_timedelta

from handoff.business_time import WorkingHours
from handoff.chase import working_hours
from handoff.deciding import owed
from handoff.models import Handoff, Person
from handoff.settings import Settings
from handoff.states import BALL, CAN_BE_OVERDUE, LIMBO, Role, Status

# waiting on somebody to act, so it can stall (incomplete too: the sender owes lines)
STALLABLE = frozenset({Status.INCOMPLETE, *LIMBO})
SECTIONS = ("overdue", "stalled", "open")
MAX_ITEMS = 50  # a part lists the 50 most pressing; the rest are counted
SENDER, MANAGER = "sender", "manager"
Part = tuple[str, str, list[Handoff]]  # (kind, workflow, its open handoffs)


def digest_context(settings: Settings, stalled_after: int, week_start: datetime,
                   reader_hours: WorkingHours, reader_id: int | None, parts: list[Part],
                   now: datetime) -> tuple[dict[str, Any], list[Handoff]]:
    """The mail's context: its subject, parts (heading, counts) and their items; and
    every handoff of the mail in the mail's order."""
    holders: dict[str, WorkingHours] = {}

    def hours_of(person: Person) -> WorkingHours:
        if person.address not in holders:
            holders[person.address] = working_hours(settings, person.address)
        return holders[person.address]

    out_parts: list[dict[str, Any]] = []
    items: list[dict[str, Any]] = []
    everything: list[Handoff] = []
    for number, (kind, workflow, handoffs) in enumerate(parts):
        ranked = sorted(((_rank(h, stalled_after, hours_of, now), h) for h in handoffs),
                        key=lambda pair: pair[0])
        counts = {name: sum(1 for rank, _h in ranked if SECTIONS[rank[0]] == name)
                  for name in SECTIONS}
        out_parts.append({"kind": kind, "workflow": workflow,
                          "heading": "Your handoffs" if kind == SENDER
                          else f"Workflow {workflow}",
                          "counts": _counts(len(handoffs), counts),
                          "more": max(0, len(ranked) - MAX_ITEMS)})
        items += [_item(h, SECTIONS[rank[0]], number, reader_id, now)
                  for rank, h in ranked[:MAX_ITEMS]]
        everything += [h for _rank, h in ranked]
    if len(out_parts) == 1:
        subject = f"{out_parts[0]['heading']} this week: {out_parts[0]['counts']}"
    else:
        subject = "Your weekly handoff digest: " + "; ".join(
            f"{'yours' if p['kind'] == SENDER else p['workflow']} {p['counts']}"
            for p in out_parts)
    week = format_date(week_start.astimezone(reader_hours.tz).date(), "EEE d MMM y",
                       locale="en")
    return {"subject": subject, "week": week, "parts": out_parts, "items": items,
            "stalled_after": stalled_after}, everything


def _rank(handoff: Handoff, stalled_after: int, hours_of: Callable[[Person], WorkingHours],
          now: datetime) -> tuple[int, float, int]:
    """(section, the most pressing first within it, the oldest first)."""
    status = Status(handoff.status)
    if handoff.deadline is not None and handoff.deadline < now and status in CAN_BE_OVERDUE:
        return (0, handoff.deadline.timestamp(), handoff.id)
    quiet = _quiet_since(handoff, now)
    if status in STALLABLE and not (handoff.snoozed_until and handoff.snoozed_until > now):
        hours = hours_of(_holder(handoff) or handoff.sender)
        if hours.add(quiet, hours.business_days(stalled_after)) <= now:
            return (1, quiet.timestamp(), handoff.id)
    return (2, handoff.deadline.timestamp() if handoff.deadline else float("inf"),
            handoff.id)


def _quiet_since(handoff: Handoff, now: datetime) -> datetime:
    last = max(handoff.state_changed_at, handoff.last_activity_at)
    if handoff.snoozed_until is not None and handoff.snoozed_until <= now:
        last = max(last, handoff.snoozed_until)  # a snooze's end starts the clock afresh
    return last


def _holder(handoff: Handoff) -> Person | None:
    role, _owes = BALL[Status(handoff.status)]
    return {Role.OWNER: handoff.owner, Role.SENDER: handoff.sender}.get(role)


def _item(handoff: Handoff, section: str, part: int, reader_id: int | None,
          now: datetime) -> dict[str, Any]:
    _role, owes = owed(handoff)
    holder = _holder(handoff)
    who = "nobody" if holder is None else "you" if holder.id == reader_id else holder.label
    return {"handoff_id": handoff.id, "ref": handoff.ref, "part": part,
            "section": section, "status": handoff.status.replace("_", " "),
            "ball": f"{who} ({owes})" if owes else who,
            "owner": handoff.owner.label if handoff.owner else "no owner yet",
            "age": _words(now - handoff.created_at),
            "quiet": _words(now - _quiet_since(handoff, now))}


def _counts(total: int, counts: dict[str, int]) -> str:
    extra = [f"{counts[name]} {name}" for name in ("overdue", "stalled") if counts[name]]
    return f"{total} open" + (f" ({', '.join(extra)})" if extra else "")


def _words(delta: timedelta) -> str:
    """"3 hours", "6 days", "2 weeks": an age as a person says it (babel)."""
    return str(format_timedelta(max(delta, timedelta(minutes=1)), threshold=1.0,
                                locale="en"))

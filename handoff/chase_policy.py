"""What chasing owes a handoff, and when (SPEC 5): the policy as a table, and one pure
function from a handoff's state and clocks to its due steps.

Each step has a stable identity (``rule``, ``number``) within one stay in a state, so a
chaser can claim it exactly once in the database.  Every delay is business time of
the person the rule counts for (who holds the ball), and nothing is due outside the
recipient's working hours.  The numbers are SPEC 5's defaults; a workflow may override
them (issue 4: ``[chase]`` and ``[workflows.NAME.chase]`` in the TOML, in hours).
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, Mapping

from handoff.business_time import WorkingHours
from handoff.errors import ConfigError
from handoff.states import Status


class Step(StrEnum):
    NUDGE = "nudge"  # a reminder to whoever owes the next move
    ESCALATE = "escalate"  # the sender and/or the escalation contact hear it stalled
    AUTO_CLOSE = "auto_close"  # done, never confirmed: closed by the service


@dataclass(frozen=True)
class ChasePolicy:
    """SPEC 5's numbers, in business hours (8 business hours = 1 business day)."""

    unaccepted_first: float = 4
    unaccepted_again: float = 8
    unaccepted_escalate: float = 16
    unanswered_first: float = 8
    unanswered_again: float = 16
    deadline_near_days: float = 1  # business days before the deadline's day (mornings)
    overdue_every: float = 16
    overdue_escalate: float = 24
    unconfirmed_nudge: float = 16
    unconfirmed_close: float = 40

    @classmethod
    def from_table(cls, table: Mapping[str, Any], base: "ChasePolicy | None" = None
                   ) -> "ChasePolicy":
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(table) - known)
        if unknown:
            raise ConfigError(f"unknown chase settings {unknown}; known: {sorted(known)}")
        values = {}
        for key, value in table.items():
            if not isinstance(value, (int, float)) or value < 0:
                raise ConfigError(f"chase setting {key} must be a number of hours >= 0")
            values[key] = float(value)
        return replace(base or cls(), **values)


@dataclass(frozen=True)
class Due:
    rule: str  # unaccepted | unanswered | deadline_near | overdue | unconfirmed
    number: int  # 1, 2, ... within the rule and this stay in the state
    step: Step
    to: tuple[str, ...]  # "owner", "sender", "contact"
    at: datetime  # UTC, inside the counted person's working hours


def due_steps(status: Status, state_changed_at: datetime, deadline: datetime | None,
              hours: WorkingHours, policy: ChasePolicy, *, until: datetime,
              repeats: int = 6) -> list[Due]:
    """Every step due at or before ``until`` for a handoff in ``status`` since
    ``state_changed_at`` (deadline rules count from the deadline).  ``hours`` are those
    of whoever holds the ball.  Repeating steps stop after ``repeats``."""
    h = hours
    bh = timedelta(hours=1)
    start = h.next_working_moment(state_changed_at)  # Friday evening -> Monday 09:00

    def at(base: datetime, business_hours: float) -> datetime:
        when = h.add(base, business_hours * bh)
        return when if h.is_working_time(when) else h.next_working_moment(when)

    steps: list[Due] = []
    if status is Status.OFFERED:
        steps.append(Due("unaccepted", 1, Step.NUDGE, ("owner",),
                         at(start, policy.unaccepted_first)))
        steps.append(Due("unaccepted", 2, Step.NUDGE, ("owner",),
                         at(start, policy.unaccepted_first + policy.unaccepted_again)))
        steps.append(Due("unaccepted", 3, Step.ESCALATE, ("sender", "contact"),
                         at(start, policy.unaccepted_escalate)))
    elif status is Status.NEEDS_INFO:
        steps.append(Due("unanswered", 1, Step.NUDGE, ("sender",),
                         at(start, policy.unanswered_first)))
        steps.append(Due("unanswered", 2, Step.NUDGE, ("sender",),
                         at(start, policy.unanswered_first + policy.unanswered_again)))
    elif status is Status.DONE:
        steps.append(Due("unconfirmed", 1, Step.NUDGE, ("sender",),
                         at(start, policy.unconfirmed_nudge)))
        steps.append(Due("unconfirmed", 2, Step.AUTO_CLOSE, ("owner",),
                         at(start, policy.unconfirmed_close)))
    if deadline is not None and status in (Status.OFFERED, Status.ACCEPTED,
                                           Status.NEEDS_INFO):
        steps += [s for s in _deadline_steps(deadline, h, policy, repeats)
                  # "near" is no news once the deadline has passed: overdue says it
                  if s.rule != "deadline_near" or until < deadline]
    return sorted((s for s in steps if s.at <= until), key=lambda s: (s.at, s.rule, s.number))


def _deadline_steps(deadline: datetime, h: WorkingHours, policy: ChasePolicy,
                    repeats: int) -> list[Due]:
    """Mornings: of the business day(s) before the deadline's day, and of that day
    (deadline near); of the next business day after it and every few days (overdue)."""
    bh = timedelta(hours=1)

    def morning(when: datetime) -> datetime:
        return when if h.is_working_time(when) else h.next_working_moment(when)

    day_open, _ = next(h.windows_before(deadline))  # the deadline's working day
    earlier = day_open
    for _ in range(int(policy.deadline_near_days)):
        earlier, _ = next(h.windows_before(earlier))
    steps = [Due("deadline_near", 1, Step.NUDGE, ("owner",), earlier)]
    if day_open > earlier and day_open < deadline:
        steps.append(Due("deadline_near", 2, Step.NUDGE, ("owner",), day_open))
    first = h.next_morning(deadline)  # overdue: the next business morning, both hear
    steps.append(Due("overdue", 1, Step.NUDGE, ("owner", "sender"), first))
    for n in range(1, repeats):
        steps.append(Due("overdue", n + 1, Step.NUDGE, ("owner", "sender"),
                         morning(h.add(first, n * policy.overdue_every * bh))))
    steps.append(Due("overdue", 100, Step.ESCALATE, ("contact",),
                     morning(h.add(first, policy.overdue_escalate * bh))))
    return steps

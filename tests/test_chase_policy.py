"""The chase policy of SPEC 5 as a pure function of a handoff's state and clocks:
what is due, to whom, when; driven by explicit instants, never by sleeping."""

from __future__ import annotations

from datetime import datetime, timezone
from zoneinfo import ZoneInfo

import pytest

from handoff.business_time import WorkingHours
from handoff.chase_policy import ChasePolicy, Step, due_steps
from handoff.errors import ConfigError
from handoff.states import Status

BERLIN = ZoneInfo("Europe/Berlin")
BOB = WorkingHours(zone="Europe/Berlin", country="DE")
SPEC = ChasePolicy()
FAR = datetime(2030, 1, 1, tzinfo=timezone.utc)


def berlin(*args: int) -> datetime:
    return datetime(*args, tzinfo=BERLIN).astimezone(timezone.utc)


def plan(status, since, deadline=None, until=FAR, policy=SPEC):
    return [(d.rule, d.number, d.step, d.to, d.at)
            for d in due_steps(status, since, deadline, BOB, policy, until=until)]


def test_an_offer_made_friday_evening_is_first_chased_monday_afternoon():
    steps = plan(Status.OFFERED, berlin(2026, 11, 27, 18, 30))
    assert steps == [
        ("unaccepted", 1, Step.NUDGE, ("owner",), berlin(2026, 11, 30, 13, 0)),  # 4 bh
        ("unaccepted", 2, Step.NUDGE, ("owner",), berlin(2026, 12, 1, 13, 0)),  # +1 bd
        # escalation after 2 business days: Tuesday 17:00 is closing time, so Wednesday
        ("unaccepted", 3, Step.ESCALATE, ("sender", "contact"), berlin(2026, 12, 2, 9, 0)),
    ]


def test_nothing_is_due_before_its_time():
    assert plan(Status.OFFERED, berlin(2026, 11, 27, 18, 30),
                until=berlin(2026, 11, 30, 12, 59)) == []


def test_needs_info_chases_the_sender_not_the_owner():
    steps = plan(Status.NEEDS_INFO, berlin(2026, 11, 24, 10, 0))
    assert [(r, n, to) for r, n, _s, to, _at in steps] == [
        ("unanswered", 1, ("sender",)), ("unanswered", 2, ("sender",))]
    assert steps[0][4] == berlin(2026, 11, 25, 10, 0)  # one business day
    assert steps[1][4] == berlin(2026, 11, 27, 10, 0)  # two more


def test_a_holiday_is_skipped():
    """Offered Thursday 24 Dec 2026 16:00: Christmas Friday; first nudge Monday."""
    first = plan(Status.OFFERED, berlin(2026, 12, 24, 16, 0))[0]
    assert first[4] == berlin(2026, 12, 28, 12, 0)  # 1 h Thursday + 3 h Monday


def test_deadline_near_then_overdue_then_escalation():
    deadline = berlin(2026, 12, 4, 17, 0)  # Friday 17:00
    assert plan(Status.ACCEPTED, berlin(2026, 11, 30, 10, 0), deadline,
                until=berlin(2026, 12, 4, 16, 0)) == [
        ("deadline_near", 1, Step.NUDGE, ("owner",), berlin(2026, 12, 3, 9, 0)),  # day before
        ("deadline_near", 2, Step.NUDGE, ("owner",), berlin(2026, 12, 4, 9, 0)),  # on the day
    ]
    steps = plan(Status.ACCEPTED, berlin(2026, 11, 30, 10, 0), deadline,
                 until=berlin(2026, 12, 11, 17, 0))
    assert steps[:2] == [  # once it has passed, "near" is no news: overdue says it
        ("overdue", 1, Step.NUDGE, ("owner", "sender"), berlin(2026, 12, 7, 9, 0)),
        ("overdue", 2, Step.NUDGE, ("owner", "sender"), berlin(2026, 12, 9, 9, 0)),
    ]
    escalation = [s for s in steps if s[2] is Step.ESCALATE]
    assert escalation == [("overdue", 100, Step.ESCALATE, ("contact",),
                           berlin(2026, 12, 10, 9, 0))]


def test_done_but_not_confirmed_nudges_the_sender_then_closes():
    steps = plan(Status.DONE, berlin(2026, 11, 24, 10, 0))
    assert [(r, n, s, to) for r, n, s, to, _at in steps] == [
        ("unconfirmed", 1, Step.NUDGE, ("sender",)),
        ("unconfirmed", 2, Step.AUTO_CLOSE, ("owner",))]
    assert steps[1][4] == berlin(2026, 12, 1, 10, 0)  # five business days


def test_a_dst_week_neither_shifts_nor_duplicates_a_step():
    """Offered Friday 29 October 2027 16:00; winter time from Sunday 31 October."""
    steps = plan(Status.OFFERED, berlin(2027, 10, 29, 16, 0))
    assert [s[4] for s in steps] == [berlin(2027, 11, 1, 12, 0), berlin(2027, 11, 2, 12, 0),
                                     berlin(2027, 11, 2, 16, 0)]
    assert len({(s[0], s[1]) for s in steps}) == len(steps)


def test_a_closed_or_cancelled_handoff_owes_nothing():
    for status in (Status.CLOSED, Status.CANCELLED, Status.DECLINED, Status.INCOMPLETE):
        assert plan(status, berlin(2026, 11, 24, 10, 0), berlin(2026, 11, 25, 17, 0)) == []


def test_every_number_is_configurable_and_checked():
    quick = ChasePolicy.from_table({"unaccepted_first": 1, "unaccepted_escalate": 2})
    steps = plan(Status.OFFERED, berlin(2026, 11, 24, 10, 0), policy=quick)
    assert steps[0][4] == berlin(2026, 11, 24, 11, 0)
    with pytest.raises(ConfigError, match="unknown chase settings"):
        ChasePolicy.from_table({"unacepted_first": 1})
    with pytest.raises(ConfigError, match="number of hours"):
        ChasePolicy.from_table({"overdue_every": -1})

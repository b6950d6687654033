"""Business time (SPEC 5): working hours in the person's zone, weekends and public
holidays skipped, daylight-saving changes neither shift nor duplicate anything."""

from __future__ import annotations

from datetime import datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from handoff.business_time import WorkingHours

BERLIN = ZoneInfo("Europe/Berlin")
ANA = WorkingHours(zone="Europe/Berlin", country="DE")


def berlin(*args: int) -> datetime:
    return datetime(*args, tzinfo=BERLIN).astimezone(timezone.utc)


def test_a_handoff_made_friday_evening_starts_its_clock_monday_at_nine():
    friday_evening = berlin(2026, 11, 27, 18, 30)
    assert ANA.next_working_moment(friday_evening) == berlin(2026, 11, 30, 9, 0)
    assert ANA.add(friday_evening, timedelta(hours=4)) == berlin(2026, 11, 30, 13, 0)


def test_within_working_hours_time_runs_as_usual():
    assert ANA.next_working_moment(berlin(2026, 11, 24, 10, 0)) == berlin(2026, 11, 24, 10, 0)
    assert ANA.add(berlin(2026, 11, 24, 15, 0), timedelta(hours=1)) == berlin(2026, 11, 24, 16, 0)


def test_time_left_at_the_end_of_a_day_carries_to_the_next_morning():
    assert ANA.add(berlin(2026, 11, 24, 16, 0), timedelta(hours=4)) == berlin(2026, 11, 25, 12, 0)


def test_public_holidays_are_skipped():
    """Christmas 2026 in Germany: Friday 25 and Saturday 26 December."""
    thursday = berlin(2026, 12, 24, 16, 0)
    assert ANA.add(thursday, timedelta(hours=2)) == berlin(2026, 12, 28, 10, 0)
    assert not ANA.is_working_time(berlin(2026, 12, 25, 11, 0))
    nowhere = WorkingHours(zone="Europe/Berlin")  # no country: no holidays
    assert nowhere.is_working_time(berlin(2026, 12, 25, 11, 0))


def test_two_business_days_after_friday_noon_is_tuesday_noon():
    friday_noon = berlin(2026, 11, 27, 12, 0)
    assert ANA.add(friday_noon, ANA.business_days(2)) == berlin(2026, 12, 1, 12, 0)


def test_a_daylight_saving_change_moves_no_working_hour():
    """Europe goes to summer time on Sunday 28 March 2027: Monday still starts at 09:00
    on the wall clock, one hour earlier in UTC than the Friday before.  (Without a
    country: that weekend is Easter, and Good Friday and Easter Monday are holidays.)"""
    hours = WorkingHours(zone="Europe/Berlin")
    friday = berlin(2027, 3, 26, 16, 30)
    monday = hours.add(friday, timedelta(hours=1))
    assert monday == berlin(2027, 3, 29, 9, 30)
    assert monday.astimezone(timezone.utc).hour == 7  # CEST: UTC+2
    assert friday.astimezone(timezone.utc).hour == 15  # CET: UTC+1
    assert hours.elapsed(friday, monday) == timedelta(hours=1)
    assert ANA.next_working_moment(friday) == berlin(2027, 3, 30, 9, 0)  # with Easter


def test_in_the_autumn_change_week_each_day_is_eight_hours_once():
    """Back to winter time on Sunday 31 October 2027: the week still has five windows of
    eight hours, none counted twice."""
    monday = berlin(2027, 10, 25, 9, 0)
    next_monday = berlin(2027, 11, 1, 9, 0)
    assert ANA.elapsed(monday, next_monday) == timedelta(hours=40)


def test_elapsed_counts_business_time_only():
    friday_16 = berlin(2026, 11, 27, 16, 0)
    monday_10 = berlin(2026, 11, 30, 10, 0)
    assert ANA.elapsed(friday_16, monday_10) == timedelta(hours=2)
    assert ANA.elapsed(monday_10, friday_16) == timedelta()


def test_other_hours_and_weekdays_in_another_zone():
    """A Sunday-to-Thursday week in Dubai, 08:00-16:00."""
    dubai = WorkingHours(zone="Asia/Dubai", start=time(8), end=time(16),
                         weekdays=frozenset({6, 0, 1, 2, 3}))
    saturday = datetime(2026, 11, 28, 12, 0, tzinfo=ZoneInfo("Asia/Dubai"))
    assert dubai.next_working_moment(saturday) == datetime(
        2026, 11, 29, 8, 0, tzinfo=ZoneInfo("Asia/Dubai"))


def test_impossible_hours_fail_when_configured():
    with pytest.raises(ValueError):
        WorkingHours(start=time(17), end=time(9))


def test_one_business_day_before_a_monday_noon_deadline_is_friday_noon():
    assert ANA.subtract(berlin(2026, 11, 30, 12, 0), ANA.business_days(1)) == \
        berlin(2026, 11, 27, 12, 0)
    assert ANA.subtract(berlin(2026, 11, 30, 9, 0), timedelta(hours=1)) == \
        berlin(2026, 11, 27, 16, 0)


def test_the_next_business_morning_after_a_friday_deadline_is_monday_nine():
    assert ANA.next_morning(berlin(2026, 11, 27, 17, 0)) == berlin(2026, 11, 30, 9, 0)
    assert ANA.next_morning(berlin(2026, 11, 24, 8, 0)) == berlin(2026, 11, 25, 9, 0)

"""The status page's words for instants and spans (handoff/words.py): the viewer's wall
clock, the day named when it is near, the year only when it is not this year."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from handoff.event_words import describe_event
from handoff.words import format_day_time, format_due, format_relative, iso_seconds

NOW = datetime(2026, 11, 23, 9, 30, tzinfo=timezone.utc)  # Monday, 10:30 in Berlin


def at(**kwargs: float) -> datetime:
    return NOW + timedelta(**kwargs)


def test_days_are_named_near_today_in_the_viewers_zone_and_the_year_only_when_other():
    berlin = "Europe/Berlin"
    assert format_day_time(at(hours=6, minutes=30), berlin, NOW) == "today, 17:00"
    assert format_day_time(at(hours=14), berlin, NOW) == "tomorrow, 00:30"  # UTC: today
    assert format_day_time(at(hours=-10), berlin, NOW) == "today, 00:30"  # UTC: yesterday
    assert format_day_time(at(hours=-11), berlin, NOW) == "yesterday, 23:30"
    assert format_day_time(at(days=11, hours=6, minutes=30), berlin, NOW) == "Fri 4 Dec, 17:00"
    assert format_day_time(at(days=42), berlin, NOW) == "Mon 4 Jan 2027, 10:30"
    assert format_day_time("2025-11-28T16:00:00Z", berlin, NOW) == "Fri 28 Nov 2025, 17:00"
    assert format_day_time(at(days=4), "America/New_York", NOW) == "Fri 27 Nov, 04:30"
    assert format_day_time(at(days=4), "UTC+05:30", NOW) == "Fri 27 Nov, 15:00"


def test_ages_and_distances_in_words_rounded_as_a_person_says_them():
    assert format_relative(at(hours=-3), NOW) == "3 hours ago"
    assert format_relative(at(days=2, hours=1), NOW) == "in 2 days"
    assert format_relative(at(days=-6, hours=-2), NOW) == "6 days ago"  # not "1 week"
    assert format_relative(at(seconds=-20), NOW) == "just now"
    assert format_due(at(days=-2, hours=-20), NOW) == "3 days overdue"
    assert format_due(at(days=-2), NOW, is_open=False) == "2 days ago"
    assert format_due(at(minutes=50), NOW) == "in 50 minutes"


def test_the_exact_value_stops_at_the_second_in_utc():
    assert iso_seconds(datetime(2026, 11, 23, 10, 30, 12, 345678,
                                tzinfo=timezone(timedelta(hours=1)))) == "2026-11-23T09:30:12Z"
    assert iso_seconds("2026-11-23T09:30:12.345678Z") == "2026-11-23T09:30:12Z"
    assert iso_seconds(datetime(2026, 11, 23, 9, 30)) == "2026-11-23T09:30:00Z"  # naive: UTC


def test_timeline_events_read_as_words_and_unknown_kinds_as_their_name():
    assert describe_event("offered", {"to": "bob@corp.test"}, False) == (
        "offered it to bob@corp.test")
    assert describe_event("closed", {}, True) == "confirmed it done and closed it"
    assert describe_event("closed", {"reason": "quiet"}, False) == "closed it"
    assert describe_event("received_delay_warning", {}, False) == "received delay warning"
    assert describe_event("offered", {}, False) == "offered it to someone"
    assert describe_event("incomplete", {"missing": ["owner", "done"]}, False) == (
        "asked the sender for what is missing: owner, done")

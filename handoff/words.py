"""Instants and spans as people read them, in words (CLDR data via babel).

Mails (``format_instant``) write "Fri 27 Nov 2026, 11:00 (America/New_York)": in the
recipient's zone (``chase.working_hours(settings, address).zone``: ``[people."addr"]``,
else ``[chase]``, else HANDOFF_TIMEZONE), the zone named, so a reader in another zone,
or a forwarded mail, is never misread; the weekday makes a slip of date visible.

A page is read now, by someone who knows what day it is: "today, 17:00", "Fri 4 Dec,
17:00" (the year only when it is not this year), "3 hours ago", "in 2 days", on the
configured zone's wall clock (HANDOFF_TIMEZONE); the mails' long form is one hover
away.  English names whatever the process locale; never seconds or microseconds.
Machines keep ISO-8601 UTC (SPEC 11).
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from functools import lru_cache

from babel.dates import format_datetime, format_timedelta

from handoff.deadlines import zone

LOCALE = "en"
_NEAR_DAYS = {-1: "yesterday", 0: "today", 1: "tomorrow"}
_JUST_NOW = timedelta(minutes=1)
# babel rounds to the largest unit the span reaches this much of: at 1, six days stay
# "6 days" (its default, 0.85, already says "1 week")
_THRESHOLD = 1.0


def as_instant(at: datetime | str) -> datetime:
    """An aware UTC instant from a datetime (naive means UTC, as the database keeps it)
    or from ISO-8601 (``Z`` allowed), as the read models carry it."""
    if isinstance(at, str):
        at = datetime.fromisoformat(at.replace("Z", "+00:00"))
    if at.tzinfo is None:
        at = at.replace(tzinfo=timezone.utc)
    return at.astimezone(timezone.utc)


def iso_seconds(at: datetime | str) -> str:
    """ISO-8601 UTC to the second, for ``<time datetime>``: "2026-11-27T16:00:00Z"."""
    return as_instant(at).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def format_instant(at: datetime | str | None, zone_name: str) -> str:
    """The mails' form: ``at`` on ``zone_name``'s wall clock with the zone named
    ("UTC" when the name was unknown); "" for None."""
    if at is None or at == "":
        return ""
    return _format_minute(as_instant(at).replace(second=0, microsecond=0), zone_name)


@lru_cache(maxsize=4096)
def _format_minute(at: datetime, zone_name: str) -> str:
    """Memoised: babel's formatting was a twentieth of composing a mail, and a mail's
    instants (its deadline above all) repeat from mail to mail."""
    tz = zone(zone_name)
    return f"{format_datetime(at.astimezone(tz), 'EEE d MMM y, HH:mm', locale=LOCALE)} ({tz})"


def format_day_time(at: datetime | str, zone_name: str, now: datetime) -> str:
    """"today, 17:00", "tomorrow, 09:00", "Fri 4 Dec, 17:00", "Tue 3 Mar 2025, 09:15":
    on the zone's wall clock; the day named when it is next to ``now``'s, the year
    written only when it is not ``now``'s."""
    tz = zone(zone_name)
    local, today = as_instant(at).astimezone(tz), as_instant(now).astimezone(tz)
    near = _NEAR_DAYS.get((local.date() - today.date()).days)
    if near:
        return f"{near}, {local:%H:%M}"
    pattern = "EEE d MMM, HH:mm" if local.year == today.year else "EEE d MMM y, HH:mm"
    return format_datetime(local, pattern, locale=LOCALE)


def format_relative(at: datetime | str, now: datetime) -> str:
    """"3 hours ago", "in 2 days", "just now": how far ``at`` is from ``now``, rounded
    to the unit a person would say."""
    delta = as_instant(at) - as_instant(now)
    if abs(delta) < _JUST_NOW:
        return "just now"
    return format_timedelta(delta, add_direction=True, granularity="minute",
                            threshold=_THRESHOLD, locale=LOCALE)


def format_span(span: timedelta) -> str:
    """"2 days", "40 minutes": a length of time without a direction."""
    if abs(span) < _JUST_NOW:
        return "under a minute"
    return format_timedelta(abs(span), granularity="minute", threshold=_THRESHOLD,
                            locale=LOCALE)


def format_due(deadline: datetime | str, now: datetime, *, is_open: bool = True) -> str:
    """A deadline's distance: "in 2 days" ahead, "2 days overdue" once passed while the
    work is open, "3 days ago" once passed after it ended."""
    delta = as_instant(deadline) - as_instant(now)
    if delta < timedelta(0) and is_open:
        return f"{format_span(delta)} overdue"
    return format_relative(deadline, now)

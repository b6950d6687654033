"""Business time (SPEC 5): a person's working hours in their own timezone, minus
weekends and the public holidays of their country (the ``holidays`` package).

Chasing counts business time only and sends nothing outside the recipient's hours.
All arithmetic walks the working windows of local calendar days, each turned into UTC
through its zone, so a daylight-saving change moves nothing: 09:00 stays 09:00 on the
wall clock, and a window is never counted twice or skipped.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from functools import lru_cache
from typing import Iterator
from zoneinfo import ZoneInfo

import holidays

MAX_DAYS = 3 * 366  # no calendar has a longer gap between working days


@lru_cache(maxsize=256)
def _holidays(country: str, subdivision: str | None, year: int) -> frozenset[date]:
    try:
        return frozenset(holidays.country_holidays(country, subdiv=subdivision,
                                                   years=year).keys())
    except (NotImplementedError, KeyError):  # an unknown country: no holidays, not a crash
        return frozenset()


@dataclass(frozen=True)
class WorkingHours:
    zone: str = "UTC"
    start: time = time(9, 0)
    end: time = time(17, 0)
    weekdays: frozenset[int] = field(default_factory=lambda: frozenset(range(5)))  # Mon=0
    country: str | None = None  # ISO 3166 code, for public holidays
    subdivision: str | None = None  # e.g. "BY" for Bavaria

    def __post_init__(self) -> None:
        if self.end <= self.start:
            raise ValueError(f"working hours end ({self.end}) before they start ({self.start})")
        ZoneInfo(self.zone)  # fail at configuration time, not at the first nudge

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.zone)

    def is_working_day(self, day: date) -> bool:
        if day.weekday() not in self.weekdays:
            return False
        return not (self.country and day in _holidays(self.country, self.subdivision,
                                                      day.year))

    def window(self, day: date) -> tuple[datetime, datetime]:
        """The working window of a local day, in UTC."""
        tz = self.tz
        return (datetime.combine(day, self.start, tz).astimezone(timezone.utc),
                datetime.combine(day, self.end, tz).astimezone(timezone.utc))

    def windows_from(self, at: datetime) -> Iterator[tuple[datetime, datetime]]:
        """Working windows (UTC) that end after ``at``, in order; the first may have
        begun before ``at``."""
        day = at.astimezone(self.tz).date() - timedelta(days=1)
        for _ in range(MAX_DAYS):
            if self.is_working_day(day):
                opens, closes = self.window(day)
                if closes > at:
                    yield opens, closes
            day += timedelta(days=1)

    def windows_before(self, at: datetime) -> Iterator[tuple[datetime, datetime]]:
        """Working windows (UTC) that begin before ``at``, latest first; the first may
        end after ``at``."""
        day = at.astimezone(self.tz).date() + timedelta(days=1)
        for _ in range(MAX_DAYS):
            if self.is_working_day(day):
                opens, closes = self.window(day)
                if opens < at:
                    yield opens, closes
            day -= timedelta(days=1)

    def subtract(self, at: datetime, duration: timedelta) -> datetime:
        """The instant ``duration`` of business time before ``at``."""
        left = duration
        for opens, closes in self.windows_before(at):
            end = min(closes, at)
            if end - left >= opens:
                return end - left
            left -= end - opens
        raise ValueError("no working time within three years")

    def next_morning(self, at: datetime) -> datetime:
        """When work starts on the first working day after ``at``'s local day."""
        after_today = datetime.combine(at.astimezone(self.tz).date() + timedelta(days=1),
                                       time(0), self.tz)
        return self.next_working_moment(after_today.astimezone(timezone.utc))

    def is_working_time(self, at: datetime) -> bool:
        opens, closes = next(self.windows_from(at))
        return opens <= at < closes

    def next_working_moment(self, at: datetime) -> datetime:
        """``at`` itself when it is working time, else when work starts next (a handoff
        made Friday evening starts its clock Monday 09:00)."""
        opens, _ = next(self.windows_from(at))
        return max(opens, at)

    def add(self, at: datetime, duration: timedelta) -> datetime:
        """The instant ``duration`` of business time after ``at``."""
        left = duration
        for opens, closes in self.windows_from(at):
            begin = max(opens, at)
            if begin + left <= closes:
                return begin + left
            left -= closes - begin
        raise ValueError("no working time within three years")

    def elapsed(self, start: datetime, end: datetime) -> timedelta:
        """Business time between two instants (zero when ``end`` is not after ``start``)."""
        total = timedelta()
        if end <= start:
            return total
        for opens, closes in self.windows_from(start):
            if opens >= end:
                break
            total += min(closes, end) - max(opens, start)
        return total

    def business_days(self, n: int) -> timedelta:
        """A business day is one full working window."""
        return n * (datetime.combine(date(2000, 1, 3), self.end)
                    - datetime.combine(date(2000, 1, 3), self.start))

"""When a person's weekly digest is due (issue 11, point 5), read from the TOML::

    [digests]               # the table turns the senders' digests on
    enabled = true          # false: no digests at all, the managers' neither
    day = "mon"             # the weekday it comes on
    hour = "09:00"          # on the reader's wall clock
    stalled_after = 2       # business days without activity that make a handoff stalled

    [people."ana@acme.example"]
    digest_day = "fri"      # a person's own day and hour; digest = false: none for them
    digest_hour = "16:00"

    [workflows.sales-to-delivery]
    manager = "lead@acme.example"   # gets the workflow's weekly digest (this turns it on)

The week is the reader's: Monday to Sunday in their zone, their working days and public
holidays (``chase.working_hours``).  Its digest is due on the configured day at the
configured hour; a day that is not a working day for them moves to their next working
day, an hour outside their working time to the start of their next working time.  It
may go from then until the end of their following working day (the daily cap or a
stopped service can hold it that long); a week that misses that has no digest, and the
next one comes on time.  Pure functions: the caller gives the working hours and "now".
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from typing import Any, Mapping

from handoff.business_time import WorkingHours
from handoff.errors import ConfigError
from handoff.settings import Settings
from handoff.workflows import check_workflows

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_KEYS = frozenset({"enabled", "day", "hour", "stalled_after"})


@dataclass(frozen=True)
class DigestSchedule:
    """One person's weekly digest: on or off, the weekday (Mon=0) and the hour."""

    enabled: bool = True
    day: int = 0
    hour: time = time(9, 0)


@dataclass(frozen=True)
class DigestConfig:
    schedule: DigestSchedule = DigestSchedule()  # everyone's, unless their own says else
    senders: bool = False  # senders get theirs: there is a [digests] table (enabled)
    stalled_after: int = 2  # business days of the ball holder without any activity
    people: Mapping[str, DigestSchedule] = field(default_factory=dict)  # their own

    def schedule_of(self, address: str) -> DigestSchedule:
        return self.people.get(address.lower(), self.schedule)


@dataclass(frozen=True)
class Week:
    """The reader's week whose digest is due now."""

    start: datetime  # Monday 00:00 on the reader's wall clock, in UTC: the claim's period
    due_from: datetime  # the configured day and hour, moved into working time
    due_until: datetime  # the end of the reader's working day after ``due_from``'s


def read_digest_config(settings: Settings) -> DigestConfig:
    """``[digests]`` and the ``digest*`` keys of ``[people."addr"]``; a ConfigError names
    the table that cannot be read (checked at start by ``chase.check_chase_settings``)."""
    table = _table(settings.extra.get("digests", {}), "[digests]")
    unknown = sorted(set(table) - _KEYS)
    if unknown:
        raise ConfigError(f"[digests]: unknown settings {unknown}; known: {sorted(_KEYS)}")
    base = _schedule(table, "[digests]", DigestSchedule(), "enabled", "day", "hour")
    stalled = table.get("stalled_after", 2)
    if not isinstance(stalled, int) or isinstance(stalled, bool) or stalled < 1:
        raise ConfigError("[digests] stalled_after must be a whole number of business "
                          "days, at least 1")
    people = {}
    for address, person in _table(settings.extra.get("people", {}), "[people]").items():
        if isinstance(person, Mapping) and {"digest", "digest_day", "digest_hour"} & set(person):
            people[address.lower()] = _schedule(person, f'[people."{address}"]', base,
                                                "digest", "digest_day", "digest_hour")
    return DigestConfig(base, "digests" in settings.extra and base.enabled, stalled, people)


def workflow_managers(settings: Settings) -> dict[str, str]:
    """Workflow name -> its manager's address (``[workflows.NAME] manager``)."""
    return {name: policy.manager for name, policy in check_workflows(settings).items()
            if policy.manager}


def week_due(hours: WorkingHours, schedule: DigestSchedule, now: datetime) -> Week | None:
    """The reader's week whose digest may go at ``now``, if any: this week's once its
    time has come, else last week's while it may still go (its day moved past Sunday)."""
    if not schedule.enabled:
        return None
    today = now.astimezone(hours.tz).date()
    monday = today - timedelta(days=today.weekday())
    for start in (monday, monday - timedelta(days=7)):
        week = _week(hours, schedule, start)
        if week is not None and week.due_from <= now:
            return week if now < week.due_until else None
    return None


def _week(hours: WorkingHours, schedule: DigestSchedule, monday: date) -> Week | None:
    day = monday + timedelta(days=schedule.day)
    for _ in range(7):  # never as late as the next week's own day
        if hours.is_working_day(day):
            break
        day += timedelta(days=1)
    else:
        return None  # not one working day in a week: no digest that week
    at = datetime.combine(day, schedule.hour, hours.tz).astimezone(timezone.utc)
    due_from = hours.next_working_moment(at)
    windows = hours.windows_from(due_from)
    next(windows)  # the working window the digest is due in
    _opens, due_until = next(windows)  # and the following working day's
    return Week(datetime.combine(monday, time(0), hours.tz).astimezone(timezone.utc),
                due_from, due_until)


def _table(value: Any, where: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise ConfigError(f"{where} must be a table")
    return value


def _schedule(table: Mapping[str, Any], where: str, base: DigestSchedule,
              on: str, day_key: str, hour_key: str) -> DigestSchedule:
    enabled = table.get(on, base.enabled)
    if not isinstance(enabled, bool):
        raise ConfigError(f"{where} {on} must be true or false")
    day = str(table.get(day_key, DAYS[base.day])).strip().lower()[:3]
    if day not in DAYS:
        raise ConfigError(f"{where} {day_key} must be a weekday (mon ... sun), "
                          f"not {table.get(day_key)!r}")
    try:
        hour = time.fromisoformat(str(table.get(hour_key, base.hour.isoformat("minutes"))))
    except ValueError as exc:
        raise ConfigError(f'{where} {hour_key} must be a time like "09:00": {exc}') from exc
    return DigestSchedule(enabled, DAYS.index(day), hour)

"""Instants as a person reads them: "Fri 27 Nov 2026, 11:00 (America/New_York)".

Mails write a time in their recipient's zone (``chase.working_hours(settings,
address).zone``: ``[people."addr"]``, else ``[chase]``, else HANDOFF_TIMEZONE), with the
zone named, so a reader in another zone, or a forwarded mail, is never misread.  The
weekday makes a slip of date visible; the 24-hour clock needs no am/pm.  English day
and month names whatever the process locale.  Machines keep ISO-8601 UTC (SPEC 11).
"""

from __future__ import annotations

from datetime import datetime, timezone

from handoff.deadlines import zone

_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov",
           "Dec")


def format_instant(at: datetime | str | None, zone_name: str) -> str:
    """``at`` (a datetime, or ISO-8601 as the packet stores it) on ``zone_name``'s wall
    clock; "" for None.  A naive datetime is UTC, as the database keeps it."""
    if at is None or at == "":
        return ""
    if isinstance(at, str):
        at = datetime.fromisoformat(at.replace("Z", "+00:00"))
    if at.tzinfo is None:
        at = at.replace(tzinfo=timezone.utc)
    tz = zone(zone_name)
    local = at.astimezone(tz)
    return (f"{_DAYS[local.weekday()]} {local.day} {_MONTHS[local.month - 1]} {local.year}, "
            f"{local:%H:%M} ({tz})")  # the zone's own name: UTC when the name was unknown

"""Deadline phrases -> instants, with ``dateparser`` (SPEC 2).

A phrase resolves against the message's ``Date`` in the sender's timezone.  Business
shorthands dateparser does not know ("EOD", "COB", "end of day") become 17:00; a phrase
that names a day but no time means the end of that business day (17:00), not midnight.
The original phrase is always kept beside the instant.
"""

from __future__ import annotations

import re
from functools import lru_cache
from dataclasses import dataclass
from datetime import datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

END_OF_DAY = time(17, 0)
FAR_AWAY = timedelta(days=2 * 365)

# (pattern, replacement) applied before dateparser sees the phrase.
_SHORTHANDS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"\b(eod|cob|eob|end of (the )?(business )?day|close of business)\b", re.I),
     " 17:00 "),
    (re.compile(r"\b(eow|end of (the )?week)\b", re.I), " friday 17:00 "),
    (re.compile(r"\b(noon|midday)\b", re.I), " 12:00 "),
    (re.compile(r"^\s*(by|before|until|no later than|on)\s+", re.I), ""),
)
_HAS_TIME = re.compile(r"\d{1,2}:\d{2}|\b\d{1,2}\s*(am|pm)\b|\bin \d+ (hours?|minutes?)\b", re.I)


@dataclass(frozen=True)
class Deadline:
    phrase: str
    at: datetime | None  # UTC
    problem: str | None = None


def zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


_WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def _same_day_if_still_ahead(found: datetime, ref: datetime, text: str) -> datetime:
    """"Friday 5pm" written on a Friday morning means today, not in a week (dateparser's
    PREFER_DATES_FROM=future skips the current weekday)."""
    if found.date() - ref.date() != timedelta(days=7) or re.search(r"\bnext\b", text, re.I):
        return found
    if not re.search(r"\b" + _WEEKDAYS[ref.weekday()], text, re.I):
        return found
    today = found - timedelta(days=7)
    return today if today > ref else found


@lru_cache(maxsize=2048)
def resolve_deadline(phrase: str, reference: datetime, tz_name: str) -> Deadline:
    """Read ``phrase`` as a future instant relative to ``reference`` (aware) in ``tz_name``.

    Memoised: the same words written at the same instant mean the same thing, and
    dateparser is the costliest step of reading a mail (~1.5 ms).
    """
    import dateparser  # imported lazily: it is slow to import and only needed here

    tz = zone(tz_name)
    text = phrase.strip().rstrip(".")
    for pattern, replacement in _SHORTHANDS:
        text = pattern.sub(replacement, text)
    text = " ".join(text.split())
    if not text:
        return Deadline(phrase, None, f"deadline {phrase!r} could not be read")
    local_ref = reference.astimezone(tz)
    try:
        found = dateparser.parse(
            text,
            languages=["en", "de", "fr", "es"],
            settings={
                "RELATIVE_BASE": local_ref.replace(tzinfo=None),
                "TIMEZONE": tz_name if tz.key == tz_name else "UTC",
                "RETURN_AS_TIMEZONE_AWARE": False,
                "PREFER_DATES_FROM": "future",
            },
        )
    except Exception:  # dateparser raises assorted errors on odd input
        found = None
    if found is None:
        return Deadline(phrase, None, f"deadline {phrase!r} could not be read")
    if not _HAS_TIME.search(text):
        found = datetime.combine(found.date(), END_OF_DAY)
    found = _same_day_if_still_ahead(found, local_ref.replace(tzinfo=None), text)
    at = found.replace(tzinfo=tz).astimezone(timezone.utc)
    if at < reference:
        return Deadline(phrase, at, f"deadline {phrase!r} is in the past")
    if at - reference > FAR_AWAY:
        return Deadline(phrase, at, f"deadline {phrase!r} is more than two years away")
    return Deadline(phrase, at)

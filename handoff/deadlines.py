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
from datetime import datetime, time, timedelta, timezone, tzinfo
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


def zone(name: str) -> tzinfo:
    """A zone by IANA name, or a fixed offset written ``UTC+01:00``; UTC when unknown."""
    fixed = _FIXED.match(name)
    if fixed:
        sign = -1 if fixed["sign"] == "-" else 1
        return timezone(sign * timedelta(hours=int(fixed["h"]), minutes=int(fixed["m"])),
                        name)
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


_FIXED = re.compile(r"^UTC(?P<sign>[+-])(?P<h>\d{2}):(?P<m>\d{2})$")


def names_a_time(phrase: str) -> bool:
    """Does the phrase say a time of day ("5pm", "17:00", "noon", "EOD")?"""
    text = phrase
    for pattern, replacement in _SHORTHANDS:
        text = pattern.sub(replacement, text)
    return bool(_HAS_TIME.search(text))


def sender_timezone(date: datetime | None, configured: str) -> str:
    """The zone a sender meant "Friday 5pm" in: the configured one (per person, else
    HANDOFF_TIMEZONE) when it agrees with the offset her mail's ``Date`` carries, else
    that offset (her client wrote it; a fixed offset misses a DST change, the configured
    zone would miss her whole timezone)."""
    if date is None or date.utcoffset() is None:
        return configured
    offset = date.utcoffset()
    assert offset is not None
    if zone(configured).utcoffset(date.replace(tzinfo=None)) == offset:
        return configured
    minutes = int(offset.total_seconds() // 60)
    sign = "-" if minutes < 0 else "+"
    return f"UTC{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"


_DAY = (r"(?:today|tonight|tomorrow|monday|tuesday|wednesday|thursday|friday|saturday|"
        r"sunday|mon|tues?|wed|thu(?:rs?)?|fri|sat|sun)")
_MONTH = (r"(?:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|"
          r"aug(?:ust)?|sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)")
_DATE = (rf"(?:{_MONTH}\.?\s+\d{{1,2}}(?:st|nd|rd|th)?|\d{{1,2}}(?:st|nd|rd|th)?\s+(?:of\s+)?"
         rf"{_MONTH}|\d{{1,2}}[./]\d{{1,2}}(?:[./]\d{{2,4}})?)")
_WHEN = (rf"(?:(?:next|this)\s+(?:week|{_DAY})|{_DAY}|{_DATE}|"
         r"end of (?:the |this |next )?(?:day|week|month)|eod|cob|eow)")
_AT = r"(?:,?\s*(?:at\s+)?(?:\d{1,2}(?::\d{2})?\s*(?:am|pm)|\d{1,2}:\d{2}|noon|midday|eod|cob))?"
# "by Friday", "before Dec 3", "no later than next Tuesday 3pm", "EOD tomorrow"
_IN_A_SENTENCE = re.compile(
    rf"\b(?:by|before|until|till|no later than|due)\s+(?:the\s+)?"
    rf"(?P<phrase>(?:eod|cob)\s+{_DAY}|{_WHEN}{_AT})\b"
    rf"|\b(?P<bare>(?:eod|cob|end of (?:the )?day)\s+{_DAY})\b",
    re.I)


def find_deadline_phrase(text: str) -> str | None:
    """The first deadline phrase written in a sentence, for an *inferred* deadline."""
    m = _IN_A_SENTENCE.search(text or "")
    if not m:
        return None
    return " ".join((m["phrase"] or m["bare"]).split())


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


def resolve_deadline(phrase: str, reference: datetime, tz_name: str) -> Deadline:
    """Read ``phrase`` as a future instant relative to ``reference`` (aware) in ``tz_name``,
    to the minute: "in 2 hours" written at 09:00:37 is due at 11:00.

    Memoised by the minute: the same words written in the same minute mean the same
    thing, and dateparser is the costliest step of reading a mail (~1 ms of a worker's
    few).  Seconds never mattered to a deadline (pages and mails show minutes); keying
    by the exact instant made every mail, each with its own Date, miss the memo."""
    return _resolve(phrase, reference.replace(second=0, microsecond=0), tz_name)


@lru_cache(maxsize=4096)
def _resolve(phrase: str, reference: datetime, tz_name: str) -> Deadline:
    import dateparser  # imported lazily: it is slow to import and only needed here

    tz = zone(tz_name)
    tz_key = getattr(tz, "key", None)
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
                "TIMEZONE": tz_name if tz_key == tz_name else "UTC",
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

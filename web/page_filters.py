"""The page's filters.  Times: every instant a person reads is a ``<time>`` element whose
text is in words (``handoff/words.py``) and whose ``datetime`` and ``title`` hold the
exact value (ISO-8601 UTC to the second; the mails' long form, zone named), one hover
away.

``{{ h.deadline | at_time }}``   -> "today, 17:00" / "Fri 4 Dec, 17:00"
``{{ h.created_at | ago_time }}`` -> "3 hours ago" / "in 2 days"
``{{ h.deadline | due_time(open) }}`` -> "in 2 days" / "2 days overdue"

Empty input gives "" so ``or "—"`` still works in templates.  ``{{ e | event_words }}``
is what a timeline event did, in words (``handoff/event_words.py``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Callable

from jinja2 import Environment
from markupsafe import Markup, escape

from handoff.event_words import describe_event
from handoff.words import format_instant
from handoff.words import format_day_time, format_due, format_relative, iso_seconds

Instant = datetime | str | None


def time_tag(at: datetime | str, text: str, zone_name: str) -> Markup:
    return Markup('<time datetime="{}" title="{}">{}</time>').format(
        iso_seconds(at), format_instant(at, zone_name), escape(text))


def install_page_filters(env: Environment, zone_name: str,
                         clock: Callable[[], datetime]) -> None:
    """Register ``at_time``, ``ago_time``, ``due_time``, ``day_time`` (plain text) and
    ``event_words`` on ``env``; "now" is the app's injected clock at render time."""

    def at_time(at: Instant) -> Markup | str:
        return time_tag(at, format_day_time(at, zone_name, clock()), zone_name) if at else ""

    def ago_time(at: Instant) -> Markup | str:
        return time_tag(at, format_relative(at, clock()), zone_name) if at else ""

    def due_time(at: Instant, is_open: bool = True) -> Markup | str:
        return time_tag(at, format_due(at, clock(), is_open=is_open), zone_name) if at else ""

    def day_time(at: Instant) -> str:
        return format_day_time(at, zone_name, clock()) if at else ""

    def event_words(event: dict[str, Any]) -> str:
        return describe_event(event["kind"], event.get("detail"), bool(event.get("actor")))

    env.filters.update(at_time=at_time, ago_time=ago_time, due_time=due_time,
                       day_time=day_time, event_words=event_words)

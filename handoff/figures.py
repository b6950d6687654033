"""The figures (issue 11, SPEC 9): how handoffs fare, per owner, per sender and per
workflow, over a period a person chooses.  What the figures page and ``/api/figures``
show; no Flask here.

Each figure is read from the milestone columns ``workflow._set_status`` keeps on the
handoff (offered_at, accepted_at, done_at, limbo_seconds, ...), never by replaying the
timeline, in a handful of statements (``handoff/figure_sql.py``).  ``FIGURES`` is the
whole list, each with the one line that says what it counts; the page prints that line.

Two clocks: figures about the *period* read the handoffs made since its start
(``created_at >= since``); figures about *now* (overdue, open by age) read every handoff
open now, whenever it was made, so an old forgotten one is never hidden by the period.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta, timezone
from enum import StrEnum
from typing import Any, Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from handoff.deadlines import zone
from handoff.figure_sql import (AGE_BUCKETS, ALL, CLARITY_ANSWERS, Stat, open_tally,
                                period_tally, seconds_between, tally)
from handoff.models import Person

GROUPINGS = ("owner", "sender", "workflow")
DEFAULT_PERIOD = timedelta(days=30)
DEFAULT_TOP = 12
NO_OWNER = "(no owner yet)"


class Scope(StrEnum):
    PERIOD = "period"  # the handoffs made since the period's start
    NOW = "now"  # the handoffs open now, whenever made


@dataclass(frozen=True)
class Figure:
    name: str
    title: str
    meaning: str  # one line, printed on the page
    scope: Scope
    count: str  # the value that ranks the groups (most first)


FIGURES: tuple[Figure, ...] = (
    Figure("time_to_accept", "Time to accept",
           "From the offer to the owner's acceptance (after a hand-on, the offer to the "
           "new owner); handoffs accepted so far.", Scope.PERIOD, "n"),
    Figure("time_in_limbo", "Time in limbo",
           "Time spent offered or needing info, nobody acting on it yet; up to now for "
           "those still waiting; handoffs that were offered.", Scope.PERIOD, "n"),
    Figure("time_to_done", "Time to done",
           "From the sender's mail to the owner's done; handoffs done or closed.",
           Scope.PERIOD, "n"),
    Figure("declined_as_incomplete", "Declined or never complete",
           "Share of handoffs declined by the owner (and not handed on since), or that "
           "never left incomplete (the missing lines or owner never came).", Scope.PERIOD,
           "handoffs"),
    Figure("overdue", "Overdue",
           "Handoffs offered, accepted or needing info whose deadline has passed, and by "
           "how long.", Scope.NOW, "n"),
    Figure("open_by_age", "Open by age",
           "Handoffs not closed, declined or cancelled, by the time since the sender's "
           "mail.", Scope.NOW, "n"),
    Figure("decisions", "Decisions",
           "Handoffs a decision rule marked; time to decision from the offer (or the "
           "mail, if the offer came later) to the decision.", Scope.PERIOD, "needed"),
    Figure("clarity", "Was it clear?",
           "Owners' answers when their handoff closed: clear, missing something, unclear.",
           Scope.PERIOD, "answers"),
)

Values = dict[str, float | int | None]
Raw = dict[tuple[str, str], dict[str | None, Values]]  # (figure, grouping) -> group -> values


@dataclass
class Row:
    group: str  # an address, a workflow's name, or "all"
    values: Values = field(default_factory=dict)


@dataclass
class Result:
    figure: Figure
    total: Row
    by: dict[str, list[Row]]  # grouping -> its biggest groups, biggest first
    groups: dict[str, int]  # grouping -> how many groups it has in all

    def as_json(self) -> dict[str, Any]:
        f = self.figure
        return {"title": f.title, "meaning": f.meaning, "scope": str(f.scope),
                "all": self.total.values,
                "by": {g: [{"group": r.group, **r.values} for r in rows]
                       for g, rows in self.by.items()},
                "groups": self.groups}


@dataclass
class Figures:
    since: datetime
    now: datetime
    groupings: tuple[str, ...]
    results: list[Result]

    def as_json(self) -> dict[str, Any]:
        return {"since": iso_utc(self.since), "now": iso_utc(self.now),
                "period": "handoffs made at or after since; overdue and open_by_age: "
                          "open now, whenever made",
                "durations": "seconds; median and p90 are nearest-rank",
                "figures": {r.figure.name: r.as_json() for r in self.results}}


def iso_utc(at: datetime) -> str:
    return at.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")


_DAYS = re.compile(r"^(\d{1,4})\s*d(ays?)?$", re.I)


def parse_since(text: str | None, now: datetime, zone_name: str) -> datetime:
    """The period's start from ``?since=``: ``30d`` (days back from now), a date
    (``2026-11-01``, from midnight in the configured zone) or an ISO-8601 instant; the
    default is 30 days.  ``ValueError`` for anything else."""
    text = (text or "").strip()
    if not text:
        return now - DEFAULT_PERIOD
    days = _DAYS.match(text)
    if days:
        return now - timedelta(days=int(days[1]))
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
        day = datetime.fromisoformat(text).date()
        return datetime.combine(day, time(0), zone(zone_name)).astimezone(now.tzinfo)
    at = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return at if at.tzinfo else at.replace(tzinfo=zone(zone_name))


def compute_figures(session: Session, since: datetime, now: datetime,
                    groupings: Sequence[str] = GROUPINGS, top: int = DEFAULT_TOP,
                    names: Sequence[str] | None = None) -> Figures:
    """The figures of ``FIGURES`` (those ``names``, or all) for the whole and per group
    of each grouping (its ``top`` biggest groups), over the handoffs made since
    ``since``.  Only the statements those figures need are run: a chart of one figure
    reads one."""
    wanted = [f for f in FIGURES if names is None or f.name in names]
    scopes = {f.scope for f in wanted}
    seconds, dims = seconds_between(session), (ALL, *groupings)
    made = tally(session, period_tally(since, now, seconds), dims) \
        if Scope.PERIOD in scopes else {}
    still_open = tally(session, open_tally(now, seconds), dims) if Scope.NOW in scopes else {}
    raw: Raw = defaultdict(dict)
    for (dim, grp), t in made.items():
        for name in ("time_to_accept", "time_in_limbo", "time_to_done"):
            raw[(name, dim)][grp] = _stat(t.stats[name])
        declined, never = t.sums["declined"], t.sums["never_complete"]
        raw[("declined_as_incomplete", dim)][grp] = {
            "handoffs": t.rows, "declined": declined, "never_complete": never,
            "rate": _share(declined + never, t.rows)}
        raw[("decisions", dim)][grp] = {
            **{k: t.sums[k] for k in ("needed", "decided", "waiting")},
            **_stat(t.stats["time_to_decision"])}
        answers = sum(t.sums[a] for a in CLARITY_ANSWERS)
        raw[("clarity", dim)][grp] = {
            "answers": answers, **{a: t.sums[a] for a in CLARITY_ANSWERS},
            **{f"{a}_share": _share(t.sums[a], answers) for a in CLARITY_ANSWERS}}
    for (dim, grp), t in still_open.items():
        raw[("overdue", dim)][grp] = _stat(t.stats["overdue_by"])
        raw[("open_by_age", dim)][grp] = {**_stat(t.stats["open_age"]),
                                          **{b[0]: t.sums[b[0]] for b in AGE_BUCKETS}}
    return Figures(since, now, tuple(groupings),
                   _assemble(session, raw, wanted, tuple(groupings), top))


def _stat(stat: Stat) -> Values:
    n, median, p90 = stat
    return {"n": n, "median": _whole(median), "p90": _whole(p90)}


def _share(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def _whole(seconds: float | None) -> int | None:
    return None if seconds is None else max(0, round(float(seconds)))


_STAT: Values = {"n": 0, "median": None, "p90": None}
_BLANK: dict[str, Values] = {  # what a figure says of a group with nothing to count
    "declined_as_incomplete": {"handoffs": 0, "declined": 0, "never_complete": 0,
                               "rate": None},
    "open_by_age": {**_STAT, **{b[0]: 0 for b in AGE_BUCKETS}},
    "decisions": {"needed": 0, "decided": 0, "waiting": 0, **_STAT},
    "clarity": {"answers": 0, **{a: 0 for a in CLARITY_ANSWERS},
                **{f"{a}_share": None for a in CLARITY_ANSWERS}},
}


def _blank(figure: Figure) -> Values:
    return dict(_BLANK.get(figure.name, _STAT))


def _assemble(session: Session, raw: Raw, figures: Sequence[Figure],
              groupings: tuple[str, ...], top: int) -> list[Result]:
    results = []
    for figure in figures:
        total = Row(ALL, {**_blank(figure), **raw[(figure.name, ALL)].get("", {})})
        by, counts = {}, {}
        for dim in groupings:
            rows = [Row(grp or "", {**_blank(figure), **values})
                    for grp, values in raw[(figure.name, dim)].items()]
            rows = [r for r in rows if r.values.get(figure.count)]
            rows.sort(key=lambda r: (-(r.values.get(figure.count) or 0), r.group))
            by[dim], counts[dim] = rows[:top], len(rows)
        results.append(Result(figure, total, by, counts))
    _name_people(session, results)
    return results


def _name_people(session: Session, results: list[Result]) -> None:
    """Owner and sender groups are people's ids in the statements: show addresses."""
    ids = {int(r.group) for res in results for dim in ("owner", "sender")
           for r in res.by.get(dim, []) if r.group}
    query = select(Person.id, Person.address).where(Person.id.in_(ids))
    names = {pid: address for pid, address in session.execute(query)} if ids else {}
    for res in results:
        for dim in ("owner", "sender"):
            for r in res.by.get(dim, []):
                r.group = names.get(int(r.group), r.group) if r.group else NO_OWNER

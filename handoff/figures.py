"""The figures (issue 11, SPEC 9): how handoffs fare, per owner, per sender and per
workflow, over a period a person chooses.  What the figures page and ``/api/figures``
show; no Flask here.

Each figure is read from the milestone columns ``lifecycle.set_status`` keeps on the
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
from handoff.figure_sql import (AGE_BUCKETS, ALL, CLARITY_ANSWERS, Stat, Tallied, Tallies,
                                open_tally, period_tally, seconds_between, tally)
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
    reads = None if names is None else {c for f in wanted for c in READS[f.name]}
    seconds, dims = seconds_between(session), (ALL, *groupings)
    made = tally(session, period_tally(since, now, seconds, reads), dims) \
        if Scope.PERIOD in scopes else {}
    still_open = tally(session, open_tally(now, seconds, reads), dims) \
        if Scope.NOW in scopes else {}
    tallies = {Scope.PERIOD: _by_grouping(made), Scope.NOW: _by_grouping(still_open)}
    results = [_result(figure, tallies[figure.scope], tuple(groupings), top)
               for figure in wanted]
    _name_people(session, results)
    return Figures(since, now, tuple(groupings), results)


# what each figure reads of its statement (figure_sql's flags and durations)
READS: dict[str, tuple[str, ...]] = {
    "time_to_accept": ("time_to_accept",),
    "time_in_limbo": ("time_in_limbo",),
    "time_to_done": ("time_to_done",),
    "declined_as_incomplete": ("declined", "never_complete"),
    "decisions": ("needed", "decided", "waiting", "time_to_decision"),
    "clarity": CLARITY_ANSWERS,
    "overdue": ("overdue_by",),
    "open_by_age": ("open_age", *(b[0] for b in AGE_BUCKETS)),
}
# the duration each figure's median and p90 are of
DURATION = {"time_to_accept": "time_to_accept", "time_in_limbo": "time_in_limbo",
            "time_to_done": "time_to_done", "decisions": "time_to_decision",
            "overdue": "overdue_by", "open_by_age": "open_age"}


def _values(figure: Figure, t: Tallied) -> Values:
    """What ``figure`` says of one group (or the whole), from its statement's tally."""
    name, sums = figure.name, t.sums
    if name == "declined_as_incomplete":
        declined, never = sums["declined"], sums["never_complete"]
        return {"handoffs": t.rows, "declined": declined, "never_complete": never,
                "rate": _share(declined + never, t.rows)}
    if name == "clarity":
        answers = sum(sums[a] for a in CLARITY_ANSWERS)
        return {"answers": answers, **{a: sums[a] for a in CLARITY_ANSWERS},
                **{f"{a}_share": _share(sums[a], answers) for a in CLARITY_ANSWERS}}
    stat = _stat(t.stat(DURATION[name]))
    if name == "decisions":
        return {**{k: sums[k] for k in ("needed", "decided", "waiting")}, **stat}
    if name == "open_by_age":
        return {**stat, **{b[0]: sums[b[0]] for b in AGE_BUCKETS}}
    return stat


def _size(figure: Figure, t: Tallied) -> int:
    """The number that ranks a group in ``figure`` (``figure.count``), without working
    out medians the page will not show."""
    if figure.count == "n":
        return t.n(DURATION[figure.name])
    if figure.count == "handoffs":
        return t.rows
    if figure.count == "answers":
        return sum(t.sums[a] for a in CLARITY_ANSWERS)
    return t.sums[figure.count]


def _by_grouping(tallies: Tallies) -> dict[str, dict[str, Tallied]]:
    out: dict[str, dict[str, Tallied]] = defaultdict(dict)
    for (grouping, group), t in tallies.items():
        out[grouping][group or ""] = t
    return out


def _result(figure: Figure, tallies: dict[str, dict[str, Tallied]],
            groupings: tuple[str, ...], top: int) -> Result:
    """``figure`` for the whole and the ``top`` biggest groups of each grouping."""
    whole = tallies[ALL].get("")
    total = Row(ALL, {**_blank(figure), **(_values(figure, whole) if whole else {})})
    by, counts = {}, {}
    for dim in groupings:
        sized = [(size, group, t) for group, t in tallies[dim].items()
                 if (size := _size(figure, t))]
        sized.sort(key=lambda s: (-s[0], s[1]))
        by[dim] = [Row(group, {**_blank(figure), **_values(figure, t)})
                   for _, group, t in sized[:top]]
        counts[dim] = len(sized)
    return Result(figure, total, by, counts)


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

"""The statements behind the figures (``handoff/figures.py``): two, whatever the table's
size: one over the handoffs made in the period, one over those open now.

Each statement yields one row per handoff with what the figures need already worked
out by the database: its groups (owner, sender, workflow), 0/1 flags to add up
(declined, never complete, clarity answers, age bucket, ...) and durations in seconds
from the milestone columns.  The rows are then tallied per group and grouping:

- on PostgreSQL in the database, in one ``GROUP BY GROUPING SETS`` statement each,
  with ``percentile_disc`` for the median and the p90;
- on SQLite (no percentile function; its window functions ranked 4,000 handoffs' values
  in ~70 ms where Python sorts them in ~5: benchmarks/RESULTS.md) from the fetched rows,
  bounded by the period, in Python.

Both give nearest-rank percentiles (the value at rank ceil(p * n) of the sorted values:
a value some handoff really had), so both give the same numbers; the tests run on both.
A period's handoffs are found through ``ix_handoffs_created_at``, the open ones through
``ix_handoffs_status``: a page reads what its period holds, not the table.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Callable, Sequence

from sqlalchemy import (ColumnElement, Select, and_, case, func, literal, select, tuple_)
from sqlalchemy.orm import Session

from handoff.models import ClarityAnswer, Handoff, UTCDateTime
from handoff.states import OPEN_STATES, Status

H = Handoff
LIMBO = (Status.OFFERED, Status.NEEDS_INFO)  # nobody acting: as _set_status counts it
DONE_STATES = (Status.DONE, Status.CLOSED)
OVERDUE_STATES = (Status.OFFERED, Status.ACCEPTED, Status.NEEDS_INFO)  # as views.summarize
OPEN = tuple(sorted(OPEN_STATES))
ALL = "all"  # the grouping of the whole: one group, ""
KEYS = {"owner": 0, "sender": 1, "workflow": 2}  # the key columns' places in a row
CLARITY_ANSWERS = ("clear", "missing", "unclear")
AGE_BUCKETS: tuple[tuple[str, str, timedelta | None], ...] = (
    ("under_1d", "under a day", timedelta(days=1)),
    ("1d_7d", "1–7 days", timedelta(days=7)),
    ("1w_4w", "1–4 weeks", timedelta(days=28)),
    ("over_4w", "over 4 weeks", None),
)

Seconds = Callable[[Any, Any], ColumnElement[Any]]


def seconds_between(session: Session) -> Seconds:
    """``later - earlier`` in seconds, in the dialect's own words.  SQLite keeps instants
    as ``YYYY-MM-DD HH:MM:SS.ffffff`` text, which ``julianday`` reads."""
    if session.get_bind().dialect.name == "sqlite":
        return lambda later, earlier: (func.julianday(later) - func.julianday(earlier)) * 86400.0
    return lambda later, earlier: func.extract("epoch", later - earlier)


def _flag(condition: ColumnElement[bool]) -> ColumnElement[Any]:
    return case((condition, 1), else_=0)


@dataclass(frozen=True)
class Tally:
    """One statement's rows: the keys (owner, sender, workflow), then ``sums`` (0/1
    flags to add up), then ``durations`` (seconds, or NULL where it does not apply)."""

    statement: Select[Any]
    sums: tuple[str, ...]
    durations: tuple[str, ...]


def period_tally(window_since: datetime, now: datetime, seconds: Seconds) -> Tally:
    """The handoffs made at or after ``window_since``, one row each."""
    at = literal(now, UTCDateTime())
    needed = H.needs_decision.is_not(None)
    decided = and_(needed, H.decided_at.is_not(None))
    decision_from = case((and_(H.offered_at.is_not(None), H.offered_at <= H.decided_at),
                          H.offered_at), else_=H.created_at)
    sums: dict[str, ColumnElement[Any]] = {
        "declined": _flag(H.status == Status.DECLINED),
        "never_complete": _flag(H.offered_at.is_(None)),
        "needed": _flag(needed),
        "decided": _flag(decided),
        "waiting": _flag(and_(needed, H.decided_at.is_(None), H.status.in_(OPEN))),
        **{a: _flag(ClarityAnswer.answer == a) for a in CLARITY_ANSWERS},
    }
    durations: dict[str, ColumnElement[Any]] = {
        "time_to_accept": case((H.accepted_at >= H.offered_at,
                                seconds(H.accepted_at, H.offered_at))),
        "time_in_limbo": case((H.offered_at.is_not(None), H.limbo_seconds + case(
            (H.status.in_(LIMBO), seconds(at, H.state_changed_at)), else_=0))),
        "time_to_done": case((H.status.in_(DONE_STATES), seconds(H.done_at, H.created_at))),
        "time_to_decision": case((decided, seconds(H.decided_at, decision_from))),
    }
    statement = (select(H.owner_id, H.sender_id, H.workflow,
                        *(c.label(n) for n, c in sums.items()),
                        *(c.label(n) for n, c in durations.items()))
                 .select_from(H).outerjoin(ClarityAnswer, ClarityAnswer.handoff_id == H.id)
                 .where(H.created_at >= window_since))
    return Tally(statement, tuple(sums), tuple(durations))


def open_tally(now: datetime, seconds: Seconds) -> Tally:
    """The handoffs open at ``now``, whenever made, one row each."""
    at = literal(now, UTCDateTime())
    bounds = [high for _, _, high in AGE_BUCKETS]
    sums = {name: _flag(and_(*([H.created_at > now - high] if high else []),
                             *([H.created_at <= now - low] if low else [])))
            for (name, _, high), low in zip(AGE_BUCKETS, [None, *bounds[:-1]])}
    durations = {
        "open_age": seconds(at, H.created_at),
        "overdue_by": case((and_(H.status.in_(OVERDUE_STATES), H.deadline < now),
                            seconds(at, H.deadline))),
    }
    statement = (select(H.owner_id, H.sender_id, H.workflow,
                        *(c.label(n) for n, c in sums.items()),
                        *(c.label(n) for n, c in durations.items()))
                 .where(H.status.in_(OPEN)))
    return Tally(statement, tuple(sums), tuple(durations))


Stat = tuple[int, float | None, float | None]  # n, median, p90


@dataclass
class Tallied:
    """What one group of one grouping adds up to."""

    rows: int = 0
    sums: dict[str, int] = field(default_factory=dict)
    stats: dict[str, Stat] = field(default_factory=dict)


Tallies = dict[tuple[str, str | None], Tallied]  # (grouping, group) -> its tally


def tally(session: Session, spec: Tally, groupings: Sequence[str]) -> Tallies:
    """``spec``'s rows added up for the whole and per group of each grouping."""
    if session.get_bind().dialect.name == "postgresql":
        return _tally_in_sql(session, spec, groupings)
    return _tally_in_python(session, spec, groupings)


def _tally_in_python(session: Session, spec: Tally, groupings: Sequence[str]) -> Tallies:
    """Group the rows once per grouping, then add up and sort column by column (the
    per-value work stays in C: ``zip``, ``sum``, ``sorted``)."""
    rows: list[Any] = list(session.connection().execute(spec.statement).all())
    session.rollback()  # SQLite: a transaction holds the write lock; adding up needs none
    first_sum, first_duration = 3, 3 + len(spec.sums)
    out: Tallies = {}
    for grouping in groupings:
        groups: dict[Any, list[Any]] = {"": rows} if grouping == ALL and rows else {}
        if grouping != ALL:
            place = KEYS[grouping]
            for row in rows:
                groups.setdefault(row[place], []).append(row)
        for grp, members in groups.items():
            columns = list(zip(*members))
            stats: dict[str, Stat] = {}
            for i, name in enumerate(spec.durations):
                ordered = sorted([v for v in columns[first_duration + i] if v is not None])
                stats[name] = (len(ordered), _nearest_rank(ordered, 0.5),
                               _nearest_rank(ordered, 0.9))
            sums = {name: sum(columns[first_sum + i]) for i, name in enumerate(spec.sums)}
            key = (grouping, None if grp is None else str(grp))
            out[key] = Tallied(len(members), sums, stats)  # type: ignore[arg-type]
    return out


def _nearest_rank(ordered: list[float], p: float) -> float | None:
    """The value at rank ceil(p * n): what PostgreSQL's percentile_disc gives."""
    return ordered[max(1, math.ceil(p * len(ordered))) - 1] if ordered else None


def _tally_in_sql(session: Session, spec: Tally, groupings: Sequence[str]) -> Tallies:
    rows = spec.statement.subquery("rows")
    keyed = [g for g in groupings if g != ALL]
    keys = [rows.c[("owner_id", "sender_id", "workflow")[KEYS[g]]] for g in keyed]
    aggregates: list[ColumnElement[Any]] = [*(func.grouping(k) for k in keys), *keys,
                                            func.count()]
    aggregates += [func.coalesce(func.sum(rows.c[name]), 0) for name in spec.sums]
    for name in spec.durations:
        aggregates.append(func.count(rows.c[name]))
        aggregates += [func.percentile_disc(p).within_group(rows.c[name]) for p in (0.5, 0.9)]
    sets = [tuple_() if g == ALL else tuple_(keys[keyed.index(g)]) for g in groupings]
    out: Tallies = {}
    for row in session.execute(select(*aggregates).group_by(func.grouping_sets(*sets))):
        flags, values, rest = row[:len(keys)], row[len(keys):2 * len(keys)], row[2 * len(keys):]
        grouped = [i for i, flag in enumerate(flags) if flag == 0]  # GROUPING() is 0 when used
        grouping = keyed[grouped[0]] if grouped else ALL
        value = values[grouped[0]] if grouped else ""
        n_sums = len(spec.sums)
        sums = {name: int(c) for name, c in zip(spec.sums, rest[1:1 + n_sums])}
        stats_raw = rest[1 + n_sums:]
        stats: dict[str, Stat] = {
            name: (int(stats_raw[3 * i]), _float(stats_raw[3 * i + 1]),
                   _float(stats_raw[3 * i + 2]))
            for i, name in enumerate(spec.durations)}
        group = value if grouping == ALL else (None if value is None else str(value))
        out[(grouping, group)] = Tallied(int(rest[0]), sums, stats)
    return out


def _float(value: Any) -> float | None:
    return None if value is None else float(value)

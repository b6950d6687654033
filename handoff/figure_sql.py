"""The statements behind the figures (``handoff/figures.py``): two, whatever the table's
size: one over the handoffs made in the period, one over those open now.

Each reads one row per handoff with what the figures need already worked out by the
database, as plain numbers (no datetimes, no ORM entities): the key of each grouping
asked for (owner, sender, workflow), 0/1 flags to add up (declined, never complete,
clarity answers, age bucket, ...) and durations in seconds from the milestone columns
(SQLite: ``(julianday(a) - julianday(b)) * 86400``; PostgreSQL: ``extract(epoch from
a - b)``).  The rows are then tallied per group and grouping:

- on PostgreSQL in the database, in one ``GROUP BY GROUPING SETS`` statement each,
  with ``percentile_disc`` for the median and the p90;
- on SQLite (no percentile function; its window functions ranked 4,000 handoffs' values
  in ~70 ms where Python sorts them in ~5: benchmarks/RESULTS.md) from the fetched rows,
  bounded by the period, in Python.  What crosses into Python is kept small, since that
  is most of the cost: only the keys asked for, the flags packed into one integer per
  row, and the durations as floats.

Both give nearest-rank percentiles (the value at rank ceil(p * n) of the sorted values:
a value some handoff really had), so both give the same numbers; the tests run on both.
A period's handoffs are found through ``ix_handoffs_created_at``, the open ones through
``ix_handoffs_status``: a page reads what its period holds, not the table.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from functools import reduce
from operator import add
from typing import Any, Callable, Collection, Sequence

from sqlalchemy import (ColumnElement, FromClause, Select, and_, case, func, literal,
                        select, tuple_)
from sqlalchemy.orm import Session

from handoff.clarity import ANSWERS
from handoff.models import ClarityAnswer, Handoff, UTCDateTime
from handoff.states import CAN_BE_OVERDUE, LIMBO, OPEN_STATES, Status

H = Handoff
DONE_STATES = (Status.DONE, Status.CLOSED)
OPEN = tuple(sorted(OPEN_STATES))
ALL = "all"  # the grouping of the whole: one group, ""
KEYS: dict[str, Any] = {"owner": H.owner_id, "sender": H.sender_id, "workflow": H.workflow}
CLARITY_ANSWERS = tuple(ANSWERS.values())  # clear, missing, unclear
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


@dataclass(frozen=True)
class Tally:
    """What one statement reads: the handoffs ``source``/``where`` selects, one row
    each; ``flags`` (conditions, counted per group) and ``durations`` (seconds, or NULL
    where it does not apply; n, median and p90 per group)."""

    source: FromClause
    where: ColumnElement[bool]
    flags: dict[str, ColumnElement[bool]]
    durations: dict[str, ColumnElement[Any]]

    @property
    def sums(self) -> tuple[str, ...]:
        return tuple(self.flags)

    def only(self, names: Collection[str] | None) -> Tally:
        """The same statement reading only the flags and durations ``names`` (all when
        None): a chart of one figure computes what that figure shows."""
        if names is None:
            return self
        return replace(self, flags={n: c for n, c in self.flags.items() if n in names},
                       durations={n: c for n, c in self.durations.items() if n in names})

    def rows(self, groupings: Sequence[str]) -> Select[Any]:
        """One row per handoff: the keys asked for, a 0/1 column per flag, the
        durations; what PostgreSQL adds up in ``_tally_in_sql``."""
        return (select(*(KEYS[g].label(g) for g in groupings if g != ALL),
                       *(case((c, 1), else_=0).label(n) for n, c in self.flags.items()),
                       *(c.label(n) for n, c in self.durations.items()))
                .select_from(self.source).where(self.where))

    def packed_rows(self, groupings: Sequence[str]) -> Select[Any]:
        """The same rows, narrower, for SQLite's tally in Python: the flags packed as
        the bits of one integer (flag i is bit i)."""
        bits = [case((c, 1 << i), else_=0) for i, c in enumerate(self.flags.values())]
        return (select(*(KEYS[g] for g in groupings if g != ALL),
                       reduce(add, bits) if bits else literal(0),
                       *self.durations.values())
                .select_from(self.source).where(self.where))


def period_tally(window_since: datetime, now: datetime, seconds: Seconds,
                 names: Collection[str] | None = None) -> Tally:
    """The handoffs made at or after ``window_since``, reading ``names`` (or all); the
    clarity answers are joined only when asked for."""
    at = literal(now, UTCDateTime())
    needed = H.needs_decision.is_not(None)
    decided = and_(needed, H.decided_at.is_not(None))
    decision_from = case((and_(H.offered_at.is_not(None), H.offered_at <= H.decided_at),
                          H.offered_at), else_=H.created_at)
    flags: dict[str, ColumnElement[bool]] = {
        "declined": H.status == Status.DECLINED,
        "never_complete": H.offered_at.is_(None),
        "needed": needed,
        "decided": decided,
        "waiting": and_(needed, H.decided_at.is_(None), H.status.in_(OPEN)),
        **{a: ClarityAnswer.answer == a for a in CLARITY_ANSWERS},
    }
    durations: dict[str, ColumnElement[Any]] = {
        "time_to_accept": case((H.accepted_at >= H.offered_at,
                                seconds(H.accepted_at, H.offered_at))),
        "time_in_limbo": case((H.offered_at.is_not(None), H.limbo_seconds + case(
            (H.status.in_(LIMBO), seconds(at, H.state_changed_at)), else_=0))),
        "time_to_done": case((H.status.in_(DONE_STATES), seconds(H.done_at, H.created_at))),
        "time_to_decision": case((decided, seconds(H.decided_at, decision_from))),
    }
    source: FromClause = H.__table__.outerjoin(ClarityAnswer.__table__,
                                               ClarityAnswer.handoff_id == H.id)
    if names is not None and not set(CLARITY_ANSWERS) & set(names):
        source = H.__table__
    return Tally(source, H.created_at >= window_since, flags, durations).only(names)


def open_tally(now: datetime, seconds: Seconds, names: Collection[str] | None = None) -> Tally:
    """The handoffs open at ``now``, whenever made, reading ``names`` (or all)."""
    at = literal(now, UTCDateTime())
    bounds = [high for _, _, high in AGE_BUCKETS]
    flags = {name: and_(*([H.created_at > now - high] if high else []),
                        *([H.created_at <= now - low] if low else []))
             for (name, _, high), low in zip(AGE_BUCKETS, [None, *bounds[:-1]])}
    durations = {
        "open_age": seconds(at, H.created_at),
        "overdue_by": case((and_(H.status.in_(CAN_BE_OVERDUE), H.deadline < now),
                            seconds(at, H.deadline))),
    }
    return Tally(H.__table__, H.status.in_(OPEN), flags, durations).only(names)


Stat = tuple[int, float | None, float | None]  # n, median, p90


@dataclass
class Tallied:
    """What one group of one grouping adds up to.  On SQLite the median and p90 are
    worked out when first asked for (``stat``): a page shows a dozen of the hundreds of
    groups, and needs only how many values the others have, to rank them."""

    rows: int = 0
    sums: dict[str, int] = field(default_factory=dict)
    stats: dict[str, Stat] = field(default_factory=dict)
    values: dict[str, Sequence[float | None]] = field(default_factory=dict)  # SQLite

    def n(self, name: str) -> int:
        """How many of the group's handoffs have the duration ``name``."""
        if name in self.stats:
            return self.stats[name][0]
        values = self.values.get(name, ())
        return len(values) - values.count(None)

    def stat(self, name: str) -> Stat:
        if name not in self.stats:
            ordered = sorted([v for v in self.values.get(name, ()) if v is not None])
            self.stats[name] = (len(ordered), _nearest_rank(ordered, 0.5),
                                _nearest_rank(ordered, 0.9))
        return self.stats[name]


Tallies = dict[tuple[str, str | None], Tallied]  # (grouping, group) -> its tally


def tally(session: Session, spec: Tally, groupings: Sequence[str]) -> Tallies:
    """``spec``'s rows added up for the whole and per group of each grouping."""
    if session.get_bind().dialect.name == "postgresql":
        return _tally_in_sql(session, spec, groupings)
    return _tally_in_python(session, spec, groupings)


def _tally_in_python(session: Session, spec: Tally, groupings: Sequence[str]) -> Tallies:
    """Group the rows once per grouping, then count column by column (the per-value
    work stays in C: ``zip``, ``Counter``, ``tuple.count``; ``sorted`` when a median
    is asked for)."""
    keyed = [g for g in groupings if g != ALL]
    rows: list[Any] = list(session.connection().execute(spec.packed_rows(keyed)).all())
    session.rollback()  # SQLite: a transaction holds the write lock; adding up needs none
    if not rows:
        return {}
    columns = list(zip(*rows))
    out: Tallies = {}
    for grouping in groupings:
        groups: dict[Any, list[Any]] = {"": rows}
        keys: Sequence[Any] = ("",) * len(rows)
        if grouping != ALL:
            groups, keys = {}, columns[keyed.index(grouping)]
            for key, row in zip(keys, rows):
                groups.setdefault(key, []).append(row)
        sums = _unpack(spec.sums, keys, columns[len(keyed)])
        for grp, members in groups.items():
            durations = list(zip(*members))[len(keyed) + 1:]
            out[(grouping, None if grp is None else str(grp))] = Tallied(
                len(members), sums[grp], {}, dict(zip(spec.durations, durations)))
    return out


def _unpack(names: Sequence[str], keys: Sequence[Any],
            masks: Sequence[int]) -> dict[Any, dict[str, int]]:
    """How many rows of each group have each flag, from the rows' packed flags."""
    flags: dict[int, list[str]] = {}  # a mask -> the flags set in it
    sums: dict[Any, dict[str, int]] = {}
    for (key, mask), n in Counter(zip(keys, masks)).items():
        group = sums.setdefault(key, dict.fromkeys(names, 0))
        if mask not in flags:
            flags[mask] = [name for i, name in enumerate(names) if mask >> i & 1]
        for name in flags[mask]:
            group[name] += n
    return sums


def _nearest_rank(ordered: list[float], p: float) -> float | None:
    """The value at rank ceil(p * n): what PostgreSQL's percentile_disc gives."""
    return ordered[max(1, math.ceil(p * len(ordered))) - 1] if ordered else None


def _tally_in_sql(session: Session, spec: Tally, groupings: Sequence[str]) -> Tallies:
    keyed = [g for g in groupings if g != ALL]
    rows = spec.rows(keyed).subquery("rows")
    keys = [rows.c[g] for g in keyed]
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

"""The statements behind the figures (``handoff/figures.py``): two, whatever the table's
size: one over the handoffs made in the period, one over those open now.

Each reads one row per handoff, as plain numbers, from a covering index (never the rows
with their packets): the key of each grouping asked for (owner, sender, workflow), 0/1
flags to add up (declined, never complete, clarity answers, age bucket, ...) and
durations in whole seconds, kept on the handoff by ``lifecycle.keep_figures`` as its
milestones change (only time in limbo of a handoff still waiting, and the ages of open
ones, are worked out here, from ``now``).  The rows are then tallied per group and
grouping:

- on PostgreSQL in the database, in one ``GROUP BY GROUPING SETS`` statement each,
  with ``percentile_disc`` for the median and the p90;
- on SQLite (no percentile function; its window functions ranked 4,000 handoffs' values
  several times slower than Python sorts them: docs/architecture.md) from the fetched
  rows, bounded by the period, in Python, column by column.

Both give nearest-rank percentiles (the value at rank ceil(p * n) of the sorted values:
a value some handoff really had), so both give the same numbers; the tests run on both.
A period's handoffs are read from ``ix_handoffs_figures_period`` (led by created_at), the
open ones from ``ix_handoffs_figures_open`` (led by status): a page reads what its period
holds, not the table.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from functools import reduce
from itertools import compress, repeat
from operator import add, is_not
from typing import Any, Callable, Collection, Mapping, Sequence

from sqlalchemy import (ColumnElement, Select, and_, case, func, literal,
                        select, tuple_)
from sqlalchemy.orm import Session

from handoff.clarity import ANSWERS
from handoff.models import Handoff, UTCDateTime
from handoff.states import CAN_BE_OVERDUE, LIMBO, OPEN_STATES, Status

H = Handoff
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
    """What one statement reads: the handoffs ``where`` selects, one row
    each; ``flags`` (conditions, counted per group) and ``durations`` (seconds, or NULL
    where it does not apply; n, median and p90 per group)."""

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
                .select_from(H).where(self.where))

    def packed_rows(self, groupings: Sequence[str]) -> Select[Any]:
        """The same rows, narrower, for SQLite's tally in Python: the flags packed as
        the bits of one integer (flag i is bit i)."""
        bits = [case((c, 1 << i), else_=0) for i, c in enumerate(self.flags.values())]
        return (select(*(KEYS[g] for g in groupings if g != ALL),
                       reduce(add, bits) if bits else literal(0),
                       *self.durations.values())
                .select_from(H).where(self.where))


def period_tally(window_since: datetime, now: datetime, seconds: Seconds,
                 names: Collection[str] | None = None) -> Tally:
    """The handoffs made at or after ``window_since``, reading ``names`` (or all): the
    durations kept as whole seconds by ``lifecycle.keep_figures``, only time in limbo
    of those still waiting worked out here (it grows until somebody acts)."""
    at = literal(now, UTCDateTime())
    needed = H.needs_decision.is_not(None)
    flags: dict[str, ColumnElement[bool]] = {
        "declined": H.status == Status.DECLINED,
        "never_complete": H.offered_at.is_(None),
        "needed": needed,
        "decided": and_(needed, H.decided_at.is_not(None)),
        "waiting": and_(needed, H.decided_at.is_(None), H.status.in_(OPEN)),
        **{a: H.clarity == a for a in CLARITY_ANSWERS},
    }
    durations: dict[str, ColumnElement[Any]] = {
        "time_to_accept": H.accept_seconds.expression,
        "time_in_limbo": case((H.offered_at.is_not(None), H.limbo_seconds + case(
            (H.status.in_(LIMBO), seconds(at, H.state_changed_at)), else_=0))),
        "time_to_done": H.done_seconds.expression,
        "time_to_decision": H.decision_seconds.expression,
    }
    return Tally(H.created_at >= window_since, flags, durations).only(names)


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
    return Tally(H.status.in_(OPEN), flags, durations).only(names)


Stat = tuple[int, float | None, float | None]  # n, median, p90


@dataclass
class Tallied:
    """What one group of one grouping adds up to.  On SQLite the median and p90 are
    worked out when first asked for (``stat``), from the statement's columns and the
    group's row numbers: a page shows a dozen of the hundreds of groups, and needs
    only how many values the others have (``counts``), to rank them."""

    rows: int = 0
    sums: dict[str, int] = field(default_factory=dict)
    stats: dict[str, Stat] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)  # SQLite: name -> values
    columns: Mapping[str, Sequence[Any]] = field(default_factory=dict)  # SQLite
    present: Mapping[str, Sequence[bool]] = field(default_factory=dict)  # SQLite: not None
    members: Sequence[int] | None = None  # SQLite: the group's rows; None: every row

    def n(self, name: str) -> int:
        """How many of the group's handoffs have the duration ``name``."""
        if name in self.stats:
            return self.stats[name][0]
        return self.counts.get(name, 0)

    def stat(self, name: str) -> Stat:
        if name not in self.stats:
            column = self.columns.get(name, ())
            ordered: list[float]
            if self.members is None:
                ordered = sorted(compress(column, self.present[name]))
            else:
                ordered = sorted([v for i in self.members if (v := column[i]) is not None])
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
    """Count column by column: the per-value work stays in C (``zip``, ``Counter``,
    ``map``, ``compress``; ``sorted`` when a median is asked for); the one loop in
    Python numbers each group's rows, once per grouping."""
    keyed = [g for g in groupings if g != ALL]
    result = session.connection().execute(spec.packed_rows(keyed))
    # the DB-API's plain tuples: every column is a number or a key, nothing to convert,
    # and SQLAlchemy's Row objects cost as much as the rest of the tally
    rows: Sequence[Any] = result.cursor.fetchall()
    result.close()
    session.rollback()  # SQLite: a transaction holds the write lock; adding up needs none
    if not rows:
        return {}
    columns = list(zip(*rows))
    masks = columns[len(keyed)]
    durations = dict(zip(spec.durations, columns[len(keyed) + 1:]))
    has = {name: list(map(is_not, column, repeat(None))) for name, column in durations.items()}
    out: Tallies = {}
    for grouping in groupings:
        if grouping == ALL:
            keys: Sequence[Any] = ("",) * len(rows)
            members: dict[Any, list[int] | None] = {"": None}
        else:
            keys, members = columns[keyed.index(grouping)], {}
            for i, key in enumerate(keys):
                members.setdefault(key, []).append(i)  # type: ignore[union-attr]
        sums = _unpack(spec.sums, keys, masks)
        counts = {name: Counter(compress(keys, present)) for name, present in has.items()}
        for key, rows_of in members.items():
            out[(grouping, None if key is None else str(key))] = Tallied(
                len(rows) if rows_of is None else len(rows_of), sums[key], {},
                {name: c[key] for name, c in counts.items()}, durations, has, rows_of)
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

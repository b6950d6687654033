"""The worker step behind the mail door: stored messages (``intake.receive_message``)
taken from the queue, read and interpreted (``intake.read_message``, ``intake.interpret``);
a message that fails is kept ``failed`` with its error (``handoff inbound retry`` queues
it again), never dropped.

**Takes and leases.** A take is committed before the message is read: ``processing``,
``attempts + 1``, ``lease_until = now + LEASE``.  The message is then read outside any
transaction and interpreted in a transaction of its own, whose last statement marks the
message only if the take is still this worker's (still ``processing``, same
``attempts``); otherwise all it did rolls back.  A take whose lease ran out was never
finished: its worker died or hung on it (a crash in a C library, the kernel's OOM
killer, a reading that never ended until a supervisor killed it).  Such a message goes
back to the queue, is taken alone (so it cannot take other mail down with it), and
after ``TAKES`` takes it is kept ``failed`` with why.  Without this a mail that killed
its worker went back to the queue uncounted and took every worker down in turn, for
ever.  On SQLite one process takes mail, so what it finds taken when it starts was taken
by a process that stopped: ``end_leases`` ends those leases at once.
"""

from __future__ import annotations

import logging
import traceback
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from typing import Any, Callable

from sqlalchemy import Connection, and_, bindparam, func, select, update
from sqlalchemy.orm import Session

from handoff.db import SessionFactory
from handoff.guards import Envelope
from handoff.intake import Clock, Outcome, Reading, interpret, read_message
from handoff.models import InboundMessage
from handoff.settings import Settings
from handoff.telemetry import Telemetry
from handoff.wakeups import INBOUND, notify

log = logging.getLogger(__name__)

TAKES = 3  # takes that never finished before a message is kept failed
LEASE = timedelta(minutes=2)  # far longer than reading the biggest mail takes
ABANDONED = (f"taken {TAKES} times and never finished: reading it stopped or hung the "
             "worker each time (see the worker's log for the crash); kept, and "
             "`handoff inbound retry` queues it again")

# a transaction that lost a race with another worker's (a unique key both inserted, a
# deadlock, a serialisation failure): worth one more go, which sees the other's commit
RACES = {"23505", "40P01", "40001"}
TRIES = 3

M = InboundMessage
_TAKEN = (M.id, M.raw, M.mail_from, M.rcpt_tos, M.received_at, M.attempts)

# The statements of a take, built once: SQLAlchemy keeps a compiled statement under its
# cache key, and working that key out for a statement built anew (a subquery, three
# conditions) cost a worker more than the take itself (as intake's _INSERT_INBOUND).
_UNTIL = bindparam("until", type_=M.lease_until.type)
_SET_TAKEN = {"status": "processing", "attempts": M.attempts + 1, "lease_until": _UNTIL}
# PostgreSQL: set_config(..., true) is SET LOCAL in the same round trip: the take's
# commit need not wait for the disk (a take lost in a power cut leaves the message queued)
_TAKE_ONE = (update(M).where(M.id == select(M.id).where(M.status == "queued")
                             .order_by(M.id).limit(1).with_for_update(skip_locked=True)
                             .scalar_subquery())
             .values(_SET_TAKEN)
             .returning(*_TAKEN, func.set_config("synchronous_commit", "off", True)))
_QUEUED = select(*_TAKEN).where(M.status == "queued").order_by(M.id).limit(bindparam("n"))
_TAKE_THESE = (update(M).where(M.id.in_(bindparam("ids", expanding=True)))
               .values(_SET_TAKEN))
_NOW = bindparam("now", type_=M.lease_until.type)
_LAPSED = select(M.id, M.attempts).where(M.status == "processing", M.lease_until <= _NOW)
_LAPSED_LOCKING = _LAPSED.with_for_update(skip_locked=True)  # a locked row is being finished
_OURS = and_(M.id == bindparam("taken_id"), M.status == "processing",
             M.attempts == bindparam("taken_attempts"))  # the take is still this one
_RECORD = update(M).where(_OURS).values(
    status=bindparam("outcome"), kind=bindparam("reading_kind"),
    handoff_id=bindparam("made"), error=bindparam("note"),
    processed_at=bindparam("at", type_=M.processed_at.type), lease_until=None,
    message_id=bindparam("read_id"),
    problems=bindparam("read_problems", type_=M.problems.type))


@dataclass(frozen=True)
class Taken:
    """A message as this worker took it; ``attempts`` counts this take."""

    id: int
    raw: bytes
    mail_from: str
    rcpt_tos: list[str]
    received_at: datetime
    attempts: int


class _NotOurs(Exception):
    """The take was ended (its lease ran out) and the message taken again meanwhile."""


def process_pending(sessions: SessionFactory, settings: Settings, clock: Clock,
                    limit: int = 20, before_each: Callable[[], object] | None = None,
                    telemetry: Telemetry | None = None) -> int:
    """Take and interpret up to ``limit`` queued messages; return how many were taken.

    SQLite: one write transaction takes a batch; each message is then read (parsed)
    outside any transaction and interpreted in its own short write transaction, so a
    failure touches one message and the write lock is never held while parsing.
    ``before_each`` runs before every message (``handoff serve`` gives way to its SMTP
    listener there).  PostgreSQL: ``_process_locked``, for workers in several processes."""
    if sessions.kw["bind"].dialect.name == "postgresql":
        return _process_locked(sessions, settings, clock, limit, telemetry)
    with sessions.begin() as session:
        batch = take(session.connection(), clock(), limit)
    taken = 0
    for message in batch:
        if before_each is not None:
            before_each()
        outcome = _interpret_taken(sessions, settings, message, clock())
        if outcome is not None:
            taken += 1
            if telemetry is not None:  # counted in memory: /metrics reads it
                telemetry.count_interpreted(outcome.status, message.received_at, clock())
    return taken


def _process_locked(sessions: SessionFactory, settings: Settings, clock: Clock,
                    limit: int, telemetry: Telemetry | None) -> int:
    """PostgreSQL: each message is taken by ``FOR UPDATE SKIP LOCKED`` in a short
    transaction of its own, so workers in any number of processes take different
    messages, each read once (a shared batch had every worker parse the same mails and
    then wait on each other's row locks).  The take need not survive a power loss (lost,
    the message is simply queued again), so its commit does not wait for the disk.

    One pooled connection serves the whole pass: a checkout costs a round trip (the
    pool's pre-ping), which was one more per message."""
    taken = 0
    with sessions.kw["bind"].connect() as connection:
        bound = partial(sessions, bind=connection)
        with connection.begin():
            _end_lapsed_takes(connection, clock(), skip_locked=True)
        while taken < limit:
            now = clock()
            with connection.begin():  # Core on the pass's connection: no Session to make
                took = take(connection, now, 1)
            if not took:
                return taken
            taken += 1
            message = took[0]
            outcome = _interpret_taken(bound, settings, message, clock())
            if telemetry is not None and outcome is not None:
                telemetry.count_interpreted(outcome.status, message.received_at, clock())
    return taken


def take(conn: Connection, now: datetime, limit: int) -> list[Taken]:
    """Take up to ``limit`` queued messages, in the caller's transaction on ``conn``.
    PostgreSQL: one, the first no other worker holds (lapsed takes are put back once
    per pass).
    SQLite: lapsed takes put back first, then a batch; but a message taken before (it
    may be what stopped a worker) is taken alone, so a crash on it charges no other
    message a take."""
    if conn.dialect.name == "postgresql":
        row = conn.execute(_TAKE_ONE, {"until": now + LEASE}).first()
        return [] if row is None else [Taken(*row[:len(_TAKEN)])]
    _end_lapsed_takes(conn, now, skip_locked=False)
    rows = conn.execute(_QUEUED, {"n": limit}).all()
    batch: list[Any] = []
    for row in rows:
        if row.attempts and batch:
            break
        batch.append(row)
        if row.attempts:
            break
    if batch:
        conn.execute(_TAKE_THESE, {"ids": [r.id for r in batch], "until": now + LEASE})
    return [Taken(r.id, r.raw, r.mail_from, r.rcpt_tos, r.received_at, r.attempts + 1)
            for r in batch]


def _end_lapsed_takes(conn: Connection, now: datetime, skip_locked: bool) -> None:
    """Messages whose take's lease ran out go back to the queue, or, after ``TAKES``
    takes, are kept failed with why."""
    lapsed = conn.execute(_LAPSED_LOCKING if skip_locked else _LAPSED, {"now": now}).all()
    if not lapsed:
        return
    spent = [i for i, attempts in lapsed if attempts >= TAKES]
    again = [i for i, attempts in lapsed if attempts < TAKES]
    if again:
        log.warning("inbound messages %s: their worker never finished them (it died or "
                    "hung); queued again, to be taken one at a time", again)
        conn.execute(update(M).where(M.id.in_(again)).values(status="queued",
                                                             lease_until=None))
    if spent:
        log.error("inbound messages %s: %s", spent, ABANDONED)
        conn.execute(update(M).where(M.id.in_(spent))
                     .values(status="failed", lease_until=None, error=ABANDONED,
                             processed_at=now))


def end_leases(sessions: SessionFactory, now: datetime) -> int:
    """SQLite, when a process that takes mail starts: every take it finds was made by a
    process that has stopped, so those leases end now (the next pass takes the messages
    again, counting the take).  Not on PostgreSQL, where other workers may be live."""
    if sessions.kw["bind"].dialect.name == "postgresql":
        return 0
    with sessions.begin() as session:
        result = session.execute(update(M).where(M.status == "processing")
                                 .values(lease_until=now))
        return int(result.rowcount)  # type: ignore[attr-defined]


def _interpret_taken(sessions: Callable[[], Session], settings: Settings, message: Taken,
                     now: datetime) -> Outcome | None:
    """Read ``message`` and interpret it in one transaction; None when the take turned
    out not to be ours any more.  A transaction that lost a race with another worker's
    (two copies of one mail, two mails meeting the same new people) is tried again: the
    second copy is then a duplicate, not a failure."""
    try:
        reading = read_message(settings, message.raw,
                               Envelope(message.mail_from, tuple(message.rcpt_tos)),
                               message.received_at)
    except Exception as exc:  # a process boundary: keep the message, show the error
        return _mark_failed(sessions, message, exc, now)
    for attempt in range(TRIES):
        try:
            with sessions() as session, session.begin():
                return _settle(session, settings, message, reading, now)
        except _NotOurs:
            log.info("inbound message %s was taken again after its lease; left to that "
                     "take", message.id)
            return None
        except Exception as exc:
            if _lost_a_race(exc) and attempt + 1 < TRIES:
                log.info("inbound message %s lost a race with another worker (%s); again",
                         message.id, type(exc).__name__)
                continue
            return _mark_failed(sessions, message, exc, now)
    raise AssertionError("unreachable: the last try returns")


def _lost_a_race(exc: Exception) -> bool:
    return getattr(getattr(exc, "orig", None), "sqlstate", None) in RACES


def _settle(session: Session, settings: Settings, message: Taken, reading: Reading,
            now: datetime) -> Outcome:
    """Interpret a taken message and record what became of it, in one transaction; the
    record is the last statement and applies only to this take (else ``_NotOurs``, and
    the transaction rolls back).  Core statements on the session's connection: the ORM's
    bulk-update path costs several times the statement, and no loaded object needs
    syncing."""
    outcome = interpret(session, settings, message.id, reading, now)
    session.flush()
    recorded = session.connection().execute(_RECORD, {
        "taken_id": message.id, "taken_attempts": message.attempts,
        "outcome": outcome.status, "reading_kind": outcome.kind, "made": outcome.handoff_id,
        "note": outcome.note or None, "at": now, "read_id": reading.message.message_id,
        "read_problems": list(reading.message.problems)})
    if not recorded.rowcount:
        raise _NotOurs(message.id)
    return outcome


def _mark_failed(sessions: Callable[[], Session], message: Taken, exc: Exception,
                 now: datetime) -> Outcome:
    log.exception("inbound message %s failed", message.id, exc_info=exc)
    detail = "".join(traceback.format_exception_only(type(exc), exc)).strip()
    with sessions() as session, session.begin():  # only while the take is still ours
        session.execute(update(M).where(_OURS)
                        .values(status="failed", error=detail[:4000], processed_at=now,
                                lease_until=None),
                        {"taken_id": message.id, "taken_attempts": message.attempts})
    return Outcome("failed", "", note=detail)


def retry_failed(sessions: SessionFactory) -> int:
    """Put failed messages back in the queue (``handoff inbound retry``)."""
    with sessions.begin() as session:
        result = session.execute(update(M).where(M.status == "failed")
                                 .values(status="queued"))
        notify(session.connection(), INBOUND)
        return int(result.rowcount)  # type: ignore[attr-defined]

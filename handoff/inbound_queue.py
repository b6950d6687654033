"""The worker step behind the mail door: stored messages (``intake.receive_message``)
taken from the queue, read and interpreted (``intake.read_message``, ``intake.interpret``),
one transaction per message; a message that fails is kept ``failed`` with its error
(``handoff inbound retry`` queues it again), never dropped."""

from __future__ import annotations

import logging
import traceback
from functools import partial
from datetime import datetime
from typing import Callable

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from handoff.db import SessionFactory
from handoff.guards import Envelope
from handoff.intake import Clock, Outcome, Reading, interpret, read_message
from handoff.models import InboundMessage
from handoff.settings import Settings
from handoff.telemetry import Telemetry
from handoff.wakeups import INBOUND, notify

log = logging.getLogger(__name__)


def process_pending(sessions: SessionFactory, settings: Settings, clock: Clock,
                    limit: int = 20, before_each: Callable[[], object] | None = None,
                    telemetry: Telemetry | None = None) -> int:
    """Process up to ``limit`` queued messages; return how many were taken.

    SQLite: one read fetches the batch; each message is then read (parsed) outside any
    transaction and interpreted in its own short write transaction, so a failure touches
    one message and the write lock is never held while parsing.  ``before_each`` runs
    before every message (``handoff serve`` gives way to its SMTP listener there).
    PostgreSQL: ``_process_locked``, for workers in several processes."""
    if sessions.kw["bind"].dialect.name == "postgresql":
        return _process_locked(sessions, settings, clock, limit, telemetry)
    with sessions() as session:
        rows = session.execute(
            select(InboundMessage.id, InboundMessage.raw, InboundMessage.mail_from,
                   InboundMessage.rcpt_tos, InboundMessage.received_at)
            .where(InboundMessage.status == "queued")
            .order_by(InboundMessage.id).limit(limit)).all()
    taken = 0
    for inbound_id, raw, mail_from, rcpt_tos, received_at in rows:
        if before_each is not None:
            before_each()
        envelope = Envelope(mail_from, tuple(rcpt_tos))
        outcome = process_one(sessions, settings, inbound_id, raw, envelope, received_at,
                              clock())
        if outcome is not None:
            taken += 1
            if telemetry is not None:  # counted in memory: /metrics reads it
                telemetry.count_interpreted(outcome.status, received_at, clock())
    return taken


# a transaction that lost a race with another worker's (a unique key both inserted, a
# deadlock, a serialisation failure): worth one more go, which sees the other's commit
RACES = {"23505", "40P01", "40001"}
TRIES = 3


def _process_locked(sessions: SessionFactory, settings: Settings, clock: Clock,
                    limit: int, telemetry: Telemetry | None) -> int:
    """PostgreSQL: each message is taken by ``FOR UPDATE SKIP LOCKED`` in the transaction
    that interprets it.  Workers in any number of processes take different messages,
    each read once (a shared batch had every worker parse the same mails and then wait
    on each other's row locks), and a worker that dies mid-way leaves its message queued:
    the row lock goes with its connection.  Reading while holding a row lock blocks
    nobody else (the SMTP listener only inserts).  A transaction that lost a race with
    another worker's (two copies of one mail, two mails meeting the same new people) is
    tried again: the second copy is then a duplicate, not a failure.

    One pooled connection serves the whole pass: a checkout costs a round trip (the
    pool's pre-ping), which was one more per message."""
    taken = 0
    with sessions.kw["bind"].connect() as connection:
        bound = partial(sessions, bind=connection)
        while taken < limit:
            now = clock()
            done = _take_with_retries(sessions, bound, settings, now)
            if done is None:
                return taken
            taken += 1
            received_at, outcome = done
            if telemetry is not None and outcome is not None:
                telemetry.count_interpreted(outcome.status, received_at, clock())
    return taken


def _take_with_retries(sessions: SessionFactory, bound: Callable[[], Session],
                       settings: Settings, now: datetime
                       ) -> tuple[datetime, Outcome | None] | None:
    """One message taken and interpreted (or marked failed); None when none is queued.
    A message whose second try finds it taken by another worker counts as taken, with
    no outcome of ours."""
    inbound_id: int | None = None
    for attempt in range(TRIES):
        try:
            found = _take_one(bound, settings, now, inbound_id)
        except _Failed as failed:
            inbound_id = failed.inbound_id
            if _lost_a_race(failed) and attempt + 1 < TRIES:
                log.info("inbound message %s lost a race with another worker (%s); again",
                         inbound_id, type(failed.cause).__name__)
                continue
            return now, _mark_failed(sessions, inbound_id, failed, now)
        if found is None:
            return None if inbound_id is None else (now, None)
        return found[1], found[2]
    raise AssertionError("unreachable: the last try returns")


class _Failed(Exception):
    """An error while interpreting a message, with the message's number."""

    def __init__(self, inbound_id: int, cause: Exception) -> None:
        super().__init__(str(cause))
        self.inbound_id, self.cause = inbound_id, cause


def _lost_a_race(exc: Exception) -> bool:
    cause = exc.cause if isinstance(exc, _Failed) else exc
    return getattr(getattr(cause, "orig", None), "sqlstate", None) in RACES


def _take_one(bound: Callable[[], Session], settings: Settings, now: datetime,
              inbound_id: int | None) -> tuple[int, datetime, Outcome] | None:
    """Take the first queued message (or message ``inbound_id``, when trying it again)
    that no other worker holds, and interpret it, in a session on the pass's connection;
    None when there is none."""
    query = (select(InboundMessage.id, InboundMessage.raw, InboundMessage.mail_from,
                    InboundMessage.rcpt_tos, InboundMessage.received_at)
             .where(InboundMessage.status == "queued"))
    if inbound_id is not None:
        query = query.where(InboundMessage.id == inbound_id)
    with bound() as session, session.begin():
        row = session.connection().execute(
            query.order_by(InboundMessage.id).limit(1).with_for_update(skip_locked=True)
        ).first()
        if row is None:
            return None
        taken_id, raw, mail_from, rcpt_tos, received_at = row
        try:
            reading = read_message(settings, raw, Envelope(mail_from, tuple(rcpt_tos)),
                                   received_at)
            return taken_id, received_at, _settle(session, settings, taken_id, reading, now,
                                                  attempt=1)
        except Exception as exc:
            raise _Failed(taken_id, exc) from exc


def process_one(sessions: SessionFactory, settings: Settings, inbound_id: int, raw: bytes,
                envelope: Envelope, received_at: datetime, now: datetime) -> Outcome | None:
    """Claim and interpret one stored message in a single transaction: a crash anywhere
    rolls back to ``queued``; a competing worker's claim finds the row taken (None)."""
    try:
        reading = read_message(settings, raw, envelope, received_at)  # CPU: before the lock
        with sessions.begin() as session:
            claimed = session.connection().execute(
                update(InboundMessage)
                .where(InboundMessage.id == inbound_id, InboundMessage.status == "queued")
                .values(status="processing", attempts=InboundMessage.attempts + 1))
            if not claimed.rowcount:
                return None
            return _settle(session, settings, inbound_id, reading, now)
    except Exception as exc:  # a process boundary: keep the message, show the error
        return _mark_failed(sessions, inbound_id, exc, now)


def _settle(session: Session, settings: Settings, inbound_id: int, reading: Reading,
            now: datetime, attempt: int = 0) -> Outcome:
    """Interpret a claimed message and record what became of it, in the claim's
    transaction (``attempt``: 1 where the claim did not count the attempt).  Core statements on the session's connection: the ORM's bulk-update
    path costs several times the statement, and no loaded object needs syncing."""
    outcome = interpret(session, settings, inbound_id, reading, now)
    session.flush()
    session.connection().execute(
        update(InboundMessage).where(InboundMessage.id == inbound_id)
        .values(status=outcome.status, kind=outcome.kind, handoff_id=outcome.handoff_id,
                error=outcome.note or None, processed_at=now,
                attempts=InboundMessage.attempts + attempt,
                message_id=reading.message.message_id,
                problems=list(reading.message.problems)))
    return outcome


def _mark_failed(sessions: SessionFactory, inbound_id: int, exc: Exception,
                 now: datetime) -> Outcome:
    if isinstance(exc, _Failed):
        exc = exc.cause
    log.exception("inbound message %s failed", inbound_id, exc_info=exc)
    detail = "".join(traceback.format_exception_only(type(exc), exc)).strip()
    with sessions.begin() as session:  # unless another worker took it meanwhile and got on
        session.execute(update(InboundMessage)
                        .where(InboundMessage.id == inbound_id,
                               InboundMessage.status.in_(("queued", "processing")))
                        .values(status="failed", error=detail[:4000], processed_at=now))
    return Outcome("failed", "", note=detail)


def retry_failed(sessions: SessionFactory) -> int:
    """Put failed messages back in the queue (``handoff inbound retry``)."""
    with sessions.begin() as session:
        result = session.execute(update(InboundMessage)
                                 .where(InboundMessage.status == "failed")
                                 .values(status="queued"))
        notify(session.connection(), INBOUND)
        return int(result.rowcount)  # type: ignore[attr-defined]

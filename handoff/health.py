"""What ``/healthz`` says of one process (issue 12): what it is, whether its parts are
up, and whether the queues it feeds or empties are moving.  No Flask here; ``web/health``
serves it, on the status page's port or, for ``handoff smtp``/``worker``/``imap``, on
``HANDOFF_HEALTH_PORT``.

A queue is **moving** when nothing in it waits, when its oldest item is younger than
``STUCK_AFTER``, or when this process took an item from it within ``STUCK_AFTER`` (a
backlog being worked through).  Otherwise it is **stuck**, and a process whose job is
to empty it (a worker, serve) answers 503 so that a supervisor or load balancer acts; a
process that only fills it (smtp, imap) still answers 200 and says the queue is stuck,
since restarting the listener would not help.
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Callable, Iterable

from sqlalchemy import func, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from handoff.db import SessionFactory
from handoff.models import InboundMessage, OutboxMail

STUCK_AFTER = timedelta(minutes=5)


@dataclass(frozen=True)
class QueueState:
    name: str  # "inbound" (stored mail to interpret) or "outbox" (mail due to send)
    waiting: int
    oldest: float  # seconds the oldest has waited; 0 when none
    moving: bool
    empties: bool  # this process takes items from it (else it only fills it)

    def words(self) -> str:
        if not self.waiting:
            return f"{self.name} queue: empty"
        state = "moving" if self.moving else "STUCK"
        return (f"{self.name} queue: {self.waiting} waiting, oldest {self.oldest:.0f} s: "
                f"{state}")


@dataclass
class ProcessHealth:
    kind: str  # serve | smtp | web | worker | imap
    parts: dict[str, bool]
    queues: list[QueueState] | None = field(default_factory=list)  # None: unreadable
    notes: dict[str, bool] = field(default_factory=dict)  # shown, not required (wakeups)

    @property
    def ok(self) -> bool:
        if self.queues is None:
            return False
        return all(self.parts.values()) and all(q.moving for q in self.queues if q.empties)

    @property
    def head(self) -> str:
        """The first line: ``ok``, ``starting`` (a part not up yet) or ``stuck``."""
        return "ok" if self.ok else ("starting" if not all(self.parts.values())
                                     or self.queues is None else "stuck")

    def text(self) -> str:
        lines = [self.head, f"process: {self.kind} (pid {os.getpid()} on {socket.gethostname()})"]
        lines += [f"{k}: {'up' if v else 'down'}" for k, v in
                  {**self.parts, **self.notes}.items()]
        lines += ["queues: could not be read"] if self.queues is None else \
            [q.words() for q in self.queues]
        return "\n".join(lines) + "\n"


def waiting_inbound(session: Session) -> tuple[int, datetime | None]:
    """Stored messages not yet interpreted (queued, or taken by a worker and not yet
    finished: a hung worker's take is mail still waiting), and when the oldest arrived."""
    count, oldest = session.execute(
        select(func.count(), func.min(InboundMessage.received_at))
        .where(InboundMessage.status.in_(("queued", "processing")))).one()
    return int(count), oldest


def due_outbox(session: Session, now: datetime) -> tuple[int, datetime | None]:
    """Mails due to be sent now, as the sender picks them (queued, or a claim whose lease
    ran out; not those waiting out a retry), and since when the longest-due one is due."""
    count, oldest = session.execute(
        select(func.count(), func.min(OutboxMail.next_attempt_at))
        .where(OutboxMail.status.in_(("queued", "sending")),
               OutboxMail.next_attempt_at <= now)).one()
    return int(count), oldest


def queue_states(sessions: SessionFactory, now: datetime, progress: dict[str, float | None],
                 fills: Iterable[str], since: Callable[[float], float]
                 ) -> list[QueueState] | None:
    """The inbound and outbox queues as this process sees them (None if they could not
    be read).  ``progress``: queue ->
    when (monotonic) this process last took an item from it, for the queues it empties;
    ``fills``: the queues it only fills; ``since(t)``: seconds from monotonic ``t``."""
    wanted = set(progress) | set(fills)
    out: list[QueueState] = []
    try:
        with sessions() as session:
            counts = {}
            if "inbound" in wanted:
                counts["inbound"] = waiting_inbound(session)
            if "outbox" in wanted:
                counts["outbox"] = due_outbox(session, now)
    except SQLAlchemyError:
        return None  # unreadable: not "ok" (a statement timeout, a lock held for long)
    for name in ("inbound", "outbox"):
        if name not in counts:
            continue
        waiting, oldest_at = counts[name]
        oldest = max(0.0, (now - oldest_at).total_seconds()) if oldest_at else 0.0
        last = progress.get(name)
        recent = last is not None and since(last) < STUCK_AFTER.total_seconds()
        moving = not waiting or oldest < STUCK_AFTER.total_seconds() or recent
        out.append(QueueState(name, waiting, oldest, moving, name in progress))
    return out

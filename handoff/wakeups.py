"""Waking workers in other processes (issue 12): on PostgreSQL, a transaction that
stores a message or queues a mail sends ``NOTIFY``, and every worker process holds one
connection that ``LISTEN``s and wakes its loop at once.  Without it a split deployment
(``handoff smtp`` + ``handoff worker``) waited for the next poll (``HANDOFF_WORKER_POLL``,
half a second) on every mail.  In one process (serve, SQLite) the loops are woken
directly, and these are no-ops.

PostgreSQL sends a notification at commit and folds identical ones in a transaction, so
a burst costs one wake per transaction; a listener that lost its connection wakes every
loop once it is back (it may have missed some), then listens again.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from sqlalchemy import Connection, event, make_url, text
from sqlalchemy.orm import Session

log = logging.getLogger(__name__)

INBOUND = "handoff_inbound"  # a message was stored: the inbound workers
OUTBOX = "handoff_outbox"  # a mail was queued: the senders
_PENDING = "handoff_wakeups"


def notify(conn: Connection, channel: str) -> None:
    """Wake ``channel``'s listeners when ``conn``'s transaction commits."""
    if conn.dialect.name == "postgresql":
        conn.execute(text(f"NOTIFY {channel}"))


_here = threading.local()


def quiet_here(*channels: str) -> None:
    """This thread wakes ``channels``' loops itself (a worker's inbound loop and chaser
    wake their own process's sender after each step): no ``NOTIFY`` for them.  A commit
    that notifies takes a lock PostgreSQL holds until the commit is on disk, so such
    commits go one at a time; and every worker's sender woke for every mail."""
    _here.quiet = frozenset(channels)


def notify_on_commit(session: Session, channel: str) -> None:
    """The same for an ORM session: one ``NOTIFY`` per channel, just before it commits."""
    if channel not in getattr(_here, "quiet", ()):
        session.info.setdefault(_PENDING, set()).add(channel)


@event.listens_for(Session, "before_commit")
def _send_pending(session: Session) -> None:
    channels = session.info.pop(_PENDING, None)
    if channels and session.get_bind().dialect.name == "postgresql":
        for channel in sorted(channels):
            session.execute(text(f"NOTIFY {channel}"))


@event.listens_for(Session, "after_rollback")
def _drop_pending(session: Session) -> None:
    if not session.in_transaction():  # a savepoint's rollback keeps the outer's wakes
        session.info.pop(_PENDING, None)


class Listener:
    """A thread with its own PostgreSQL connection, listening on the channels of
    ``wakes`` and setting the matching event for each notification."""

    def __init__(self, database_url: str, wakes: dict[str, threading.Event]) -> None:
        url = make_url(database_url).set(drivername="postgresql")
        self.dsn = url.render_as_string(hide_password=False)
        self.wakes = wakes
        self.stopping = threading.Event()
        self.listening = False
        self.thread = threading.Thread(target=self._run, name="wakeups", daemon=True)

    def start(self) -> "Listener":
        self.thread.start()
        return self

    def stop(self) -> None:
        self.stopping.set()
        self.thread.join(5)

    def _run(self) -> None:
        import psycopg

        backoff = 1.0
        while not self.stopping.is_set():
            try:
                with psycopg.connect(self.dsn, autocommit=True) as conn:
                    for channel in self.wakes:
                        conn.execute(f"LISTEN {channel}")  # type: ignore[arg-type]
                    self.listening, backoff = True, 1.0
                    self._wake_all()  # whatever came while we were not listening
                    while not self.stopping.is_set():
                        for note in conn.notifies(timeout=1.0):
                            self._wake(note.channel)
            except Exception as exc:  # a process boundary: log, listen again later
                log.warning("wakeups: %s; listening again in %.0f s", exc, backoff)
            self.listening = False
            self.stopping.wait(backoff)
            backoff = min(backoff * 2, 60.0)

    def _wake(self, channel: str) -> None:
        wake = self.wakes.get(channel)
        if wake is not None:
            wake.set()

    def _wake_all(self) -> None:
        for wake in self.wakes.values():
            wake.set()


def wake_listeners(database_url: str, wakes: dict[str, threading.Event]) -> Any:
    """A started :class:`Listener` on PostgreSQL; None elsewhere."""
    if make_url(database_url).get_backend_name() != "postgresql":
        return None
    return Listener(database_url, wakes).start()

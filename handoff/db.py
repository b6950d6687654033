"""Engine and session factory.  SQLite gets WAL, foreign keys and a busy timeout so the
SMTP listener, the workers and the web app can share one file, and synchronous=FULL so
a commit is on disk before the listener answers 250; PostgreSQL needs nothing (it
fsyncs its WAL at commit by default)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping, cast

from sqlalchemy import Engine, Table, create_engine, event
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import QueuePool

SessionFactory = sessionmaker[Session]


def make_engine(url: str, **kwargs: Any) -> Engine:
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        # One connection per process: every transaction takes SQLite's write lock anyway
        # (BEGIN IMMEDIATE below), so a single pooled connection loses no concurrency and
        # makes threads queue fairly on the pool instead of in SQLite's busy handler,
        # which sleeps in steps of up to 100 ms and starves the SMTP listener under load.
        kwargs.setdefault("poolclass", QueuePool)
        kwargs.setdefault("pool_size", 1)
        kwargs.setdefault("max_overflow", 0)
        kwargs.setdefault("pool_timeout", 60)
        engine = create_engine(
            url, connect_args={"timeout": 30, "check_same_thread": False}, **kwargs
        )
        event.listen(engine, "connect", _sqlite_pragmas)
        # Every transaction takes the write lock at BEGIN: in WAL mode a deferred
        # transaction that reads and then writes fails at once with "database is locked"
        # when another writer committed in between; BEGIN IMMEDIATE waits instead.
        event.listen(engine, "begin", lambda conn: conn.exec_driver_sql("BEGIN IMMEDIATE"))
        return engine
    return create_engine(url, pool_pre_ping=True, **kwargs)


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    dbapi_conn.isolation_level = None  # we issue BEGIN ourselves (see make_engine)
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    # FULL: the WAL is fsynced at every commit, so a 250 (given after the commit) survives
    # a power loss, as Postfix promises.  NORMAL syncs only at checkpoints: a power loss
    # or an OS crash could undo commits of mail we had already accepted.  Group commit
    # (InboundHandler.store in mailer/smtp_server.py) shares one fsync among many mails.
    cur.execute("PRAGMA synchronous=FULL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.close()


def make_session_factory(engine: Engine) -> SessionFactory:
    return sessionmaker(engine, expire_on_commit=False)


# one INSERT object per model, as intake's _INSERT_INBOUND: its cache key (under which
# SQLAlchemy keeps the compiled statement) is worked out once, not per row
_INSERTS: dict[type[Any], Any] = {}


def append_row(session: Session, model: type[Any], values: Mapping[str, Any],
               *, returning_id: bool = False) -> int | None:
    """Insert one row of a model's table that the service only ever appends to (the
    timeline, the outbox, thread references, webhook events) by a plain statement in the
    session's transaction; with ``returning_id``, return its number.

    The ORM's unit of work costs several times the INSERT itself (a worker spent a
    fifth of its time flushing a new handoff's few rows), and nothing reads these rows
    back as objects in the transaction that writes them.  Objects the row may point to
    and that are still only in the session (a new handoff) are flushed first."""
    if session.new:
        session.flush()
    statement = _INSERTS.get(model)
    if statement is None:
        statement = _INSERTS[model] = cast(Table, model.__table__).insert()
    result = session.connection().execute(statement, dict(values))
    if not returning_id:
        return None
    key = result.inserted_primary_key
    assert key is not None
    return int(key[0])

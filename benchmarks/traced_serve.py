"""``handoff serve`` with its SQLite write lock timed, for ``--diagnose`` only.

Runs the real ``handoff.cli.main`` in this process after wrapping (at run time, no file of
handoff is changed) the engine it builds: how long each thread waits in ``BEGIN IMMEDIATE``
(every transaction of handoff takes the write lock there, see ``handoff/db.py``) and how
long it then holds the lock until COMMIT or ROLLBACK, and how long it waits for a
connection from the engine's pool.  Writes JSON to ``$BENCH_LOCKTRACE``
at exit.  The headline figures never come from this process.
"""

from __future__ import annotations

import atexit
import json
import os
import sys
import threading
import time
from typing import Any

import handoff.cli as cli
import handoff.db as db
from sqlalchemy.engine import Connection

_lock = threading.Lock()
_local = threading.local()
waits: dict[str, list[float]] = {}  # in BEGIN IMMEDIATE
holds: dict[str, list[float]] = {}  # BEGIN IMMEDIATE done -> COMMIT/ROLLBACK done
pool_waits: dict[str, list[float]] = {}  # asking the pool for a connection -> getting it


def _who() -> str:
    name = threading.current_thread().name
    # asyncio.to_thread workers are the SMTP listener's receive_message calls
    return "smtp (receive_message)" if name.startswith("asyncio") else name


def _note(table: dict[str, list[float]], value: float) -> None:
    with _lock:
        table.setdefault(_who(), []).append(value)


_orig_exec = Connection.exec_driver_sql


def _exec_driver_sql(self: Connection, statement: Any, *args: Any, **kwargs: Any) -> Any:
    if statement != "BEGIN IMMEDIATE":
        return _orig_exec(self, statement, *args, **kwargs)
    t = time.perf_counter()
    try:
        return _orig_exec(self, statement, *args, **kwargs)
    finally:
        now = time.perf_counter()
        _note(waits, now - t)
        _local.acquired = now


def _released() -> None:
    acquired = getattr(_local, "acquired", None)
    if acquired is not None:
        _note(holds, time.perf_counter() - acquired)
        _local.acquired = None


_orig_make_engine = db.make_engine


def _make_engine(url: str, **kwargs: Any) -> Any:
    engine = _orig_make_engine(url, **kwargs)
    dialect = engine.dialect
    commit, rollback = dialect.do_commit, dialect.do_rollback

    def do_commit(dbapi_conn: Any) -> None:
        try:
            commit(dbapi_conn)
        finally:
            _released()

    def do_rollback(dbapi_conn: Any) -> None:
        try:
            rollback(dbapi_conn)
        finally:
            _released()

    dialect.do_commit = do_commit  # type: ignore[method-assign,assignment]
    dialect.do_rollback = do_rollback  # type: ignore[method-assign,assignment]

    pool = engine.pool
    checkout = pool.connect

    def connect() -> Any:
        t = time.perf_counter()
        try:
            return checkout()
        finally:
            _note(pool_waits, time.perf_counter() - t)

    pool.connect = connect  # type: ignore[method-assign]
    return engine


def _dump() -> None:
    path = os.environ.get("BENCH_LOCKTRACE")
    if not path:
        return
    with _lock:
        data = {"waits": waits, "holds": holds, "pool_waits": pool_waits}
    with open(path, "w") as fh:
        json.dump(data, fh)


Connection.exec_driver_sql = _exec_driver_sql  # type: ignore[method-assign,assignment]
cli.make_engine = _make_engine  # type: ignore[assignment]
atexit.register(_dump)

if __name__ == "__main__":
    sys.exit(cli.main(sys.argv[1:] or ["serve"]))

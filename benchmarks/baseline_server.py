"""The baseline: a bare aiosmtpd server that only commits each message to SQLite.

Run as its own process (``python -m benchmarks.baseline_server --port P --db FILE``) so it
has its own GIL, as ``handoff serve`` does.  One INSERT of the raw bytes and the envelope
per message (WAL, synchronous=FULL, one commit per message, from a worker thread via
``asyncio.to_thread``), then ``250``.  Prints ``ready <port>`` once it listens.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import sqlite3
import threading
import time
from typing import Any

from aiosmtpd.smtp import SMTP

SCHEMA = """CREATE TABLE IF NOT EXISTS inbound (
    id INTEGER PRIMARY KEY,
    received_at REAL NOT NULL,
    mail_from TEXT NOT NULL,
    rcpt_tos TEXT NOT NULL,
    raw BLOB NOT NULL
)"""


class Store:
    """One SQLite connection per worker thread, like a connection pool would give."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.local = threading.local()
        self.conn().execute(SCHEMA)

    def conn(self) -> sqlite3.Connection:
        conn = getattr(self.local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.path, timeout=30, isolation_level=None)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=FULL")  # as handoff.db: fsync before 250
            conn.execute("PRAGMA busy_timeout=30000")
            self.local.conn = conn
        return conn

    def insert(self, raw: bytes, mail_from: str, rcpt_tos: list[str]) -> int:
        conn = self.conn()
        conn.execute("BEGIN IMMEDIATE")
        try:
            cur = conn.execute(
                "INSERT INTO inbound (received_at, mail_from, rcpt_tos, raw) VALUES (?,?,?,?)",
                (time.time(), mail_from, json.dumps(rcpt_tos), raw))
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        return int(cur.lastrowid or 0)


class Handler:
    def __init__(self, store: Store) -> None:
        self.store = store

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        raw = envelope.original_content or envelope.content or b""
        if isinstance(raw, str):
            raw = raw.encode("utf-8", "surrogateescape")
        try:
            row = await asyncio.to_thread(self.store.insert, bytes(raw),
                                          envelope.mail_from or "", list(envelope.rcpt_tos))
        except Exception:
            return "451 4.3.0 Could not store the message; try again later"
        return f"250 2.0.0 Ok: queued as {row}"


async def serve(host: str, port: int, db: str) -> None:
    store = Store(db)
    handler = Handler(store)
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: SMTP(handler, data_size_limit=25 * 1024 * 1024, enable_SMTPUTF8=True,
                     decode_data=False, hostname="baseline", ident="baseline ESMTP"),
        host, port)
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    print(f"ready {server.sockets[0].getsockname()[1]}", flush=True)
    await stop.wait()
    server.close()
    await server.wait_closed()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--db", required=True)
    args = parser.parse_args()
    asyncio.run(serve(args.host, args.port, args.db))


if __name__ == "__main__":
    main()

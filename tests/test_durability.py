"""A 250 survives a power loss (issue 10, point 6): SQLite commits with synchronous=FULL,
so the WAL is fsynced before the listener answers, as Postfix promises.

These tests use their own SQLite file whatever the backend under test: PostgreSQL
fsyncs its WAL at commit by default and has no such pragma."""

from __future__ import annotations

import smtplib
from pathlib import Path

from sqlalchemy import Engine, select

from handoff.cli import Service
from handoff.db import make_engine
from handoff.models import InboundMessage
from tests.conftest import SERVICE, handoff_mail, make_settings

FULL = 2  # PRAGMA synchronous: 0 OFF, 1 NORMAL, 2 FULL, 3 EXTRA


def synchronous_of(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.exec_driver_sql("PRAGMA synchronous").scalar_one())


def test_every_sqlite_connection_of_the_engine_syncs_each_commit(tmp_path: Path):
    """make_engine sets synchronous=FULL on each connection it opens, in WAL mode."""
    engine = make_engine(f"sqlite:///{tmp_path / 'var' / 'handoff.db'}")
    try:
        assert synchronous_of(engine) == FULL
        with engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar_one() == "wal"
        engine.dispose()  # the pool's next connection is a new one: set up the same way
        assert synchronous_of(engine) == FULL
    finally:
        engine.dispose()


def test_the_smtp_listener_commits_with_full_sync_before_its_250(tmp_path: Path):
    """The connection the listener's handler stored the mail through syncs each commit."""
    settings = make_settings(tmp_path, database_url=f"sqlite:///{tmp_path / 'durable.db'}")
    service = Service(settings, web=False, workers=False).start()
    try:
        with smtplib.SMTP("127.0.0.1", service.smtp.port) as client:
            client.ehlo()
            client.mail("ana@corp.test")
            client.rcpt(SERVICE)
            code, reply = client.data(handoff_mail().as_bytes())
        assert code == 250 and b"queued as" in reply
        with service.smtp.handler.sessions() as session:
            assert session.scalar(select(InboundMessage.id)) is not None
            assert session.connection().exec_driver_sql(
                "PRAGMA synchronous").scalar_one() == FULL
    finally:
        service.stop()

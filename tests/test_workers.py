"""Several worker processes on one PostgreSQL (issue 12): `handoff smtp` takes the mail,
four `handoff worker` processes race for it; every mail becomes one handoff, its offer
and its receipt reach the smarthost exactly once, and each stored message was taken
once.  Real processes, a real SMTP client, a real smarthost, a real PostgreSQL."""

from __future__ import annotations

import signal
import smtplib
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path
from typing import Any, Iterator

import pytest
from sqlalchemy import func, select, text

from handoff.addresses import ServiceAddresses
from handoff.db import make_engine, make_session_factory
from handoff.migrate import upgrade_database
from handoff.models import Handoff, HandoffCount, InboundMessage, OutboxMail
from handoff.outbox import queue_mail
from handoff.settings import load_settings
from tests.conftest import BACKEND, SERVICE, Sink, free_port, process_env

pytestmark = pytest.mark.skipif(
    BACKEND != "postgresql",
    reason="worker processes sharing one database: PostgreSQL (SQLite has one writer)")

MAILS = 80
WORKERS = 4


class Processes:
    """`handoff <kind>` processes with one environment, stopped together."""

    def __init__(self, tmp_path: Path, database_url: str, smarthost: int) -> None:
        self.tmp_path = tmp_path
        self.smtp_port = free_port()
        self.env = process_env(tmp_path, database_url, SMTP_PORT=str(self.smtp_port),
                               SMARTHOST=f"127.0.0.1:{smarthost}")
        self.running: list[tuple[str, subprocess.Popen[bytes], Path]] = []

    def start(self, kind: str, n: int = 0) -> None:
        log = self.tmp_path / f"{kind}-{n}.log"
        process = subprocess.Popen([sys.executable, "-m", "handoff", kind], env=self.env,
                                   cwd=self.tmp_path, stdout=log.open("wb"),
                                   stderr=subprocess.STDOUT)
        self.running.append((kind, process, log))

    def wait_listening(self, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                with smtplib.SMTP("127.0.0.1", self.smtp_port, timeout=2) as conn:
                    if conn.noop()[0] == 250:
                        return
            except (smtplib.SMTPException, OSError):
                time.sleep(0.05)  # poll for the listener, not a stand-in for readiness
        raise AssertionError("handoff smtp did not listen:\n" + self.logs())

    def logs(self) -> str:
        return "\n".join(f"--- {log.name}\n{log.read_text(errors='replace')[-3000:]}"
                         for _, _, log in self.running)

    def stop(self) -> None:
        for _, process, _ in self.running:
            process.send_signal(signal.SIGTERM)
        for _, process, _ in self.running:
            try:
                process.wait(20)
            except subprocess.TimeoutExpired:
                process.kill()


@pytest.fixture
def processes(tmp_path: Path, database_url: str, sink: Sink) -> Iterator[Processes]:
    procs = Processes(tmp_path, database_url, sink.port)
    yield procs
    procs.stop()


def _mail(n: int) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = f"Ana {n} <ana{n % 7}@corp.test>"
    msg["To"] = f"Bob {n} <bob{n % 5}@corp.test>"
    msg["Cc"] = SERVICE
    msg["Subject"] = f"Renew the certificate on host {n}"
    msg["Message-ID"] = f"<race-{n}@corp.test>"
    # written now and with no deadline: these processes chase on the real clock, and a
    # deadline already passed had them nudge owner and sender on weekdays after 09:00,
    # mails this test would count as sent twice
    msg["Date"] = format_datetime(datetime.now(timezone.utc))
    msg.set_content(f"Bob, please renew the certificate on host {n}.\n\n"
                    "Done when: the new certificate is live.\n\nThanks, Ana\n")
    return msg


def _send(port: int, mails: list[EmailMessage]) -> None:
    with smtplib.SMTP("127.0.0.1", port, timeout=30) as conn:
        for msg in mails:
            conn.send_message(msg, to_addrs=[msg["To"].addresses[0].addr_spec, SERVICE])


def test_four_worker_processes_share_the_queue_and_nothing_is_lost_doubled_or_sent_twice(
        processes: Processes, database_url: str, sink: Sink) -> None:
    processes.start("smtp")
    processes.wait_listening()
    for n in range(WORKERS):
        processes.start("worker", n)
    mails = [_mail(n) for n in range(MAILS)]
    with ThreadPoolExecutor(4) as pool:  # four SMTP clients at once
        list(pool.map(lambda k: _send(processes.smtp_port, mails[k::4]), range(4)))

    received = sink.wait_for(2 * MAILS, timeout=90)  # an offer and a receipt each
    by_reply = Counter((r.message["In-Reply-To"], tuple(r.rcpt_tos)) for r in received)
    for n, msg in enumerate(mails):
        owner, sender = msg["To"].addresses[0].addr_spec, msg["From"].addresses[0].addr_spec
        assert by_reply[(msg["Message-ID"], (owner,))] == 1, f"offer of mail {n}"
        assert by_reply[(msg["Message-ID"], (sender,))] == 1, f"receipt of mail {n}"
    assert len(received) == 2 * MAILS, "nothing else, nothing twice"

    engine = make_engine(database_url)
    try:
        with make_session_factory(engine)() as session:
            statuses = Counter(session.scalars(select(InboundMessage.status)))
            attempts = Counter(session.scalars(select(InboundMessage.attempts)))
            handoffs = session.scalar(select(func.count()).select_from(Handoff))
            origins = session.scalar(select(func.count(func.distinct(
                Handoff.origin_message_id))))
            outbox = Counter(session.scalars(select(OutboxMail.status)))
            counted = session.scalar(select(func.sum(HandoffCount.n)))  # the trigger's count
    finally:
        engine.dispose()
    assert statuses == {"done": MAILS}, processes.logs()
    assert attempts == {1: MAILS}, "each stored message was taken once"
    assert handoffs == origins == counted == MAILS
    assert outbox == {"sent": 2 * MAILS}
    problems = [line for line in processes.logs().splitlines()
                if " ERROR " in line or line.startswith("Traceback")]
    assert not problems, processes.logs()


def test_a_worker_that_polls_once_an_hour_is_woken_by_the_listeners_commit(
        processes: Processes, database_url: str, sink: Sink) -> None:
    """`handoff worker` with HANDOFF_WORKER_POLL=3600: only PostgreSQL's NOTIFY can wake
    it, for the mail `handoff smtp` stores and for a mail another process queues."""
    health = free_port()
    processes.env.update(HANDOFF_WORKER_POLL="3600")
    processes.start("smtp")
    processes.wait_listening()
    processes.env.update(HANDOFF_HEALTH_PORT=str(health))
    processes.start("worker")
    deadline = time.monotonic() + 30
    while "wakeups: up" not in _health(health):
        assert time.monotonic() < deadline, processes.logs()
        time.sleep(0.05)  # poll for the listener, not a stand-in for readiness
    _send(processes.smtp_port, [_mail(1)])
    [offer, receipt] = sink.wait_for(2, timeout=30)  # the inbound wake, then its own
    assert {offer.rcpt_tos[0], receipt.rcpt_tos[0]} == {"bob1@corp.test", "ana1@corp.test"}

    engine = make_engine(database_url)  # another process queues a mail: the outbox wake
    try:
        with make_session_factory(engine).begin() as session:
            handoff = session.scalars(select(Handoff)).one()
            queue_mail(session, ServiceAddresses(load_settings(processes.env)), handoff,
                       "offer", handoff.owner, datetime.now(timezone.utc))
    finally:
        engine.dispose()
    third = sink.wait_for(3, timeout=30)[2]
    assert third.rcpt_tos == ["bob1@corp.test"]


def _health(port: int) -> str:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as page:
            return page.read().decode()
    except urllib.error.HTTPError as refused:
        return refused.read().decode()
    except OSError:
        return ""


def test_processes_starting_together_on_an_empty_database_migrate_it_once(
        postgres: Any) -> None:
    """A split deployment's units start at once against a new database: each runs the
    migrations at start; they take turns, and all come up."""
    from tests.pg import PostgresServer

    url = postgres.rsplit("/", 1)[0] + "/fresh_start"
    PostgresServer._admin(postgres, "DROP DATABASE IF EXISTS fresh_start WITH (FORCE)",
                          "CREATE DATABASE fresh_start")
    # a lock wait that never ends fails the test instead of hanging it (what happened
    # without the migration lock: the units' DDL waited on each other)
    engines = [make_engine(url, connect_args={"options": "-c lock_timeout=20s"})
               for _ in range(4)]
    try:
        with ThreadPoolExecutor(4) as pool:
            list(pool.map(upgrade_database, engines))  # raises if any failed
        with engines[0].connect() as conn:
            assert conn.execute(text("SELECT count(*) FROM alembic_version")).scalar() == 1
    finally:
        for engine in engines:
            engine.dispose()
        PostgresServer.drop(postgres, url)

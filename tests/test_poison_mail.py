"""A mail whose reading kills its worker (issue 12, what an SRE expects of a queue): the
worker is a real `handoff worker` process, and it really dies, at the worst moment, in
the middle of reading the mail, as a crash in a C library or the kernel's OOM killer
would kill it.  Restarted (as systemd would), it takes the mail again, counting each
take; after three takes that never finished the mail is kept failed, with why, and the
mail queued behind it goes on: its offer and receipt go out, once.  Without the count,
the mail went back to the queue untouched and killed every worker that took it, for
ever, while the rest of the queue waited behind it."""

from __future__ import annotations

import signal
import subprocess
import sys
from datetime import datetime, timezone
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path

from sqlalchemy import select, update

from handoff.inbound_queue import TAKES
from handoff.intake import receive_message
from handoff.models import Handoff, InboundMessage, OutboxMail
from tests.conftest import (BACKEND, SERVICE, Sink, free_port, handoff_mail, process_env,
                            wait_until)

DIES = 70  # the exit status of a worker killed by the poison mail
# a `handoff worker` whose reading of a marked mail ends the process on the spot
DYING_WORKER = f"""
import os, sys
import handoff.inbound_queue as queue
read_message = queue.read_message
def read(settings, raw, *args, **kwargs):
    if b"X-Test-Poison: yes" in raw:
        os._exit({DIES})
    return read_message(settings, raw, *args, **kwargs)
queue.read_message = read
from handoff.cli import main
sys.exit(main(["worker"]))
"""


def _worker(tmp_path: Path, database_url: str, smarthost: int, run: int
            ) -> subprocess.Popen[bytes]:
    env = process_env(tmp_path, database_url, SMARTHOST=f"127.0.0.1:{smarthost}",
                      HEALTH_PORT=str(free_port()))
    log = (tmp_path / f"worker-{run}.log").open("wb")
    return subprocess.Popen([sys.executable, "-c", DYING_WORKER], env=env, cwd=tmp_path,
                            stdout=log, stderr=subprocess.STDOUT)


def _all_sent(sessions) -> bool:
    with sessions() as session:
        return set(session.scalars(select(OutboxMail.status))) == {"sent"}


def _mail(message_id: str, subject: str) -> EmailMessage:
    """Written now, with no deadline: the worker chases on the real clock, and a deadline
    already passed would have it nudge owner and sender, mails this test counts."""
    return handoff_mail(message_id=message_id, subject=subject,
                        date=format_datetime(datetime.now(timezone.utc)),
                        body="Hi Bob,\n\nplease take this over.\n\nDone when: it is done\n")


def test_a_mail_that_kills_its_worker_is_kept_failed_after_three_takes_and_the_rest_goes_on(
        tmp_path: Path, database_url: str, sessions, clock, sink: Sink) -> None:
    poison = _mail("<poison@corp.test>", "Rotate the keys")
    poison["X-Test-Poison"] = "yes"
    ids = [receive_message(sessions, mail.as_bytes(), mail_from="ana@corp.test",
                           rcpt_tos=[SERVICE], source="smtp", now=clock())
           for mail in (poison, _mail("<next-1@corp.test>", "Renew the TLS"),
                        _mail("<next-2@corp.test>", "Pay the bill"))]
    deaths = 0
    for run in range(TAKES + 1):
        worker = _worker(tmp_path, database_url, sink.port, run)
        try:
            status = worker.wait(60) if run < TAKES else None
        finally:
            if run == TAKES:  # the fourth start must live on and get the rest out
                try:
                    sink.wait_for(4, timeout=60)
                    wait_until(lambda: _all_sent(sessions), timeout=30)
                finally:
                    worker.send_signal(signal.SIGTERM)
                    worker.wait(20)
        if run < TAKES:
            assert status == DIES, (tmp_path / f"worker-{run}.log").read_text()
            deaths += 1
            if BACKEND == "postgresql":  # other workers may be alive: the lease must
                with sessions.begin() as session:  # run out (SQLite ends it at start)
                    session.execute(update(InboundMessage)
                                    .where(InboundMessage.status == "processing")
                                    .values(lease_until=clock()))
    assert deaths == TAKES
    with sessions() as session:
        rows = {r.id: r for r in session.scalars(select(InboundMessage))}
        titles = sorted(session.scalars(select(Handoff.title)))
        sent = list(session.scalars(select(OutboxMail.status)))
    assert rows[ids[0]].status == "failed" and rows[ids[0]].attempts == TAKES
    assert f"taken {TAKES} times and never finished" in (rows[ids[0]].error or "")
    assert [rows[i].status for i in ids[1:]] == ["done", "done"]
    assert titles == ["Pay the bill", "Renew the TLS"]
    assert sent == ["sent"] * 4 and len(sink.received) == 4  # offer + receipt each, once
    log = (tmp_path / f"worker-{TAKES}.log").read_text()
    assert "never finished" in log, log


def test_a_take_that_outlived_its_lease_is_taken_again_and_its_late_finish_changes_nothing(
        flow, sessions, clock) -> None:
    """A worker took the mail, then stalled (a long pause, a hung reading) past its
    lease: another pass takes the mail again and makes the handoff.  When the stalled
    worker comes back and finishes, its work rolls back: one handoff, one offer."""
    from handoff.inbound_queue import LEASE, _interpret_taken, process_pending, take

    inbound = receive_message(sessions, handoff_mail().as_bytes(), mail_from="ana@corp.test",
                              rcpt_tos=[SERVICE], source="smtp", now=clock())
    with sessions.begin() as session:
        [stalled] = take(session.connection(), clock(), 1)
    assert process_pending(sessions, flow.settings, clock) == 0  # taken: nobody else's yet
    clock.advance(seconds=LEASE.total_seconds() + 1)
    assert process_pending(sessions, flow.settings, clock) == 1
    assert _interpret_taken(sessions, flow.settings, stalled, clock()) is None
    with sessions() as session:
        row = session.get(InboundMessage, inbound)
        assert (row.status, row.attempts, row.lease_until) == ("done", 2, None)
        assert len(list(session.scalars(select(Handoff.id)))) == 1
    assert len([m for m in flow.flush() if "bob@corp.test" in str(m["To"])]) == 1

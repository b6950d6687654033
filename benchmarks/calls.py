"""What one handoff costs, counted rather than timed: Python function calls and SQL
statements per handoff, in-process, on a PostgreSQL started here.

This machine's timings wander by a fifth or more between consecutive runs; the number
of calls does not (the same code gives the same count to a few calls), so a change to
the worker's path shows here at once and for sure.  Stored mails (the benchmark's
realistic ones) are interpreted by ``process_pending`` until the queue is empty, then
their offers and receipts are sent by the outbox to a real smarthost; each part under
``cProfile``, with the statements counted by a SQLAlchemy event.  CPU is shown too, for
scale (under the profiler, so several times the real cost).

Run with ``python -m benchmarks.calls`` (``--mails``, ``--profile FILE`` to keep the
stats for ``pstats``).  Not a target of its own; ``make bench`` runs it for the record.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

from benchmarks.mails import SERVICE, make_mails
from benchmarks.procs import BenchError, free_port
from benchmarks.report import code_version, now_utc, publish, table
from benchmarks.sink import Sink


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.calls", description=__doc__)
    p.add_argument("--mails", type=int, default=1000)
    p.add_argument("--profile", type=Path, default=None, help="write pstats here (.in/.out)")
    p.add_argument("--no-results", action="store_true")
    args = p.parse_args(argv)
    from sqlalchemy import event

    from handoff.db import make_engine, make_session_factory
    from handoff.inbound_queue import process_pending
    from handoff.intake import receive_message
    from handoff.settings import load_settings
    from mailer.deliver import Deliverer
    from tests.pg import BIN, PostgresServer

    if not (BIN / "initdb").exists():
        raise BenchError(f"PostgreSQL is not installed ({BIN}/initdb)")
    pg = PostgresServer.start(durable=True)
    sink = Sink(free_port()).start()
    try:
        PostgresServer.make_template(pg.url, "calls")
        url = pg.url.rsplit("/", 1)[0] + "/calls"
        settings = load_settings(environ={}, data_dir=Path(tempfile.mkdtemp()),
                                 database_url=url, service_address=SERVICE,
                                 secret_key="calls-" * 6, smarthost=f"127.0.0.1:{sink.port}")
        engine = make_engine(url)
        sessions = make_session_factory(engine)
        mails = make_mails(args.mails, "calls")
        for m in mails:
            sink.expect(m.message_id, m.owner, m.mail_from)
            receive_message(sessions, m.raw, mail_from=m.mail_from, rcpt_tos=[SERVICE],
                            source="smtp", now=datetime.now(timezone.utc))
        statements = [0]

        @event.listens_for(engine, "before_cursor_execute")
        def _count(*_: object) -> None:
            statements[0] += 1

        def clock() -> datetime:
            return datetime.now(timezone.utc)

        deliverer = Deliverer(settings, sessions, clock)

        def inbound() -> None:
            while process_pending(sessions, settings, clock, limit=20):
                pass

        def outbox() -> None:
            while deliverer.deliver_pending(limit=10):
                pass

        rows = [("per complete handoff", "Python calls", "SQL statements",
                 "CPU (under the profiler)")]
        for name, part in (("inbound: read and interpret", inbound),
                           ("outbox: compose and send", outbox)):
            statements[0] = 0
            profiler = cProfile.Profile()
            started = time.process_time()
            profiler.runcall(part)
            cpu = time.process_time() - started
            if args.profile is not None:
                profiler.dump_stats(f"{args.profile}.{name.split(':')[0]}")
            n = args.mails
            calls = pstats.Stats(profiler).total_calls  # type: ignore[attr-defined]
            rows.append((name, f"{calls / n:,.0f}",
                         f"{statements[0] / n:.1f}", f"{1000 * cpu / n:.1f} ms"))
        complete = len([i for i in sink.complete_times() if i in
                        {m.message_id for m in mails}])
        if complete != args.mails:
            raise BenchError(f"{complete} of {args.mails} handoffs complete")
        md = "\n".join([
            f"## Calls per handoff: {now_utc()}", "",
            f"Code: {code_version()}.  {args.mails} stored mails interpreted by "
            "`process_pending`, then their offers and receipts sent by the outbox to a real "
            "smarthost, in one process on PostgreSQL 15 (fsync on); each part under "
            "cProfile.  Calls are the figure that holds still on this machine.", "",
            table(rows)])
        publish(md, "calls", write=not args.no_results)
        engine.dispose()
        return 0
    finally:
        sink.stop()
        pg.stop()


if __name__ == "__main__":
    sys.exit(main())

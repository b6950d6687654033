"""Chase pass cost (issue 4, point 11): one pass with 1,000 due handoffs among 10,000
open ones, and among 1,000,000, on SQLite; the pass must cost in proportion to the due
work, so the ratio of the two times must stay under 2.

The databases are made by the real migrations and filled with plain sqlite3 (the fill
is setup, not measured); the pass is the real ``handoff.chase.run_chase_pass``.  Run with
``python -m benchmarks.chase``; ``make bench`` runs it last.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sqlite3
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

from benchmarks.report import code_version, machine, now_utc, publish, table
from handoff.chase import run_chase_pass
from handoff.db import make_engine, make_session_factory
from handoff.migrate import upgrade_database
from handoff.settings import load_settings

TARGET = 2.0
DUE = 1000
NOW = datetime(2026, 11, 24, 13, 5, tzinfo=timezone.utc)  # a Tuesday afternoon


def _ts(when: datetime) -> str:
    """SQLAlchemy's SQLite DateTime text form (naive UTC), so comparisons hold."""
    return when.astimezone(timezone.utc).replace(tzinfo=None).strftime(
        "%Y-%m-%d %H:%M:%S.%f")


def fill(path: Path, open_handoffs: int) -> None:
    """``open_handoffs`` offered handoffs; the first DUE were offered a day ago and are
    due now, the rest were offered just now and are due in four business hours."""
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=OFF")
    people = max(DUE * 2, 2000)
    conn.executemany("INSERT INTO people (id, address, display_name, created_at) "
                     "VALUES (?, ?, '', ?)",
                     ((i, f"p{i}@corp.test", _ts(NOW)) for i in range(1, people + 1)))
    packet = json.dumps({"request": {"value": "Renew the cert", "source": "stated"}})
    old, fresh = _ts(NOW - timedelta(days=1)), _ts(NOW)
    later = _ts(NOW + timedelta(hours=4))

    def rows():
        for i in range(1, open_handoffs + 1):
            due = i <= DUE
            stamp = old if due else fresh
            yield (i, "Renew the cert", "offered", "owner", "default", (i % 1000) + 1001,
                   (i % 1000) + 1 if due else (i % people) + 1, packet, "[]", "[]",
                   stamp, stamp, stamp, old if due else later)

    conn.executemany(
        "INSERT INTO handoffs (id, title, status, ball, workflow, sender_id, owner_id, "
        "packet, problems, origin_references, created_at, state_changed_at, "
        "last_activity_at, next_chase_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)", rows())
    conn.commit()
    conn.close()


def time_pass(path: Path, workdir: Path) -> tuple[float, int]:
    settings = load_settings(environ={}, data_dir=workdir, database_url=f"sqlite:///{path}",
                             service_address="handoff@bench.test", secret_key="bench" * 8,
                             timezone="Europe/Berlin")
    engine = make_engine(settings.database_url)
    sessions = make_session_factory(engine)
    start = time.perf_counter()
    lines = run_chase_pass(sessions, settings, NOW)
    elapsed = time.perf_counter() - start
    engine.dispose()
    return elapsed, sum(len(line.refs) for line in lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.chase", description=__doc__)
    p.add_argument("--small", type=int, default=10_000)
    p.add_argument("--large", type=int, default=1_000_000)
    p.add_argument("--no-results", action="store_true")
    args = p.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="handoff-chase-bench-"))
    try:
        template = work / "template.db"
        engine = make_engine(f"sqlite:///{template}")
        upgrade_database(engine)
        engine.dispose()  # checkpoints the WAL into the file we copy
        results = {}
        for n in (args.small, args.large):
            path = work / f"open-{n}.db"
            shutil.copy(template, path)
            t0 = time.perf_counter()
            fill(path, n)
            print(f"filled {n} open handoffs in {time.perf_counter() - t0:.1f} s",
                  file=sys.stderr)
            results[n] = time_pass(path, work)
        small, large = results[args.small], results[args.large]
        ratio = large[0] / small[0]
        verdict = "met" if ratio < TARGET else "MISSED"
        m = machine()
        rows = [("chase pass, SQLite", "open handoffs", "due", "handoffs chased", "pass time"),
                ("small", f"{args.small:,}", f"{DUE:,}", f"{small[1]:,}", f"{small[0]:.2f} s"),
                ("large", f"{args.large:,}", f"{DUE:,}", f"{large[1]:,}", f"{large[0]:.2f} s")]
        md = "\n".join([
            f"## Chase pass: {now_utc()}", "",
            f"Machine: {m['cpu']}, {m['cores']} cores; Python {m['python']}; SQLite "
            f"{m['sqlite']}.  Code: {code_version()}.  One `run_chase_pass` as of "
            f"{NOW.isoformat()} (a Tuesday afternoon in Berlin); each due handoff "
            "gets its first nudge, grouped into digests.", "",
            table(rows), "",
            f"- Large / small pass time: **{ratio:.2f}x** (target < {TARGET:g}x): "
            f"**{verdict}**.",
        ])
        publish(md, "chase", write=not args.no_results)
        return 0
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())

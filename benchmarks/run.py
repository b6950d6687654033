"""Durable ingest and email-in -> offer latency of ``handoff serve``, each beside a baseline."""

from __future__ import annotations

import argparse
import json
import math
import secrets
import signal
import sqlite3
import shutil
import sys
import tempfile
import time
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, TypeVar

from benchmarks import profile
from benchmarks.load import RunResult, blast, paced
from benchmarks.mails import Mail, make_mails
from benchmarks.procs import Baseline, BenchError, HandoffServe, Server, free_port
from benchmarks.report import (RESULTS, code_digest, code_version, machine, ms, now_utc,
                               percentile, table, write_results)
from benchmarks.sink import Sink

RATIO_TARGET = 0.7
P99_TARGET = 1.0


@dataclass
class Diagnosis:
    listener_only: RunResult | None = None  # `handoff smtp`: the listener without workers
    traced: RunResult | None = None  # `handoff serve` under benchmarks.traced_serve
    traced_drained: int = 0
    traced_seconds: float = math.nan
    traced_cpu: float = math.nan
    locks: dict[str, dict[str, list[float]]] = field(default_factory=dict)
    profile: str = ""


@dataclass
class Figures:
    args: argparse.Namespace
    machine: dict[str, str]
    code: str
    # the baseline's ingest runs once before and once after ours (the machine is noisy)
    base_ingests: list[RunResult] = field(default_factory=list)
    base_cpu: float = 0.0  # baseline process CPU seconds during its ingest runs
    ours_ingest: RunResult | None = None
    ours_cpu_ingest: float = math.nan  # serve CPU seconds until the last 250
    ours_cpu_drained: float = math.nan  # serve CPU seconds until the last offer
    offers_at_last_250: int = 0
    drain_seconds: float = math.nan  # start of the ingest run -> its last offer
    drained: int = 0
    base_paced: RunResult | None = None
    ours_paced: RunResult | None = None
    # per accepted mail of the paced run, in sending order: 250 -> offer (inf: never came)
    offer_latencies: list[float] = field(default_factory=list)
    unloaded: list[float] = field(default_factory=list)  # one mail at a time, afterwards
    # the paced run's latency split at the moment the inbound worker took the mail up
    stages: dict[str, list[float]] = field(default_factory=dict)
    problems: dict[str, list[str]] = field(default_factory=dict)
    diagnosis: Diagnosis | None = None

    @property
    def base_rate(self) -> float:
        """Mean of the baseline's ingest rates."""
        rates = [r.rate for r in self.base_ingests]
        return sum(rates) / len(rates) if rates else math.nan

    @property
    def ratio(self) -> float:
        if not (self.base_ingests and self.ours_ingest and self.base_rate):
            return math.nan
        return self.ours_ingest.rate / self.base_rate


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    p.add_argument("--messages", type=int, default=3000, help="mails in the ingest run")
    p.add_argument("--connections", type=int, default=4, help="concurrent SMTP connections")
    p.add_argument("--rate", type=float, default=50.0, help="messages/s of the latency run")
    p.add_argument("--latency-seconds", type=float, default=20.0,
                   help="length of the paced latency run")
    p.add_argument("--drain-seconds", type=float, default=30.0,
                   help="after the ingest run, wait at most this long for its offers")
    p.add_argument("--grace", type=float, default=25.0,
                   help="after the latency run, wait at most this long for late offers")
    p.add_argument("--quick", action="store_true",
                   help="smoke run: 300 messages, 5 s latency run, RESULTS.md untouched")
    p.add_argument("--diagnose", action="store_true",
                   help="afterwards, also measure the listener alone (`handoff smtp`) and "
                        "a traced `handoff serve` (SQLite write-lock waits, CPU per "
                        "handoff, py-spy if found); takes about a minute more")
    p.add_argument("--py-spy", default="py-spy", help="py-spy executable for --diagnose")
    p.add_argument("--results", type=Path, default=None,
                   help=f"where to write the results section (default {RESULTS}; "
                        "not written by --quick unless given)")
    p.add_argument("--no-results", action="store_true", help="do not write RESULTS.md")
    p.add_argument("--keep", action="store_true", help="keep the temporary directory")
    args = p.parse_args(argv)
    if args.quick:
        args.messages = min(args.messages, 300)
        args.latency_seconds = min(args.latency_seconds, 5.0)
        args.drain_seconds = min(args.drain_seconds, 20.0)
        args.grace = min(args.grace, 10.0)
    if args.messages < 1 or args.connections < 1 or args.rate <= 0 \
            or args.latency_seconds <= 0:
        p.error("--messages, --connections, --rate and --latency-seconds must be positive")
    return args


def _say(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def _stop(fig: Figures, server: Server, label: str) -> None:
    server.stop()
    lines = server.log_problems()
    if lines:
        fig.problems[label] = lines


def _ingest_ours(sink: Sink, server: HandoffServe, mails: list[Mail], connections: int,
                 drain: float) -> tuple[RunResult, int, int, float, float, float]:
    """Blast ``mails`` at ``server``, then wait up to ``drain`` s for their offers.

    Returns the run, offers by the last 250, offers in the end, start -> last offer,
    server CPU until the last 250 and until the end of the wait."""
    for m in mails:
        sink.expect(m.message_id, m.owner)
    ids = {m.message_id for m in mails}
    cpu0 = server.cpu_seconds()
    result = blast(server.smtp_port, mails, connections)
    cpu1 = server.cpu_seconds()
    at_last_250 = sink.offer_count(ids)
    _say(f"  {result.rate:.0f} messages/s; {at_last_250}/{len(ids)} offers by the last 250; "
         f"waiting up to {drain:.0f} s for the rest")
    sink.wait_for_offers(ids, drain)
    cpu2 = server.cpu_seconds()
    times = [t for mid, t in sink.offer_times().items() if mid in ids]
    last = max(times) - result.started if times else math.nan
    return result, at_last_250, len(times), last, cpu1 - cpu0, cpu2 - cpu0


def run(args: argparse.Namespace, work: Path) -> Figures:
    fig = Figures(args, machine(), code_version())
    digest = code_digest()
    tag = secrets.token_hex(3)
    ingest_mails = make_mails(args.messages, f"ingest-{tag}")
    paced_count = max(1, round(args.rate * args.latency_seconds))
    paced_mails = make_mails(paced_count, f"paced-{tag}")
    base_mails = make_mails(max(args.messages, paced_count), f"base-{tag}")

    with ExitStack() as stack:
        sink = Sink(free_port()).start()
        stack.callback(sink.stop)

        S = TypeVar("S", bound=Server)

        def started(server: S) -> S:
            stack.callback(server.stop)  # also on errors; stop() is idempotent
            return server

        def baseline_ingest(name: str) -> None:
            _say(f"ingest, baseline: {args.messages} mails over {args.connections} "
                 "connections")
            base = started(Baseline(work / name).start())
            cpu0 = base.cpu_seconds()
            result = blast(base.smtp_port, base_mails[:args.messages], args.connections)
            fig.base_cpu += base.cpu_seconds() - cpu0
            fig.base_ingests.append(result)
            _say(f"  {result.rate:.0f} messages/s")
            _stop(fig, base, "baseline (ingest)")

        # 1. Ingest: baseline, ours (fresh data directory), baseline again; same client.
        baseline_ingest("base-ingest-1")

        _say(f"ingest, handoff serve: {args.messages} mails over {args.connections} "
             "connections")
        ours = started(HandoffServe(work / "serve-ingest", sink.port).start())
        (fig.ours_ingest, fig.offers_at_last_250, fig.drained, fig.drain_seconds,
         fig.ours_cpu_ingest, fig.ours_cpu_drained) = _ingest_ours(
            sink, ours, ingest_mails, args.connections, args.drain_seconds)
        _stop(fig, ours, "handoff serve (ingest)")
        baseline_ingest("base-ingest-2")

        # 2. Latency at a fixed pace: the baseline's round-trip, then ours to the smarthost.
        _say(f"latency, baseline: {paced_count} mails at {args.rate:g}/s")
        base = started(Baseline(work / "base-paced").start())
        fig.base_paced = paced(base.smtp_port, base_mails[:paced_count], args.connections,
                               args.rate)
        _stop(fig, base, "baseline (latency)")

        _say(f"latency, handoff serve: {paced_count} mails at {args.rate:g}/s")
        ours = started(HandoffServe(work / "serve-paced", sink.port).start())
        for m in paced_mails:
            sink.expect(m.message_id, m.owner)
        fig.ours_paced = paced(ours.smtp_port, paced_mails, args.connections, args.rate)
        pids = {m.message_id for m in paced_mails}
        _say(f"  {sink.offer_count(pids)}/{len(pids)} offers by the last 250; waiting up to "
             f"{args.grace:.0f} s for the rest")
        sink.wait_for_offers(pids, args.grace)
        offers = sink.offer_times()
        for m, sent in zip(paced_mails, fig.ours_paced.sent):
            if sent.accepted:
                at = offers.get(m.message_id)
                fig.offer_latencies.append(at - sent.accepted if at is not None else math.inf)
        if len(offers.keys() & pids) == len(pids):
            fig.unloaded = unloaded_latency(sink, ours, f"single-{tag}", 10)
        _stop(fig, ours, "handoff serve (latency)")
        fig.stages = stages(ours.workdir / "data" / "handoff.db", paced_mails,
                            fig.ours_paced, offers)

        if args.diagnose:
            fig.diagnosis = diagnose(args, work, sink, tag, started)
    if code_digest() != digest:
        fig.problems["code"] = ["the service's sources changed during the run: the "
                                "figures may mix versions; run again"]
    return fig


def stages(db: Path, mails: list[Mail], result: RunResult,
           offers: dict[str, float]) -> dict[str, list[float]]:
    """Split 250 -> offer at ``inbound_messages.processed_at`` (when the inbound worker
    took the mail up), read from the service's database after the run.  Best effort: an
    unknown schema gives no split."""
    offset = time.time() - time.monotonic()  # wall clock -> this process's monotonic
    try:
        conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
        try:
            rows = dict(conn.execute(
                "SELECT message_id, processed_at FROM inbound_messages "
                "WHERE processed_at IS NOT NULL"))
        finally:
            conn.close()
    except sqlite3.Error:
        return {}
    queued, rest = [], []
    for mail, sent in zip(mails, result.sent):
        at, taken = offers.get(mail.message_id), rows.get(mail.message_id)
        if not sent.accepted or at is None or not taken:
            continue
        when = datetime.fromisoformat(str(taken))
        if when.tzinfo is None:
            when = when.replace(tzinfo=timezone.utc)
        mono = when.timestamp() - offset
        queued.append(mono - sent.accepted)
        rest.append(at - mono)
    return {"queued": queued, "rest": rest} if queued else {}


def unloaded_latency(sink: Sink, server: HandoffServe, tag: str, count: int) -> list[float]:
    """250 -> offer for mails sent one at a time to an idle, warm server."""
    out = []
    for mail in make_mails(count, tag):
        sink.expect(mail.message_id, mail.owner)
        result = blast(server.smtp_port, [mail], 1)
        if not result.ok:
            continue
        if sink.wait_for_offers({mail.message_id}, 10):
            out.append(sink.offer_times()[mail.message_id] - result.ok[0].accepted)
        else:
            out.append(math.inf)
    return out


def diagnose(args: argparse.Namespace, work: Path, sink: Sink, tag: str,
             started: Callable[[HandoffServe], HandoffServe]) -> Diagnosis:
    diag = Diagnosis()
    n = min(args.messages, 2000)
    _say(f"diagnose, handoff smtp (listener alone, no workers): {n} mails")
    listener = started(HandoffServe(work / "diag-smtp", sink.port, command="smtp").start())
    diag.listener_only = blast(listener.smtp_port, make_mails(n, f"diag-smtp-{tag}"),
                               args.connections)
    _say(f"  {diag.listener_only.rate:.0f} messages/s")
    listener.stop()

    n = min(args.messages, 1000)
    _say(f"diagnose, handoff serve with the SQLite write lock timed: {n} mails")
    trace = work / "locktrace.json"
    ours = started(HandoffServe(work / "diag-serve", sink.port, locktrace=trace).start())
    sampler = profile.start(args.py_spy, ours.pid, work / "py-spy.txt")
    (diag.traced, _at_250, diag.traced_drained, diag.traced_seconds, _cpu_ingest,
     diag.traced_cpu) = _ingest_ours(sink, ours, make_mails(n, f"diag-serve-{tag}"),
                                     args.connections, max(args.drain_seconds, 60.0))
    diag.profile = profile.stop(sampler)
    ours.stop()
    try:
        diag.locks = json.loads(trace.read_text())
    except (OSError, ValueError) as exc:
        _say(f"  no lock trace: {exc}")
    return diag


# ---------------------------------------------------------------------------- reporting


def _rtts(result: RunResult | None) -> list[float]:
    return [s.accepted - s.started for s in result.ok] if result else []


def _pace(result: RunResult | None) -> str:
    if result is None or not result.ok:
        return "n/a"
    span = max(s.accepted for s in result.ok) - min(s.started for s in result.ok)
    return f"{len(result.ok) / span:.1f}/s" if span > 0 else "n/a"


def _p(values: list[float], p: float, grace: float) -> str:
    value = percentile(values, p)
    if math.isinf(value):
        return f"not arrived ({grace:g} s grace after the run)"
    return ms(value)


def _lock_rows(diag: Diagnosis, wall: float) -> list[tuple[str, ...]]:
    rows: list[tuple[str, ...]] = [(
        "thread", "transactions", "wait for a pooled connection p50 / p99 / max",
        "wait in BEGIN IMMEDIATE p50 / p99 / max", "total wait", "write lock held p50 / p99",
        "held, share of wall time")]
    waits, holds = diag.locks.get("waits", {}), diag.locks.get("holds", {})
    pool = diag.locks.get("pool_waits", {})

    def three(xs: list[float]) -> str:
        if not xs:
            return "n/a"
        return f"{ms(percentile(xs, 50))} / {ms(percentile(xs, 99))} / {ms(max(xs))}"

    for who in sorted(waits, key=lambda k: -sum(holds.get(k, []))):
        w, h, p = waits[who], holds.get(who, []), pool.get(who, [])
        if len(w) < 5:
            continue
        rows.append((who, str(len(w)), three(p), three(w), f"{sum(w) + sum(p):.1f} s",
                     f"{ms(percentile(h, 50))} / {ms(percentile(h, 99))}" if h else "n/a",
                     f"{100 * sum(h) / wall:.0f}%" if h and wall > 0 else "n/a"))
    return rows


def render(fig: Figures, quick: bool) -> tuple[str, str]:
    """The console report and the markdown section."""
    a, m = fig.args, fig.machine
    oi, bp, op = fig.ours_ingest, fig.base_paced, fig.ours_paced
    assert fig.base_ingests and oi and bp and op
    # the baseline's ingest runs, pooled: mails and round-trips of both, the mean rate
    bi = RunResult(fig.base_ingests[0].started,
                   [s for r in fig.base_ingests for s in r.sent])
    base_walls = " + ".join(f"{r.last_250 - r.started:.2f} s" for r in fig.base_ingests)
    base_rates = ", ".join(f"{r.rate:.0f}" for r in fig.base_ingests)
    ratio = fig.ratio
    lat = fig.offer_latencies
    arrived = [x for x in lat if not math.isinf(x)]
    p99 = percentile(lat, 99)
    ratio_ok = not math.isnan(ratio) and ratio >= RATIO_TARGET
    p99_ok = (not math.isnan(p99) and p99 < P99_TARGET and len(op.ok) == len(op.sent))
    mark = {True: "met", False: "MISSED"}
    fifth = max(1, len(lat) // 5)
    all_drained = fig.drained == len(oi.sent)

    ingest_rows = [
        ("durable ingest", "handoff serve", "baseline (aiosmtpd + SQLite)"),
        ("messages/s (N / time to last 250)", f"{oi.rate:.0f}",
         f"{fig.base_rate:.0f} (mean of runs before and after ours: {base_rates})"),
        ("ratio ours / baseline", f"{ratio:.2f}x (target >= {RATIO_TARGET}x: "
         f"{mark[ratio_ok]})", "1.00x"),
        ("accepted / sent", f"{len(oi.ok)}/{len(oi.sent)}", f"{len(bi.ok)}/{len(bi.sent)}"),
        ("wall time to last 250", f"{oi.last_250 - oi.started:.2f} s", base_walls),
        ("SMTP round-trip p50 / p99 / max (MAIL FROM -> 250)",
         f"{ms(percentile(_rtts(oi), 50))} / {ms(percentile(_rtts(oi), 99))} / "
         f"{ms(max(_rtts(oi), default=math.nan))}",
         f"{ms(percentile(_rtts(bi), 50))} / {ms(percentile(_rtts(bi), 99))} / "
         f"{ms(max(_rtts(bi), default=math.nan))}"),
        ("server process CPU until the last 250, per mail (ours: with its workers)",
         f"{1000 * fig.ours_cpu_ingest / max(1, len(oi.ok)):.1f} ms",
         f"{1000 * fig.base_cpu / max(1, len(bi.ok)):.1f} ms"),
        ("offers at the smarthost by the last 250", f"{fig.offers_at_last_250}/{len(oi.sent)}",
         "-"),
        ("offers at the smarthost in the end",
         f"{fig.drained}/{len(oi.sent)} within {a.drain_seconds:g} s more; last "
         f"{fig.drain_seconds:.1f} s after the first mail", "-"),
        ("serve CPU per handoff, mail in -> offer + receipt out",
         f"{1000 * fig.ours_cpu_drained / len(oi.sent):.1f} ms" if all_drained
         else "n/a (not all offers out)", "-"),
    ]
    latency_rows = [
        (f"latency at {a.rate:g} messages/s", "handoff serve", "baseline (aiosmtpd + SQLite)"),
        ("what is measured", "250 -> offer received at the smarthost",
         "SMTP round-trip only (MAIL FROM -> 250)"),
        ("p50", _p(lat, 50, a.grace), ms(percentile(_rtts(bp), 50))),
        ("p99", f"{_p(lat, 99, a.grace)} (target < 1 s: {mark[p99_ok]})",
         ms(percentile(_rtts(bp), 99))),
        ("max", ms(max(arrived)) + ("" if len(arrived) == len(lat) else " (of those arrived)")
         if arrived else "n/a", ms(max(_rtts(bp), default=math.nan))),
        ("p50 of the first / last fifth of the mails",
         f"{_p(lat[:fifth], 50, a.grace)} / {_p(lat[-fifth:], 50, a.grace)}", "-"),
        *([("split: 250 -> inbound worker takes the mail up, p50 / p99",
            f"{ms(percentile(fig.stages['queued'], 50))} / "
            f"{ms(percentile(fig.stages['queued'], 99))}", "-"),
           ("split: taken up -> offer at the smarthost (interpret, outbox), p50 / p99",
            f"{ms(percentile(fig.stages['rest'], 50))} / "
            f"{ms(percentile(fig.stages['rest'], 99))}", "-")] if fig.stages else []),
        ("offers arrived / mails accepted", f"{len(arrived)}/{len(lat)}", "-"),
        (f"unloaded: {len(fig.unloaded)} mails one at a time after the run, p50 / max",
         f"{_p(fig.unloaded, 50, 10)} / {_p(fig.unloaded, 100, 10)}" if fig.unloaded
         else "n/a (run not drained)", "-"),
        ("accepted / sent", f"{len(op.ok)}/{len(op.sent)}", f"{len(bp.ok)}/{len(bp.sent)}"),
        ("pace achieved", _pace(op), _pace(bp)),
        ("SMTP round-trip p50 / p99 (MAIL FROM -> 250)",
         f"{ms(percentile(_rtts(op), 50))} / {ms(percentile(_rtts(op), 99))}",
         f"{ms(percentile(_rtts(bp), 50))} / {ms(percentile(_rtts(bp), 99))}"),
    ]
    setup = (f"{len(oi.sent)} mails over {a.connections} connections for ingest; "
             f"{len(op.sent)} mails at {a.rate:g}/s ({a.latency_seconds:g} s) for latency")
    if quick:
        setup += " -- QUICK smoke run, not a result"
    verdict = (f"targets: ingest >= {RATIO_TARGET}x the baseline: {mark[ratio_ok]} "
               f"({ratio:.2f}x); p99 email-in -> offer < {P99_TARGET:g} s: {mark[p99_ok]} "
               f"(p99 {_p(lat, 99, a.grace)})")

    problems = []
    for label, lines in fig.problems.items():
        if label == "code":
            problems.append(f"- {lines[0]}")
            continue
        problems.append(f"- {label}: {len(lines)} warning/error line(s) in its log, e.g. "
                        f"`{lines[0][:200]}`")
    failures = [s.error for r in (*fig.base_ingests, oi, bp, op) for s in r.failures]
    if failures:
        problems.append(f"- {len(failures)} mail(s) not accepted, e.g. `{failures[0][:200]}`")

    diag_md: list[str] = []
    if fig.diagnosis is not None:
        d = fig.diagnosis
        rows = [("extra run", "messages/s", "vs baseline", "SMTP round-trip p50 / p99")]
        for label, r in (("`handoff smtp` (listener alone, no workers)", d.listener_only),
                         ("`handoff serve`, lock-timed", d.traced)):
            if r is not None:
                rows.append((label, f"{r.rate:.0f}", f"{r.rate / fig.base_rate:.2f}x",
                             f"{ms(percentile(_rtts(r), 50))} / "
                             f"{ms(percentile(_rtts(r), 99))}"))
        diag_md += ["### Diagnosis (`--diagnose`)", "", table(rows), ""]
        if d.traced is not None:
            n = len(d.traced.sent)
            diag_md += [
                f"Lock-timed `handoff serve`, {n} mails: {d.traced_drained}/{n} offers out "
                f"{d.traced_seconds:.1f} s after the first mail; serve CPU meanwhile "
                f"{d.traced_cpu:.1f} s = {1000 * d.traced_cpu / n:.1f} ms per handoff, so "
                f"one process (one GIL) tops out near {n / d.traced_cpu:.0f} handoffs/s "
                "end to end.", ""]
            if d.locks:
                diag_md += ["Waits for the database and SQLite's write lock (every "
                            "transaction of handoff starts with `BEGIN IMMEDIATE`), per "
                            "thread, from the first mail to the last offer:", "",
                            table(_lock_rows(d, d.traced_seconds)), ""]
        if d.profile:
            diag_md += ["```", d.profile, "```", ""]

    console = "\n".join([
        "", setup, "", table(ingest_rows), "", table(latency_rows), "", verdict,
        *(["", "problems:", *problems] if problems else []),
        *(["", *diag_md] if diag_md else []),
    ])
    md = "\n".join([
        f"## Latest run: {now_utc()}",
        "",
        f"Machine: {m['cpu']}, {m['cores']} cores, {m['memory']} RAM, {m['os']}; "
        f"Python {m['python']}; SQLite {m['sqlite']}.  Code: {fig.code}.",
        "",
        f"Run: {setup}.  Command: `python -m benchmarks"
        + (" --quick" if quick else "")
        + (" --diagnose" if fig.diagnosis is not None else "")
        + f" --messages {a.messages} --connections {a.connections} --rate {a.rate:g}"
          f" --latency-seconds {a.latency_seconds:g}`.",
        "",
        "### Durable ingest",
        "",
        table(ingest_rows),
        "",
        f"### Email-in -> offer at the smarthost, at {a.rate:g} messages/s",
        "",
        table(latency_rows),
        "",
        "### Targets",
        "",
        f"- Ingest at least {RATIO_TARGET}x the baseline: **{mark[ratio_ok]}** "
        f"({ratio:.2f}x: {oi.rate:.0f} vs {fig.base_rate:.0f} messages/s).",
        f"- p99 email-in -> offer under {P99_TARGET:g} s at {a.rate:g} messages/s: "
        f"**{mark[p99_ok]}** (p99 {_p(lat, 99, a.grace)}; {len(arrived)}/{len(lat)} offers "
        f"arrived).",
        *(["", "### Problems seen", "", *problems] if problems else []),
        *(["", *diag_md] if diag_md else []),
    ])
    return console, md


def _interrupt(_signum: int, _frame: object) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    # SIGTERM unwinds like Ctrl-C, so the servers started are stopped on the way out
    signal.signal(signal.SIGTERM, _interrupt)
    work = Path(tempfile.mkdtemp(prefix="handoff-bench-"))
    try:
        t0 = time.monotonic()
        fig = run(args, work)
        console, md = render(fig, args.quick)
        print(console, flush=True)
        _say(f"(benchmark took {time.monotonic() - t0:.0f} s)")
        target = args.results or (None if args.quick else RESULTS)
        if target is not None and not args.no_results:
            write_results(md, target)
            _say(f"results written to {target}")
    except (BenchError, RuntimeError) as exc:
        _say(f"benchmark failed: {exc}")
        return 1
    except KeyboardInterrupt:
        _say("benchmark interrupted; servers stopped")
        return 130
    finally:
        if args.keep:
            _say(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    return 0

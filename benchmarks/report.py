"""Figures -> a readable table and the results section of ``benchmarks/RESULTS.md``."""

from __future__ import annotations

import math
import os
import platform
import sqlite3
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Sequence

RESULTS = Path(__file__).resolve().parent / "RESULTS.md"
INTRO = """# Benchmark results

`make bench` (`.venv/bin/python -m benchmarks`) sends realistic handoff mails over SMTP to a
real `handoff serve` subprocess and to a baseline measured in the same run: a bare aiosmtpd
server (its own process) that only commits each message to SQLite (WAL,
synchronous=FULL as the service, one commit per message, via `asyncio.to_thread`).  The
smarthost is an aiosmtpd sink in the benchmark process; an offer is matched to the mail
that caused it by its `In-Reply-To` and its recipient (the owner).

Then `python -m benchmarks.reading` reads every message of `shared/corpus` (section
"Reading the corpus"), and `python -m benchmarks.chase` times a chase pass with 1,000
due handoffs among 10,000 and among 1,000,000 open ones (section "Chase pass").

Targets (issue tracker): durable ingest at least **0.7x** the baseline's rate, and
email-in -> offer-at-smarthost **p99 under 1 s** at 50 messages/s.

The section below is rewritten by every full run (`--quick` runs leave it alone unless
given `--results`).

"""


def percentile(values: list[float], p: float) -> float:
    """Nearest-rank percentile; ``inf`` entries stand for what never arrived."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[rank - 1]


def ms(value: float) -> str:
    if math.isnan(value):
        return "n/a"
    if math.isinf(value):
        return "never (not arrived)"
    if value >= 10:
        return f"{value:.1f} s"
    if value >= 1:
        return f"{value:.2f} s"
    return f"{value * 1000:.0f} ms" if value >= 0.01 else f"{value * 1000:.1f} ms"


def machine() -> dict[str, str]:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = os.cpu_count() or 0
    mem = ""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem = f"{int(line.split()[1]) / 1024 / 1024:.0f} GiB"
                break
    except OSError:
        pass
    return {
        "cpu": cpu,
        "cores": str(os.cpu_count()) + (f" ({usable} usable)" if usable != os.cpu_count()
                                         else ""),
        "memory": mem or "unknown",
        "os": f"{platform.system()} {platform.release()}",
        "python": sys.version.split()[0] + f" ({platform.python_implementation()})",
        "sqlite": sqlite3.sqlite_version,
    }


def code_version() -> str:
    """The commit measured, and whether the tree had uncommitted changes (outside benchmarks/)."""
    import subprocess

    root = Path(__file__).resolve().parent.parent
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=root, text=True,
                              capture_output=True, timeout=10).stdout.strip()
        status = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"],
                                cwd=root, text=True, capture_output=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    if not head:
        return "unknown"
    dirty = sorted({line[3:].split("/")[0] for line in status.splitlines()
                    if line[3:] and not line[3:].startswith("benchmarks/")})
    return head + (f" with uncommitted changes in {', '.join(dirty)}" if dirty else "")


def code_digest() -> str:
    """A digest of the service's sources, to notice code changing during a run."""
    import hashlib

    root = Path(__file__).resolve().parent.parent
    digest = hashlib.sha256()
    for folder in ("handoff", "mailer", "web", "webhooks", "templates"):
        for path in sorted((root / folder).rglob("*")):
            if path.is_file() and path.suffix in (".py", ".j2", ".html", ".txt"):
                digest.update(str(path.relative_to(root)).encode())
                digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


def table(rows: Sequence[Sequence[str]]) -> str:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    out = []
    for n, row in enumerate(rows):
        out.append("| " + " | ".join(c.ljust(w) for c, w in zip(row, widths)) + " |")
        if n == 0:
            out.append("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    return "\n".join(out)


def write_results(section: str, path: Path = RESULTS, name: str = "results") -> None:
    """Replace the ``<!-- bench:NAME:start/end -->`` section of ``path`` (append it when
    absent); the rest of the file is kept."""
    start, end = f"<!-- bench:{name}:start -->", f"<!-- bench:{name}:end -->"
    block = f"{start}\n{section.rstrip()}\n{end}\n"
    text = path.read_text() if path.exists() else INTRO
    if start in text and end in text:
        head, rest = text.split(start, 1)
        tail = rest.split(end, 1)[1].lstrip("\n")
        text = head + block + (("\n" + tail) if tail else "")
    else:
        text = text.rstrip("\n") + "\n\n" + block
    path.write_text(text)


def publish(section: str, name: str, write: bool = True) -> None:
    """Print a benchmark's section, and put it in RESULTS.md unless told not to."""
    print(section)
    if write:
        write_results(section, RESULTS, name=name)


def now_utc() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")

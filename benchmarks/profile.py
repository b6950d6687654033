"""``--diagnose``: sample ``handoff serve`` with py-spy and summarise where its time goes.

py-spy is not a project dependency; install it anywhere (``pip install py-spy``) and pass
``--py-spy PATH`` if it is not on ``PATH``.  Sampling is ``--nonblocking`` so the process
is not paused; with ``--gil`` only the thread holding the GIL is sampled, which is what
one ``handoff serve`` process can spend: at most one core of Python.
"""

from __future__ import annotations

import collections
import shutil
import signal
import subprocess
from dataclasses import dataclass
from pathlib import Path


@dataclass
class Sampler:
    proc: subprocess.Popen[bytes] | None
    output: Path
    note: str = ""


def start(py_spy: str, pid: int, output: Path, gil_only: bool = True) -> Sampler:
    exe = shutil.which(py_spy)
    if exe is None:
        return Sampler(None, output, f"profile: {py_spy!r} not found (pip install py-spy)")
    argv = [exe, "record", "--pid", str(pid), "--format", "raw", "--output", str(output),
            "--rate", "200", "--threads", "--nonblocking", "--function"]
    if gil_only:
        argv.append("--gil")
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    return Sampler(proc, output)


def stop(sampler: Sampler) -> str:
    if sampler.proc is None:
        return sampler.note
    sampler.proc.send_signal(signal.SIGINT)
    try:
        _out, err = sampler.proc.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        sampler.proc.kill()
        _out, err = sampler.proc.communicate()
    if not sampler.output.exists():
        return f"profile: py-spy wrote nothing: {err.decode(errors='replace')[-500:]}"
    return summarise(sampler.output.read_text(errors="replace"))


# (what to look for in a stack, category): the first rule that matches names the sample.
CATEGORIES: tuple[tuple[str, str], ...] = (
    ("logging/", "logging"),
    ("resolve_deadline", "dateparser (Deadline: lines)"),
    ("parse_message", "email parsing (parse_message)"),
    ("build_packet", "packet (labels, owner)"),
    ("jinja2", "compose: jinja2 templates"),
    ("MailRenderer.compose", "compose: EmailMessage, tokens, ORM"),
    ("smtplib", "smtplib to the smarthost"),
    ("sqlalchemy", "SQLAlchemy + SQLite"),
    ("aiosmtpd", "aiosmtpd protocol"),
    ("asyncio", "asyncio event loop"),
    ("waitress", "web (waitress)"),
)


def _category(frames: list[str]) -> str:
    joined = ";".join(frames)
    for needle, label in CATEGORIES:
        if needle in joined:
            return label
    return "other: " + (frames[-1].split(" (")[0] if frames else "?")


def summarise(raw: str, top: int = 6) -> str:
    """Share of the samples per thread, and per category within each thread."""
    total = 0
    by_thread: collections.Counter[str] = collections.Counter()
    by_cat: dict[str, collections.Counter[str]] = collections.defaultdict(collections.Counter)
    for line in raw.splitlines():
        stack, _, count_s = line.rpartition(" ")
        if not stack or not count_s.isdigit():
            continue
        count = int(count_s)
        frames = [f for f in stack.split(";") if f]
        thread = "?"
        if frames and frames[0].startswith("thread ("):
            thread = frames.pop(0).split(": ", 1)[-1]
        if thread.startswith("asyncio"):
            thread = "smtp to_thread pool (receive_message)"
        elif thread == "smtp":
            thread = "smtp event loop (aiosmtpd)"
        elif thread.startswith("waitress"):
            thread = "web (waitress)"
        total += count
        by_thread[thread] += count
        by_cat[thread][_category(frames)] += count
    if not total:
        return "profile: no samples"
    lines = [f"profile of handoff serve (py-spy --gil: samples of the thread holding the "
             f"GIL, {total} samples at 200/s = {total / 200:.1f} s of GIL time)"]
    for thread, n in by_thread.most_common():
        if n / total < 0.002:
            break
        lines.append(f"  {100 * n / total:5.1f}%  {thread}")
        for cat, m in by_cat[thread].most_common(top):
            if m / total < 0.002:
                break
            lines.append(f"           {100 * m / total:5.1f}%  {cat}")
    return "\n".join(lines)

"""SMTP clients: a blast as fast as possible, and a paced run, over C reused connections."""

from __future__ import annotations

import smtplib
import threading
import time
from dataclasses import dataclass, field
from typing import Callable

from benchmarks.mails import SERVICE, Mail


@dataclass
class Sent:
    scheduled: float = 0.0  # monotonic; 0 for the blast
    started: float = 0.0  # MAIL FROM about to go out
    accepted: float = 0.0  # the 250 after DATA arrived; 0 if it never did
    error: str = ""


@dataclass
class RunResult:
    started: float  # monotonic, all connections open and released together
    sent: list[Sent] = field(default_factory=list)

    @property
    def ok(self) -> list[Sent]:
        return [s for s in self.sent if s.accepted and not s.error]

    @property
    def failures(self) -> list[Sent]:
        return [s for s in self.sent if s.error]

    @property
    def last_250(self) -> float:
        return max((s.accepted for s in self.ok), default=self.started)

    @property
    def rate(self) -> float:
        """Messages per second: accepted messages / wall time until the last 250."""
        wall = self.last_250 - self.started
        return len(self.ok) / wall if wall > 0 else 0.0


def _connect(port: int) -> smtplib.SMTP:
    conn = smtplib.SMTP("127.0.0.1", port, timeout=60)
    conn.ehlo("bench.corp.test")
    return conn


def _run(port: int, mails: list[Mail], connections: int,
         schedule: Callable[[int], float] | None,
         on_accepted: Callable[[Mail, float], None] | None = None) -> RunResult:
    """Send every mail once; ``schedule(i)`` is the earliest monotonic time for mail i."""
    results = [Sent() for _ in mails]
    lock = threading.Lock()
    cursor = [0]
    barrier = threading.Barrier(connections + 1)
    errors: list[BaseException] = []

    def take() -> int | None:
        with lock:
            if cursor[0] >= len(mails):
                return None
            cursor[0] += 1
            return cursor[0] - 1

    def worker() -> None:
        conn: smtplib.SMTP | None = None
        try:
            conn = _connect(port)
        except BaseException as exc:
            errors.append(exc)
        try:
            barrier.wait()
        except threading.BrokenBarrierError:
            return
        if conn is None or errors:  # one connection failed: send nothing at all
            if conn is not None:
                conn.close()
            return
        while (i := take()) is not None:
            mail, rec = mails[i], results[i]
            if schedule is not None:
                rec.scheduled = schedule(i)
                delay = rec.scheduled - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
            rec.started = time.monotonic()
            try:
                if conn is None:
                    conn = _connect(port)
                conn.sendmail(mail.mail_from, [SERVICE], mail.raw)
                rec.accepted = time.monotonic()
                if on_accepted is not None:
                    on_accepted(mail, rec.accepted)
            except smtplib.SMTPResponseException as exc:
                rec.error = f"{exc.smtp_code} {exc.smtp_error!r}"
                if exc.smtp_code == 421:
                    conn = None
            except (smtplib.SMTPException, OSError) as exc:
                rec.error = f"{type(exc).__name__}: {exc}"
                conn = None
        if conn is not None:
            try:
                conn.quit()
            except (smtplib.SMTPException, OSError):
                pass

    threads = [threading.Thread(target=worker, name=f"client-{n}", daemon=True)
               for n in range(connections)]
    for t in threads:
        t.start()
    barrier.wait()
    started = time.monotonic()
    for t in threads:
        t.join()
    if errors:
        raise RuntimeError(f"could not connect to 127.0.0.1:{port}: {errors[0]}")
    return RunResult(started, results)


def blast(port: int, mails: list[Mail], connections: int) -> RunResult:
    """As fast as the server answers."""
    return _run(port, mails, connections, None)


def paced(port: int, mails: list[Mail], connections: int, rate: float,
          on_accepted: Callable[[Mail, float], None] | None = None) -> RunResult:
    """Mail i goes out at start + i / rate (or as soon as a connection is free after that)."""
    origin: list[float] = []

    def schedule(i: int) -> float:
        if not origin:
            origin.append(time.monotonic() + 0.05)
        return origin[0] + i / rate

    with_lock = threading.Lock()

    def locked_schedule(i: int) -> float:
        with with_lock:
            return schedule(i)

    return _run(port, mails, connections, locked_schedule, on_accepted)

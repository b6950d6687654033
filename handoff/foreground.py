"""Foreground first: in one process, the work a sending server is waiting on (an SMTP
transaction, answered only once the mail is stored) goes before background work
(interpreting stored mail, sending the outbox).

Python threads share one interpreter lock and, on SQLite, one writer: a worker thread
that interprets mail while four connections deliver halves the rate at which the
listener can say ``250``.  So the listener ``touch``-es this object at every step of a
transaction, and the workers call :meth:`Foreground.wait_quiet` before each unit of
work: it returns once the listener has been quiet for a moment, or after ``longest``
at most, so a steady stream of mail slows the workers down but never starves them.
"""

from __future__ import annotations

import threading
import time
from typing import Callable


class Foreground:
    def __init__(self, quiet: float = 0.003, longest: float = 0.5,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.quiet, self.longest, self.clock = quiet, longest, clock
        self._last = float("-inf")

    def touch(self) -> None:
        """The foreground did something just now."""
        self._last = self.clock()

    def is_quiet(self) -> bool:
        return self.clock() - self._last >= self.quiet

    def wait_quiet(self, stopping: threading.Event | None = None) -> float:
        """Block until the foreground has been quiet for ``quiet`` seconds (at most
        ``longest``, or until ``stopping`` is set); return how long it waited."""
        start = self.clock()
        give_up = start + self.longest
        stopping = stopping or threading.Event()
        nap = 0.0  # beyond the rest of the quiet moment
        while True:
            now = self.clock()
            idle = now - self._last
            if idle >= self.quiet or now >= give_up:
                return now - start
            # Each look needs the interpreter lock the listener is using: while it stays
            # busy, look less and less often (up to every 50 ms).
            if stopping.wait(min(max(self.quiet - idle, nap), give_up - now)):
                return self.clock() - start
            nap = min(max(nap, self.quiet) * 2, 0.05)

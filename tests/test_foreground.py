"""Workers in ``handoff serve`` give way to the SMTP listener, but are never starved.
Time is injected: the fake pause advances the fake clock instead of sleeping."""

from __future__ import annotations

from typing import Callable

from handoff.foreground import Foreground


class FakeTime:
    def __init__(self) -> None:
        self.now = 100.0
        self.naps: list[float] = []
        self.during_nap: Callable[[], None] = lambda: None

    def clock(self) -> float:
        return self.now

    def wait(self, seconds: float) -> bool:  # threading.Event.wait's shape
        self.naps.append(seconds)
        self.now += seconds
        self.during_nap()
        return False


def test_a_quiet_listener_costs_the_workers_nothing():
    t = FakeTime()
    fg = Foreground(quiet=0.003, longest=0.5, clock=t.clock)
    assert fg.wait_quiet(t) == 0 and t.naps == []  # type: ignore[arg-type]


def test_a_worker_waits_until_the_listener_has_been_quiet_for_a_moment():
    t = FakeTime()
    fg = Foreground(quiet=0.003, longest=0.5, clock=t.clock)
    fg.touch()
    t.now += 0.001
    waited = fg.wait_quiet(t)  # type: ignore[arg-type]
    assert abs(waited - 0.002) < 1e-9


def test_a_steady_stream_of_mail_delays_the_workers_but_never_starves_them():
    t = FakeTime()
    fg = Foreground(quiet=0.003, longest=0.5, clock=t.clock)
    t.during_nap = fg.touch  # the listener is busy every time the worker looks
    fg.touch()
    waited = fg.wait_quiet(t)  # type: ignore[arg-type]
    assert abs(waited - 0.5) < 1e-9
    # it looks less often the longer the listener stays busy (each look needs the GIL)
    assert t.naps[0] == 0.003 and max(t.naps) == 0.05 and len(t.naps) < 20


def test_stopping_ends_the_wait_at_once():
    import threading

    fg = Foreground(quiet=10.0, longest=60.0)
    fg.touch()
    stopping = threading.Event()
    stopping.set()
    assert fg.wait_quiet(stopping) < 1.0

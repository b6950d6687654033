"""The smarthost: a real aiosmtpd ``Controller`` that records when each mail arrived."""

from __future__ import annotations

import re
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable

from aiosmtpd.controller import Controller

_IN_REPLY_TO = re.compile(rb"^In-Reply-To:[ \t]*(<[^>\s]+>)", re.I | re.M)


@dataclass(frozen=True)
class Received:
    at: float  # time.monotonic() when DATA ended
    in_reply_to: str
    rcpt_tos: tuple[str, ...]


class _Handler:
    def __init__(self, sink: "Sink") -> None:
        self.sink = sink

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        at = time.monotonic()
        content = envelope.original_content or envelope.content or b""
        if isinstance(content, str):
            content = content.encode("utf-8", "surrogateescape")
        head = content.split(b"\r\n\r\n", 1)[0]
        m = _IN_REPLY_TO.search(head)
        self.sink.record(Received(at, m.group(1).decode("ascii", "replace") if m else "",
                                  tuple(a.lower() for a in envelope.rcpt_tos)))
        return "250 2.0.0 Ok: sunk"


class Sink:
    """Offers are mails whose In-Reply-To is a Message-ID we sent, to that mail's owner."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.controller = Controller(_Handler(self), hostname="127.0.0.1", port=port,
                                     ready_timeout=10)
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self.total = 0
        self._expected: dict[str, str] = {}  # Message-ID -> owner address
        self._senders: dict[str, str] = {}  # Message-ID -> sender address (receipts)
        self.offers: dict[str, float] = {}  # Message-ID -> arrival time
        self.receipts: dict[str, float] = {}  # Message-ID -> the sender's receipt arrived
        self.others = 0  # receipts and anything else

    def start(self) -> "Sink":
        self.controller.start()
        return self

    def stop(self) -> None:
        self.controller.stop()

    def expect(self, message_id: str, owner: str, sender: str | None = None) -> None:
        """Count the offer to ``owner`` (and, given ``sender``, the receipt to them) of
        the handoff the mail ``message_id`` makes."""
        with self._lock:
            self._expected[message_id] = owner.lower()
            if sender is not None:
                self._senders[message_id] = sender.lower()

    def record(self, item: Received) -> None:
        with self._lock:
            self.total += 1
            owner = self._expected.get(item.in_reply_to)
            sender = self._senders.get(item.in_reply_to)
            if owner is not None and owner in item.rcpt_tos \
                    and item.in_reply_to not in self.offers:
                self.offers[item.in_reply_to] = item.at
            elif sender is not None and sender in item.rcpt_tos \
                    and item.in_reply_to not in self.receipts:
                self.receipts[item.in_reply_to] = item.at
            else:
                self.others += 1
            self._changed.notify_all()

    def offer_count(self, ids: set[str] | None = None) -> int:
        with self._lock:
            if ids is None:
                return len(self.offers)
            return sum(1 for i in ids if i in self.offers)

    def wait_for_offers(self, ids: set[str], timeout: float) -> bool:
        """Wait until every id in ``ids`` has its offer, or ``timeout`` passes."""
        return self._wait(lambda: all(i in self.offers for i in ids), timeout)

    def _wait(self, done: Callable[[], bool], timeout: float) -> bool:
        """Wait until ``done()`` (read under the lock) holds, or ``timeout`` passes."""
        with self._lock:
            return self._changed.wait_for(done, timeout)

    def offer_times(self) -> dict[str, float]:
        with self._lock:
            return dict(self.offers)

    def complete_times(self) -> dict[str, float]:
        """Message-ID -> when both its offer and its receipt had arrived."""
        with self._lock:
            return {i: max(t, self.receipts[i]) for i, t in self.offers.items()
                    if i in self.receipts}

    def wait_for_complete(self, ids: set[str], timeout: float) -> bool:
        """Wait until every id in ``ids`` has its offer and its receipt."""
        return self._wait(lambda: all(i in self.offers and i in self.receipts for i in ids),
                          timeout)

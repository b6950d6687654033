"""The inbound SMTP server (aiosmtpd).  It only validates, stores and queues (SPEC 8):

* ``RCPT TO`` an address that is not ours -> ``550 5.1.1`` at once: never a relay, no
  backscatter later;
* ``SIZE`` is advertised and enforced by aiosmtpd (``552`` past the limit);
* ``250`` only after the raw bytes and envelope are committed; a failed commit -> ``451``
  so the sending server keeps the message and retries (RFC 5321 4.2.5).
"""

from __future__ import annotations

import asyncio
import logging
import threading
from datetime import datetime, timezone
from typing import Any, AnyStr, Callable

from aiosmtpd.smtp import MISSING, SMTP, Envelope, Session

from handoff.addresses import ServiceAddresses
from handoff.db import SessionFactory
from handoff.errors import StorageError
from handoff.foreground import Foreground
from handoff.intake import Arrival, receive_messages
from handoff.settings import Settings
from handoff.telemetry import Telemetry

log = logging.getLogger(__name__)


class InboundHandler:
    def __init__(self, settings: Settings, sessions: SessionFactory,
                 on_stored: Callable[[int], None] | None = None,
                 clock: Callable[[], datetime] | None = None,
                 foreground: Foreground | None = None,
                 telemetry: Telemetry | None = None) -> None:
        self.service = ServiceAddresses(settings)
        self.telemetry = telemetry or Telemetry()  # counts only: no query per mail
        self.sessions = sessions
        self.on_stored = on_stored
        self.clock = clock or (lambda: datetime.now(timezone.utc))
        # workers in this process step aside while a transaction is moving
        self.foreground = foreground or Foreground()
        self._waiting: list[tuple[Arrival, asyncio.Future[int]]] = []
        self._writer: asyncio.Task[None] | None = None

    async def store(self, arrival: Arrival) -> int:
        """Commit ``arrival``; its receipt number once it is durable.

        Group commit: while one transaction is being written (in a thread, off the event
        loop), mails finished on other connections wait, and go together in the next
        one.  One connection alone gets one transaction per mail, as before; several
        share the cost of a transaction.  A failed commit fails every mail in it (451)."""
        done: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self._waiting.append((arrival, done))
        if self._writer is None or self._writer.done():
            self._writer = asyncio.ensure_future(self._write_waiting())
        return await done

    async def _write_waiting(self) -> None:
        while self._waiting:
            batch, self._waiting = self._waiting, []
            try:
                receipts = await asyncio.to_thread(
                    receive_messages, self.sessions, [a for a, _ in batch], source="smtp",
                    now=self.clock())
            except Exception as exc:  # StorageError, or a bug: every mail in it gets 451
                for _, done in batch:
                    if not done.done():
                        done.set_exception(exc)
                continue
            for (_, done), receipt in zip(batch, receipts):
                if not done.done():  # the connection may have gone meanwhile
                    done.set_result(receipt)

    async def handle_MAIL(self, server: SMTP, session: Session, envelope: Envelope,
                          address: str, mail_options: list[str]) -> Any:
        self.foreground.touch()
        return MISSING  # aiosmtpd's own handling: record the sender, 250

    async def handle_RCPT(self, server: SMTP, session: Session, envelope: Envelope,
                          address: str, rcpt_options: list[str]) -> str:
        self.foreground.touch()
        if self.service.read(address) is None:
            if not self.service.is_our_domain(address):
                self.telemetry.count_refused("smtp", "relay_denied")
                return "550 5.7.1 Relaying denied: not a domain served here"
            self.telemetry.count_refused("smtp", "unknown_mailbox")
            return "550 5.1.1 No such mailbox here"
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        self.foreground.touch()
        raw = envelope.original_content or envelope.content
        if isinstance(raw, str):
            raw = raw.encode("utf-8", "surrogateescape")
        try:
            receipt = await self.store(Arrival(bytes(raw or b""), envelope.mail_from or "",
                                               tuple(envelope.rcpt_tos)))
        except StorageError as exc:
            log.error("451 for message from %s: %s", envelope.mail_from, exc)
            self.telemetry.count_refused("smtp", "storage_failed")
            return "451 4.3.0 Could not store the message; try again later"
        except Exception:  # process boundary: never 250 what we did not store
            log.exception("451 after an unexpected error")
            self.telemetry.count_refused("smtp", "internal_error")
            return "451 4.3.0 Internal error; try again later"
        self.foreground.touch()
        self.telemetry.count_received("smtp")
        if self.on_stored is not None:
            self.on_stored(receipt)
        return f"250 2.0.0 Ok: queued as {receipt}"


class _SMTP(SMTP):
    """aiosmtpd refuses a message over the size limit itself (``552``, at ``MAIL FROM
    SIZE=`` or during DATA), before any handler hook: its reply is where to count it."""

    async def push(self, status: AnyStr) -> None:
        telemetry = getattr(self.event_handler, "telemetry", None)
        if telemetry is not None and status[:3] in ("552", b"552"):
            telemetry.count_refused("smtp", "too_large")
        await super().push(status)


class SMTPListener:
    """Runs the SMTP server on its own event loop thread; ``port=0`` picks a free port."""

    def __init__(self, handler: Any, host: str, port: int, *, data_size_limit: int,
                 hostname: str = "handoff") -> None:
        self.handler, self.host, self.port = handler, host, port
        self.data_size_limit, self.hostname = data_size_limit, hostname
        self.loop = asyncio.new_event_loop()
        self._server: asyncio.AbstractServer | None = None
        self._thread = threading.Thread(target=self._run, name="smtp", daemon=True)
        self._ready = threading.Event()
        self._error: BaseException | None = None

    def _factory(self) -> SMTP:
        return _SMTP(self.handler, data_size_limit=self.data_size_limit, enable_SMTPUTF8=True,
                     decode_data=False, hostname=self.hostname, ident="handoff ESMTP")

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        try:
            self._server = self.loop.run_until_complete(
                self.loop.create_server(self._factory, self.host, self.port))
            self.port = self._server.sockets[0].getsockname()[1]
        except BaseException as exc:
            self._error = exc
            self._ready.set()
            return
        self._ready.set()
        self.loop.run_forever()

    def start(self) -> "SMTPListener":
        self._thread.start()
        self._ready.wait(10)
        if self._error is not None:
            raise self._error
        return self

    @property
    def running(self) -> bool:
        return self._server is not None and self._server.is_serving()

    def stop(self) -> None:
        if self._server is not None:
            async def close() -> None:
                assert self._server is not None
                self._server.close()
                await self._server.wait_closed()
            asyncio.run_coroutine_threadsafe(close(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)

"""The IMAP door (SPEC 8): watch one mailbox, store each new message, then put it away.

For every message above the cursor: ``BODY.PEEK[]`` (RFC 3501 6.4.5: reading does not
set ``\\Seen``), :func:`handoff.intake.receive_message` commits it, the cursor moves past
its UID, and only then is it flagged ``\\Seen`` and moved to the done folder — with MOVE
(RFC 6851) where offered, else COPY, ``\\Deleted`` and (UID) EXPUNGE (RFC 4315).  A
crash between storing and moving leaves a message in the folder at or below the
cursor: the next run only puts it away.  UIDs mean something only under one
UIDVALIDITY (RFC 3501 2.3.1.1); when it changes the cursor starts over, and the
external id ``imap:<mailbox>:<uidvalidity>:<uid>`` plus the worker's Message-ID check
keep that from storing or acting twice.  Between runs the watcher waits in IDLE
(RFC 2177) or, where the server does not offer it, polls.
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from datetime import datetime
from typing import Any, Callable

from imapclient import DELETED, SEEN, IMAPClient
from imapclient.exceptions import IMAPClientAbortError, IMAPClientError

from handoff.addresses import ServiceAddresses
from handoff.db import SessionFactory
from handoff.errors import ConfigError, StorageError
from handoff.intake import receive_message
from handoff.settings import Settings
from mailer.imap_account import ImapAccount, MailboxCursor, imap_account, read_envelope
from mailer.imap_connection import (close_connection, has_buffered_lines, has_news,
                                    open_connection, reports_new)

__all__ = ["ImapAccount", "ImapWatcher", "imap_account", "read_envelope"]
log = logging.getLogger(__name__)
Wait = Callable[[threading.Event, float], object]  # wait(stop, seconds); stop ends it early
TRANSIENT = (IMAPClientError, OSError, StorageError)  # worth a reconnect and a retry
IDLE_CHECK = 30.0  # seconds in one IDLE: a missed report or a dead connection shows then


class ImapWatcher:
    """Reads the account's folder into the inbound queue; ``start()`` keeps doing so in a
    daemon thread, reconnecting with capped exponential backoff."""

    def __init__(self, settings: Settings, sessions: SessionFactory,
                 clock: Callable[[], datetime], on_stored: Callable[[int], None] | None = None,
                 *, account: ImapAccount | None = None, wait: Wait = threading.Event.wait,
                 retry: tuple[float, float] = (1.0, 300.0), timeout: float = 60.0) -> None:
        found = account or imap_account(settings)
        if found is None:
            raise ConfigError("no IMAP mailbox configured (HANDOFF_IMAP_URL)")
        self.account, self.settings, self.sessions, self.clock = found, settings, sessions, clock
        self.on_stored, self.wait, self.retry, self.timeout = on_stored, wait, retry, timeout
        self.service = ServiceAddresses(settings)
        self.cursor = MailboxCursor(sessions, found.mailbox, clock)
        self._client: IMAPClient | None = None
        self._stop, self._lock = threading.Event(), threading.Lock()  # lock: _idle_socket
        self._idle_socket: Any = None  # set while in IDLE, for stop() to shut
        self._thread: threading.Thread | None = None

    def run_once(self) -> int:
        """Connect if needed, store every new message and put away the stored ones;
        return how many were stored.  Connection errors drop the connection and raise."""
        try:
            client = self._connect()
            uidvalidity = int(client.select_folder(self.account.folder)[b"UIDVALIDITY"])
            has_news(client)  # forget SELECT's own count: only later reports are news
            last_uid = self.cursor.load(uidvalidity)
            if self.account.move_to:  # everything still here is new, or stored not moved
                uids = client.search(["NOT", "DELETED"])
            else:  # "n:*" always names the highest UID, even below n (RFC 3501 6.4.8)
                uids = [u for u in client.search(["UID", f"{last_uid + 1}:*"]) if u > last_uid]
            stored = 0
            for uid in sorted(uids):
                if uid > last_uid:
                    stored += self._store(client, uidvalidity, uid)
                self._put_away(client, uid)
            return stored
        except (IMAPClientError, OSError):
            self._disconnect()
            raise

    def _store(self, client: IMAPClient, uidvalidity: int, uid: int) -> int:
        data = client.fetch([uid], ["BODY.PEEK[]"]).get(uid)
        receipt = None
        if data is not None:  # None: expunged by someone else meanwhile
            raw = data.get(b"BODY[]") or b""  # no body is still a message, stored empty
            mail_from, rcpt_tos = read_envelope(raw, self.service)
            receipt = receive_message(
                self.sessions, raw, mail_from=mail_from, rcpt_tos=rcpt_tos, source="imap",
                now=self.clock(),
                external_id=f"imap:{self.account.mailbox}:{uidvalidity}:{uid}")
            log.debug("IMAP %s UID %s stored as %s (%d bytes)", self.account.mailbox, uid,
                      receipt, len(raw))
        self.cursor.advance(uidvalidity, uid)
        if receipt is not None and self.on_stored is not None:
            self.on_stored(receipt)
        return int(receipt is not None)

    def _put_away(self, client: IMAPClient, uid: int) -> None:
        """Flag ``\\Seen``, then MOVE (RFC 6851) or COPY + ``\\Deleted`` + EXPUNGE, by UID
        where UIDPLUS allows (RFC 4315 2.1), so no one else's deletions are expunged."""
        target = self.account.move_to
        try:
            client.add_flags([uid], [SEEN])
            if target and client.has_capability("MOVE"):
                client.move([uid], target)
            elif target:
                client.copy([uid], target)
                client.add_flags([uid], [DELETED])
                if client.has_capability("UIDPLUS"):
                    client.uid_expunge([uid])
                else:  # plain EXPUNGE: every \Deleted message in the folder goes
                    client.expunge()
        except IMAPClientAbortError:
            raise
        except IMAPClientError as exc:  # refused (NO/BAD): stored anyway; retried next run
            log.warning("IMAP %s UID %s stored but not moved: %s", self.account.mailbox, uid,
                        exc)

    def _connect(self) -> IMAPClient:
        if self._client is None:
            self._client = open_connection(self.account, self.timeout)
            log.info("IMAP %s connected (%s)", self.account.mailbox,
                     "IDLE" if self.idles else "polling")
        return self._client

    @property
    def idles(self) -> bool:
        """Whether the connected server offers IDLE (RFC 2177); else the watcher polls."""
        return self._client is not None and bool(self._client.has_capability("IDLE"))

    @property
    def idling(self) -> bool:
        """In IDLE now, waiting for the server to report mail."""
        return self._idle_socket is not None

    def _disconnect(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            close_connection(client)

    def _wait_for_mail(self) -> None:
        """In IDLE (RFC 2177) until the server reports a new message (EXISTS), stop()
        shuts the socket, or ``IDLE_CHECK`` seconds pass (well inside the 29 minutes RFC
        2177 allows); then DONE, and the caller runs again.  Where IDLE is missing, poll.

        idle_check() only watches the socket, so a report that came with an earlier
        response (kept aside by imaplib) or in the same packet as ``+ idling`` (already
        in imaplib's read buffer) would wait unseen: both are looked for first."""
        client = self._client
        if client is None or not self.idles:
            self.wait(self._stop, float(self.settings.imap_poll_seconds))
            return
        if has_news(client):
            return
        with self._lock:
            if self._stop.is_set():
                return
            client.idle()
            self._idle_socket = client.socket()
        try:
            deadline = time.monotonic() + IDLE_CHECK
            if has_buffered_lines(client, self.timeout):
                deadline = 0.0  # DONE at once: idle_done() returns them, and we run again
            while not self._stop.is_set() and (left := deadline - time.monotonic()) > 0:
                responses = client.idle_check(timeout=left)
                if any(r[:1] == (b"BYE",) for r in responses):
                    raise IMAPClientAbortError(f"server said {responses!r}")
                if not responses or reports_new(responses):
                    break  # nothing (the time is up, or EOF: DONE will tell) or news
        finally:
            with self._lock:
                self._idle_socket = None
        client.idle_done()

    def _run(self) -> None:
        delay = self.retry[0]
        while not self._stop.is_set():
            try:
                while self.run_once() and not self._stop.is_set():
                    pass
                delay = self.retry[0]
                self._wait_for_mail()
                continue
            except TRANSIENT as exc:
                if self._stop.is_set():
                    break
                log.warning("IMAP %s: %s; trying again in %.0f s", self.account.mailbox,
                            exc, delay)
            except Exception:  # thread boundary: log it, keep watching
                log.exception("IMAP %s watcher failed; trying again in %.0f s",
                              self.account.mailbox, delay)
            self._disconnect()
            self.wait(self._stop, delay)
            delay = min(delay * 2, self.retry[1])
        self._disconnect()

    def start(self) -> "ImapWatcher":
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="imap", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float = 10.0) -> None:
        """Stop promptly: a waiting poll or backoff ends at once, and an IDLE ends by
        shutting the socket under it (idle_check cannot be interrupted otherwise)."""
        self._stop.set()
        with self._lock:
            if self._idle_socket is not None:
                try:
                    socket.socket.shutdown(self._idle_socket, socket.SHUT_RDWR)
                except OSError:
                    pass
        if self._thread is not None:
            self._thread.join(timeout)
        if not self.alive:
            self._disconnect()

    @property
    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    @property
    def running(self) -> bool:
        return self.alive and not self._stop.is_set()

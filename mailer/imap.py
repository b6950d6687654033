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
from handoff.intake import find_stored, receive_message
from handoff.settings import Settings
from handoff.telemetry import Telemetry
from mailer.imap_account import ImapAccount, MailboxCursor, imap_account, read_envelope
from mailer.imap_connection import (close_connection, has_buffered_lines, has_news,
                                    open_connection, reports_new)

__all__ = ["ImapAccount", "ImapWatcher", "imap_account", "read_envelope"]
log = logging.getLogger(__name__)
Wait = Callable[[threading.Event, float], object]  # wait(stop, seconds); stop ends it early
TRANSIENT = (IMAPClientError, OSError, StorageError)  # worth a reconnect and a retry
IDLE_CHECK = 30.0  # seconds in one IDLE: a missed report or a dead connection shows then
POISON = 3  # FETCHes of one message the server may refuse before it is stored marked
UNHEALTHY_AFTER = 3  # failed runs in a row before /healthz says the IMAP door is down


class ImapWatcher:
    """Reads the account's folder into the inbound queue; ``start()`` keeps doing so in a
    daemon thread, reconnecting with capped exponential backoff."""

    def __init__(self, settings: Settings, sessions: SessionFactory,
                 clock: Callable[[], datetime], on_stored: Callable[[int], None] | None = None,
                 *, account: ImapAccount | None = None, wait: Wait = threading.Event.wait,
                 retry: tuple[float, float] = (1.0, 300.0), timeout: float = 60.0,
                 telemetry: Telemetry | None = None) -> None:
        found = account or imap_account(settings)
        if found is None:
            raise ConfigError("no IMAP mailbox configured (HANDOFF_IMAP_URL)")
        self.account, self.settings, self.sessions, self.clock = found, settings, sessions, clock
        self.on_stored, self.wait, self.retry, self.timeout = on_stored, wait, retry, timeout
        self.service = ServiceAddresses(settings)
        self.telemetry = telemetry or Telemetry()
        self.cursor = MailboxCursor(sessions, found.mailbox, clock)
        self._client: IMAPClient | None = None
        self._stop, self._lock = threading.Event(), threading.Lock()  # lock: _idle_socket
        self._idle_socket: Any = None  # set while in IDLE, for stop() to shut
        self._thread: threading.Thread | None = None
        self._refused: dict[int, int] = {}  # UID -> FETCHes the server refused
        self.failures = 0  # connections or runs failed in a row

    def run_once(self) -> int:
        """Connect if needed, store every new message and put away the stored ones;
        return how many were stored.  Connection errors drop the connection and raise."""
        try:
            client = self._connect()
            uidvalidity = int(client.select_folder(self.account.folder)[b"UIDVALIDITY"])
            has_news(client)  # forget SELECT's own count: only later reports are news
            last_uid = self.cursor.load(uidvalidity)
            if self.account.move_to:  # everything still here is new, or stored not moved
                uids = sorted(client.search(["NOT", "DELETED"]))
            else:  # "n:*" always names the highest UID, even below n (RFC 3501 6.4.8)
                uids = sorted(u for u in client.search(["UID", f"{last_uid + 1}:*"])
                              if u > last_uid)
            # Only what is stored may leave the folder: a UID at or below the cursor was
            # stored unless it was skipped (flagged \Deleted by someone, then not)
            stored_before = find_stored(self.sessions, [
                self._external_id(uidvalidity, u) for u in uids if u <= last_uid])
            stored = 0
            for uid in uids:
                if self._stop.is_set():
                    break
                if uid > last_uid or self._external_id(uidvalidity, uid) not in stored_before:
                    outcome = self._store(client, uidvalidity, uid)
                    if outcome is None:  # the server would not give it: next run
                        break
                    stored += outcome
                    if not outcome:  # gone meanwhile: nothing to put away
                        continue
                self._put_away(client, uid)
            self.failures = 0
            return stored
        except (IMAPClientError, OSError):
            self._disconnect()
            raise

    def _external_id(self, uidvalidity: int, uid: int) -> str:
        return f"imap:{self.account.mailbox}:{uidvalidity}:{uid}"

    def _store(self, client: IMAPClient, uidvalidity: int, uid: int) -> int | None:
        """Store one message: 1, or 0 when it is gone; None when the server refused to
        hand it over (tried again next run; after ``POISON`` refusals a marked row
        is stored in its place and the message is moved aside, so it cannot block the
        folder).  A message over the size limit is stored as its header, marked."""
        external_id = self._external_id(uidvalidity, uid)
        error, lost_connection = None, False
        try:
            sizes = client.fetch([uid], ["RFC822.SIZE"]).get(uid)
            if sizes is None:  # expunged by someone else meanwhile
                self.cursor.advance(uidvalidity, uid)
                return 0
            size = int(sizes.get(b"RFC822.SIZE") or 0)
            if size > self.settings.max_message_size:
                part, error = b"BODY[HEADER]", (
                    f"{size} bytes, over HANDOFF_MAX_MESSAGE_SIZE: only its header is kept; "
                    f"the message is in {self.account.move_to or self.account.folder}")
                data = client.fetch([uid], ["BODY.PEEK[HEADER]"]).get(uid) or {}
            else:
                part, data = b"BODY[]", client.fetch([uid], ["BODY.PEEK[]"]).get(uid) or {}
            raw = data.get(part) or b""  # no body is still a message, stored empty
        except IMAPClientError as exc:  # NO/BAD, or Dovecot's BYE after an internal error
            refused = self._refused[uid] = self._refused.get(uid, 0) + 1
            log.warning("IMAP %s UID %s: the server refused it (%d of %d): %s",
                        self.account.mailbox, uid, refused, POISON, exc)
            if refused < POISON:
                if isinstance(exc, IMAPClientAbortError):
                    raise  # the connection is gone: reconnect, ask again
                return None
            where = self.account.move_to or "nowhere (it is flagged seen)"
            raw, error = b"", (f"the IMAP server refused to hand over UID {uid} "
                               f"{POISON} times ({exc}); it is moved to {where}")
            lost_connection = isinstance(exc, IMAPClientAbortError)
        mail_from, rcpt_tos = read_envelope(raw, self.service)
        receipt = receive_message(self.sessions, raw, mail_from=mail_from, rcpt_tos=rcpt_tos,
                                  source="imap", now=self.clock(), external_id=external_id,
                                  error=error)
        log.debug("IMAP %s UID %s stored as %s (%d bytes)", self.account.mailbox, uid,
                  receipt, len(raw))
        self.telemetry.count_received("imap")
        self._refused.pop(uid, None)
        self.cursor.advance(uidvalidity, uid)
        if self.on_stored is not None:
            self.on_stored(receipt)
        if lost_connection:  # stored marked; it is put away after the reconnect
            raise IMAPClientAbortError(f"connection lost after UID {uid} was refused")
        return 1

    def _put_away(self, client: IMAPClient, uid: int) -> None:
        """Flag ``\\Seen``, then MOVE (RFC 6851) or COPY + ``\\Deleted`` + EXPUNGE, by UID
        where UIDPLUS allows (RFC 4315 2.1), so no one else's deletions are expunged.  A
        done folder deleted meanwhile (``[TRYCREATE]``, RFC 3501 6.4.7) is made again."""
        target = self.account.move_to
        for attempt in (1, 2):
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
                return
            except IMAPClientAbortError:
                raise
            except IMAPClientError as exc:  # refused (NO/BAD): stored; retried next run
                if attempt == 1 and target and "TRYCREATE" in str(exc).upper():
                    client.create_folder(target)
                    continue
                log.warning("IMAP %s UID %s stored but not moved: %s",
                            self.account.mailbox, uid, exc)
                return

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
        if self._stop.is_set():
            return
        client.idle()  # not under the lock: stop() must never wait for the server
        with self._lock:
            self._idle_socket = client.socket()
        try:
            if self._stop.is_set():  # stop() came before the socket was known
                return
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
                self._wait_for_mail()
                delay = self.retry[0]  # a whole cycle worked, waiting included
                continue
            except TRANSIENT as exc:
                if self._stop.is_set():
                    break
                self.failures += 1
                log.warning("IMAP %s: %s; trying again in %.0f s", self.account.mailbox,
                            exc, delay)
            except Exception:  # thread boundary: log it, keep watching
                self.failures += 1
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

    @property
    def healthy(self) -> bool:
        """Running, and reading: not failing run after run (a wrong password, a done
        folder that cannot be made, a server gone) — what ``/healthz`` reports."""
        return self.running and self.failures < UNHEALTHY_AFTER

"""Where the IMAP door reads (SPEC 8), how far it has read, and the envelope a message
read there gets.

An IMAP mailbox has no SMTP envelope (RFC 5321 3.3): the sender comes from the
``Return-Path`` the delivering server wrote (RFC 5322 3.6.7), the recipients from the
delivery headers and To/Cc, kept only where they are addresses of ours.  The cursor is
(UIDVALIDITY, last UID stored) in ``imap_cursors``: UIDs are only comparable under one
UIDVALIDITY (RFC 3501 2.3.1.1).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime
from email.parser import BytesHeaderParser
from email.policy import compat32
from typing import Callable
from urllib.parse import unquote, urlsplit

from sqlalchemy import update
from sqlalchemy.exc import SQLAlchemyError

from handoff.addresses import ServiceAddresses, normalise_address, split_addresses
from handoff.db import SessionFactory
from handoff.errors import ConfigError, StorageError
from handoff.models import ImapCursor
from handoff.settings import Settings

log = logging.getLogger(__name__)
_ENVELOPE_HEADERS = ("Delivered-To", "X-Original-To", "To", "Cc")


@dataclass(frozen=True)
class ImapAccount:
    """Where to read: one folder of one mailbox, and where read messages go."""

    host: str
    port: int
    user: str
    password: str = field(repr=False)
    folder: str = "INBOX"
    tls: bool = True
    move_to: str = "handoff-done"  # "" = only flag \Seen, leave it in place
    ca_file: str = ""  # verify the server's certificate by this CA; "": the system's

    @property
    def mailbox(self) -> str:
        """The cursor's key, e.g. ``handoff@acme.test@imap.acme.test:993/INBOX``."""
        return f"{self.user}@{self.host}:{self.port}/{self.folder}"


def imap_account(settings: Settings) -> ImapAccount | None:
    """The account from ``imap_url`` (``imaps://user:pass@host:port/folder``, user and
    password percent-decoded; ``imap://`` is without TLS) or the ``imap_*`` parts; None
    when neither is set.  :class:`ConfigError` when it is set but unusable."""
    s = settings
    if s.imap_url:
        url = urlsplit(s.imap_url)
        if url.scheme not in ("imap", "imaps"):
            raise ConfigError(f"HANDOFF_IMAP_URL must be imap:// or imaps://, not {url.scheme}:")
        try:
            port = url.port or 0
        except ValueError:  # never the exception's text: it can hold part of the password
            raise ConfigError("HANDOFF_IMAP_URL has a bad port, or a '/', '#' or '?' in the "
                              "user or password that is not percent-encoded") from None
        host, tls = url.hostname or "", url.scheme == "imaps"
        user, password = unquote(url.username or ""), unquote(url.password or "")
        folder = unquote(url.path.lstrip("/")) or s.imap_folder
    elif s.imap_host:
        host, port, tls = s.imap_host, s.imap_port, s.imap_tls
        user, password, folder = s.imap_user, s.imap_password, s.imap_folder
    else:
        return None
    if not host or not user:
        raise ConfigError("the IMAP mailbox needs a host and a user")
    if s.imap_move_to.strip() and _same_folder(s.imap_move_to.strip(), folder or "INBOX"):
        raise ConfigError("HANDOFF_IMAP_MOVE_TO names the folder that is read: every message "
                          "would come back under a new UID and be read again")
    return ImapAccount(host, port or (993 if tls else 143), user, password, folder or "INBOX",
                       tls, s.imap_move_to.strip(), s.imap_ca)


def _same_folder(a: str, b: str) -> bool:
    """INBOX is case-insensitive (RFC 3501 5.1); other names are as written."""
    return a == b or (a.upper() == "INBOX" and b.upper() == "INBOX")


def read_envelope(raw: bytes, service: ServiceAddresses) -> tuple[str, list[str]]:
    """An SMTP envelope for a message that arrived without one: the sender from
    ``Return-Path`` (``<>`` stays the null path: bounces) or else ``From``; the
    recipients are the addresses of ours in Delivered-To, X-Original-To, To and Cc, or
    the service address.  Hostile headers fall back to those defaults."""
    fallback = [f"{service.local}@{service.domain}"]
    head = raw[: min((i for i in (raw.find(b"\r\n\r\n"), raw.find(b"\n\n")) if i >= 0),
                     default=len(raw))]
    try:
        headers = BytesHeaderParser(policy=compat32).parsebytes(head + b"\n\n")
        path = str(headers.get("Return-Path", "")).strip()
        mail_from = "<>" if path == "<>" else (normalise_address(path)
                                                or normalise_address(str(headers.get("From", ""))))
        ours: list[str] = []
        for name in _ENVELOPE_HEADERS:
            values = [str(v) for v in headers.get_all(name, [])]
            for _name, addr in split_addresses(values):
                if addr not in ours and service.read(addr) is not None:
                    ours.append(addr)
        return mail_from, ours or fallback
    except Exception:  # hostile input at the door: the bytes are stored regardless
        log.warning("unreadable headers; storing with the service address", exc_info=True)
        return "", fallback


class MailboxCursor:
    """The watcher's place in one mailbox, committed after each stored message."""

    def __init__(self, sessions: SessionFactory, mailbox: str,
                 clock: Callable[[], datetime]) -> None:
        self.sessions, self.mailbox, self.clock = sessions, mailbox, clock

    def load(self, uidvalidity: int) -> int:
        """The last UID stored under ``uidvalidity``; 0 (read it all) for a new mailbox
        or a changed UIDVALIDITY, which is recorded here."""
        try:
            with self.sessions.begin() as session:
                row = session.get(ImapCursor, self.mailbox)
                if row is not None and row.uidvalidity == uidvalidity:
                    return int(row.last_uid)
                if row is None:
                    row = ImapCursor(mailbox=self.mailbox)
                    session.add(row)
                else:
                    log.warning("IMAP %s: UIDVALIDITY %s -> %s, reading it again",
                                self.mailbox, row.uidvalidity, uidvalidity)
                row.uidvalidity, row.last_uid, row.updated_at = uidvalidity, 0, self.clock()
                return 0
        except SQLAlchemyError as exc:
            raise StorageError(f"could not read the IMAP cursor: {exc}") from exc

    def advance(self, uidvalidity: int, uid: int) -> None:
        """Past ``uid`` (never back, and only under the UIDVALIDITY it was read in)."""
        try:
            with self.sessions.begin() as session:
                session.execute(update(ImapCursor).where(
                    ImapCursor.mailbox == self.mailbox, ImapCursor.uidvalidity == uidvalidity,
                    ImapCursor.last_uid < uid).values(last_uid=uid, updated_at=self.clock()))
        except SQLAlchemyError as exc:
            raise StorageError(f"could not move the IMAP cursor: {exc}") from exc

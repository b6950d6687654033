"""Outbox delivery: claim due rows, render them, send them (SPEC 8).

With ``HANDOFF_SMARTHOST`` set, mail goes there over SMTP (one connection per batch);
otherwise each mail is written as an ``.eml`` file under ``<data>/outbox`` — the dev
outbox the status page lists.  A temporary failure (4xx, refused connection, timeout)
is retried with exponential backoff; a permanent 5xx marks the row failed, visibly.
"""

from __future__ import annotations

import logging
import smtplib
import socket
from datetime import datetime, timedelta
from pathlib import Path
from typing import Callable

from sqlalchemy import select, update

from handoff.db import SessionFactory
from handoff.models import Handoff, OutboxMail
from handoff.addresses import ServiceAddresses
from handoff.delivery import note_mail_failed
from handoff.settings import Settings
from handoff.telemetry import Telemetry
from mailer.compose import Composed, MailRenderer, wire_bytes
from mailer.smarthost import SMTP_TIMEOUT, open_smarthost, server_said

log = logging.getLogger(__name__)
Clock = Callable[[], datetime]
# With the backoff below (30 s doubling, at most 6 h) 30 attempts span about five days,
# Postfix's maximal_queue_lifetime: a smarthost down over a long weekend loses nothing.
MAX_ATTEMPTS = 30
# A claimed row whose sender died is taken up again after this (it may then be sent
# twice, which is better than never).
CLAIM_LEASE = timedelta(minutes=10)


def _still_open(connection: smtplib.SMTP | None, code: int) -> smtplib.SMTP | None:
    """The connection, if another mail can use it (RFC 5321 3.8: 421 closes it)."""
    if connection is None or code == 421 or getattr(connection, "sock", None) is None:
        if connection is not None:
            connection.close()
        return None
    return connection


def backoff(attempts: int) -> timedelta:
    return timedelta(seconds=min(30 * 2 ** max(attempts - 1, 0), 6 * 3600))


class Deliverer:
    def __init__(self, settings: Settings, sessions: SessionFactory, clock: Clock,
                 smtp_timeout: float = SMTP_TIMEOUT, telemetry: Telemetry | None = None) -> None:
        self.settings = settings
        self.telemetry = telemetry or Telemetry()
        self.smtp_timeout = smtp_timeout
        self.sessions = sessions
        self.clock = clock
        self.renderer = MailRenderer(settings)
        self.service = ServiceAddresses(settings)

    def deliver_pending(self, limit: int = 50) -> int:
        """Send what is due; return how many rows were attempted.

        Three short transactions per batch, whatever its size: claim and render (tokens
        are committed before any mail holding them leaves), then send every mail over
        one SMTP connection, then record the outcomes.
        """
        now = self.clock()
        batch = self._claim_and_compose(now, limit)
        if not batch:
            return 0
        outcomes: list[tuple[int, str | None, str | None, bool]] = []
        connection: smtplib.SMTP | None = None
        unreachable: str | None = None  # the smarthost could not be used: the whole batch
        try:
            for mail_id, composed in batch:
                if composed is None:
                    continue
                if self.settings.smarthost_address is None:  # the dev outbox
                    outcomes.append((mail_id, str(self._write_eml(mail_id, composed)),
                                     None, False))
                    continue
                if unreachable is None and connection is None:
                    try:  # a failure before MAIL FROM is about the connection, never the
                        # mail: temporary, whatever its code (a 554 greeting, a 5xx EHLO)
                        connection = open_smarthost(self.settings, self.smtp_timeout)
                    except (smtplib.SMTPException, OSError) as exc:
                        unreachable = f"smarthost unavailable: {type(exc).__name__}: {exc}"
                if unreachable is not None:  # the rest of the batch waits, untried
                    outcomes.append((mail_id, None, unreachable, False))
                    continue
                assert connection is not None
                where, error, permanent, connection = self._send(composed, connection)
                outcomes.append((mail_id, where, error, permanent))
        finally:
            if connection is not None:
                try:
                    connection.quit()
                except (smtplib.SMTPException, OSError):
                    pass
            self._record(outcomes)
        return len(batch)

    def _claim_and_compose(self, now: datetime,
                           limit: int) -> list[tuple[int, Composed | None]]:
        batch: list[tuple[int, Composed | None]] = []
        with self.sessions.begin() as session:
            mails = list(session.scalars(
                select(OutboxMail)
                .where(OutboxMail.status.in_(("queued", "sending")),
                       OutboxMail.next_attempt_at <= now)
                .order_by(OutboxMail.id).limit(limit)
                .with_for_update(skip_locked=True, of=OutboxMail)))
            # load the batch's handoffs (and their people) in one query, not one per mail;
            # held in a local because the session's identity map only keeps weak references
            handoffs = list(session.scalars(select(Handoff).where(  # noqa: F841
                Handoff.id.in_({m.handoff_id for m in mails}))).unique())
            for mail in mails:
                mail.status = "sending"
                mail.attempts += 1
                mail.next_attempt_at = now + CLAIM_LEASE
                try:
                    with session.no_autoflush:
                        composed = self.renderer.compose(session, mail, now)
                except Exception as exc:  # a bug or bad data in one mail must not stop others
                    log.exception("outbox mail %s could not be rendered", mail.id)
                    mail.status = "failed"
                    mail.last_error = f"rendering failed: {type(exc).__name__}: {exc}"[:2000]
                    note_mail_failed(session, self.service, mail, mail.last_error, now)
                    self.telemetry.count_deliveries(failed=1)
                    batch.append((mail.id, None))
                    continue
                mail.subject = composed.subject[:998]
                batch.append((mail.id, composed))
        return batch

    def _send(self, composed: Composed, connection: smtplib.SMTP
              ) -> tuple[str | None, str | None, bool, smtplib.SMTP | None]:
        """Send one mail over the smarthost connection: (where, error, permanent,
        connection to reuse)."""
        target = self.settings.smarthost_address
        assert target is not None
        try:
            if (composed.envelope_from + composed.recipient).isascii():
                connection.sendmail(composed.envelope_from, [composed.recipient],
                                    wire_bytes(composed.message))
            else:  # SMTPUTF8: the email package's own path asks the server for it
                connection.send_message(composed.message, from_addr=composed.envelope_from,
                                        to_addrs=[composed.recipient])
            return f"{target[0]}:{target[1]}", None, False, connection
        except smtplib.SMTPRecipientsRefused as exc:  # our one recipient: its own code
            code, said = next(iter(exc.recipients.values()), (450, b"refused"))
            return None, f"{code} {server_said(said)}", 500 <= code < 600, \
                _still_open(connection, code)
        except smtplib.SMTPServerDisconnected as exc:
            return None, f"disconnected: {exc}", False, None
        except smtplib.SMTPResponseException as exc:
            # after a refused MAIL/RCPT/DATA smtplib sent RSET: the connection is reusable,
            # unless the server said 421 (closing) and smtplib closed it
            permanent = 500 <= exc.smtp_code < 600
            return None, f"{exc.smtp_code} {server_said(exc.smtp_error)}", permanent, \
                _still_open(connection, exc.smtp_code)
        except (smtplib.SMTPException, OSError, socket.timeout) as exc:
            # a timeout or a dropped connection mid-mail: try later
            connection.close()
            return None, f"{type(exc).__name__}: {exc}", False, None

    def _record(self, outcomes: list[tuple[int, str | None, str | None, bool]]) -> None:
        if not outcomes:
            return
        now = self.clock()
        failed: list[tuple[int, str]] = []
        sent: dict[str | None, list[int]] = {}  # where -> mails sent there
        for mail_id, where, error, _permanent in outcomes:
            if error is None:
                sent.setdefault(where, []).append(mail_id)
        with self.sessions.begin() as session:
            db = session.connection()
            for where, mail_ids in sent.items():  # one statement for a smarthost's batch
                db.execute(update(OutboxMail).where(OutboxMail.id.in_(mail_ids))
                           .values(status="sent", sent_at=now, last_error=None,
                                   delivered_to=where))
            for mail_id, where, error, permanent in outcomes:
                if error is None:
                    continue
                attempts = db.scalar(select(OutboxMail.attempts)
                                     .where(OutboxMail.id == mail_id)) or 0
                values: dict[str, object]
                if permanent or attempts >= MAX_ATTEMPTS:
                    values = {"status": "failed", "last_error": error[:2000]}
                    log.error("outbox mail %s failed for good: %s", mail_id, error)
                    failed.append((mail_id, error))
                else:
                    values = {"status": "queued", "last_error": error[:2000],
                              "next_attempt_at": now + backoff(attempts)}
                    log.warning("outbox mail %s will be retried: %s", mail_id, error)
                db.execute(update(OutboxMail).where(OutboxMail.id == mail_id).values(**values))
            for mail_id, error in failed:  # the timeline says so; an offer tells the sender
                mail = session.get(OutboxMail, mail_id)
                if mail is not None:
                    note_mail_failed(session, self.service, mail, error, now)
        done = sum(len(mail_ids) for mail_ids in sent.values())
        self.telemetry.count_deliveries(sent=done, failed=len(failed),
                                        deferred=len(outcomes) - done - len(failed))

    def _write_eml(self, mail_id: int, composed: Composed) -> Path:
        folder = self.settings.outbox_dir
        folder.mkdir(parents=True, exist_ok=True)
        stamp = self.clock().strftime("%Y%m%dT%H%M%S")
        path = folder / f"{stamp}-{mail_id:06d}.eml"
        tmp = path.with_suffix(".tmp")
        tmp.write_bytes(
            f"X-Envelope-From: {composed.envelope_from}\r\n"
            f"X-Envelope-To: {composed.recipient}\r\n".encode() + composed.message.as_bytes())
        tmp.replace(path)
        return path

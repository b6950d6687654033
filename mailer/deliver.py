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
from handoff.models import OutboxMail
from handoff.settings import Settings
from mailer.compose import Composed, MailRenderer

log = logging.getLogger(__name__)
Clock = Callable[[], datetime]
MAX_ATTEMPTS = 12
SMTP_TIMEOUT = 30
# A claimed row whose sender died is taken up again after this (it may then be sent
# twice, which is better than never).
CLAIM_LEASE = timedelta(minutes=10)


def backoff(attempts: int) -> timedelta:
    return timedelta(seconds=min(30 * 2 ** max(attempts - 1, 0), 6 * 3600))


class Deliverer:
    def __init__(self, settings: Settings, sessions: SessionFactory, clock: Clock) -> None:
        self.settings = settings
        self.sessions = sessions
        self.clock = clock
        self.renderer = MailRenderer(settings)

    def deliver_pending(self, limit: int = 50) -> int:
        """Send what is due; return how many rows were attempted."""
        now = self.clock()
        with self.sessions() as session:
            ids = list(session.scalars(
                select(OutboxMail.id)
                .where(OutboxMail.status.in_(("queued", "sending")),
                       OutboxMail.next_attempt_at <= now)
                .order_by(OutboxMail.id).limit(limit)))
        if not ids:
            return 0
        connection: smtplib.SMTP | None = None
        try:
            for mail_id in ids:
                composed = self._claim_and_compose(mail_id)
                if composed is None:
                    continue
                connection = self._send(mail_id, composed, connection)
        finally:
            if connection is not None:
                try:
                    connection.quit()
                except (smtplib.SMTPException, OSError):
                    pass
        return len(ids)

    def _claim_and_compose(self, mail_id: int) -> Composed | None:
        try:
            return self._compose(mail_id)
        except Exception as exc:  # a bug or bad data in one mail must not stop the others
            log.exception("outbox mail %s could not be rendered", mail_id)
            self._fail(mail_id, f"rendering failed: {type(exc).__name__}: {exc}", True)
            return None

    def _compose(self, mail_id: int) -> Composed | None:
        now = self.clock()
        with self.sessions.begin() as session:
            claimed = session.execute(
                update(OutboxMail)
                .where(OutboxMail.id == mail_id, OutboxMail.status.in_(("queued", "sending")),
                       OutboxMail.next_attempt_at <= now)
                .values(status="sending", attempts=OutboxMail.attempts + 1,
                        next_attempt_at=now + CLAIM_LEASE))
            if not claimed.rowcount:  # type: ignore[attr-defined]
                return None
            mail = session.get(OutboxMail, mail_id)
            assert mail is not None
            composed = self.renderer.compose(session, mail, now)
            mail.subject = str(composed.message["Subject"])
            return composed

    def _send(self, mail_id: int, composed: Composed,
              connection: smtplib.SMTP | None) -> smtplib.SMTP | None:
        target = self.settings.smarthost_address
        try:
            if target is None:
                where = str(self._write_eml(mail_id, composed))
            else:
                if connection is None:
                    connection = smtplib.SMTP(target[0], target[1], timeout=SMTP_TIMEOUT)
                connection.send_message(composed.message, from_addr=composed.envelope_from,
                                        to_addrs=[composed.recipient])
                where = f"{target[0]}:{target[1]}"
        except smtplib.SMTPResponseException as exc:
            permanent = 500 <= exc.smtp_code < 600
            self._fail(mail_id, f"{exc.smtp_code} {exc.smtp_error!r}", permanent)
            return connection if connection is not None and not permanent else None
        except (smtplib.SMTPException, OSError, socket.timeout) as exc:
            self._fail(mail_id, f"{type(exc).__name__}: {exc}", False)
            return None
        with self.sessions.begin() as session:
            session.execute(update(OutboxMail).where(OutboxMail.id == mail_id).values(
                status="sent", sent_at=self.clock(), delivered_to=where, last_error=None))
        return connection

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

    def _fail(self, mail_id: int, error: str, permanent: bool) -> None:
        now = self.clock()
        with self.sessions.begin() as session:
            mail = session.get(OutboxMail, mail_id)
            assert mail is not None
            mail.last_error = error[:2000]
            if permanent or mail.attempts >= MAX_ATTEMPTS:
                mail.status = "failed"
                log.error("outbox mail %s failed for good: %s", mail_id, error)
            else:
                mail.status = "queued"
                mail.next_attempt_at = now + backoff(mail.attempts)
                log.warning("outbox mail %s will be retried: %s", mail_id, error)

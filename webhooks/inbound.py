"""Provider inbound routes (SPEC 8): Mailgun, Postmark and SendGrid POST each message here,
and it goes through the same door as SMTP and IMAP, ``intake.receive_message``.

Like the SMTP listener, a route only checks, stores and queues; the worker interprets.
Machine endpoints: no session, no cookies, no CSRF token — the provider's signature or
credentials are the only proof.  A route whose credential setting is empty is off (404).

What each case answers, and what the provider then does:

- 200 ``{"stored": n}``: committed (or committed before: a replay, a retry); it stops.
- 404: the route's credential setting is empty, the route is off.
- 401: no or wrong signature or credentials, or a Mailgun timestamp outside
  ``webhook_replay_seconds``; logged; it retries (fix the secret and the mail arrives).
- 400: authentic but not the documented shape (say a Mailgun URL not ending in ``mime``);
  logged; it retries.
- 413: the request or the message in it is over the limit; it retries, then gives up.
- no recipient of ours: 406 to Mailgun, 403 to Postmark, 200 ``{"stored": null}`` to
  SendGrid; logged.  We are never a relay and asking again cannot make an address ours,
  so each gets the answer that ends its retries: Mailgun documents 406 as "rejected, not
  retried", Postmark 403 as "stop retries"; SendGrid retries every non-2xx.  Recipients
  that are not ours are dropped from a message that has one of ours.
- 503 (``Retry-After``): the database cannot take it; it retries, nothing is lost.

The request limit is ``max_message_size`` times how much the encoding can grow a message
(a multipart field carries it as is, urlencoding up to 3x; Postmark's JSON carries it
twice when RawEmail is on — the raw text and the base64 attachments, each up to ~1.4x)
plus 64 KiB for the other fields; the message itself must then fit ``max_message_size``,
as over SMTP.

Mailgun signs only ``timestamp + token``, not the message; the token is single-use (a
stored ``mailgun:<token>`` stores nothing again), so a captured signature cannot carry a
second message once the first is stored.  Mailgun's retries are reported to repeat the
first attempt's timestamp and token (Mailgun's documentation does not say): after an
outage longer than ``webhook_replay_seconds`` they would be refused with 401 until its
8 hours of retries run out.  Where that matters, set the window past them
(``HANDOFF_WEBHOOK_REPLAY_SECONDS=32400``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Callable

from flask import Blueprint, Response, jsonify, request
from werkzeug.exceptions import RequestEntityTooLarge

from handoff.addresses import ServiceAddresses
from handoff.db import SessionFactory
from handoff.errors import StorageError
from handoff.intake import is_spent, receive_message, spend_token
from handoff.settings import Settings
from handoff.telemetry import Telemetry
from webhooks.postmark import read_postmark
from webhooks.providers import (BadPayload, Mail, NotAuthentic, has_basic_auth,
                                read_mailgun, read_sendgrid)

log = logging.getLogger(__name__)
Clock = Callable[[], datetime]
Reader = Callable[[bytes, str, Settings, datetime], Mail]
SLACK = 64 * 1024
_CHUNK = 1024 * 1024
_GROWTH = {"application/json": 2.8, "application/x-www-form-urlencoded": 3.0}


@dataclass(frozen=True)
class Provider:
    name: str
    paths: tuple[str, ...]
    secret: Callable[[Settings], str]
    read: Reader
    basic_auth: bool  # credentials in the Authorization header, else signed in the body
    single_use: bool  # the external id is a signed token: a refused one is spent
    not_ours_status: int  # the answer that ends this provider's retries


PROVIDERS = (
    # Mailgun posts raw MIME only to a URL ending in "mime"
    Provider("mailgun", ("/mailgun/mime", "/mailgun"), lambda s: s.mailgun_signing_key,
             read_mailgun, basic_auth=False, single_use=True, not_ours_status=406),
    Provider("postmark", ("/postmark",), lambda s: s.postmark_auth, read_postmark,
             basic_auth=True, single_use=False, not_ours_status=403),
    Provider("sendgrid", ("/sendgrid",), lambda s: s.sendgrid_auth, read_sendgrid,
             basic_auth=True, single_use=False, not_ours_status=200),
)


def inbound_blueprint(settings: Settings, sessions: SessionFactory, clock: Clock | None = None,
                      on_stored: Callable[[int], object] | None = None,
                      telemetry: Telemetry | None = None) -> Blueprint:
    """The ``/inbound/<provider>`` routes, bound to these settings and this database.
    ``on_stored(receipt)`` runs after each commit (``handoff serve`` wakes its worker);
    ``telemetry`` counts what each provider's route took and refused (``/metrics``)."""
    door = _Door(settings, sessions, clock or (lambda: datetime.now(timezone.utc)), on_stored,
                 telemetry or Telemetry())
    bp = Blueprint("inbound", __name__, url_prefix="/inbound")
    for provider in PROVIDERS:  # (settings refuse a *_AUTH that is not user:password)
        view = _view(door, provider)
        for path in provider.paths:
            bp.add_url_rule(path, endpoint=provider.name, view_func=view, methods=["POST"])
    return bp


def _view(door: _Door, provider: Provider) -> Callable[[], Response]:
    def take() -> Response:
        return door.take(provider)

    take.__name__ = f"inbound_{provider.name}"
    return take


class _Door:
    def __init__(self, settings: Settings, sessions: SessionFactory, clock: Clock,
                 on_stored: Callable[[int], object] | None, telemetry: Telemetry) -> None:
        self.settings, self.sessions, self.clock = settings, sessions, clock
        self.on_stored = on_stored
        self.service = ServiceAddresses(settings)
        self.telemetry = telemetry

    def take(self, provider: Provider) -> Response:
        secret = provider.secret(self.settings)
        if not secret:
            return _answer(404, error="this inbound route is off")
        if provider.basic_auth and not has_basic_auth(request.authorization, secret):
            return self._refuse(provider, "no valid credentials", basic=True)
        body = self._read_body()
        if body is None:
            return self._too_large(provider, "the request")
        try:
            mail = provider.read(body, request.content_type or "", self.settings, self.clock())
        except NotAuthentic as exc:
            return self._refuse(provider, exc.reason, basic=provider.basic_auth)
        except BadPayload as exc:
            log.warning("inbound %s from %s: bad request: %s", provider.name,
                        request.remote_addr, exc.reason)
            self.telemetry.count_refused(provider.name, "bad_request")
            if exc.token is not None:
                spend_token(self.sessions, exc.token, self.clock())
            return _answer(400, error=exc.reason)
        if provider.single_use and is_spent(self.sessions, mail.external_id):
            return self._refuse(provider, "a token used before (replay)", basic=False)
        if len(mail.raw) > self.settings.max_message_size:
            self._spend(provider, mail)
            return self._too_large(provider, "the message")
        ours = [r for r in dict.fromkeys(mail.rcpt_tos) if self.service.read(r) is not None]
        if not ours:
            self._spend(provider, mail)
            log.warning("inbound %s from %s: no recipient of ours in %s", provider.name,
                        request.remote_addr, list(mail.rcpt_tos)[:10])
            self.telemetry.count_refused(provider.name, "no_recipient")
            return _answer(provider.not_ours_status, stored=None,
                           refused="no recipient is an address of this service")
        return self._store(provider, mail, ours)

    def _spend(self, provider: Provider, mail: Mail) -> None:
        if provider.single_use:
            spend_token(self.sessions, mail.external_id, self.clock())

    def _read_body(self) -> bytes | None:
        """The body, or None when it is over the limit: refused on ``Content-Length``
        before reading, and read at most one byte past the limit when there is none."""
        limit = int(self.settings.max_message_size * _GROWTH.get(request.mimetype, 1.0)) + SLACK
        request.max_content_length = limit + 1  # the app's 64 KiB is for people's forms
        if request.content_length is not None and request.content_length > limit:
            return None
        chunks: list[bytes] = []
        taken = 0
        try:
            while taken <= limit:  # a stream's read() may return less than asked
                chunk = request.stream.read(min(_CHUNK, limit + 1 - taken))
                if not chunk:
                    break
                chunks.append(chunk)
                taken += len(chunk)
        except RequestEntityTooLarge:
            return None
        return None if taken > limit else b"".join(chunks)

    def _store(self, provider: Provider, mail: Mail, ours: list[str]) -> Response:
        try:
            receipt = receive_message(self.sessions, mail.raw, mail_from=mail.mail_from,
                                      rcpt_tos=ours, source="webhook", now=self.clock(),
                                      external_id=mail.external_id)
        except StorageError as exc:
            log.warning("inbound %s from %s: not stored, asking for a retry: %s",
                        provider.name, request.remote_addr, str(exc).splitlines()[0][:300])
            self.telemetry.count_refused(provider.name, "storage_failed")
            response = _answer(503, error="cannot store the message now; try again")
            response.headers["Retry-After"] = "60"
            return response
        if self.on_stored is not None:
            try:
                self.on_stored(receipt)
            except Exception:  # the message is stored; a missed wake-up only delays it
                log.exception("inbound %s: on_stored(%s) failed", provider.name, receipt)
        self.telemetry.count_received(provider.name)
        return _answer(200, stored=receipt)

    def _too_large(self, provider: Provider, what: str) -> Response:
        log.warning("inbound %s from %s: %s is over the size limit (%s bytes)",
                    provider.name, request.remote_addr, what, self.settings.max_message_size)
        self.telemetry.count_refused(provider.name, "too_large")
        return _answer(413, error=f"{what} is over the size limit")

    def _refuse(self, provider: Provider, reason: str, *, basic: bool) -> Response:
        log.warning("inbound %s from %s refused: %s", provider.name, request.remote_addr,
                    reason)
        self.telemetry.count_refused(provider.name, "not_authenticated")
        response = _answer(401, error="not authenticated")
        if basic:
            response.headers["WWW-Authenticate"] = 'Basic realm="handoff inbound"'
        return response


def _answer(status: int, **body: Any) -> Response:
    response = jsonify(body)
    response.status_code = status
    return response

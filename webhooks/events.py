"""Outbound event webhooks (SPEC 8): fan each queued ``webhook_events`` row out to the
configured endpoints, then POST each delivery, signed as Standard Webhooks say
(https://www.standardwebhooks.com/, the ``standardwebhooks`` reference signer):

* ``webhook-id``: ``msg_<event id>`` — the same on every retry, so a receiver can drop
  a second copy;
* ``webhook-timestamp``: seconds since the epoch, of this attempt (the receiver's
  replay window is measured against it, so it is the real time even when the service
  runs on an injected clock);
* ``webhook-signature``: ``v1,<base64 HMAC-SHA256 of "id.timestamp.body">``.

A 2xx is delivered.  Anything else (a 3xx, which is never followed, a 4xx or 5xx, a
refused connection, a timeout, a malformed answer) is tried again with backoff — 10 s, 30 s, 90 s, ... at most 6 h, 12 attempts — except
``410 Gone``, which means the receiver does not want it: failed at once.  Every attempt
goes into the delivery's ``log``, which the handoff's page shows.
"""

from __future__ import annotations

import http.client
import json
import logging
import time
import urllib.error
import urllib.request
from datetime import datetime, timedelta, timezone
from typing import Any, Callable

from sqlalchemy import select, update
from standardwebhooks.webhooks import Webhook

from handoff.db import SessionFactory
from handoff.models import WebhookDelivery, WebhookEvent
from handoff.settings import Settings
from handoff.webhook_events import Endpoint, endpoint_host, webhook_endpoints

log = logging.getLogger(__name__)
Clock = Callable[[], datetime]
MAX_ATTEMPTS = 12
TIMEOUT = 10.0
LEASE = timedelta(minutes=5)  # a claimed delivery whose worker died is taken up again
USER_AGENT = "handoff-webhooks/1"


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """A 3xx is an answer, not a place to go: following it would turn the POST into a
    GET without the event (and carry the signature to wherever it points)."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


_OPENER = urllib.request.build_opener(_NoRedirects())


def backoff(attempts: int) -> timedelta:
    return timedelta(seconds=min(10 * 3 ** max(attempts - 1, 0), 6 * 3600))


def wall_clock() -> datetime:
    return datetime.now(timezone.utc)


class EventDeliverer:
    def __init__(self, settings: Settings, sessions: SessionFactory, clock: Clock, *,
                 timeout: float = TIMEOUT, wall: Clock = wall_clock) -> None:
        self.sessions, self.clock, self.timeout, self.wall = sessions, clock, timeout, wall
        self.endpoints = {e.url: e for e in webhook_endpoints(settings)}

    def deliver_pending(self, limit: int = 20) -> int:
        """Fan out new events, then attempt what is due; return how much was done.
        Two small reads first, so an idle worker writes nothing (on SQLite every
        transaction still begins IMMEDIATE: ``handoff serve`` polls every few seconds
        and is woken after the steps that make events)."""
        now = self.clock()
        with self.sessions() as session:
            new = session.scalar(select(WebhookEvent.id)
                                 .where(WebhookEvent.status == "queued").limit(1))
            due = session.scalar(select(WebhookDelivery.id).where(
                WebhookDelivery.status.in_(("queued", "sending")),
                WebhookDelivery.next_attempt_at <= now).limit(1))
        fanned = self.fan_out(limit=200) if new is not None else 0
        batch = self._claim(limit) if due is not None or (fanned and self.endpoints) else []
        outcomes = [(delivery_id, self._post(endpoint, event_id, body))
                    for delivery_id, endpoint, event_id, body in batch]
        self._record(outcomes)
        return fanned + len(batch)

    def fan_out(self, limit: int) -> int:
        now = self.clock()
        if not self.endpoints:  # nobody to tell: one statement, not an object per event
            with self.sessions.begin() as session:
                result = session.connection().execute(
                    update(WebhookEvent).where(WebhookEvent.status == "queued")
                    .values(status="fanned"))
                return int(result.rowcount)
        with self.sessions.begin() as session:
            events = list(session.scalars(
                select(WebhookEvent).where(WebhookEvent.status == "queued")
                .order_by(WebhookEvent.id).limit(limit)
                .with_for_update(skip_locked=True)))
            for event in events:
                for endpoint in self.endpoints.values():
                    if endpoint.wants(event.type):
                        session.add(WebhookDelivery(
                            event_id=event.id, handoff_id=event.handoff_id,
                            endpoint=endpoint.url, type=event.type, status="queued",
                            attempts=0, next_attempt_at=now, log=[], created_at=now))
                event.status = "fanned"
        return len(events)

    def _claim(self, limit: int) -> list[tuple[int, Endpoint, int, str]]:
        now = self.clock()
        batch = []
        with self.sessions.begin() as session:
            deliveries = list(session.scalars(
                select(WebhookDelivery)
                .where(WebhookDelivery.status.in_(("queued", "sending")),
                       WebhookDelivery.next_attempt_at <= now)
                .order_by(WebhookDelivery.id).limit(limit)
                .with_for_update(skip_locked=True)))
            for delivery in deliveries:
                endpoint = self.endpoints.get(delivery.endpoint)
                if endpoint is None:  # the endpoint was removed from the configuration
                    delivery.status = "failed"
                    delivery.last_error = "endpoint no longer configured"
                    continue
                if delivery.attempts >= MAX_ATTEMPTS:  # its worker died mid-attempt, often
                    delivery.status = "failed"
                    delivery.last_error = delivery.last_error or "no answer recorded"
                    continue
                event = session.get(WebhookEvent, delivery.event_id)
                assert event is not None
                delivery.status = "sending"
                delivery.attempts += 1
                delivery.next_attempt_at = now + LEASE
                body = json.dumps(event.payload, separators=(",", ":"), ensure_ascii=False)
                batch.append((delivery.id, endpoint, event.id, body))
        return batch

    def _post(self, endpoint: Endpoint, event_id: int, body: str) -> dict[str, Any]:
        """One attempt: {status, error, ms}; never raises."""
        msg_id = f"msg_{event_id}"
        stamp = self.wall()
        headers = {
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
            "webhook-id": msg_id,
            "webhook-timestamp": str(int(stamp.timestamp())),
            "webhook-signature": Webhook(endpoint.secret).sign(msg_id, stamp, body),
        }
        request = urllib.request.Request(endpoint.url, data=body.encode(), headers=headers,
                                         method="POST")
        started = time.monotonic()
        result: dict[str, Any] = {"at": self.clock().isoformat().replace("+00:00", "Z")}
        try:
            with _OPENER.open(request, timeout=self.timeout) as response:
                result["status"] = response.status
                response.read(4096)
        except urllib.error.HTTPError as exc:  # includes a 3xx we did not follow
            result["status"] = exc.code
            result["error"] = f"HTTP {exc.code} {exc.reason}"
        except (urllib.error.URLError, OSError, ValueError, http.client.HTTPException) as exc:
            reason = getattr(exc, "reason", exc)
            result["status"] = None
            result["error"] = f"{type(reason).__name__}: {reason}"[:500]
        except Exception as exc:  # a process boundary: an attempt always gets recorded
            log.exception("webhook to %s: unexpected error", endpoint_host(endpoint.url))
            result["status"] = None
            result["error"] = f"{type(exc).__name__}: {exc}"[:500]
        result["ms"] = round((time.monotonic() - started) * 1000)
        return result

    def _record(self, outcomes: list[tuple[int, dict[str, Any]]]) -> None:
        if not outcomes:
            return
        now = self.clock()
        with self.sessions.begin() as session:
            for delivery_id, result in outcomes:
                delivery = session.get(WebhookDelivery, delivery_id)
                if delivery is None:
                    continue
                delivery.log = [*delivery.log, result][-20:]
                status = result.get("status")
                if isinstance(status, int) and 200 <= status < 300:
                    delivery.status, delivery.delivered_at = "delivered", now
                    delivery.last_error = None
                    continue
                delivery.last_error = result.get("error") or f"HTTP {status}"
                if status == 410 or delivery.attempts >= MAX_ATTEMPTS:
                    delivery.status = "failed"
                    log.error("webhook %s to %s failed for good: %s", delivery.type,
                              endpoint_host(delivery.endpoint), delivery.last_error)
                else:
                    delivery.status = "queued"
                    delivery.next_attempt_at = now + backoff(delivery.attempts)
                    log.warning("webhook %s to %s will be retried: %s", delivery.type,
                                endpoint_host(delivery.endpoint), delivery.last_error)

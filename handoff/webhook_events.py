"""Which timeline events other tools hear of, and where they are sent (SPEC 8).

The timeline (``events``) is the truth; a subset of its kinds become webhook events,
written as ``webhook_events`` rows in the same transaction as the change (a
transactional outbox: an event is never announced for a change that rolled back, nor
lost for one that committed).  ``webhooks/events.py`` fans them out to the endpoints
configured here and signs them as Standard Webhooks do.

Configuration (TOML; every endpoint gets every event unless it lists ``events``)::

    [[webhooks]]
    url = "https://tools.example/hooks/handoff"
    secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"   # base64, as the spec has it
    events = ["handoff.created", "handoff.done"]

or one endpoint from the environment: ``HANDOFF_WEBHOOK_URL`` and
``HANDOFF_WEBHOOK_SECRET``.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Mapping
from urllib.parse import urlsplit

from sqlalchemy import select
from sqlalchemy.orm import Session

from handoff.db import append_row
from handoff.errors import ConfigError
from handoff.models import Handoff, WebhookEvent
from handoff.settings import Settings

# timeline kind -> webhook event type; chase events are read by ``event_type`` below
EVENT_TYPES: dict[str, str] = {
    "created": "handoff.created",
    "accepted": "handoff.accepted",
    "needs_info": "handoff.needs_info",
    "declined": "handoff.declined",
    "done": "handoff.done",
    "closed": "handoff.closed",
    "reopened": "handoff.reopened",
    "cancelled": "handoff.cancelled",
}
ONCE_PER_STAY = frozenset({"handoff.overdue", "handoff.escalated"})  # from chase steps
ALL_TYPES = frozenset(EVENT_TYPES.values()) | ONCE_PER_STAY


def event_type(kind: str, detail: Mapping[str, Any]) -> str | None:
    """The webhook event a timeline event is, if any.  Chase steps are per recipient and
    repeat (the owner and the sender both hear a handoff is overdue, every two days):
    ``queue_webhook_event`` announces them once per stay in a state."""
    if kind in EVENT_TYPES:
        return EVENT_TYPES[kind]
    if kind.startswith("chased_"):
        if detail.get("step") == "escalate":
            return "handoff.escalated"
        if detail.get("rule") == "overdue":
            return "handoff.overdue"
    return None


def queue_webhook_event(session: Session, handoff: Handoff, kind: str, how: str,
                        actor: str | None, detail: Mapping[str, Any], now: datetime) -> None:
    """Called for every timeline event; writes the webhook event when there is one."""
    wanted = event_type(kind, detail)
    if wanted is None:
        return
    if wanted in ONCE_PER_STAY and session.scalar(
            # however many people are chased for it, in however many passes (people in
            # other zones are chased at other hours); autoflush shows this pass's rows
            select(WebhookEvent.id).where(
                WebhookEvent.handoff_id == handoff.id, WebhookEvent.type == wanted,
                WebhookEvent.created_at >= handoff.state_changed_at).limit(1)):
        return
    append_row(session, WebhookEvent, {
        "handoff_id": handoff.id, "type": wanted, "created_at": now, "status": "queued",
        "payload": {
            "type": wanted,
            "timestamp": _iso(now),
            "data": {
                "ref": handoff.ref,
                "title": handoff.title,
                "status": handoff.status,
                "workflow": handoff.workflow,
                "sender": handoff.sender.address if handoff.sender else None,
                "owner": handoff.owner.address if handoff.owner else None,
                "deadline": _iso(handoff.deadline),
                "event": {"kind": kind, "how": how, "actor": actor, "detail": dict(detail)},
            }}})


def _iso(value: datetime | None) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value is not None else None


def endpoint_host(url: str) -> str:
    """Only ``scheme://host[:port]`` of an endpoint, for pages and logs: hook URLs of
    Slack, Zapier or Discord carry their secret in the path, and a handoff's page opens
    for anyone holding a link from its mails."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}"


@dataclass(frozen=True)
class Endpoint:
    url: str
    secret: str  # whsec_<base64>
    events: frozenset[str] = ALL_TYPES

    def wants(self, type_: str) -> bool:
        return type_ in self.events


def webhook_endpoints(settings: Settings) -> list[Endpoint]:
    """The configured endpoints; :class:`ConfigError` for one that cannot work."""
    raw: list[Mapping[str, Any]] = list(settings.extra.get("webhooks", []) or [])
    if settings.webhook_url:
        raw.append({"url": settings.webhook_url, "secret": settings.webhook_secret})
    endpoints = []
    for n, item in enumerate(raw, 1):
        if not isinstance(item, Mapping):
            raise ConfigError(f"[[webhooks]] entry {n} is not a table")
        url, secret = str(item.get("url", "")), str(item.get("secret", ""))
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ConfigError(f"webhook {n}: url {url!r} is not an http(s) URL")
        try:
            key = base64.b64decode(secret.removeprefix("whsec_"), validate=True)
        except (binascii.Error, ValueError):
            key = b""
        if len(key) < 16:
            raise ConfigError(f"webhook {url}: secret must be base64 of at least 16 bytes "
                              "(whsec_...), e.g. from `openssl rand -base64 32`")
        events = item.get("events")
        chosen = frozenset(events) if events else ALL_TYPES
        if not chosen <= ALL_TYPES:
            raise ConfigError(f"webhook {url}: unknown events {sorted(chosen - ALL_TYPES)}")
        endpoints.append(Endpoint(url, secret, chosen))
    return endpoints

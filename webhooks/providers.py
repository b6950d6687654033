"""What the providers post, read into one :class:`Mail`, and how each proves it is them.

Only the parts a door needs: the raw MIME exactly as the provider gives it, the SMTP
envelope, and the provider's own name for the delivery (so a second POST of it stores
nothing).  Form bodies are decoded here as bytes, not by Flask: Werkzeug turns a text
field into ``str`` with ``errors="replace"``, which would change an 8-bit message that is
not UTF-8 (RFC 6152) before we ever stored it.

Mailgun signs ``timestamp + token`` with HMAC-SHA256 under the webhook signing key
(documentation.mailgun.com, "Securing Webhooks"); Postmark and SendGrid carry HTTP basic
credentials that the operator wrote into the webhook URL (RFC 7617).
"""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import dataclass
from datetime import datetime
from email.utils import getaddresses
from urllib.parse import parse_qsl

from werkzeug.datastructures import Authorization
from werkzeug.http import parse_options_header
from werkzeug.sansio.multipart import Data, Epilogue, Field, File, MultipartDecoder, NeedData

from handoff.settings import Settings

MAX_FIELDS = 1000  # a form with more is not from a provider


@dataclass(frozen=True)
class Mail:
    """One message as a provider delivered it."""

    raw: bytes
    mail_from: str
    rcpt_tos: tuple[str, ...]
    external_id: str


class InboundRefused(Exception):
    """A request we do not take; ``reason`` is safe to log and to answer with."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class NotAuthentic(InboundRefused):
    """No valid signature or credentials: 401."""


class BadPayload(InboundRefused):
    """Authentic, but not the shape the provider documents: 400 (the provider retries,
    which gives the operator time to fix the route's settings).  ``token`` is the
    verified single-use token, when there was one (it is then spent)."""

    def __init__(self, reason: str, token: str | None = None) -> None:
        super().__init__(reason)
        self.token = token


def has_basic_auth(authorization: Authorization | None, expected: str) -> bool:
    """Whether the request carries exactly the ``user:password`` of ``expected``."""
    if authorization is None or authorization.type != "basic":
        return False
    offered = f"{authorization.username or ''}:{authorization.password or ''}"
    return hmac.compare_digest(offered.encode(), expected.encode())


def read_mailgun(body: bytes, content_type: str, settings: Settings, now: datetime) -> Mail:
    """A route's ``forward()`` to a URL ending in ``mime``: the signature fields, the
    envelope (``sender``, ``recipient``) and ``body-mime``, the message as received."""
    form = decode_form(body, content_type)
    token = verify_mailgun(settings.mailgun_signing_key, form, now,
                           settings.webhook_replay_seconds)
    raw = form.get("body-mime")
    if not raw:
        raise BadPayload("no body-mime field: the route's URL must end in /mime",
                         token=f"mailgun:{token}")
    return Mail(raw, _text(form.get("sender")), _addresses(_text(form.get("recipient"))),
                f"mailgun:{token}")


def verify_mailgun(key: str, form: dict[str, bytes], now: datetime, window: int) -> str:
    """Return the token of a request Mailgun signed within ``window`` seconds of ``now``;
    raise :class:`NotAuthentic` otherwise.  A token used before is a replay: the caller
    stores it as the external id, so a second use stores nothing."""
    timestamp, token, signature = (_text(form.get(k)) for k in ("timestamp", "token",
                                                                "signature"))
    if not (timestamp and token and signature):
        raise NotAuthentic("no signature")
    expected = hmac.new(key.encode(), (timestamp + token).encode(), hashlib.sha256)
    if not hmac.compare_digest(expected.hexdigest().encode(), signature.lower().encode()):
        raise NotAuthentic("signature does not verify")
    try:
        age = abs(now.timestamp() - int(timestamp))
    except ValueError:
        raise NotAuthentic("timestamp is not a number") from None
    if age > window:
        raise NotAuthentic(f"timestamp {int(age)} s away, outside the replay window")
    return token


def read_sendgrid(body: bytes, content_type: str, settings: Settings, now: datetime) -> Mail:
    """Inbound Parse with "POST the raw, full MIME message": ``email`` is the message,
    ``envelope`` the JSON SMTP envelope.  SendGrid names no delivery id, and a retry
    posts the same bytes, so the id is a digest of the message."""
    form = decode_form(body, content_type)
    raw = form.get("email")
    if not raw:
        raise BadPayload("no email field: tick 'POST the raw, full MIME message'")
    try:
        envelope = json.loads(form.get("envelope") or b"{}")
        rcpt_tos = tuple(str(a) for a in envelope.get("to") or ())
        mail_from = str(envelope.get("from") or "")
    except (ValueError, AttributeError, TypeError):
        raise BadPayload("envelope is not the documented JSON") from None
    return Mail(raw, mail_from, rcpt_tos, digest_id("sendgrid", raw))


def digest_id(provider: str, raw: bytes) -> str:
    return f"{provider}:sha256:{hashlib.sha256(raw).hexdigest()}"


def decode_form(body: bytes, content_type: str) -> dict[str, bytes]:
    """The fields of a ``multipart/form-data`` (RFC 7578) or urlencoded body, as bytes;
    the first value of a repeated name."""
    mimetype, options = parse_options_header(content_type)
    if mimetype == "application/x-www-form-urlencoded":
        try:
            pairs = parse_qsl(body, keep_blank_values=True, max_num_fields=MAX_FIELDS)
        except ValueError:
            raise BadPayload("too many form fields") from None
        fields: dict[str, bytes] = {}
        for name, value in pairs:
            fields.setdefault(name.decode("utf-8", "replace"), value)
        return fields
    if mimetype != "multipart/form-data" or not options.get("boundary"):
        raise BadPayload(f"expected a form, got {mimetype or 'no content type'}")
    return _decode_multipart(body, options["boundary"].encode("latin-1", "replace"))


def _decode_multipart(body: bytes, boundary: bytes) -> dict[str, bytes]:
    decoder = MultipartDecoder(boundary, max_form_memory_size=None)
    decoder.receive_data(body)
    decoder.receive_data(None)
    fields: dict[str, bytes] = {}
    name: str | None = None
    chunks: list[bytes] = []
    try:
        while True:
            event = decoder.next_event()
            if isinstance(event, (Field, File)):
                name, chunks = event.name, []
                if len(fields) >= MAX_FIELDS:
                    raise BadPayload("too many form fields")
            elif isinstance(event, Data):
                chunks.append(event.data)
                if not event.more_data and name is not None:
                    fields.setdefault(name, b"".join(chunks))
            elif isinstance(event, (Epilogue, NeedData)):
                return fields
    except ValueError:
        raise BadPayload("the multipart body is cut short or malformed") from None


def _text(value: bytes | None) -> str:
    return (value or b"").decode("utf-8", "replace").strip()


def _addresses(value: str) -> tuple[str, ...]:
    """``a@x, "B" <b@y>`` -> ``("a@x", "b@y")``: Mailgun joins several recipients."""
    return tuple(addr for _name, addr in getaddresses([value]) if addr)

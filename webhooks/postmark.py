"""Postmark's inbound webhook: a JSON document per message (postmarkapp.com, "Inbound
webhook").  With "Include raw email content in JSON payload" ticked it carries
``RawEmail``, the message as received, which is what we store.  Without it we rebuild a
MIME message (RFC 2045/2046) from the parts Postmark parsed out: its ``Headers`` (trace,
Message-ID, In-Reply-To, References — what threading needs), the address fields, the
text and HTML bodies as ``multipart/alternative``, and the ``Attachments``.

``MessageID`` is Postmark's own id of the delivery (stable across its retries), not the
message's ``Message-ID`` header, which is among ``Headers``.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from datetime import datetime
from email import errors, message_from_bytes, policy
from email.message import EmailMessage
from email.utils import formataddr
from typing import Any

from handoff.addresses import ServiceAddresses
from handoff.settings import Settings
from webhooks.providers import BadPayload, Mail, digest_id

# Set from the top-level fields, or made anew with the rebuilt body: never copied.
_OWN_HEADERS = frozenset({"from", "to", "cc", "bcc", "subject", "date", "reply-to",
                          "mime-version", "content-type", "content-transfer-encoding",
                          "content-disposition"})
_MIME_TYPE = re.compile(r"^[a-z0-9][a-z0-9!#$&^_.+-]*/[a-z0-9][a-z0-9!#$&^_.+-]*$")


def read_postmark(body: bytes, content_type: str, settings: Settings, now: datetime) -> Mail:
    """The message, its envelope and Postmark's id of it, from the webhook's JSON.

    Postmark sends no SMTP envelope.  ``OriginalRecipient`` is the address the mail was
    delivered to (on a forwarding domain, ours; on the ``<hash>@inbound.postmarkapp.com``
    address, Postmark's), so when it is not ours, our addresses among To/Cc/Bcc stand in.
    """
    try:
        payload = json.loads(body)
    except (ValueError, RecursionError):
        raise BadPayload("the body is not JSON") from None
    if not isinstance(payload, dict):
        raise BadPayload("the JSON is not an object")
    raw_email = payload.get("RawEmail")
    raw = raw_email.encode("utf-8", "replace") if isinstance(raw_email, str) \
        and raw_email else rebuild_mime(payload)
    service = ServiceAddresses(settings)
    original = _str(payload.get("OriginalRecipient"))
    listed = [_str(p.get("Email")) for key in ("ToFull", "CcFull", "BccFull")
              for p in _list(payload.get(key))]
    rcpt_tos = [original] if service.is_service(original) else \
        [a for a in dict.fromkeys(listed) if service.is_service(a)]
    message_id = _str(payload.get("MessageID"))
    return Mail(raw, _return_path(payload), tuple(rcpt_tos),
                f"postmark:{message_id}" if message_id else digest_id("postmark", raw))


def rebuild_mime(payload: dict[str, Any]) -> bytes:
    """A MIME message faithful to what Postmark parsed.  A header the email package will
    not take (a second Message-ID, a broken value) is left out; an attachment that is not
    base64 is named in ``X-Handoff-Rebuild-Problem`` rather than failing the message."""
    msg = EmailMessage(policy=policy.default)
    for header in _list(payload.get("Headers")):
        name, value = _str(header.get("Name")), _str(header.get("Value"))
        if name and name.lower() not in _OWN_HEADERS:
            _put(msg, name, value)
    _put(msg, "From", _address(payload.get("FromFull")) or _str(payload.get("From")))
    for name, key in (("To", "ToFull"), ("Cc", "CcFull")):
        people = [_address(p) for p in _list(payload.get(key))]
        _put(msg, name, ", ".join(p for p in people if p) or _str(payload.get(name)))
    for name in ("Reply-To", "Subject", "Date"):
        _put(msg, name, _str(payload.get(name.replace("-", ""))))
    _put(msg, "X-Handoff-Rebuilt-From", "postmark-json")

    text, html = _str(payload.get("TextBody")), _str(payload.get("HtmlBody"))
    if html and not text:
        msg.set_content(html, subtype="html")
    else:
        msg.set_content(text)
        if html:
            msg.add_alternative(html, subtype="html")
    for attachment in _list(payload.get("Attachments")):
        _attach(msg, attachment)
    return msg.as_bytes(policy=policy.SMTP)


def _attach(msg: EmailMessage, attachment: dict[str, Any]) -> None:
    name = _str(attachment.get("Name")) or "unnamed"
    try:
        data = base64.b64decode(_str(attachment.get("Content")))
    except (binascii.Error, ValueError):
        _put(msg, "X-Handoff-Rebuild-Problem", f"attachment {name!r} is not base64")
        return
    ctype = _str(attachment.get("ContentType")).lower().split(";")[0].strip()
    if not _MIME_TYPE.match(ctype) or ctype.startswith("multipart/"):
        ctype = "application/octet-stream"
    content_id = _str(attachment.get("ContentID"))
    cid = (content_id if content_id.startswith("<") else f"<{content_id}>") \
        if content_id else None
    maintype, subtype = ctype.split("/", 1)
    if ctype in ("message/rfc822", "message/global"):  # a forward as an attachment
        msg.add_attachment(message_from_bytes(data, policy=policy.default), subtype=subtype,
                           filename=name, cid=cid)
    else:
        msg.add_attachment(data, maintype, subtype, filename=name, cid=cid)


def _put(msg: EmailMessage, name: str, value: str) -> None:
    """Add a header unless it is empty or the email package refuses it (it allows one
    Message-ID, and no line breaks inside a value)."""
    value = " ".join(value.replace("\r", " ").replace("\n", " ").split())
    if not value:
        return
    try:
        msg[name] = value
    except (ValueError, TypeError, IndexError, errors.MessageError):
        pass


def _address(person: Any) -> str:
    if not isinstance(person, dict) or not _str(person.get("Email")):
        return ""
    return formataddr((_str(person.get("Name")), _str(person.get("Email"))))


def _return_path(payload: dict[str, Any]) -> str:
    """The envelope sender: ``Return-Path`` when Postmark kept it, else the From address."""
    for header in _list(payload.get("Headers")):
        if _str(header.get("Name")).lower() == "return-path":
            return _str(header.get("Value")).strip().strip("<>") or "<>"
    sender = payload.get("FromFull")
    return _str(sender.get("Email")) if isinstance(sender, dict) else _str(payload.get("From"))


def _list(value: Any) -> list[dict[str, Any]]:
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []


def _str(value: Any) -> str:
    return value if isinstance(value, str) else ""

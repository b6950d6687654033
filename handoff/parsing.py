"""Raw bytes -> a frozen :class:`ParsedMessage`.  Never raises: whatever is broken becomes
a line in ``problems`` (STYLE habit 5).  Parses with ``email.policy.default``."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from email import message_from_bytes, policy
from email.message import EmailMessage, Message
from email.utils import parsedate_to_datetime
from html.parser import HTMLParser

from handoff.addresses import split_addresses

_MSGID = re.compile(r"<[^<>\s]+>")


@dataclass(frozen=True)
class Attachment:
    filename: str
    content_type: str
    size: int


@dataclass(frozen=True)
class ParsedMessage:
    message_id: str | None
    in_reply_to: tuple[str, ...]
    references: tuple[str, ...]
    subject: str
    from_name: str
    from_addr: str
    to: tuple[tuple[str, str], ...]
    cc: tuple[tuple[str, str], ...]
    date: datetime | None
    text: str
    headers: dict[str, str]  # lower-cased name -> first value, for guards
    content_type: str
    attachments: tuple[Attachment, ...] = ()
    problems: tuple[str, ...] = field(default=())


def parse_message(raw: bytes) -> ParsedMessage:
    problems: list[str] = []
    try:
        msg = message_from_bytes(raw, policy=policy.default)
    except Exception as exc:  # the stdlib parser is lenient; this is belt and braces
        problems.append(f"unparseable message: {exc}")
        msg = message_from_bytes(b"", policy=policy.default)
    for defect in getattr(msg, "defects", []):
        problems.append(f"MIME defect: {type(defect).__name__}")

    # Raw values (unfolded) for everything the guards and threading read: parsing every
    # header through the policy's header registry costs more than the rest of the reading.
    headers: dict[str, str] = {}
    for name, value in msg.raw_items():
        key = name.lower()
        if key not in headers:
            headers[key] = " ".join(str(value).split())
    headers["subject"] = _header(msg, "Subject", problems)

    from_list = split_addresses([_header(msg, "From", problems)])
    from_name, from_addr = from_list[0] if from_list else ("", "")
    if not from_addr:
        problems.append("no usable From address")

    message_id = _first_msgid(headers.get("message-id", ""))
    if not message_id:
        problems.append("no Message-ID")

    date = None
    if headers.get("date"):
        try:
            date = parsedate_to_datetime(headers["date"])
            if date.tzinfo is None:
                date = date.replace(tzinfo=timezone.utc)
        except (TypeError, ValueError, IndexError):
            problems.append(f"unreadable Date: {headers['date'][:80]!r}")
    else:
        problems.append("no Date")

    text, attachments = _body_text(msg, problems)
    return ParsedMessage(
        message_id=message_id,
        in_reply_to=tuple(_MSGID.findall(headers.get("in-reply-to", ""))),
        references=tuple(_MSGID.findall(headers.get("references", ""))),
        subject=" ".join(headers.get("subject", "").split()),
        from_name=from_name,
        from_addr=from_addr,
        to=tuple(split_addresses(_all(msg, "To", problems))),
        cc=tuple(split_addresses(_all(msg, "Cc", problems))),
        date=date,
        text=text,
        headers=headers,
        content_type=msg.get_content_type(),
        attachments=tuple(attachments),
        problems=tuple(problems),
    )


def _header(msg: Message, name: str, problems: list[str]) -> str:
    try:
        value = msg.get(name)
        return "" if value is None else str(value)
    except Exception as exc:  # malformed encoded words and the like
        problems.append(f"unreadable {name} header: {exc}")
        raw = msg.get_all(name, failobj=[""])
        return str(raw[0]) if raw else ""


def _all(msg: Message, name: str, problems: list[str]) -> list[str]:
    try:
        return [str(v) for v in msg.get_all(name, failobj=[])]
    except Exception as exc:
        problems.append(f"unreadable {name} header: {exc}")
        return []


def _first_msgid(value: str) -> str | None:
    found = _MSGID.findall(value)
    if found:
        return found[0]
    value = value.strip()
    return f"<{value}>" if value and " " not in value else None


def _body_text(msg: Message, problems: list[str]) -> tuple[str, list[Attachment]]:
    """The best plain text of the message, and what else it carries."""
    plain: str | None = None
    html: str | None = None
    attachments: list[Attachment] = []
    for part in msg.walk():
        if part.is_multipart():
            continue
        ctype = part.get_content_type()
        disposition = (part.get_content_disposition() or "").lower()
        filename = _safe_filename(part)
        if disposition == "attachment" or (filename and ctype not in ("text/plain", "text/html")):
            payload = part.get_payload(decode=True) or b""
            attachments.append(Attachment(filename or "unnamed", ctype, len(payload)))
            continue
        if ctype == "text/plain" and plain is None:
            plain = _decode_text(part, problems)
        elif ctype == "text/html" and html is None:
            html = _decode_text(part, problems)
    if plain is not None and plain.strip():
        return plain, attachments
    if html is not None:
        return html_to_text(html), attachments
    return plain or "", attachments


def _safe_filename(part: Message) -> str:
    try:
        return part.get_filename() or ""
    except Exception:
        return ""


def _decode_text(part: Message, problems: list[str]) -> str:
    try:
        if isinstance(part, EmailMessage):
            return str(part.get_content())
    except (LookupError, UnicodeError, AssertionError, ValueError) as exc:
        problems.append(f"undecodable {part.get_content_type()} part: {exc}")
    payload = part.get_payload(decode=True)
    if isinstance(payload, bytes):
        return payload.decode("utf-8", errors="replace")
    return str(part.get_payload())


class _TextExtractor(HTMLParser):
    _BLOCK = {"p", "div", "br", "li", "tr", "h1", "h2", "h3", "h4", "h5", "h6", "table", "ul", "ol"}
    _SKIP = {"script", "style", "head", "title"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.out: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self._SKIP:
            self._skip += 1
        elif tag in self._BLOCK:
            self.out.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in self._SKIP and self._skip:
            self._skip -= 1
        elif tag in self._BLOCK:
            self.out.append("\n")

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self.out.append(data)


def html_to_text(html: str) -> str:
    """Readable text of an HTML body.  (Issue 3 replaces this with a maintained library.)"""
    parser = _TextExtractor()
    try:
        parser.feed(html)
        parser.close()
    except Exception:
        return re.sub(r"<[^>]+>", " ", html)
    lines = [" ".join(line.split()) for line in "".join(parser.out).splitlines()]
    text = "\n".join(lines)
    return re.sub(r"\n{3,}", "\n\n", text).strip()

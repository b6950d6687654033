"""Raw bytes -> a frozen :class:`ParsedMessage`.  Never raises: whatever is broken becomes
a line in ``problems`` (STYLE habit 5)."""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from email import message_from_bytes, policy
from email.message import Message
from email.policy import Compat32
from email.utils import parsedate_to_datetime

from inscriptis import get_text
from inscriptis.model.config import ParserConfig
from tnefparse import TNEF

from handoff.addresses import split_addresses
from handoff.forwards import Forwarded

_MSGID = re.compile(r"<[^<>\s]+>")
_HTML_CONFIG = ParserConfig(display_links=False, display_images=False)
_DECODE = policy.default.header_factory  # the lenient fallback for broken words


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
    part_types: tuple[str, ...] = ()  # content type of every part, in walk order
    forwarded: tuple[Forwarded, ...] = ()  # enclosed messages (message/rfc822 parts)
    # the fields of a report's machine-readable part (RFC 3464 delivery-status, RFC 8098
    # disposition-notification, RFC 5965 feedback-report): lower-cased names, in order
    report: tuple[tuple[str, str], ...] = ()


def parse_message(raw: bytes) -> ParsedMessage:
    """Read ``raw`` best-effort.

    The MIME structure is parsed with the ``compat32`` policy, which keeps header values
    as the raw strings they are; only what a person reads (Subject, display names,
    filenames) is decoded.  ``email.policy.default`` runs every header of every part
    through its header parser on each access, which cost more than ten times the parse
    itself, while guards and threading only need raw values.
    """
    problems: list[str] = []
    try:
        msg = message_from_bytes(raw, policy=_POLICY)
    except Exception as exc:  # the stdlib parser is lenient; this is belt and braces
        problems.append(f"unparseable message: {exc}")
        msg = message_from_bytes(b"", policy=_POLICY)
    for defect in getattr(msg, "defects", []):
        problems.append(f"MIME defect: {type(defect).__name__}")
    for name, value in msg.raw_items():  # raw bytes that are not UTF-8: read as a guess
        if not value.isascii() and name.lower() in _READ_HEADERS and \
                _SURROGATES.search(value) and not _is_utf8(value):
            problems.append(f"raw 8-bit bytes in the {name} header, read as Windows-1252")

    # Raw values (unfolded, first of each name) for everything guards and threading read.
    raw_headers: dict[str, list[str]] = {}
    for name, value in msg.items():
        raw_headers.setdefault(name.lower(), []).append(" ".join(value.split()))
    headers = {key: values[0] for key, values in raw_headers.items()}
    headers["subject"] = _decoded(raw_headers, "Subject", problems)

    from_list = _addresses(raw_headers, "From", problems)
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

    body = _body_text(msg, problems)
    text = body.text
    return ParsedMessage(
        message_id=message_id,
        in_reply_to=tuple(_MSGID.findall(headers.get("in-reply-to", ""))),
        references=tuple(_MSGID.findall(headers.get("references", ""))),
        subject=" ".join(headers.get("subject", "").split()),
        from_name=from_name,
        from_addr=from_addr,
        to=tuple(_addresses(raw_headers, "To", problems)),
        cc=tuple(_addresses(raw_headers, "Cc", problems)),
        date=date,
        text=text,
        headers=headers,
        content_type=msg.get_content_type(),
        attachments=tuple(body.attachments),
        problems=tuple(problems),
        part_types=tuple(part.get_content_type() for part in msg.walk()),
        forwarded=tuple(body.forwarded),
        report=_report_fields(msg),
    )


REPORT_TYPES = ("message/delivery-status", "message/global-delivery-status",
                "message/disposition-notification", "message/feedback-report")
_FIELD = re.compile(r"^([A-Za-z][A-Za-z0-9-]*)[ \t]*:[ \t]*(.*)$")


def _report_fields(msg: Message) -> tuple[tuple[str, str], ...]:
    """The first report part's fields; each recipient's block of a delivery-status
    follows the previous one.  The stdlib parses these parts into header blocks; one
    it could not (an encoded part, an unknown report type) is read line by line."""
    for part in msg.walk():
        if part.get_content_type() not in REPORT_TYPES:
            continue
        payload = part.get_payload()
        if isinstance(payload, list):
            return tuple((name.lower(), " ".join(str(value).split()))
                         for block in payload if isinstance(block, Message)
                         for name, value in block.items())
        data = part.get_payload(decode=True)
        text = data.decode("utf-8", "replace") if isinstance(data, bytes) else str(payload)
        fields: list[tuple[str, str]] = []
        for line in text.splitlines():
            if line[:1] in (" ", "\t") and fields:  # a folded field goes on
                fields[-1] = (fields[-1][0], f"{fields[-1][1]} {line.strip()}")
            elif (field := _FIELD.match(line)) is not None:
                fields.append((field[1].lower(), field[2].strip()))
        return tuple(fields)
    return ()


def _text(value: str, problems: list[str] | None = None, where: str = "") -> str:
    """RFC 2047 encoded words decoded; anything else as it is.  A word that cannot be
    decoded as it says is read best-effort and, given ``problems``, noted there."""
    if "=?" not in value:
        return value
    if not value.isascii():  # raw 8-bit inside encoded words: quote it as the word says
        value = _Q_WORD.sub(_requote, value)
    try:
        return _decode_words(value)
    except (LookupError, ValueError, binascii.Error) as exc:
        if problems is not None:
            problems.append(f"undecodable encoded word in {where}: {exc}"[:200])
    try:  # an unknown charset or a broken word: the modern parser copes, slowly
        return str(_DECODE("subject", value))
    except Exception:  # the parser is lenient; this is belt and braces
        return value


def _decode_words(value: str) -> str:
    """Decode encoded words (RFC 2047): whitespace between adjacent words goes (6.2), and
    adjacent words of one charset are joined as bytes first, since mailers split a
    multi-byte character across two words.  (``email.header.make_header`` invents
    spaces; ``policy.default``'s parser is correct but costs milliseconds a header.)"""
    out: list[str] = []
    run_charset, run = "", bytearray()
    pos = 0
    for word in _ENCODED_WORD.finditer(value):
        between = value[pos:word.start()]
        adjacent = pos > 0 and not between.strip()
        charset = word[1].split("*", 1)[0].lower()  # RFC 2231 language suffix
        data = _word_bytes(word[2], word[3])
        if adjacent and charset == run_charset:
            run += data
        else:
            if run_charset:
                out.append(run.decode(run_charset, "replace"))
            if not adjacent:
                out.append(between)
            run_charset, run = charset, bytearray(data)
        pos = word.end()
    if run_charset:
        out.append(run.decode(run_charset, "replace"))
    out.append(value[pos:])
    return "".join(out)


def _word_bytes(encoding: str, text: str) -> bytes:
    if encoding in "bB":
        return base64.b64decode(text + "=" * (-len(text) % 4))
    return _Q_ESCAPE.sub(lambda m: bytes([int(m[1], 16)]),
                         text.replace("_", " ").encode("ascii"))


def _requote(word: re.Match[str]) -> str:
    charset, text = word.group(1), word.group(2)
    try:
        quoted = "".join(c if c.isascii() else "".join(f"={b:02X}" for b in c.encode(charset))
                         for c in text)
    except (LookupError, UnicodeError):
        return word.group(0)
    return f"=?{charset}?Q?{quoted}?="


_READ_HEADERS = frozenset({"subject", "from", "to", "cc"})


def _is_utf8(value: str) -> bool:
    try:
        value.encode("utf-8", "surrogateescape").decode("utf-8")
        return True
    except UnicodeDecodeError:
        return False


def _unescape_8bit(value: str) -> str:
    """Raw 8-bit header bytes (RFC 6532 UTF-8, or a legacy client's Latin-1) arrive as
    surrogate escapes: read them as UTF-8 when that is mostly what they are (a cut-off
    character at the end is common), else as Windows-1252."""
    data = value.encode("utf-8", "surrogateescape")
    text = data.decode("utf-8", "replace")
    bad = text.count("\ufffd")
    if not bad or sum(1 for c in text if not c.isascii()) - bad > bad:
        return text
    return data.decode("windows-1252", "replace")


class _Lenient(Compat32):
    """``compat32`` with header values unfolded (RFC 5322 2.2.3: a folded boundary is
    still the boundary) and raw 8-bit bytes read as text, never as a ``Header``."""

    def header_fetch_parse(self, name: str, value: str) -> str:  # type: ignore[override]
        if "\n" in value or "\r" in value:
            value = _FOLD.sub("", value).rstrip("\r\n")
        if not value.isascii() and _SURROGATES.search(value):
            value = _unescape_8bit(value)
        return value


_POLICY = _Lenient()
_FOLD = re.compile(r"\r?\n(?=[ \t])")
_SURROGATES = re.compile("[\udc80-\udcff]")
_CHARSET = re.compile(r"[A-Za-z0-9_.:+-]+")  # a charset name, without junk after it
_ENCODED_WORD = re.compile(r"=\?([^?\s]+)\?([bBqQ])\?([^?\s]*)\?=")
_Q_ESCAPE = re.compile(rb"=([0-9A-Fa-f]{2})")
_Q_WORD = re.compile(r"=\?([^?\s]+)\?[qQ]\?([^?]*)\?=")


def _decoded(raw_headers: dict[str, list[str]], name: str, problems: list[str]) -> str:
    """The first ``name`` header as text."""
    values = raw_headers.get(name.lower())
    if not values:
        return ""
    try:
        return _text(values[0], problems, f"the {name} header")
    except Exception as exc:
        problems.append(f"unreadable {name} header: {exc}")
        return values[0]


def _addresses(raw_headers: dict[str, list[str]], name: str,
               problems: list[str]) -> list[tuple[str, str]]:
    """(display name, normalised address) of every ``name`` header (repeats included).
    Split before decoding, so a comma inside an encoded display name splits nothing."""
    out = []
    for display, addr in split_addresses(raw_headers.get(name.lower(), [])):
        try:
            out.append((_text(display, problems, f"the {name} header"), addr))
        except Exception as exc:
            problems.append(f"unreadable display name in {name}: {exc}")
            out.append(("", addr))
    return out


def _first_msgid(value: str) -> str | None:
    found = _MSGID.findall(value)
    if found:
        return found[0]
    value = value.strip()
    return f"<{value}>" if value and " " not in value else None


@dataclass
class _Body:
    plain: str | None = None
    html: str | None = None
    attachments: list[Attachment] = field(default_factory=list)
    forwarded: list[Forwarded] = field(default_factory=list)

    @property
    def text(self) -> str:
        if self.plain is not None and self.plain.strip():
            return self.plain
        if self.html is not None:
            return html_to_text(self.html)
        return self.plain or ""


_ENCLOSED = ("message/rfc822", "message/global")
_MAX_DEPTH = 3  # forwards inside forwards inside forwards; deeper is kept as bytes


def _body_text(msg: Message, problems: list[str], depth: int = 0) -> _Body:
    """The best plain text of the message, what it carries, and the messages it encloses
    (a forward as an attachment), without descending into those for the text."""
    body = _Body()
    for part in _parts(msg):
        ctype = part.get_content_type()
        if ctype in _ENCLOSED:
            _read_enclosed(part, body, problems, depth)
            continue
        disposition = (part.get_content_disposition() or "").lower()
        filename = _safe_filename(part)
        if ctype == "application/ms-tnef" or filename.lower() == "winmail.dat":
            _read_tnef(part, body, problems)
            continue
        if disposition == "attachment" or (filename and ctype not in ("text/plain", "text/html")):
            payload = _payload(part)
            body.attachments.append(Attachment(filename or "unnamed", ctype, len(payload)))
            continue
        if ctype == "text/plain" and body.plain is None:
            body.plain = _decode_text(part, problems)
        elif ctype == "text/html" and body.html is None:
            body.html = _decode_text(part, problems)
    return body


def _parts(msg: Message) -> list[Message]:
    """Leaf parts and enclosed messages, in order; multiparts are opened, enclosed
    messages are not (``Message.walk`` would read their text as ours)."""
    out: list[Message] = []
    stack = [msg]
    while stack:
        part = stack.pop(0)
        if part.get_content_type() in _ENCLOSED:
            out.append(part)
        elif part.is_multipart():
            payload = part.get_payload()
            stack[0:0] = [p for p in payload if isinstance(p, Message)] \
                if isinstance(payload, list) else []
        else:
            out.append(part)
    return out


def _read_enclosed(part: Message, body: _Body, problems: list[str], depth: int) -> None:
    payload = part.get_payload()
    inner = payload[0] if isinstance(payload, list) and payload else None
    if not isinstance(inner, Message) or depth >= _MAX_DEPTH:
        try:
            size = len(inner.as_bytes()) if isinstance(inner, Message) else len(_payload(part))
        except Exception:  # a broken enclosed message: its size is not worth a failure
            size = 0
        body.attachments.append(Attachment(_safe_filename(part) or "message.eml",
                                           part.get_content_type(), size))
        return
    headers = {k.lower(): " ".join(v.split()) for k, v in reversed(inner.items())}
    senders = _addresses({"from": [headers.get("from", "")]}, "From", problems)
    name, addr = senders[0] if senders else ("", "")
    enclosed = _body_text(inner, problems, depth + 1)
    body.forwarded.append(Forwarded(name, addr, headers.get("date", ""),
                                    _text(headers.get("subject", "")), enclosed.text))
    body.forwarded.extend(enclosed.forwarded)
    body.attachments.extend(enclosed.attachments)


def _read_tnef(part: Message, body: _Body, problems: list[str]) -> None:
    """Outlook's winmail.dat: its text and its attachments, which no other client shows."""
    data = _payload(part)
    try:
        tnef = TNEF(data, do_checksum=False)
    except Exception as exc:  # a third-party parser on hostile bytes
        problems.append(f"winmail.dat could not be opened: {type(exc).__name__}: {exc}")
        body.attachments.append(Attachment("winmail.dat", "application/ms-tnef", len(data)))
        return
    for attachment in tnef.attachments:
        name = attachment.long_filename() or attachment.name or "unnamed"
        if isinstance(name, bytes):
            name = name.decode("utf-8", "replace")
        body.attachments.append(Attachment(str(name).rstrip("\x00"),
                                           "application/octet-stream",
                                           len(attachment.data or b"")))
    text, html = _tnef_text(tnef.body), _tnef_text(tnef.htmlbody)
    if text and body.plain is None:
        body.plain = text
    elif html and body.html is None:
        body.html = html


def _tnef_text(value: object) -> str | None:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace").rstrip("\x00")
    return str(value).rstrip("\x00") if value else None


def _safe_filename(part: Message) -> str:
    try:
        return _text(part.get_filename() or "")
    except Exception:
        return ""


def _payload(part: Message) -> bytes:
    try:
        payload = part.get_payload(decode=True)
    except Exception:  # a broken transfer encoding: keep what is there
        payload = None
    if isinstance(payload, bytes):
        return payload
    body = part.get_payload()
    return body.encode("utf-8", "surrogateescape") if isinstance(body, str) else b""


def _decode_text(part: Message, problems: list[str]) -> str:
    """Transfer-decode, then charset-decode; an unknown charset or bad bytes is a problem,
    and the text is read as UTF-8 with replacement characters."""
    payload = _payload(part)
    declared = _CHARSET.match(str(part.get_content_charset("us-ascii") or ""))
    charset = declared.group(0) if declared else "us-ascii"
    try:
        return payload.decode(charset)
    except LookupError:
        problems.append(f"unknown charset {charset[:40]!r} in a {part.get_content_type()} part")
        charset = "utf-8"
    except UnicodeError:
        if charset in ("us-ascii", "ascii"):  # undeclared 8-bit text: UTF-8 in practice
            charset = "utf-8"
            try:
                return payload.decode(charset)
            except UnicodeError:
                pass
        problems.append(f"undecodable bytes in a {part.get_content_type()} part ({charset[:40]})")
    return payload.decode(charset, errors="replace")


def html_to_text(html: str) -> str:
    """Readable text of an HTML body (inscriptis: block layout, lists and tables, no
    scripts or styles).  A sender's HTML is never shown; this is what we read."""
    try:
        text = get_text(html, _HTML_CONFIG)
    except Exception:  # lxml on hostile markup: keep the words
        text = re.sub(r"<[^>]+>", " ", html)
    lines = [line.rstrip() for line in text.splitlines()]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()

"""Raw bytes -> a frozen :class:`ParsedMessage`.  Never raises: whatever is broken becomes
a line in ``problems`` (STYLE habit 5)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from email import message_from_bytes, policy
from email.message import Message
from email.policy import Compat32
from email.utils import parsedate_to_datetime
from html.parser import HTMLParser

from handoff.addresses import split_addresses

_MSGID = re.compile(r"<[^<>\s]+>")
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

    text, attachments = _body_text(msg, problems)
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
        attachments=tuple(attachments),
        problems=tuple(problems),
        part_types=tuple(part.get_content_type() for part in msg.walk()),
    )


def _text(value: str) -> str:
    """RFC 2047 encoded words decoded by ``email.policy.default``'s parser (which also
    copes with unknown charsets and broken words); anything else as it is."""
    if "=?" not in value:
        return value
    if not value.isascii():  # raw 8-bit inside encoded words: quote it as the word says
        value = _Q_WORD.sub(_requote, value)
    try:
        return str(_DECODE("subject", value))
    except Exception:  # the parser is lenient; this is belt and braces
        return value


def _requote(word: re.Match[str]) -> str:
    charset, text = word.group(1), word.group(2)
    try:
        quoted = "".join(c if c.isascii() else "".join(f"={b:02X}" for b in c.encode(charset))
                         for c in text)
    except (LookupError, UnicodeError):
        return word.group(0)
    return f"=?{charset}?Q?{quoted}?="


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
_Q_WORD = re.compile(r"=\?([^?\s]+)\?[qQ]\?([^?]*)\?=")


def _decoded(raw_headers: dict[str, list[str]], name: str, problems: list[str]) -> str:
    """The first ``name`` header as text."""
    values = raw_headers.get(name.lower())
    if not values:
        return ""
    try:
        return _text(values[0])
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
            out.append((_text(display), addr))
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
            payload = _payload(part)
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

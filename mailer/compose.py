"""Render one outbox row into a ``multipart/alternative`` mail with SPEC 7's headers.

Mails that ask a person to act (``MailKind.asks_to_act``: offer, question, ...) go out
like a colleague's mail, so out-of-office replies and bounces come back to be read; pure
notices say ``Auto-Submitted: auto-generated`` (RFC 3834) and suppress every auto-reply.
Every mail threads with the original (``In-Reply-To``/``References``), ends its subject
with ``[H-n]``, and carries a minted ``Reply-To`` and a VERP envelope sender.
"""

from __future__ import annotations

import binascii
import re
import secrets
from io import BytesIO
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.generator import NLCRE, BytesGenerator  # type: ignore[attr-defined]
from email.header import Header
from email.message import Message
from email import encoders
from email.policy import Compat32
from email.mime.base import MIMEBase
from email.mime.multipart import MIMEMultipart
from email.mime.nonmultipart import MIMENonMultipart
from email.utils import format_datetime, formataddr
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined
from sqlalchemy.orm import Session

from handoff.addresses import ServiceAddresses
from handoff.chase import working_hours
from handoff.models import Handoff, OutboxMail
from handoff.outbox import MAIL_KINDS
from handoff.settings import Settings
from handoff.states import TRANSITIONS, Action, Status, allowed_link_actions, is_allowed
from handoff.threads import body_marker
from handoff.tokens import mint_action_tokens, view_mac
from handoff.views import packet_view
from handoff.words import format_instant
from handoff.lifecycle import role_of
from mailer.calendar import deadline_calendar
from templates import TEMPLATE_DIR

_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")
MAX_REFERENCES = 20
class _PlainHeaders(Compat32):
    """compat32, but a short ASCII header is written as it is: the general folding path
    (``email.header.Header``) cost more than the rest of composing a mail."""

    def _fold(self, name: str, value: Any, sanitize: bool) -> str:
        if isinstance(value, str) and value.isascii() and len(name) + len(value) < 76 \
                and "\n" not in value and "\r" not in value:
            return f"{name}: {value}{self.linesep}"
        return str(super()._fold(name, value, sanitize))  # type: ignore[misc]


_POLICY = _PlainHeaders()


def _text_part(text: str, subtype: str) -> MIMENonMultipart:
    """A UTF-8 text part in quoted-printable (readable source, safe 7-bit transport),
    encoded by binascii's C code: the email package's encoder walks the text character
    by character in Python, and was a twentieth of sending a mail."""
    part = MIMENonMultipart("text", subtype, charset="utf-8", policy=_POLICY)
    part["Content-Transfer-Encoding"] = "quoted-printable"
    part.set_payload(binascii.b2a_qp(text.encode("utf-8"), istext=True).decode("ascii"))
    return part


class _WholeBodies(BytesGenerator):
    """The email package's BytesGenerator, writing each part's body in one piece: the
    stock one writes a body line by line, two writes and two encodes per line (about
    300 calls a mail).  Same bytes: lines joined by the line separator asked for."""

    def _write_lines(self, lines: str) -> None:
        if lines:
            self.write(self._NL.join(NLCRE.split(lines)))  # type: ignore[attr-defined]


def wire_bytes(message: Message) -> bytes:
    """``message`` as it goes over SMTP: CRLF line ends, our policy (what
    ``smtplib.send_message`` makes of an ASCII-addressed mail, with fewer calls)."""
    out = BytesIO()
    _WholeBodies(out).flatten(message, linesep="\r\n")
    return out.getvalue()


def _boundary() -> str:
    """A multipart boundary no part can contain: every part is quoted-printable (where
    '=' is always followed by two hex digits or ends a line) or base64 (no '_'), so a
    line '--=_…' never occurs in them.  Given, it spares the email package's generator
    its own: a random one it checks against the whole text with a regular expression
    compiled anew for every mail."""
    return f"=_{secrets.token_hex(12)}"


def header_safe(value: str, limit: int = 200) -> str:
    """No CR, LF or other control characters can reach a header (no header injection)."""
    return " ".join(_CONTROL.sub(" ", value).split())[:limit]


@dataclass(frozen=True)
class Composed:
    message: Message
    envelope_from: str
    recipient: str
    subject: str


class MailRenderer:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.service = ServiceAddresses(settings)
        loader = FileSystemLoader(str(TEMPLATE_DIR / "email"))
        self.text = Environment(loader=loader, autoescape=False, undefined=StrictUndefined,
                                keep_trailing_newline=True, trim_blocks=True,
                                lstrip_blocks=True)
        self.html = Environment(loader=loader, autoescape=True, undefined=StrictUndefined,
                                trim_blocks=True, lstrip_blocks=True)

    def _links(self, session: Session, handoff: Handoff, recipient: Any,
               now: datetime, asks: tuple[Action, ...] = ()) -> list[dict[str, str]]:
        """The recipient's action links for the handoff's state, and those the mail
        ``asks`` for that the state allows; tokens minted now."""
        status = Status(handoff.status)
        role = role_of(handoff, recipient)
        actions = [*allowed_link_actions(role, status),
                   *(a for a in asks if is_allowed(a, status))]
        raws = mint_action_tokens(session, handoff_id=handoff.id, person_id=recipient.id,
                                  actions=[str(a) for a in actions], now=now,
                                  ttl=timedelta(days=self.settings.token_ttl_days))
        return [{"label": TRANSITIONS[action].label,
                 "url": f"{self.settings.base_url}/a/{raw}", "action": str(action)}
                for action, raw in zip(actions, raws)]

    def _calendar_part(self, handoff: Handoff, page_url: str, now: datetime,
                       sequence: int, deadline_words: str) -> MIMEBase:
        """The deadline as ``text/calendar; method=PUBLISH`` (RFC 6047 2.4), also named as
        an attachment so clients that do not read calendar parts still offer the file."""
        ics = deadline_calendar(handoff, domain=self.settings.service_domain,
                                organizer=self.settings.service_address, page_url=page_url,
                                now=now, sequence=sequence,
                                deadline_words=deadline_words)
        part = MIMEBase("text", "calendar", method="PUBLISH", charset="utf-8",
                        name=f"handoff-{handoff.ref}.ics", policy=_POLICY)
        part.set_payload(ics)
        encoders.encode_base64(part)  # CRLF inside must survive transport as it is
        part.add_header("Content-Disposition", "attachment",
                        filename=f"handoff-{handoff.ref}.ics")
        return part

    def compose(self, session: Session, mail: OutboxMail, now: datetime) -> Composed:
        """Render ``mail``; mints its action tokens in ``session`` (commit before sending)."""
        settings, service = self.settings, self.service
        handoff = session.get(Handoff, mail.handoff_id)
        assert handoff is not None
        recipient = mail.recipient
        kind = MAIL_KINDS[mail.kind]
        base = settings.base_url
        # times as the recipient reads them: their own zone, named (handoff/words.py format_instant)
        zone_name = working_hours(settings, recipient.address).zone

        def when(at: datetime | str | None) -> str:
            return format_instant(at, zone_name)

        links = self._links(session, handoff, recipient, now, kind.asks) if kind.links else []
        items = []  # a chase digest: every handoff it is about, each with its links
        for item in (mail.context or {}).get("items", []):
            other = session.get(Handoff, item["handoff_id"])
            if other is not None:
                items.append({**item, "handoff": other,
                              "links": [] if kind.standalone  # a digest asks nothing
                              else self._links(session, other, recipient, now),
                              "page_url": f"{base}/h/{other.ref}?k="
                                          f"{view_mac(settings.secret_key, other.ref)}"})
        context: dict[str, Any] = {
            "handoff": handoff,
            "ref": handoff.ref,
            "kind": mail.kind,
            "recipient": recipient,
            "packet": packet_view(handoff),
            "links": links,
            "page_url": f"{base}/h/{handoff.ref}?k={view_mac(settings.secret_key, handoff.ref)}",
            "marker": body_marker(settings.secret_key, handoff.id),
            "ctx": mail.context or {},
            "items": items,
            "when": when,
        }
        if kind.standalone:  # a digest: its own template is the whole mail, both parts
            text_body = self.text.get_template(f"{mail.kind}.txt.j2").render(context)
            html_body = self.html.get_template(f"{mail.kind}.html.j2").render(context)
        else:
            intro = self.text.get_template(f"{mail.kind}.txt.j2").render(context).strip()
            context["intro"] = intro
            text_body = self.text.get_template("layout.txt.j2").render(context)
            html_body = self.html.get_template("layout.html.j2").render(context)

        # The compat32 MIME classes, not EmailMessage: every value here is ours or cleaned
        # by header_safe, and they build a mail about three times faster.
        body = MIMEMultipart("alternative", boundary=_boundary(), policy=_POLICY)
        msg = body
        if kind.calendar and handoff.deadline is not None:
            msg = MIMEMultipart("mixed", boundary=_boundary(), policy=_POLICY)
            msg.attach(body)
            msg.attach(self._calendar_part(handoff, context["page_url"], now, mail.id,
                                           when(handoff.deadline)))
        msg["From"] = formataddr(("Handoff", settings.service_address))
        msg["To"] = formataddr((header_safe(recipient.display_name, 80), recipient.address),
                               charset="utf-8")
        subject = f"Re: {header_safe(handoff.title)} [{handoff.ref}]"
        if len(items) > 1:
            subject = f"Reminder: {len(items)} handoffs wait for you"
        if kind.standalone:
            subject = header_safe(str((mail.context or {}).get("subject", "")), 300)
        msg["Subject"] = subject if subject.isascii() else Header(subject, "utf-8")  # type: ignore[assignment]
        msg["Date"] = format_datetime(now)
        msg["Message-ID"] = mail.message_id
        if not kind.standalone:  # a digest is in no handoff's thread: a reply goes to none
            msg["Reply-To"] = service.reply_address(handoff.id, recipient.id)
        if handoff.origin_message_id and not kind.standalone:
            msg["In-Reply-To"] = handoff.origin_message_id
            refs = (handoff.origin_references or [])[-MAX_REFERENCES:]
            msg["References"] = " ".join([*refs, handoff.origin_message_id])
        if kind.asks_to_act:
            msg["X-Auto-Response-Suppress"] = "DR, RN, NRN, AutoReply"
        else:
            msg["Auto-Submitted"] = "auto-generated"
            msg["X-Auto-Response-Suppress"] = "All"
        if not kind.standalone:
            msg["X-Handoff-Ref"] = handoff.ref
        body.attach(_text_part(text_body, "plain"))
        body.attach(_text_part(html_body, "html"))
        return Composed(msg, service.bounce_address(mail.id), recipient.address, subject)

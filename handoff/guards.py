"""Is this mail written by a person?  An ordered table of named rules (SPEC 7, STYLE habit 3).

The first rule that matches decides the kind.  Mail of any kind but ``human`` never makes
a handoff and never gets an answer: that is what keeps the service out of mail loops.
``list`` mail is written by a person (so not *automatic*), but it was sent to a list, not
to us, so it is not acted on either.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable

from handoff.addresses import ServiceAddresses, normalise_address
from handoff.parsing import ParsedMessage


@dataclass(frozen=True)
class Verdict:
    kind: str  # human | autoreply | bounce | list | loop
    reason: str

    @property
    def automatic(self) -> bool:
        return self.kind not in ("human", "list")

    @property
    def acts(self) -> bool:
        return self.kind == "human"


@dataclass(frozen=True)
class Envelope:
    mail_from: str | None  # None: not known (a file read by ``handoff parse``)
    rcpt_tos: tuple[str, ...]


Rule = Callable[[ParsedMessage, Envelope, ServiceAddresses], str | None]

_DAEMONS = re.compile(r"^(mailer-daemon|postmaster|mail-daemon|mailerdaemon)@", re.I)
_MAILER_DAEMON = re.compile(r"^(mailer-daemon|mail-daemon|mailerdaemon)@", re.I)
# Who sends non-standard bounces: the address or display name, and a subject, in the
# forms MTAs and providers use (Postfix, Exim, Sendmail, qmail, Exchange, Gmail, KDDI...)
_BOUNCER = re.compile(
    r"^(postmaster|no-?reply|bounces?|mail-?delivery|returned?)@|mail delivery (sub)?system|"
    r"mail administrator|delivery (status )?notification|mail delivery service", re.I)
_BOUNCE_SUBJECT = re.compile(
    r"undeliver|delivery (status notification|failure|has failed)|failure notice|"
    r"returned mail|mail delivery failed|could not be delivered|not delivered|"
    r"nicht zustellbar|unzustellbar|non remis|non distribu|no entregado|"
    r"メールエラー|エラー通知|error", re.I)
# List software writing to a poster itself (rejections, moderation, "not a member"):
# the list's owner/admin/request/bounce address, never a person's.
_LIST_ROBOT = re.compile(
    r"^(owner-[^@]+|[^@]+[-+](owner|admin|request|bounces?))@", re.I)
# Ticket systems' automatic acknowledgements: Request Tracker's "[site #123] AutoReply:"
_TICKET_NOTICE = re.compile(r"^\s*\[[^\]]*#\d+\]\s*(auto-?reply|resolved)\b", re.I)
# Out-of-office subjects as Outlook/Exchange, Gmail, Apple Mail and Thunderbird write them,
# in English, German, French and Spanish.  Words a person might start a subject with
# ("Vacation ...", "Absence ...") count only when a colon follows, as clients write them.
_AUTO_SUBJECT = re.compile(
    r"^\s*(?:"
    r"auto(?:matic)?[ -]?(?:reply|response|answer)|autoreply|auto-?antwort|"
    r"automatische antwort|abwesenheits?(?:notiz|benachrichtigung|meldung)|"
    r"out of (?:the )?office|ooo\b|"
    r"r[ée]ponse automatique|r[ée]ponse en cas d'absence|absent(?:e)? du bureau|"
    r"respuesta autom[aá]tica|fuera de la oficina|"
    r"(?:vacation|absence|abwesend|ausente|absent|cong[ée]s?)(?: reply| response)?\s*:"
    r")",
    re.I,
)


def _own_mail(m: ParsedMessage, env: Envelope, svc: ServiceAddresses) -> str | None:
    if m.from_addr and svc.is_service(m.from_addr):
        return "From is one of the service's own addresses"
    if m.message_id and svc.read_message_id(m.message_id) is not None:
        return "Message-ID is one the service minted"
    return None


_REPORT_PARTS = ("message/delivery-status", "message/disposition-notification",
                 "message/feedback-report")


def _delivery_report(m: ParsedMessage, env: Envelope, svc: ServiceAddresses) -> str | None:
    if m.content_type == "multipart/report":
        return "multipart/report (RFC 3464 delivery status or RFC 8098 receipt)"
    report = next((t for t in m.part_types if t in _REPORT_PARTS), None)
    if report:
        return f"carries a {report} part"
    raw_from = m.headers.get("from", "").strip().strip('"').lower()
    if _MAILER_DAEMON.match(m.from_addr or "") or raw_from.startswith("mailer-daemon"):
        return f"sent by {m.from_addr or m.headers.get('from', '')}"
    return None


def _returned_mail(m: ParsedMessage, env: Envelope, svc: ServiceAddresses) -> str | None:
    """Non-standard bounces: two of (from a bouncer's address or name, a delivery-failure
    subject, the returned message or its headers enclosed)."""
    encloses = any(t in ("message/rfc822", "text/rfc822-headers") for t in m.part_types[1:])
    bouncer = bool(_BOUNCER.search(m.from_addr or "") or _BOUNCER.search(m.from_name or ""))
    subject = bool(_BOUNCE_SUBJECT.search(m.subject))
    if encloses + bouncer + subject < 2:
        return None
    signs = [("encloses the returned message", encloses),
             (f"comes from {(m.from_name or m.from_addr).strip()}", bouncer),
             ("a delivery-failure subject", subject)]
    return ", ".join(sign for sign, present in signs if present)


def _list_robot(m: ParsedMessage, env: Envelope, svc: ServiceAddresses) -> str | None:
    if _LIST_ROBOT.match(m.from_addr or "") and "multipart/digest" not in m.part_types:
        return f"sent by list software ({m.from_addr})"
    return None


def _null_sender(m: ParsedMessage, env: Envelope, svc: ServiceAddresses) -> str | None:
    if env.mail_from is None:  # unknown, not null
        return None
    if env.mail_from in ("", "<>") and env.rcpt_tos:
        return "null reverse-path (RFC 5321 4.5.5: only notifications use it)"
    path = env.mail_from.strip().strip("<>")
    if _DAEMONS.match(normalise_address(path) or "") or path.lower() == "mailer-daemon":
        return f"envelope sender {env.mail_from}"
    return None


def _auto_submitted(m: ParsedMessage, env: Envelope, svc: ServiceAddresses) -> str | None:
    value = m.headers.get("auto-submitted", "").strip().lower()
    if value and not value.startswith("no"):
        return f"Auto-Submitted: {value} (RFC 3834)"
    for name in ("x-autoreply", "x-autorespond", "x-autoresponder"):
        if name in m.headers:
            return f"{name} header"
    if m.headers.get("precedence", "").strip().lower() == "auto_reply":
        return "Precedence: auto_reply"
    if _AUTO_SUBJECT.match(m.subject):
        return "auto-reply subject"
    if _TICKET_NOTICE.match(m.subject) or (m.from_name or "").lower().endswith(" via rt"):
        return "a ticket system's automatic notice"
    return None


def _list_mail(m: ParsedMessage, env: Envelope, svc: ServiceAddresses) -> str | None:
    if "list-id" in m.headers:
        return "List-Id header"
    if "multipart/digest" in m.part_types:
        return "a list digest (multipart/digest)"
    precedence = m.headers.get("precedence", "").strip().lower()
    if precedence in ("bulk", "list", "junk"):
        return f"Precedence: {precedence}"
    return None


RULES: tuple[tuple[str, Rule], ...] = (
    ("loop", _own_mail),
    ("bounce", _delivery_report),
    ("autoreply", _auto_submitted),
    ("bounce", _returned_mail),
    ("bounce", _null_sender),
    ("bounce", _list_robot),
    ("list", _list_mail),
)


def classify(message: ParsedMessage, envelope: Envelope, service: ServiceAddresses) -> Verdict:
    for kind, rule in RULES:
        reason = rule(message, envelope, service)
        if reason:
            return Verdict(kind, reason)
    return Verdict("human", "")

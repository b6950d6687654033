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
    mail_from: str
    rcpt_tos: tuple[str, ...]


Rule = Callable[[ParsedMessage, Envelope, ServiceAddresses], str | None]

_DAEMONS = re.compile(r"^(mailer-daemon|postmaster|mail-daemon|mailerdaemon)@", re.I)
_AUTO_SUBJECT = re.compile(
    r"^\s*(auto(matic)?[ -]?(reply|response|antwort)|out of (the )?office|abwesenheit|"
    r"vacation|absence|r[ée]ponse automatique|respuesta autom[aá]tica|fuera de la oficina)",
    re.I,
)


def _own_mail(m: ParsedMessage, env: Envelope, svc: ServiceAddresses) -> str | None:
    if m.from_addr and svc.is_service(m.from_addr):
        return "From is one of the service's own addresses"
    if m.message_id and svc.read_message_id(m.message_id) is not None:
        return "Message-ID is one the service minted"
    return None


def _delivery_report(m: ParsedMessage, env: Envelope, svc: ServiceAddresses) -> str | None:
    if m.content_type == "multipart/report":
        return "multipart/report (RFC 3464 delivery status or RFC 8098 receipt)"
    if _DAEMONS.match(m.from_addr or ""):
        return f"sent by {m.from_addr}"
    return None


def _null_sender(m: ParsedMessage, env: Envelope, svc: ServiceAddresses) -> str | None:
    if env.mail_from in ("", "<>") and env.rcpt_tos:
        return "null reverse-path (RFC 5321 4.5.5: only notifications use it)"
    if _DAEMONS.match(normalise_address(env.mail_from) or ""):
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
    return None


def _list_mail(m: ParsedMessage, env: Envelope, svc: ServiceAddresses) -> str | None:
    if "list-id" in m.headers:
        return "List-Id header"
    precedence = m.headers.get("precedence", "").strip().lower()
    if precedence in ("bulk", "list", "junk"):
        return f"Precedence: {precedence}"
    return None


RULES: tuple[tuple[str, Rule], ...] = (
    ("loop", _own_mail),
    ("bounce", _delivery_report),
    ("autoreply", _auto_submitted),
    ("bounce", _null_sender),
    ("list", _list_mail),
)


def classify(message: ParsedMessage, envelope: Envelope, service: ServiceAddresses) -> Verdict:
    for kind, rule in RULES:
        reason = rule(message, envelope, service)
        if reason:
            return Verdict(kind, reason)
    return Verdict("human", "")

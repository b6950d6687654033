"""Is this mail written by a person?  An ordered table of named rules (SPEC 7, STYLE habit 3).

The first rule that matches decides the kind.  Mail of any kind but ``human`` never makes
a handoff and never gets an answer: that is what keeps the service out of mail loops.
``list`` mail is written by a person (so not *automatic*), but it was sent to a list, not
to us, so it is not acted on either.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from handoff.addresses import ServiceAddresses, normalise_address
from handoff.auto_words import (CALENDAR_REPLY_SUBJECT, LIST_AUTORESPONSE_SUBJECT,
                                LIST_REFUSAL_SUBJECT, LIST_ROBOT_ADDRESS, LIST_ROLE_SUBJECT,
                                LOTUS_NOTES_SENTENCE, LOTUS_NOTES_SUBJECT,
                                MODERATION_SUBJECT, OUT_OF_OFFICE_SUBJECT)
from handoff.parsing import REPORT_TYPES, ParsedMessage
from handoff.report_meaning import REPORTS, read_report
from handoff.robot_signs import (AUTO_HEADER_VALUES, AUTO_HEADERS, BOUNCE_SUBJECT, BOUNCER,
                                 EXCHANGE_SYSTEM, LIST_HEADERS, LIST_ROBOT, LIST_ROLE,
                                 MAILER_DAEMON, PERSON_PREFIX, POSTMASTER, TICKET_NOTICE,
                                 has_inline_calendar, looks_like_challenge,
                                 looks_like_recall, own_parts)

__all__ = ["REPORTS", "Envelope", "Verdict", "classify"]  # REPORTS: report_meaning.py


@dataclass(frozen=True)
class Verdict:
    kind: str  # human | autoreply | bounce | list | loop
    reason: str
    # What a report or notice says happened to the mail it answers (see REPORTS); "" for
    # a person's mail, list mail, loops and plain auto-replies.
    report: str = ""

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

def _own_mail(m: ParsedMessage, env: Envelope, svc: ServiceAddresses) -> str | None:
    if m.from_addr and svc.is_service(m.from_addr):
        return "From is one of the service's own addresses"
    if m.message_id and svc.read_message_id(m.message_id) is not None:
        return "Message-ID is one the service minted"
    return None


def _delivery_report(m: ParsedMessage, env: Envelope, svc: ServiceAddresses) -> str | None:
    report_type = m.headers.get("content-type", "").lower()
    if m.content_type == "multipart/report":
        if "feedback-report" in report_type or "message/feedback-report" in m.part_types:
            return "an abuse report (multipart/report, ARF: RFC 5965)"
        return "multipart/report (RFC 3464 delivery status or RFC 8098 disposition)"
    report = next((t for t in own_parts(m) if t in REPORT_TYPES), None)
    if report:
        return f"carries a {report} part"
    raw_from = m.headers.get("from", "").strip().strip('"').lower()
    if MAILER_DAEMON.match(m.from_addr or "") or raw_from.startswith("mailer-daemon"):
        return f"sent by {m.from_addr or m.headers.get('from', '')}"
    if EXCHANGE_SYSTEM.match(m.from_addr or ""):
        return "sent by Exchange's system mailbox (NDRs, quota and recall reports)"
    if "x-failed-recipients" in m.headers:
        return "X-Failed-Recipients header (Exim's bounces and delay warnings)"
    return None


def _returned_mail(m: ParsedMessage, env: Envelope, svc: ServiceAddresses) -> str | None:
    """Non-standard bounces and mail filters' notices: from a bouncer (its address or name
    in From, or postmaster@ as the envelope sender), with a delivery-failure subject or
    the returned message (or its headers) enclosed.  A bouncer's address alone is a role
    account people write from; a subject or an enclosed mail alone is a person's forward
    ("Fwd: Undeliverable: ...", a courier's "not delivered" mail attached)."""
    sender = (m.from_addr or "")[:320]
    bouncer = bool(BOUNCER.search(sender) or BOUNCER.search((m.from_name or "")[:200]))
    envelope = (env.mail_from or "").strip().strip("<>")[:320]
    by_postmaster = bool(POSTMASTER.match(envelope))
    if not bouncer and not by_postmaster:
        return None
    encloses = any(t in ("message/rfc822", "text/rfc822-headers") for t in m.part_types[1:])
    subject = bool(BOUNCE_SUBJECT.search(m.subject[:300])) and \
        not PERSON_PREFIX.match(m.subject)
    if not (encloses or subject):
        return None
    signs = [(f"comes from {(m.from_name or m.from_addr).strip()}", bouncer),
             (f"envelope sender {envelope}", by_postmaster and not bouncer),
             ("encloses the returned message", encloses),
             ("a delivery-failure subject", subject)]
    return ", ".join(sign for sign, present in signs if present)


def _list_robot(m: ParsedMessage, env: Envelope, svc: ServiceAddresses) -> str | None:
    """List software writing to a poster: from its robot's or the list's owner address,
    marked administrivia (Mailman), or a moderation notice by its subject."""
    if "multipart/digest" in m.part_types:
        return None
    address = (m.from_addr or "")[:320]
    if LIST_ROBOT.match(address) or LIST_ROBOT_ADDRESS.match(address):
        return f"sent by list software ({address})"
    subject = m.subject[:300]
    if LIST_ROLE.match(address) and (any(name in m.headers for name in LIST_HEADERS)
                                      or LIST_ROLE_SUBJECT.search(subject)):
        return f"sent by list software ({address})"
    if m.headers.get("x-list-administrivia", "").strip().lower() == "yes":
        return "X-List-Administrivia: yes (Mailman's notice to a poster)"
    if MODERATION_SUBJECT.search(subject):
        return "a list's moderation notice"
    if LIST_REFUSAL_SUBJECT.match(subject):
        return "a list's refusal of a post"
    return None


def _list_autoresponse(m: ParsedMessage, env: Envelope, svc: ServiceAddresses) -> str | None:
    """Mailman's auto-responder to a post ('Auto-response for your message to the "Ops"
    mailing list'), from the list's -bounces address: an auto-reply, not a refusal."""
    if LIST_AUTORESPONSE_SUBJECT.match(m.subject) and (
            LIST_ROBOT.match((m.from_addr or "")[:320])
            or any(name in m.headers for name in LIST_HEADERS)):
        return "a list's auto-response to a post"
    return None


def _null_sender(m: ParsedMessage, env: Envelope, svc: ServiceAddresses) -> str | None:
    if env.mail_from is None:  # unknown, not null
        return None
    if env.mail_from in ("", "<>") and env.rcpt_tos:
        return "null reverse-path (RFC 5321 4.5.5: only notifications use it)"
    path = env.mail_from.strip().strip("<>")
    if MAILER_DAEMON.match(normalise_address(path) or "") or path.lower() == "mailer-daemon":
        return f"envelope sender {env.mail_from}"
    return None  # postmaster@ is a role account people send from: see _returned_mail


def _auto_submitted(m: ParsedMessage, env: Envelope, svc: ServiceAddresses) -> str | None:
    value = m.headers.get("auto-submitted", "").strip().lower()
    if value and not value.startswith("no"):
        return f"Auto-Submitted: {value} (RFC 3834)"
    for name, word in AUTO_HEADERS:
        if name in m.headers and word in m.headers[name].lower():
            return f"{name} header"
    for name, whole in AUTO_HEADER_VALUES:
        if m.headers.get(name, "").strip().lower() == whole:
            return f"{name}: {whole}"
    precedence = m.headers.get("precedence", "").strip().lower()
    if precedence == "auto_reply":
        return "Precedence: auto_reply"
    if precedence == "junk" and "list-id" not in m.headers:
        return "Precedence: junk (what vacation programs write, RFC 3834 5.)"
    return None


def _auto_subject(m: ParsedMessage, env: Envelope, svc: ServiceAddresses) -> str | None:
    subject = m.subject[:300]
    if OUT_OF_OFFICE_SUBJECT.match(subject):
        return "an out-of-office subject"
    if LOTUS_NOTES_SUBJECT.match(subject) or (
            LOTUS_NOTES_SENTENCE.search(subject) and not PERSON_PREFIX.match(subject)):
        return "a Lotus Notes out-of-office subject"
    if TICKET_NOTICE.match(subject) or (m.from_name or "").lower().endswith(" via rt"):
        return "a ticket system's automatic notice"
    return None


def _challenge(m: ParsedMessage, env: Envelope, svc: ServiceAddresses) -> str | None:
    return looks_like_challenge(m)


def _recall(m: ParsedMessage, env: Envelope, svc: ServiceAddresses) -> str | None:
    return "an Outlook recall request" if looks_like_recall(m) else None


def _calendar_reply(m: ParsedMessage, env: Envelope, svc: ServiceAddresses) -> str | None:
    """A calendar's answer to an invitation (iTIP REPLY): "Accepted: ..." from a person's
    Outlook or Google Calendar, or from a room's mailbox that accepts by itself.  A
    disposition notice like a read receipt: it carries no words for us to act on."""
    if has_inline_calendar(m) and CALENDAR_REPLY_SUBJECT.match(m.subject):
        return "a calendar's answer to an invitation (iTIP REPLY)"
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
    ("bounce", _calendar_reply),
    ("autoreply", _list_autoresponse),
    ("bounce", _list_robot),
    ("bounce", _returned_mail),
    ("autoreply", _auto_submitted),
    ("autoreply", _auto_subject),
    ("autoreply", _challenge),
    ("autoreply", _recall),
    ("bounce", _null_sender),
    ("list", _list_mail),
)


def classify(message: ParsedMessage, envelope: Envelope, service: ServiceAddresses) -> Verdict:
    for kind, rule in RULES:
        reason = rule(message, envelope, service)
        if reason:
            return Verdict(kind, reason, read_report(kind, message))
    return Verdict("human", "")



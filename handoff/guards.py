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
from handoff.auto_words import (CALENDAR_REPLY_SUBJECT, CHALLENGE_HELD, CHALLENGE_PROVE,
                                CHALLENGE_SUBJECT, LIST_AUTORESPONSE_SUBJECT,
                                LIST_DISTRIBUTED, LIST_HELD_SUBJECT, LIST_HELD_TEXT,
                                LIST_REFUSAL_SUBJECT, LIST_REFUSED, LIST_ROBOT_ADDRESS,
                                LIST_ROLE_SUBJECT, LOTUS_NOTES_SENTENCE,
                                LOTUS_NOTES_SUBJECT, MODERATION_SUBJECT, NOT_READ,
                                OUT_OF_OFFICE_SUBJECT, RECALL_SUBJECT, RECALL_TEXT)
from handoff.parsing import REPORT_TYPES, ParsedMessage


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

_MAILER_DAEMON = re.compile(r"^(mailer-daemon|mail-daemon|mailerdaemon)@", re.I)
_POSTMASTER = re.compile(r"^postmaster@", re.I)
# Exchange's own system mailbox (the same name in every Exchange and Microsoft 365
# organisation): it sends NDRs, quota warnings and recall reports, never a person's mail.
_EXCHANGE_SYSTEM = re.compile(r"^microsoftexchange329e71ec88ae4615bbc36ab6ce41109e@", re.I)
# Who sends non-standard bounces: the address or display name, in the forms MTAs,
# providers and mail filters use (Postfix, Exim, Sendmail, qmail, Exchange, Domino, Gmail,
# KDDI, Microsoft 365's quarantine notices...)
_BOUNCER = re.compile(
    r"^(postmaster|no-?reply|bounces?|mail-?delivery|returned?|quarantine)@|"
    r"^microsoftexchange329e71ec88ae4615bbc36ab6ce41109e@|mail delivery (sub)?system|"
    r"mail administrator|delivery (status )?notification|mail delivery service|"
    r"^mail router$", re.I)
# Their subjects.  Not a bare "error" or "not delivered": "Error in the Q3 report" is a
# person's subject, and a bouncer's address is needed besides (see _returned_mail).
_BOUNCE_SUBJECT = re.compile(
    r"undeliver|delivery (status notification|failure|has failed)|failure notice|"
    r"returned mail|mail delivery failed|could not be delivered|not delivered|"
    r"mail(er)? (system )?error|delivery error|\bbounce notification|"
    r"\bquarantin|\bvirus\b.{0,40}\b(in|found in) (your )?(mail|message|e-?mail)\b|"
    r"\bmailbox (is )?(almost |nearly )?full\b|\bquota (warning|exceeded)\b|"
    r"nicht zustellbar|unzustellbar|non remis|non distribu|no entregado|"
    r"メールエラー|エラー通知", re.I)
# Non-standard delay warnings (Exim "Warning: message ... delayed 24 hours", Sendmail
# "Warning: could not send message for past 4 hours"): still being tried, not failed.
_DELAY_SUBJECT = re.compile(r"\bdelay(ed)?\b|deferred|could not send message for past|"
                            r"verzögert|retard", re.I)
_FAILED_SUBJECT = re.compile(r"fail|undeliver|returned|not delivered|could not be delivered|"
                             r"nicht zustellbar|unzustellbar|non remis", re.I)
# A mail filter's notice that it quarantined the mail: held, and may still be released
_QUARANTINE_SUBJECT = re.compile(r"\bquarantin", re.I)
# List software writing to a poster itself (rejections, moderation, "not a member"):
# the list's owner or bounce address in the forms only list software uses ("owner-ops@",
# "ops+owner@", "ops-bounces@").  "ops-owner@", "-admin" (Mailman 2.0, fml) and
# "-request" (Mailman, Majordomo) count only beside a list's own header or a list
# robot's subject: "product-owner@", "it-admin@" and "access-request@" are shared
# mailboxes people write from.
_LIST_ROBOT = re.compile(r"^(owner-[^@]+|[^@]+\+owner|[^@]+[-+]bounces?(\+[^@]*)?)@", re.I)
_LIST_ROLE = re.compile(r"^[^@]+[-+](owner|admin|request)@", re.I)
# Headers only list software writes (RFC 2369/2919, Mailman, ezmlm, fml, Google Groups)
_LIST_HEADERS = ("list-id", "x-list-administrivia", "x-mailman-version", "x-beenthere",
                 "list-unsubscribe", "list-post", "list-subscribe", "list-help",
                 "mailing-list", "x-mlserver", "x-ml-name", "x-mailing-list")
# Ticket systems' automatic acknowledgements: Request Tracker's "[site #123] AutoReply:"
_TICKET_NOTICE = re.compile(r"^\s*\[[^\]]*#\d+\]\s*(auto-?reply|resolved)\b", re.I)
# A reply or forward by a person keeps the robot's subject after its prefix
_PERSON_PREFIX = re.compile(r"^\s*(re|aw|sv|vs|antw|fwd?|wg|tr|rv|i)\s*:", re.I)
_FORWARD_PREFIX = re.compile(r"^\s*(fwd?|wg|tr|rv|i)\s*:", re.I)

# Headers auto-responders write besides RFC 3834's Auto-Submitted: (name, a word its
# value must contain, or "" for any value)
AUTO_HEADERS: tuple[tuple[str, str], ...] = (
    ("x-autoreply", ""), ("x-autorespond", ""), ("x-autoresponder", ""),
    ("x-auto-reply", ""), ("x-autoresponse", ""), ("x-mail-autoreply", ""),
    ("x-autogenerated", "reply"),  # Yahoo, Hotmail
    ("x-post-messageclass", "autoresponder"),  # Microsoft's POST
    ("x-fc-machinegenerated", "true"),  # FirstClass
    ("x-otrs-loop", ""),  # OTRS and Znuny auto-responses and notifications
)
# Headers whose whole value marks a robot: OTRS and Zammad write "X-Loop: yes" (procmail
# recipes write an address there, on people's mail they pass on, so only "yes" counts)
AUTO_HEADER_VALUES: tuple[tuple[str, str], ...] = (("x-loop", "yes"),)

# What a report or notice says happened to the mail it answers: Verdict.report
REPORTS: dict[str, str] = {
    "failed": "not delivered (a DSN with Action: failed, or a bounce)",
    "refused": "refused by the recipient's mailbox (an MDN with disposition deleted: "
               "a Sieve reject, RFC 5429)",
    "delayed": "delayed, still being tried (a DSN with Action: delayed)",
    "delivered": "delivered (a DSN with Action: delivered, relayed or expanded; a list's "
                 "notice that it distributed the post)",
    "receipt": "a read receipt or another disposition notice (RFC 8098: read, or "
               "deleted unread), or a calendar's answer to an invitation (iTIP REPLY)",
    "feedback": "an abuse report (ARF, RFC 5965): the recipient called it spam",
    "held": "held by list software for its moderators, or by a mail filter's "
            "quarantine: it may still be released",
    "challenge": "held by a challenge-response system until the sender proves to be a "
                 "person",
    "recall": "its writer asks to delete a mail they sent earlier (an Outlook recall)",
}


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
    report = next((t for t in _own_parts(m) if t in REPORT_TYPES), None)
    if report:
        return f"carries a {report} part"
    raw_from = m.headers.get("from", "").strip().strip('"').lower()
    if _MAILER_DAEMON.match(m.from_addr or "") or raw_from.startswith("mailer-daemon"):
        return f"sent by {m.from_addr or m.headers.get('from', '')}"
    if _EXCHANGE_SYSTEM.match(m.from_addr or ""):
        return "sent by Exchange's system mailbox (NDRs, quota and recall reports)"
    if "x-failed-recipients" in m.headers:
        return "X-Failed-Recipients header (Exim's bounces and delay warnings)"
    return None


def _own_parts(m: ParsedMessage) -> tuple[str, ...]:
    """The part types of the mail itself, before any enclosed message: a report part
    inside a forwarded bounce (a person's "Fwd: Delivery Status Notification", sent as
    an attachment) is the forwarded mail's, not this one's.  A bounce puts its report part
    before the returned message, also when a gateway wrapped it in multipart/mixed."""
    for i, part_type in enumerate(m.part_types[1:], start=1):
        if part_type in ("message/rfc822", "message/global"):
            return m.part_types[:i]
    return m.part_types


def _returned_mail(m: ParsedMessage, env: Envelope, svc: ServiceAddresses) -> str | None:
    """Non-standard bounces and mail filters' notices: from a bouncer (its address or name
    in From, or postmaster@ as the envelope sender), with a delivery-failure subject or
    the returned message (or its headers) enclosed.  A bouncer's address alone is a role
    account people write from; a subject or an enclosed mail alone is a person's forward
    ("Fwd: Undeliverable: ...", a courier's "not delivered" mail attached)."""
    sender = (m.from_addr or "")[:320]
    bouncer = bool(_BOUNCER.search(sender) or _BOUNCER.search((m.from_name or "")[:200]))
    envelope = (env.mail_from or "").strip().strip("<>")[:320]
    by_postmaster = bool(_POSTMASTER.match(envelope))
    if not bouncer and not by_postmaster:
        return None
    encloses = any(t in ("message/rfc822", "text/rfc822-headers") for t in m.part_types[1:])
    subject = bool(_BOUNCE_SUBJECT.search(m.subject[:300])) and \
        not _PERSON_PREFIX.match(m.subject)
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
    if _LIST_ROBOT.match(address) or LIST_ROBOT_ADDRESS.match(address):
        return f"sent by list software ({address})"
    subject = m.subject[:300]
    if _LIST_ROLE.match(address) and (any(name in m.headers for name in _LIST_HEADERS)
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
            _LIST_ROBOT.match((m.from_addr or "")[:320])
            or any(name in m.headers for name in _LIST_HEADERS)):
        return "a list's auto-response to a post"
    return None


def _null_sender(m: ParsedMessage, env: Envelope, svc: ServiceAddresses) -> str | None:
    if env.mail_from is None:  # unknown, not null
        return None
    if env.mail_from in ("", "<>") and env.rcpt_tos:
        return "null reverse-path (RFC 5321 4.5.5: only notifications use it)"
    path = env.mail_from.strip().strip("<>")
    if _MAILER_DAEMON.match(normalise_address(path) or "") or path.lower() == "mailer-daemon":
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
            LOTUS_NOTES_SENTENCE.search(subject) and not _PERSON_PREFIX.match(subject)):
        return "a Lotus Notes out-of-office subject"
    if _TICKET_NOTICE.match(subject) or (m.from_name or "").lower().endswith(" via rt"):
        return "a ticket system's automatic notice"
    return None


def _challenge(m: ParsedMessage, env: Envelope, svc: ServiceAddresses) -> str | None:
    return looks_like_challenge(m)


# Where a person's own words end: a quoted line, or a forwarded or original message
_QUOTED_OR_FORWARDED = re.compile(
    r"^\s*>|^-{2,}\s*(?:original message|forwarded message|weitergeleitete nachricht|"
    r"ursprüngliche nachricht|message d'origine|message transféré|mensaje original)|"
    r"^begin forwarded message|^on .{0,200}\bwrote:\s*$", re.I | re.M)


def looks_like_challenge(m: ParsedMessage) -> str | None:
    """Challenge-response: a subject that asks for it, or a text that says both that
    *your message* is held (or that its writer uses such a system) and how to prove you
    are a person.  Only the mail's own words count, not what it quotes or forwards: a
    person may forward a challenge to a colleague."""
    if CHALLENGE_SUBJECT.search(m.subject[:300]):
        return "a challenge-response subject"
    if _FORWARD_PREFIX.match(m.subject):
        return None  # a person's forward: its text is someone else's
    text = m.text[:4000]
    end = _QUOTED_OR_FORWARDED.search(text)
    text = text[:end.start()] if end else text
    held, prove = CHALLENGE_HELD.search(text), CHALLENGE_PROVE.search(text)
    if held and prove:
        return f"a challenge-response request ({held.group(0)}; {prove.group(0)})"
    return None


def _recall(m: ParsedMessage, env: Envelope, svc: ServiceAddresses) -> str | None:
    return "an Outlook recall request" if looks_like_recall(m) else None


def looks_like_recall(m: ParsedMessage) -> bool:
    """Outlook's "Recall This Message" as other servers receive it: a mail from the
    sender asking to delete an earlier one, never a handoff."""
    return bool(RECALL_SUBJECT.match(m.subject) and RECALL_TEXT.search(m.text[:2000]))


def _calendar_reply(m: ParsedMessage, env: Envelope, svc: ServiceAddresses) -> str | None:
    """A calendar's answer to an invitation (iTIP REPLY): "Accepted: ..." from a person's
    Outlook or Google Calendar, or from a room's mailbox that accepts by itself.  A
    disposition notice like a read receipt: it carries no words for us to act on."""
    if _inline_calendar(m) and CALENDAR_REPLY_SUBJECT.match(m.subject):
        return "a calendar's answer to an invitation (iTIP REPLY)"
    return None


def _inline_calendar(m: ParsedMessage) -> bool:
    """A text/calendar part of the mail itself that is not an attached file: where
    calendars put their REPLY ("Accepted: the vendor's offer" with an .ics attached is a
    person's mail)."""
    attached = sum(1 for a in m.attachments if a.content_type == "text/calendar")
    return _own_parts(m).count("text/calendar") > attached


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


def read_report(kind: str, m: ParsedMessage) -> str:
    """What an automatic message says about the mail it answers (a key of REPORTS)."""
    if kind == "autoreply":
        if looks_like_challenge(m):
            return "challenge"
        return "recall" if looks_like_recall(m) else ""
    if kind != "bounce":
        return ""
    if "message/feedback-report" in m.part_types or \
            "feedback-report" in m.headers.get("content-type", "").lower():
        return "feedback"
    fields = m.report
    if "message/disposition-notification" in m.part_types:
        disposition = next((v for k, v in fields if k == "disposition"), "")
        kind_of = disposition.rpartition(";")[2].strip().lower()
        if kind_of.startswith("deleted") and not (
                NOT_READ.search(m.subject) or NOT_READ.search(m.text[:2000])):
            return "refused"
        return "receipt"
    if _inline_calendar(m):
        return "receipt"
    actions = [v.split()[0].lower() for k, v in fields if k == "action" and v.split()]
    if "failed" in actions:
        return "failed"
    if "delayed" in actions:
        return "delayed"
    if actions:  # delivered, relayed, expanded: all went well
        return "delivered"
    if MODERATION_SUBJECT.search(m.subject[:300]) or _QUARANTINE_SUBJECT.search(m.subject):
        return "held"
    if _from_list_software(m):
        return _list_notice(m)
    if _DELAY_SUBJECT.search(m.subject) and not _FAILED_SUBJECT.search(m.subject):
        return "delayed"
    return "failed"


def _from_list_software(m: ParsedMessage) -> bool:
    address = (m.from_addr or "")[:320]
    return bool(_LIST_ROBOT.match(address) or LIST_ROBOT_ADDRESS.match(address)
                or any(name in m.headers for name in _LIST_HEADERS))


def _list_notice(m: ParsedMessage) -> str:
    """What list software says happened to a post: refused, held or distributed (Sympa
    writes all three under one subject, "Message distribution")."""
    text = m.text[:2000]
    if LIST_REFUSED.search(m.subject):
        return "failed"
    if LIST_HELD_SUBJECT.search(m.subject):
        return "held"
    if LIST_DISTRIBUTED.search(m.subject) or LIST_DISTRIBUTED.search(text):
        return "delivered"
    if LIST_REFUSED.search(text):
        return "failed"
    if LIST_HELD_TEXT.search(text):
        return "held"
    return "failed"

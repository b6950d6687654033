"""What an automatic message says happened to the mail it answers: ``Verdict.report``.

Read from a report's machine-readable part (RFC 3464 delivery status, RFC 8098
disposition, RFC 5965 feedback) where it has one, else from what list software, mail
filters and non-standard bounces write.  ``handoff/reports.py`` decides what each means
for a handoff.
"""

from __future__ import annotations

import re

from handoff.auto_words import (LIST_DISTRIBUTED, LIST_HELD_SUBJECT, LIST_HELD_TEXT,
                                LIST_REFUSED, MODERATION_SUBJECT, NOT_READ,
                                OUT_OF_OFFICE_SUBJECT)
from handoff.parsing import ParsedMessage
from handoff.robot_signs import (has_inline_calendar, is_from_list_software,
                                 looks_like_challenge, looks_like_recall)

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

# Non-standard delay warnings (Exim "Warning: message ... delayed 24 hours", Sendmail
# "Warning: could not send message for past 4 hours"): still being tried, not failed.
DELAY_SUBJECT = re.compile(r"\bdelay(ed)?\b|deferred|could not send message for past|"
                            r"verzögert|retard", re.I)
FAILED_SUBJECT = re.compile(r"fail|undeliver|returned|not delivered|could not be delivered|"
                             r"nicht zustellbar|unzustellbar|non remis", re.I)
# A mail filter's notice that it quarantined the mail: held, and may still be released
QUARANTINE_SUBJECT = re.compile(r"\bquarantin", re.I)


def read_report(kind: str, m: ParsedMessage) -> str:
    """What an automatic message says about the mail it answers (a key of REPORTS)."""
    if kind == "autoreply":
        if OUT_OF_OFFICE_SUBJECT.match(m.subject[:300]):
            return ""  # an absence says so in its subject; its text may say "confirm"
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
        # RFC 5429 2.2.2: a Sieve reject's MDN is sent automatically; a person who
        # deleted the mail unread and let their client say so refused nothing by rule
        automatic = disposition.lower().startswith("automatic-action")
        if automatic and kind_of.startswith("deleted") and not (
                NOT_READ.search(m.subject) or NOT_READ.search(m.text[:2000])):
            return "refused"
        return "receipt"
    if has_inline_calendar(m):
        return "receipt"
    actions = [v.split()[0].lower() for k, v in fields if k == "action" and v.split()]
    if "failed" in actions:
        return "failed"
    if "delayed" in actions:
        return "delayed"
    if actions:  # delivered, relayed, expanded: all went well
        return "delivered"
    if MODERATION_SUBJECT.search(m.subject[:300]) or QUARANTINE_SUBJECT.search(m.subject):
        return "held"
    if is_from_list_software(m):
        return _list_notice(m)
    if DELAY_SUBJECT.search(m.subject) and not FAILED_SUBJECT.search(m.subject):
        return "delayed"
    return "failed"


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

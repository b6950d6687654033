"""What each timeline event says on the status page, after the name of who did it:
"ana@corp.test *handed it off*", "service *offered it to* bob@corp.test".

A table a reader can scan (habit 3).  ``{to}``, ``{missing}``, ``{new_owner}`` and the
like come from the event's detail.  A kind not listed (a new one, or one of the
reports' ``received_*``) reads as its name: "received delay warning".
"""

from __future__ import annotations

from typing import Any

EVENT_WORDS: dict[str, str] = {
    "created": "handed it off",
    "offered": "offered it to {to}",
    "incomplete": "asked the sender for what is missing: {missing}",
    "packet_supplied": "supplied {fields}",
    "accepted": "accepted",
    "needs_info": "asked for information",
    "answered": "answered the question",
    "declined": "declined",
    "done": "marked it done",
    "closed": "confirmed it done and closed it",
    "reopened": "reopened it",
    "cancelled": "cancelled it",
    "snoozed": "paused chasing",
    "comment": "wrote",
    "chased_nudge": "nudged {to}",
    "chased_escalation": "escalated to {to}",
    "owner_away": "heard that the owner looks away (an out-of-office reply)",
    "owner_unreachable": "could not reach the owner's mailbox",
    "owner_mailbox_refused": "heard that the owner's mailbox refused the mail",
    "owner_mailbox_challenge": "got a challenge from the owner's mailbox",
    "mail_failed": "could not deliver a mail",
    "command_refused": "did not act on a reply's command",
    "handed_on": "handed it on to {new_owner}",
    "needs_decision": "marked it as needing a decision by {decider}",
    "decision_rule_matched": "matched a decision rule",
    "decided": "decided",
    "clarity_asked": "asked {to} whether the handoff was clear",
    "clarity_not_asked": "did not ask whether the handoff was clear",
    "clarity_answered": "said whether the handoff was clear: {answer}",
}
# the service closing a handoff nobody confirmed reads differently from the sender's confirm
_SYSTEM_WORDS = {"closed": "closed it"}


def describe_event(kind: str, detail: dict[str, Any] | None, by_person: bool) -> str:
    """The words after the actor's name; never raises on an odd detail."""
    words = EVENT_WORDS.get(kind, kind.replace("_", " "))
    if not by_person:
        words = _SYSTEM_WORDS.get(kind, words)
    values = {key: _as_words(value) for key, value in (detail or {}).items()}
    try:
        return words.format_map(_Blank(values))
    except (ValueError, IndexError):
        return kind.replace("_", " ")


def _as_words(value: Any) -> str:
    if isinstance(value, (list, tuple)):
        return ", ".join(str(v) for v in value)
    return "" if value is None else str(value)


class _Blank(dict[str, str]):
    def __missing__(self, key: str) -> str:
        return "someone" if key in _PEOPLE else "?"


_PEOPLE = frozenset({"to", "address", "new_owner", "decider"})

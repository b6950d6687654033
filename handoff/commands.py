"""Reply commands (SPEC 4): a first line of ``accept``, ``done``, ``decline: reason`` or
``need info: question`` in a reply acts like the matching link; so do the sender's
``confirm``, ``reopen: ...``, ``cancel: ...``, the owner's or the sender's
``hand on: carol@example.com`` (lines below it are a note for the new owner), and the
decision owner's ``decided: what was decided`` (SPEC 6).

A command counts only when it arrived at the reply address the service minted for that
handoff and that person (an HMAC: nobody else has it), from that person's address.  A
command with a forged ``From``, or sent to another handoff's address, changes nothing
and is recorded on the timeline as refused.  The same words further down a reply, or
followed by more than a colon and a note ("Done when: ..."), are ordinary text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from handoff.addresses import ServiceAddresses
from handoff.errors import ActionRefused
from handoff.models import Handoff, Person
from handoff.states import Action
from handoff.lifecycle import record_event
from handoff.workflow import perform_action

# the words of a command -> the action (the owner's four of SPEC 4, and the sender's
# answers to the "done" mail, which a person replying to it would expect to work too)
COMMANDS: dict[str, Action] = {
    "accept": Action.ACCEPT,
    "accepted": Action.ACCEPT,
    "need info": Action.NEED_INFO,
    "need-info": Action.NEED_INFO,
    "needinfo": Action.NEED_INFO,
    "decline": Action.DECLINE,
    "declined": Action.DECLINE,
    "done": Action.DONE,
    "confirm": Action.CONFIRM,
    "reopen": Action.REOPEN,
    "cancel": Action.CANCEL,
    "snooze": Action.SNOOZE,
    "hand on": Action.HAND_ON,
    "hand-on": Action.HAND_ON,
    "hand over": Action.HAND_ON,
    "hand it on": Action.HAND_ON,
    "decided": Action.DECIDE,
    "decision": Action.DECIDE,
}
_FIRST_LINE = re.compile(
    r"^\s*(?P<word>" + "|".join(sorted(map(re.escape, COMMANDS), key=len, reverse=True))
    + r")\s*(?:[.!]\s*$|$|:\s*(?P<note>.*)$)",
    re.I,
)


@dataclass(frozen=True)
class Command:
    action: Action
    note: str
    words: str  # as written, for the timeline


def read_command(text: str) -> Command | None:
    """The command on the first non-empty line of ``text`` (quotes already stripped);
    its note is the rest of that line and the lines below it."""
    lines = text.strip().splitlines()
    if not lines:
        return None
    m = _FIRST_LINE.match(lines[0])
    if not m:
        return None
    note = "\n".join([m["note"] or "", *lines[1:]]).strip()
    return Command(COMMANDS[m["word"].lower()], note, lines[0].strip()[:200])


def is_authorised(service: ServiceAddresses, handoff: Handoff, author: Person,
                  rcpt_tos: tuple[str, ...]) -> bool:
    """Did the command come to the address minted for this handoff and this person?"""
    for rcpt in rcpt_tos:
        meaning = service.read(rcpt)
        if meaning is not None and meaning.kind == "reply" and \
                meaning.handoff_id == handoff.id and meaning.person_id == author.id:
            return True
    return False


def take_command(session: Session, service: ServiceAddresses, handoff: Handoff,
                 author: Person, command: Command, rcpt_tos: tuple[str, ...],
                 now: datetime) -> bool:
    """Act on ``command``, or record on the timeline why not.  True when it acted."""
    if not is_authorised(service, handoff, author, rcpt_tos):
        reason = ("not sent to the reply address minted for this handoff and "
                  f"{author.address}")
    else:
        try:
            perform_action(session, service, handoff, command.action, author, how="reply",
                           now=now, note=command.note)
            return True
        except ActionRefused as exc:
            reason = exc.reason
    record_event(session, handoff, "command_refused", "reply", now, None,
                 command=command.words, writer=author.address, reason=reason)
    return False

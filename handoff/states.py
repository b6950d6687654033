"""The whole lifecycle on a page (SPEC 4): states, actions, who may act, where the ball is.

Everything that decides *whether* an action is allowed reads these tables; nothing else
branches on state names.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Status(StrEnum):
    INCOMPLETE = "incomplete"
    OFFERED = "offered"
    ACCEPTED = "accepted"
    NEEDS_INFO = "needs_info"
    DONE = "done"
    CLOSED = "closed"
    DECLINED = "declined"
    CANCELLED = "cancelled"


class Role(StrEnum):
    OWNER = "owner"
    SENDER = "sender"
    DECIDER = "decision owner"  # named by a workflow's decision rule (SPEC 6)
    NOBODY = "nobody"


class Action(StrEnum):
    ACCEPT = "accept"
    NEED_INFO = "need_info"
    ANSWER = "answer"
    DECLINE = "decline"
    DONE = "done"
    CONFIRM = "confirm"
    REOPEN = "reopen"
    CANCEL = "cancel"
    SNOOZE = "snooze"
    HAND_ON = "hand_on"
    DECIDE = "decide"
    # the owner's answer to "was the handoff clear enough to act on?" (SPEC 4)
    CLEAR = "clear"
    MISSING = "missing"
    UNCLEAR = "unclear"


OPEN_STATES = frozenset(
    {Status.INCOMPLETE, Status.OFFERED, Status.ACCEPTED, Status.NEEDS_INFO, Status.DONE}
)
# Where a handoff waits with nobody acting on it yet: its "time in limbo" (figures)
LIMBO = frozenset({Status.OFFERED, Status.NEEDS_INFO})
# Where a passed deadline makes it overdue (done, ended and incomplete ones are not)
CAN_BE_OVERDUE = frozenset({Status.OFFERED, Status.ACCEPTED, Status.NEEDS_INFO})
# "back to the previous state" (the answer to a question) is resolved by the workflow.
PREVIOUS = None
# the action changes no state (snooze, a decision, the clarity answers)
SAME = "same"
# a hand on may also follow a decline: finding another owner is what the sender owes
HANDS_ON_FROM = frozenset({Status.OFFERED, Status.ACCEPTED, Status.NEEDS_INFO, Status.DONE,
                           Status.DECLINED})
AWAITING_DECISION = frozenset({Status.OFFERED, Status.ACCEPTED, Status.NEEDS_INFO})


@dataclass(frozen=True)
class Transition:
    actors: tuple[Role, ...]  # who may act (any of them)
    sources: frozenset[Status]
    target: Status | None | str  # None: the state before needs_info; SAME: no change
    label: str  # the button a person sees
    takes_note: bool  # the confirmation page shows a note box
    note_prompt: str = ""
    note_required: bool = False  # refused without a note (the decision's words)


TRANSITIONS: dict[Action, Transition] = {
    Action.ACCEPT: Transition(
        (Role.OWNER,), frozenset({Status.OFFERED, Status.NEEDS_INFO}), Status.ACCEPTED,
        "Accept", False, "Optional read-back: in my words, done means …"),
    Action.NEED_INFO: Transition(
        (Role.OWNER,), frozenset({Status.OFFERED, Status.ACCEPTED}), Status.NEEDS_INFO,
        "Need info", True, "Your question for the sender"),
    Action.ANSWER: Transition(
        (Role.SENDER,), frozenset({Status.NEEDS_INFO}), PREVIOUS,
        "Answer", True, "Your answer"),
    Action.DECLINE: Transition(
        (Role.OWNER,), frozenset({Status.OFFERED, Status.NEEDS_INFO}), Status.DECLINED,
        "Decline", True, "Why you decline"),
    Action.DONE: Transition(
        (Role.OWNER,), frozenset({Status.OFFERED, Status.ACCEPTED}), Status.DONE,
        "Done", True, "Optional note or link for the sender"),
    Action.CONFIRM: Transition(
        (Role.SENDER,), frozenset({Status.DONE}), Status.CLOSED,
        "Confirm done", False),
    Action.REOPEN: Transition(
        (Role.SENDER,), frozenset({Status.DONE}), Status.ACCEPTED,
        "Reopen", True, "What is still missing"),
    Action.CANCEL: Transition(
        (Role.SENDER,), frozenset(OPEN_STATES), Status.CANCELLED,
        "Cancel", True, "Optional reason"),
    # pauses chasing (see workflow.snooze)
    Action.SNOOZE: Transition(
        (Role.OWNER,), frozenset({Status.OFFERED, Status.ACCEPTED}), SAME,
        "Snooze", True, "Until when? (a date: Monday, Dec 3, 2026-12-03)"),
    # to offered, with a new owner (handoff/hand_on.py)
    Action.HAND_ON: Transition(
        (Role.OWNER, Role.SENDER), HANDS_ON_FROM, Status.OFFERED,
        "Hand on", True, "A note for the new owner (optional)"),
    # the decision a rule asked for (handoff/deciding.py); done waits for it
    Action.DECIDE: Transition(
        (Role.DECIDER,), AWAITING_DECISION, SAME,
        "Decide", True, "What was decided", note_required=True),
    # "was the handoff clear enough to act on?" (handoff/clarity.py)
    Action.CLEAR: Transition(
        (Role.OWNER,), frozenset({Status.CLOSED}), SAME,
        "Clear", True, "Anything to add? (optional)"),
    Action.MISSING: Transition(
        (Role.OWNER,), frozenset({Status.CLOSED}), SAME,
        "Missing something", True, "What was missing? (optional)"),
    Action.UNCLEAR: Transition(
        (Role.OWNER,), frozenset({Status.CLOSED}), SAME,
        "Unclear", True, "What was unclear? (optional)"),
}
CLARITY_ANSWERS = (Action.CLEAR, Action.MISSING, Action.UNCLEAR)

# Who holds the ball in each state, and what they owe next (status page, SPEC 1).
BALL: dict[Status, tuple[Role, str]] = {
    Status.INCOMPLETE: (Role.SENDER, "complete the packet"),
    Status.OFFERED: (Role.OWNER, "accept or decline"),
    Status.ACCEPTED: (Role.OWNER, "deliver and mark done"),
    Status.NEEDS_INFO: (Role.SENDER, "answer the question"),
    Status.DONE: (Role.SENDER, "confirm or reopen"),
    Status.CLOSED: (Role.NOBODY, ""),
    Status.DECLINED: (Role.SENDER, "find another owner"),
    Status.CANCELLED: (Role.NOBODY, ""),
}

# Link actions offered to each role by mail, in button order; filtered by state.  (The
# clarity answers ride only on the mail that asks the question: outbox.MAIL_KINDS.)
LINK_ACTIONS: dict[Role, tuple[Action, ...]] = {
    Role.OWNER: (Action.ACCEPT, Action.NEED_INFO, Action.DECLINE, Action.DONE,
                 Action.SNOOZE, Action.HAND_ON),
    Role.SENDER: (Action.CONFIRM, Action.REOPEN),
    Role.DECIDER: (Action.DECIDE,),
}


def is_allowed(action: Action, status: Status) -> bool:
    return status in TRANSITIONS[action].sources


def allowed_link_actions(role: Role, status: Status) -> list[Action]:
    return [a for a in LINK_ACTIONS.get(role, ()) if is_allowed(a, status)]

"""Action links (SPEC 4).  ``GET``/``HEAD`` only show a confirmation page and change
nothing — link scanners open every link — and only the page's ``POST`` acts.  A used,
stale or expired link shows the handoff's current state instead of an error.

The page shows what the person is about to act on: the packet (request, done when,
deadline, why, links, decisions, contingency), a decision the workflow asks for, and for
a hand on the box for the new owner's address.  An owner's link stops acting once the
handoff was handed on to someone else (or offered to them anew: a link of an earlier
offer)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from flask import Blueprint, redirect, render_template, request

from handoff.addresses import ServiceAddresses
from handoff.clarity import ANSWERS, find_answer
from handoff.errors import ActionRefused
from handoff.models import ActionToken, Handoff, Person
from handoff.states import TRANSITIONS, Action, Role, Status, is_allowed
from handoff.tokens import find_action_token, view_mac
from handoff.views import decision_view, packet_view, summarize
from handoff.lifecycle import holds, lock_handoff
from handoff.workflow import perform_action, refusal
from web import state

bp = Blueprint("actions", __name__)
NOTE_LIMIT = 5000


def _why_not(token: ActionToken, handoff: Handoff, person: Person,
             now: datetime) -> str | None:
    """Why this link cannot act now (the page then shows the current state)."""
    if token.used_at is not None:
        return "This link was already used."
    if token.expires_at < now:
        return "This link has expired."
    action = Action(token.action)
    if not is_allowed(action, Status(handoff.status)):
        return f"{handoff.ref} is {handoff.status.replace('_', ' ')} now; this link no longer applies."
    if Role.OWNER in TRANSITIONS[action].actors and holds(handoff, person, Role.OWNER) \
            and handoff.offered_at is not None and token.created_at < handoff.offered_at:
        return (f"This link belongs to an earlier offer of {handoff.ref}; "
                "use the links of the newest mail about it.")
    return refusal(handoff, action, person)


def _page(token: ActionToken, session: Any, now: datetime, message: str | None,
          status: int = 200, error: str | None = None) -> tuple[str, int]:
    handoff = session.get(Handoff, token.handoff_id)
    person = session.get(Person, token.person_id)
    action = Action(token.action)
    settings = state()["settings"]
    answer = find_answer(session, handoff.id) if action in ANSWERS else None
    return render_template(
        "action.html.j2", h=summarize(handoff, now), title=handoff.title, person=person,
        action=token.action, rule=TRANSITIONS[action], message=message, error=error,
        packet=packet_view(handoff), decision=decision_view(handoff),
        answer=ANSWERS.get(action), current_answer=answer,
        form={"address": request.form.get("address", ""),
              "note": request.form.get("note", "")} if request.method == "POST" else {},
        page_url=f"/h/{handoff.ref}?k={view_mac(settings.secret_key, handoff.ref)}",
    ), status


def _not_found() -> tuple[str, int]:
    return render_template("action_unknown.html.j2"), 404


@bp.route("/a/<token>", methods=["GET", "HEAD"])
def confirm(token: str) -> Any:
    s = state()
    now = s["clock"]()
    with s["sessions"]() as session:
        found = find_action_token(session, token)
        if found is None:
            return _not_found()
        handoff = session.get(Handoff, found.handoff_id)
        person = session.get(Person, found.person_id)
        return _page(found, session, now, _why_not(found, handoff, person, now))


@bp.post("/a/<token>")
def act(token: str) -> Any:
    s = state()
    now = s["clock"]()
    note = (request.form.get("note") or "")[:NOTE_LIMIT]
    address = (request.form.get("address") or "")[:1000]
    service = ServiceAddresses(s["settings"])
    with s["sessions"].begin() as session:
        found = find_action_token(session, token)
        if found is None:
            return _not_found()
        handoff = session.get(Handoff, found.handoff_id)
        lock_handoff(session, handoff)  # a worker or another click may be changing it
        session.refresh(found)  # a double click: the first one's use is seen now
        actor = session.get(Person, found.person_id)
        reason = _why_not(found, handoff, actor, now)
        if reason is not None:
            return _page(found, session, now, reason, 409)
        action = Action(found.action)
        if action is Action.HAND_ON and not address.strip():
            return _page(found, session, now, None, 422,
                         error="Write the new owner's address.")
        try:
            perform_action(session, service, handoff, action, actor, how="link", now=now,
                           note=note, address=address)
        except ActionRefused as exc:
            # what was written is refused (an address, an empty decision; the workflow
            # refuses before it changes anything): the form again, with why
            return _page(found, session, now, None, 422, error=exc.reason)
        found.used_at = now
        ref = handoff.ref
    mac = view_mac(s["settings"].secret_key, ref)
    return redirect(f"/h/{ref}?k={mac}&done={found.action}", code=303)

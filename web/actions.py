"""Action links (SPEC 4).  ``GET``/``HEAD`` only show a confirmation page and change
nothing — link scanners open every link — and only the page's ``POST`` acts.  A used,
stale or expired link shows the handoff's current state instead of an error."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from flask import Blueprint, redirect, render_template, request

from handoff.addresses import ServiceAddresses
from handoff.errors import ActionRefused
from handoff.models import ActionToken, Handoff, Person
from handoff.states import TRANSITIONS, Action, Status, is_allowed
from handoff.tokens import find_action_token, view_mac
from handoff.views import summarize
from handoff.workflow import perform_action
from web import state

bp = Blueprint("actions", __name__)
NOTE_LIMIT = 5000


def _why_not(token: ActionToken, handoff: Handoff, now: datetime) -> str | None:
    if token.used_at is not None:
        return "This link was already used."
    if token.expires_at < now:
        return "This link has expired."
    if not is_allowed(Action(token.action), Status(handoff.status)):
        return f"{handoff.ref} is {handoff.status.replace('_', ' ')} now; this link no longer applies."
    return None


def _page(token: ActionToken, session: Any, now: datetime, message: str | None,
          status: int = 200) -> tuple[str, int]:
    handoff = session.get(Handoff, token.handoff_id)
    person = session.get(Person, token.person_id)
    rule = TRANSITIONS[Action(token.action)]
    settings = state()["settings"]
    return render_template(
        "action.html.j2", h=summarize(handoff, now), title=handoff.title, person=person,
        action=token.action, rule=rule, message=message,
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
        return _page(found, session, now, _why_not(found, handoff, now))


@bp.post("/a/<token>")
def act(token: str) -> Any:
    s = state()
    now = s["clock"]()
    note = (request.form.get("note") or "")[:NOTE_LIMIT]
    service = ServiceAddresses(s["settings"])
    with s["sessions"].begin() as session:
        found = find_action_token(session, token)
        if found is None:
            return _not_found()
        handoff = session.get(Handoff, found.handoff_id)
        reason = _why_not(found, handoff, now)
        if reason is not None:
            return _page(found, session, now, reason, 409)
        actor = session.get(Person, found.person_id)
        try:
            perform_action(session, service, handoff, Action(found.action), actor,
                           how="link", now=now, note=note)
        except ActionRefused as exc:
            return _page(found, session, now, exc.reason, 409)
        found.used_at = now
        ref = handoff.ref
    mac = view_mac(s["settings"].secret_key, ref)
    return redirect(f"/h/{ref}?k={mac}&done={found.action}", code=303)

"""The read-only status page and the JSON API (SPEC 9, 11)."""

from __future__ import annotations

import hmac
from datetime import datetime
from email import message_from_bytes, policy
from email.message import EmailMessage
from email.parser import BytesHeaderParser
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any

from flask import Blueprint, Response, abort, jsonify, render_template, request, send_file

from handoff.errors import NotFound
from handoff.outbox import MAIL_KINDS
from handoff.tokens import view_mac
from handoff.views import (PAGE_COUNT_CAP, Filters, detail, failed_mails, get_handoff, list_handoffs,
                           mails_of, webhook_log)
from web import state

bp = Blueprint("pages", __name__)
VIEW_COOKIE = "handoff_view"


def _has_view_access(ref: str | None = None) -> bool:
    settings = state()["settings"]
    if settings.web_is_loopback and not settings.view_key:
        return True
    if ref is not None and hmac.compare_digest(
            request.args.get("k", ""), view_mac(settings.secret_key, ref)):
        return True
    offered = (request.args.get("key") or request.headers.get("X-Handoff-View-Key")
               or request.cookies.get(VIEW_COOKIE) or "")
    return bool(settings.view_key) and hmac.compare_digest(offered, settings.view_key)


def has_operator_access() -> bool:
    """What ``/metrics`` and ``/healthz``'s details need: the status page's access, or
    the view key as a bearer token (as Prometheus sends it)."""
    key = state()["settings"].view_key
    scheme, _, offered = request.headers.get("Authorization", "").partition(" ")
    return _has_view_access() or (bool(key) and scheme.lower() == "bearer"
                                  and hmac.compare_digest(offered.strip(), key))


@bp.before_request
def require_view_key() -> Any:
    ref = (request.view_args or {}).get("ref")
    if not _has_view_access(ref):
        return Response("A view key is required: add ?key=… (HANDOFF_VIEW_KEY).\n", 401,
                        {"Content-Type": "text/plain; charset=utf-8"})
    return None


@bp.after_app_request
def remember_key(response: Response) -> Response:
    settings = state()["settings"]
    key = request.args.get("key")
    if key and settings.view_key and hmac.compare_digest(key, settings.view_key):
        response.set_cookie(VIEW_COOKIE, key, httponly=True, samesite="Lax")
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "no-referrer")
    response.headers.setdefault("Content-Security-Policy",
                                "default-src 'none'; img-src 'self'; style-src 'unsafe-inline'; "
                                "form-action 'self'")
    return response


def _filters() -> Filters:
    return Filters(status=request.args.get("status") or None,
                   owner=request.args.get("owner") or None,
                   sender=request.args.get("sender") or None)


def _int_arg(name: str, default: int, low: int, high: int) -> int:
    try:
        return max(low, min(high, int(request.args.get(name, default))))
    except ValueError:
        abort(400, f"{name} must be a number")


@bp.get("/")
def index() -> str:
    s = state()
    limit = _int_arg("limit", 100, 1, 500)
    offset = _int_arg("offset", 0, 0, 10**9)
    with s["sessions"]() as session:  # overdue first, then what waits longest
        rows, total = list_handoffs(session, _filters(), limit, offset, s["clock"](),
                                    by_attention=True)
        failed = failed_mails(session)
    outbox = sorted(s["settings"].outbox_dir.glob("*.eml"), reverse=True)[:20] \
        if not s["settings"].smarthost else []
    return render_template("index.html.j2", rows=rows, total=total, count_cap=PAGE_COUNT_CAP,
                           filters=_filters(),
                           now=s["clock"](), outbox=[_outbox_entry(p) for p in outbox],
                           failed=failed)


def _outbox_entry(path: Path) -> dict[str, Any]:
    """A dev-outbox file as the index lists it: when, to whom, what (its headers)."""
    with path.open("rb") as fh:
        headers = BytesHeaderParser(policy=policy.default).parse(fh)
    try:
        at: datetime | None = parsedate_to_datetime(str(headers.get("Date", "")))
    except (TypeError, ValueError):
        at = None
    return {"name": path.name, "to": str(headers.get("To", "")),
            "subject": str(headers.get("Subject", "")), "at": at}


@bp.get("/h/<ref>")
def handoff_page(ref: str) -> str:
    s = state()
    with s["sessions"]() as session:
        try:
            handoff = get_handoff(session, ref)
        except NotFound:
            abort(404)
        data = detail(session, handoff, s["clock"]())
        mails = [{"kind": m.kind, "summary": MAIL_KINDS[m.kind].summary,
                  "to": m.recipient.address, "status": m.status, "error": m.last_error,
                  "sent_at": m.sent_at} for m in mails_of(session, handoff)]
        hooks = webhook_log(session, handoff)
    return render_template("handoff.html.j2", h=data, mails=mails, hooks=hooks)


@bp.get("/api/handoffs")
def api_list() -> Response:
    s = state()
    limit = _int_arg("limit", 50, 1, 500)
    offset = _int_arg("offset", 0, 0, 10**9)
    with s["sessions"]() as session:
        rows, total = list_handoffs(session, _filters(), limit, offset, s["clock"]())
    return jsonify({"handoffs": rows, "total": total})


@bp.get("/api/handoffs/<ref>")
def api_one(ref: str) -> Response:
    s = state()
    with s["sessions"]() as session:
        try:
            handoff = get_handoff(session, ref)
        except NotFound:
            return Response('{"error": "not found"}', 404, mimetype="application/json")
        return jsonify(detail(session, handoff, s["clock"]()))


@bp.get("/outbox/<name>")
def outbox_mail(name: str) -> Any:
    """A dev-outbox mail shown as its text part, links clickable, so a newcomer can act
    on it; ``?raw=1`` downloads the ``.eml``."""
    folder: Path = state()["settings"].outbox_dir
    path = folder / name
    if "/" in name or not name.endswith(".eml") or not path.is_file():
        abort(404)
    if request.args.get("raw"):
        return send_file(path, mimetype="message/rfc822", as_attachment=True,
                         download_name=name)
    mail = message_from_bytes(path.read_bytes(), policy=policy.default)
    body = mail.get_body(("plain",)) if isinstance(mail, EmailMessage) else None
    text = body.get_content() if body is not None else ""
    headers = {h: str(mail.get(h, "")) for h in ("From", "To", "Subject", "Date")}
    return render_template("outbox_mail.html.j2", name=name, headers=headers, text=text,
                           written=_outbox_entry(path)["at"])

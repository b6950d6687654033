"""``GET /healthz``: what this process is, whether its parts are up and its queues
moving (``handoff/health.py``); 200 or 503, plain text, no view key (a supervisor or a
load balancer asks it, and it shows no handoff)."""

from __future__ import annotations

from flask import Blueprint, Response

from web import state

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz() -> Response:
    report = state()["health"]()
    return Response(report.text(), 200 if report.ok else 503,
                    {"Content-Type": "text/plain; charset=utf-8", "Cache-Control": "no-store"})

"""``GET /healthz``: what this process is, whether its parts are up and its queues
moving (``handoff/health.py``); 200 or 503, plain text.  A supervisor or a load balancer
asks it without a key and needs only the status and the first line (``ok``, ``stuck``,
``starting``); the details (pid, host, queue sizes) are for operators, so beyond
loopback they need the view key, as ``/metrics`` does."""

from __future__ import annotations

from flask import Blueprint, Response

from web import state
from web.pages import has_operator_access  # the status page's rules, in one place

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz() -> Response:
    report = state()["health"]()
    body = report.text() if has_operator_access() else report.head + "\n"
    return Response(body, 200 if report.ok else 503,
                    {"Content-Type": "text/plain; charset=utf-8", "Cache-Control": "no-store"})

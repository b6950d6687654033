"""``GET /metrics``: the Prometheus text format for operators (SPEC 9).

The figures are those of :mod:`handoff.telemetry`: this process's counters, and the
database-wide gauges read at scrape time.  The view key rules of the status page apply
(free on loopback, else the key); Prometheus can also give the key as a bearer token
(``authorization: {credentials_file: ...}`` in its scrape config), so it never has to
sit in a URL or a log line.
"""

from __future__ import annotations

import threading

from flask import Blueprint, Flask, Response, current_app
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from handoff.telemetry import Telemetry
from web.pages import has_operator_access  # the status page's rules, in one place

bp = Blueprint("metrics", __name__)
_MAKING = threading.Lock()


def telemetry_of(app: Flask) -> Telemetry:
    """The app's telemetry: the one its process gave ``create_app``, else (an app built
    alone, say by a test) one of its own with the database gauges, made once."""
    held = app.extensions["handoff"]
    with _MAKING:
        if held.get("telemetry") is None:
            held["telemetry"] = Telemetry.for_process(held["sessions"], held["clock"])
        return held["telemetry"]  # type: ignore[no-any-return]


@bp.get("/metrics")
def metrics() -> Response:
    if not has_operator_access():
        return Response("A view key is required: add ?key=… or an Authorization: Bearer "
                        "header (HANDOFF_VIEW_KEY).\n", 401,
                        {"Content-Type": "text/plain; charset=utf-8",
                         "WWW-Authenticate": 'Bearer realm="handoff metrics"'})
    body = generate_latest(telemetry_of(current_app).registry)
    return Response(body, 200, {"Content-Type": CONTENT_TYPE_LATEST,
                                "Cache-Control": "no-store"})

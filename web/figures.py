"""The figures page, ``/figures``, and the same numbers as JSON, ``/api/figures``
(issue 11, SPEC 9).  Read-only, behind the view key like every page
(``pages.require_view_key``).

Query: ``?since=`` (``30d``, ``2026-11-01`` or an ISO instant; default the last 30
days), ``?by=`` (owner, sender or workflow: the page shows one grouping at a time,
default owner; the JSON gives all three unless one is asked for), ``?top=`` (the
biggest groups shown per figure, default 12, at most 100).

The page draws no chart: each is ``/figures/charts/<figure>.svg`` with the same query
(the period's start given as the instant the page resolved it to), shown by ``<img>``
beside the table of its numbers.  A chart reads only the statement its figure needs,
for its one grouping.
"""

from __future__ import annotations

from typing import Any, Callable

from flask import Blueprint, Response, abort, jsonify, render_template, request, url_for

from handoff.figure_sql import AGE_BUCKETS, CLARITY_ANSWERS
from handoff.figures import (DEFAULT_TOP, FIGURES, GROUPINGS, Figures, compute_figures,
                             iso_utc, parse_since)
from web import pages, state
from web.figure_charts import (CLARITY_WORDS, chart_for, chart_height, format_duration,
                               format_share, has_chart)

bp = Blueprint("figures", __name__)
bp.before_request(pages.require_view_key)
PERIODS = (("7d", "7 days"), ("30d", "30 days"), ("90d", "90 days"), ("365d", "a year"))

Values = dict[str, Any]
Show = Callable[[Values], str]


def _count(key: str) -> Show:
    return lambda v: f"{v.get(key) or 0:,}"


def _time(key: str) -> Show:
    return lambda v: format_duration(v.get(key))


def _share_of(key: str, whole: str) -> Show:
    return lambda v: (f"{format_share(v[key] / v[whole])} ({v[key]:,})" if v.get(whole)
                      else "—")


_STATS: tuple[tuple[str, Show], ...] = (("median", _time("median")), ("p90", _time("p90")))
# the table beside each chart: its columns, header and how a cell is written
COLUMNS: dict[str, tuple[tuple[str, Show], ...]] = {
    "time_to_accept": (("accepted", _count("n")), *_STATS),
    "time_in_limbo": (("offered", _count("n")), *_STATS),
    "time_to_done": (("done", _count("n")), *_STATS),
    "declined_as_incomplete": (
        ("handoffs", _count("handoffs")), ("declined", _share_of("declined", "handoffs")),
        ("never complete", _share_of("never_complete", "handoffs")),
        ("together", lambda v: format_share(v.get("rate")))),
    "overdue": (("overdue", _count("n")), ("median overdue by", _time("median")),
                ("p90", _time("p90"))),
    "open_by_age": (("open", _count("n")), *((words, _count(key))
                                              for key, words, _ in AGE_BUCKETS),
                    ("median age", _time("median")), ("p90", _time("p90"))),
    "decisions": (("needed", _count("needed")), ("decided", _count("decided")),
                  ("waiting", _count("waiting")), ("median time to decide", _time("median")),
                  ("p90", _time("p90"))),
    "clarity": (("answers", _count("answers")),
                *((CLARITY_WORDS[a], _share_of(a, "answers")) for a in CLARITY_ANSWERS)),
}


def _figures(groupings: tuple[str, ...], names: tuple[str, ...] | None = None) -> Figures:
    s = state()
    now = s["clock"]()
    try:
        since = parse_since(request.args.get("since"), now, s["settings"].timezone)
    except ValueError:
        abort(400, "since must be a number of days (30d), a date (2026-11-01) or an "
                   "ISO-8601 instant")
    try:
        top = max(1, min(100, int(request.args.get("top", DEFAULT_TOP))))
    except ValueError:
        abort(400, "top must be a number")
    with s["sessions"]() as session:
        return compute_figures(session, since, now, groupings, top, names)


def _grouping(default: str | None) -> str | None:
    by = request.args.get("by") or default
    if by is not None and by not in GROUPINGS:
        abort(400, f"by must be one of {', '.join(GROUPINGS)}")
    return by


@bp.get("/figures")
def figures_page() -> str:
    by = _grouping("owner") or "owner"
    figures = _figures((by,))
    query: dict[str, Any] = {"since": iso_utc(figures.since), "by": by, **(
        {"top": request.args["top"]} if request.args.get("top") else {})}
    charts = {r.figure.name: (url_for(".figure_chart", name=r.figure.name, **query),
                              chart_height(1 + len(r.by[by])))
              for r in figures.results if has_chart(r)}
    return render_template(
        "figures.html.j2", figures=figures, by=by, charts=charts, groupings=GROUPINGS,
        periods=PERIODS, since_arg=request.args.get("since", ""), columns=COLUMNS)


@bp.get("/figures/charts/<name>.svg")
def figure_chart(name: str) -> Response:
    """One figure's chart for one grouping, as the page links it."""
    if name not in {f.name for f in FIGURES}:
        abort(404)
    by = _grouping("owner") or "owner"
    result, = _figures((by,), (name,)).results
    svg = chart_for(result, by)
    if svg is None:
        abort(404, "nothing to count")
    return Response(svg, mimetype="image/svg+xml")


@bp.get("/api/figures")
def figures_api() -> Response:
    by = _grouping(None)
    figures = _figures((by,) if by else GROUPINGS)
    body: dict[str, Any] = figures.as_json()
    return jsonify(body)

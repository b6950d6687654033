"""The figures page's charts: server-rendered SVG from pygal, each its own response
(``/figures/charts/<figure>.svg``) that the page shows with ``<img>``, so the page
itself draws nothing and comes at once; the table beside each chart has the numbers.

No script: pygal's JavaScript (tooltips) is switched off (``js=[]``) and the config
``<script>`` it writes anyway is filtered out (an SVG shown by ``<img>`` runs no script
anyway).  The page's Content-Security-Policy keeps ``default-src 'none'`` with no script
source at all, and allows same-origin images (``img-src 'self'``).  The SVG carries its
own ``<style>`` (scoped to the chart's id by pygal).  Labels (addresses, workflow names:
mail is hostile) are escaped by pygal's XML writer.

One horizontal bar chart per figure, a bar per group, biggest group first, "all" on
top as the yardstick.  The table beside each chart carries the exact numbers.
"""

from __future__ import annotations

import math
from typing import Any, Callable, Sequence

import pygal
from pygal.style import Style

from handoff.figure_sql import AGE_BUCKETS, CLARITY_ANSWERS
from handoff.figures import Result, Row

_LOOK: dict[str, Any] = dict(
    background="#ffffff", plot_background="#ffffff", foreground="#333333",
    foreground_strong="#222222", foreground_subtle="#dddddd", opacity="1", opacity_hover="1",
    font_family="system-ui, sans-serif", label_font_size=13, major_label_font_size=13,
    legend_font_size=13, title_font_size=15, value_font_size=12)
MEDIAN_P90 = ("#1f6fb2", "#9cc3e6")
# open by age: fresh to stale; clarity: clear, missing something, unclear
AGE_COLOURS = ("#2e8b57", "#9ccc65", "#e8a33d", "#a51d1d")
CLARITY_COLOURS = ("#2e8b57", "#e8a33d", "#c0392b")
CLARITY_WORDS = {"clear": "clear", "missing": "missing something", "unclear": "unclear"}
ALL_LABEL = "(all)"
WIDTH = 640


def chart_height(bars: int) -> int:
    """The chart's height in pixels for so many bars (groups and "(all)")."""
    return 90 + 26 * bars


def format_duration(seconds: float | int | None) -> str:
    """'3 d 4 h', '5 h 10 min', '42 min': what a person reads in a table."""
    if seconds is None:
        return "—"
    minutes = int(seconds) // 60
    days, rest = divmod(minutes, 24 * 60)
    hours, minutes = divmod(rest, 60)
    if days:
        return f"{days} d {hours} h" if hours else f"{days} d"
    if hours:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    return f"{minutes} min" if minutes else "under a minute"


def format_share(share: float | int | None) -> str:
    return "—" if share is None else f"{share * 100:.0f}%"


def _chart(kind: Callable[..., Any], title: str, labels: Sequence[str], **options: Any) -> Any:
    options.setdefault("style", _style(MEDIAN_P90))
    chart = kind(js=[], width=WIDTH, height=chart_height(len(labels)), legend_at_bottom=True,
                 truncate_label=-1, truncate_legend=-1, margin=6, spacing=6,
                 show_y_guides=False, **options)
    chart.title = title
    chart.x_labels = list(reversed(labels))  # horizontal bars draw bottom-up
    chart.add_xml_filter(_without_script)
    return chart


def _without_script(root: Any) -> Any:
    """pygal writes its config into an inline ``<script>`` even with ``js=[]``; the CSP
    would block it (and say so in the console).  Nothing reads it: drop it."""
    for node in [n for n in root.iter() if isinstance(n.tag, str)
                 and n.tag.rsplit("}", 1)[-1] == "script"]:
        node.getparent().remove(node)
    return root


def _rows(result: Result, grouping: str) -> list[Row]:
    return [Row(ALL_LABEL, result.total.values), *result.by[grouping]]


def _add(chart: Any, name: str, values: Sequence[float | None]) -> None:
    chart.add(name, list(reversed(values)))


def _render(chart: Any) -> bytes:
    svg: bytes = chart.render()  # UTF-8 XML; pygal escapes its text
    return svg


def duration_chart(result: Result, grouping: str, title: str) -> bytes:
    """Median and p90 bars per group, in hours, or days when the p90s run past 3 days."""
    rows = _rows(result, grouping)
    longest = max((r.values.get("p90") or 0 for r in rows), default=0)
    unit, per = ("days", 86400.0) if float(longest) > 3 * 86400 else ("hours", 3600.0)
    chart = _chart(pygal.HorizontalBar, f"{title} ({unit})", [r.group for r in rows])
    for stat in ("median", "p90"):
        _add(chart, stat, [None if r.values.get(stat) is None
                           else round(float(r.values[stat] or 0) / per, 1) for r in rows])
    return _render(chart)


def count_chart(result: Result, grouping: str, title: str, key: str, colour: str) -> bytes:
    rows = _rows(result, grouping)
    chart = _chart(pygal.HorizontalBar, title, [r.group for r in rows], show_legend=False,
                   style=_style((colour,)), order_min=0)  # whole handoffs: no 0.2 steps
    _add(chart, key, [r.values.get(key) or 0 for r in rows])
    return _render(chart)


def declined_chart(result: Result, grouping: str) -> bytes:
    rows = _rows(result, grouping)
    shares = {key: [_percent(r.values.get(key), r.values.get("handoffs")) for r in rows]
              for key in ("declined", "never_complete")}
    highest = max((sum(v or 0 for v in pair) for pair in zip(*shares.values())), default=0)
    # a scale a little past the highest share, so 25% never fills the width like 100%
    top = min(100, max(10, 10 * math.ceil(highest * 1.2 / 10)))
    chart = _chart(pygal.HorizontalStackedBar, "Declined or never complete (% of handoffs)",
                   [r.group for r in rows], style=_style(("#c0392b", "#e8a33d")),
                   range=(0, top))
    _add(chart, "declined", shares["declined"])
    _add(chart, "never complete", shares["never_complete"])
    return _render(chart)


def open_age_chart(result: Result, grouping: str) -> bytes:
    rows = _rows(result, grouping)
    chart = _chart(pygal.HorizontalStackedBar, "Open handoffs by age",
                   [r.group for r in rows], style=_style(AGE_COLOURS), order_min=0)
    for key, words, _ in AGE_BUCKETS:
        _add(chart, words, [r.values.get(key) or 0 for r in rows])
    return _render(chart)


def clarity_chart(result: Result, grouping: str) -> bytes:
    rows = _rows(result, grouping)
    chart = _chart(pygal.HorizontalStackedBar, "Was it clear? (% of answers)",
                   [r.group for r in rows], style=_style(CLARITY_COLOURS), range=(0, 100))
    for answer in CLARITY_ANSWERS:
        _add(chart, CLARITY_WORDS[answer],
             [_percent(r.values.get(answer), r.values.get("answers")) for r in rows])
    return _render(chart)


def _percent(part: Any, whole: Any) -> float | None:
    return round(100.0 * float(part or 0) / float(whole), 1) if whole else None


def _style(colours: Sequence[str]) -> Style:
    return Style(colors=tuple(colours), **_LOOK)


def has_chart(result: Result) -> bool:
    """Whether the figure has anything to draw (else the page says so, without axes)."""
    return bool(result.total.values.get(result.figure.count))


def chart_for(result: Result, grouping: str) -> bytes | None:
    """The chart of one figure for one grouping, an SVG document; None when it has
    nothing to show."""
    name = result.figure.name
    if not has_chart(result):
        return None
    if name == "declined_as_incomplete":
        return declined_chart(result, grouping)
    if name == "open_by_age":
        return open_age_chart(result, grouping)
    if name == "clarity":
        return clarity_chart(result, grouping)
    if name == "overdue":
        return count_chart(result, grouping, "Overdue handoffs", "n", "#c0392b")
    if name == "decisions" and not result.total.values.get("n"):
        return count_chart(result, grouping, "Handoffs that needed a decision", "needed",
                           MEDIAN_P90[0])
    title = "Time to decision" if name == "decisions" else result.figure.title
    return duration_chart(result, grouping, title)

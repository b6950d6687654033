"""The figures page (issue 11, point 1): time to accept, time in limbo, time to done,
declined or never complete, overdue, open by age, decisions and clarity, each for the
whole and per owner, sender and workflow, over a period; the same numbers as JSON;
charts a person reads, with no script and no CSP violation in a real Chromium.

The first test drives handoffs through real mails and action links; the others write
the milestone columns directly (as ``lifecycle.set_status`` keeps them) to pin each
figure's meaning.  Medians and p90s are nearest-rank: of n sorted values, the one at
rank ceil(p * n)."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from alembic import command
from sqlalchemy import text

from handoff.db import make_engine
from handoff.migrate import alembic_config, upgrade_database

from handoff.lifecycle import keep_figures
from handoff.models import ClarityAnswer, Handoff, Person
from tests.conftest import handoff_mail, links_of, mail_to, make_settings
from tests.test_browser import browser  # noqa: F401  (the Chromium fixture)

HOUR, DAY = 3600, 86400


def api(client: Any, query: str = "") -> dict[str, Any]:
    response = client.get(f"/api/figures{query}")
    assert response.status_code == 200, response.data
    return response.get_json()  # type: ignore[no-any-return]


def group(data: dict[str, Any], figure: str, grouping: str, name: str) -> dict[str, Any]:
    rows = [r for r in data["figures"][figure]["by"][grouping] if r["group"] == name]
    assert len(rows) == 1, data["figures"][figure]["by"][grouping]
    return rows[0]


def chart(client: Any, page: str, figure: str) -> str:
    """The SVG the page shows for ``figure``: its ``<img>``'s address, fetched."""
    found = re.search(rf'<section class="figure" id="{figure}">.*?<img src="([^"]+)"', page,
                      re.S)
    assert found, f"no chart for {figure}"
    response = client.get(found[1].replace("&amp;", "&"))
    assert response.status_code == 200 and response.mimetype == "image/svg+xml"
    return response.get_data(as_text=True)  # type: ignore[no-any-return]


class Rows:
    """Handoffs written straight into the database, milestones and all."""

    def __init__(self, sessions: Any, now: datetime) -> None:
        self.sessions, self.now = sessions, now

    def person(self, session: Any, address: str) -> Person:
        found = session.query(Person).filter_by(address=address).one_or_none()
        if found is None:
            found = Person(address=address, created_at=self.now)
            session.add(found)
            session.flush()
        return found  # type: ignore[no-any-return]

    def add(self, *, status: str, ago: timedelta, owner: str | None = "bob@corp.test",
            sender: str = "ana@corp.test", workflow: str = "default",
            answer: str | None = None, **milestones: Any) -> int:
        created = self.now - ago
        with self.sessions() as session:
            h = Handoff(title="t", status=status, ball="owner", workflow=workflow,
                        sender_id=self.person(session, sender).id,
                        owner_id=self.person(session, owner).id if owner else None,
                        packet={}, problems=[], origin_references=[], created_at=created,
                        state_changed_at=milestones.pop("state_changed_at", created),
                        last_activity_at=created, clarity=answer, **milestones)
            keep_figures(h)  # the seconds the figures read, as set_status keeps them
            session.add(h)
            session.flush()
            if answer:
                session.add(ClarityAnswer(handoff_id=h.id, person_id=h.owner_id,
                                          answer=answer, answered_at=self.now))
            session.commit()
            return h.id


@pytest.fixture
def rows(sessions: Any, clock: Any) -> Rows:
    return Rows(sessions, clock.now)


def test_time_to_accept_is_median_and_p90_per_owner_from_real_offers_and_clicks(
        flow, client, clock):
    """Four handoffs by mail; Carol accepts hers after 30 minutes, Bob his after 1, 2 and
    10 hours, each by the link in the offer.  The page and the JSON say so."""
    offers = {}
    for n, owner in enumerate(("bob", "bob", "bob", "carol"), 1):
        mails = flow.submit(handoff_mail(subject=f"Task {n}", message_id=f"<t{n}@corp.test>",
                                         to=f"{owner.title()} <{owner}@corp.test>"))
        offers[n] = mail_to(mails, f"{owner}@corp.test")
    start = clock.now
    for n, after in ((4, timedelta(minutes=30)), (1, timedelta(hours=1)),
                     (2, timedelta(hours=2)), (3, timedelta(hours=10))):
        clock.now = start + after
        assert client.post(links_of(offers[n])["Accept"]).status_code in (200, 302, 303)
    data = api(client)
    accept = data["figures"]["time_to_accept"]
    assert accept["all"] == {"n": 4, "median": 1 * HOUR, "p90": 10 * HOUR}
    assert group(data, "time_to_accept", "owner", "bob@corp.test") == {
        "group": "bob@corp.test", "n": 3, "median": 2 * HOUR, "p90": 10 * HOUR}
    assert group(data, "time_to_accept", "owner", "carol@corp.test")["median"] == HOUR // 2
    assert group(data, "time_to_accept", "sender", "ana@corp.test")["n"] == 4
    assert group(data, "time_to_accept", "workflow", "default")["p90"] == 10 * HOUR
    # limbo: the same waits, nobody acting until the acceptance
    assert data["figures"]["time_in_limbo"]["all"]["median"] == 1 * HOUR
    page = client.get("/figures").get_data(as_text=True)
    assert re.search(r"<tr><td>bob@corp.test</td><td>3</td><td>2 h</td><td>10 h</td></tr>",
                     page), "Bob's row: 3 accepted, median 2 h, p90 10 h"
    assert "<svg" not in page, "the page draws no chart: each is an image of its own"
    assert "Time to accept (hours)" in chart(client, page, "time_to_accept")


def test_the_period_counts_handoffs_made_since_it_began_open_ones_whenever_made(
        client, rows, clock):
    now = clock.now
    rows.add(status="closed", ago=timedelta(days=40), offered_at=now - timedelta(days=40),
             accepted_at=now - timedelta(days=40) + timedelta(hours=5))
    rows.add(status="accepted", ago=timedelta(days=45), offered_at=now - timedelta(days=45),
             accepted_at=now - timedelta(days=44))
    rows.add(status="accepted", ago=timedelta(days=2), offered_at=now - timedelta(days=2),
             accepted_at=now - timedelta(days=2) + timedelta(hours=1))
    recent = api(client)
    assert recent["figures"]["time_to_accept"]["all"]["n"] == 1  # the last 30 days
    assert recent["figures"]["time_to_accept"]["all"]["median"] == HOUR
    assert recent["figures"]["open_by_age"]["all"]["n"] == 2  # now, whenever made
    assert recent["figures"]["open_by_age"]["all"]["over_4w"] == 1
    longer = api(client, "?since=60d")
    assert longer["figures"]["time_to_accept"]["all"]["n"] == 3
    assert longer["figures"]["time_to_accept"]["all"]["median"] == 5 * HOUR
    # a date starts at midnight in the configured zone (Europe/Berlin, UTC+1 in November)
    assert api(client, "?since=2026-11-01")["since"] == "2026-10-31T23:00:00Z"
    assert client.get("/api/figures?since=last+tuesday").status_code == 400
    assert client.get("/figures?by=colour").status_code == 400
    page = client.get("/figures?since=60d").get_data(as_text=True)
    assert "24 Sep 2026, 11:30 (Europe/Berlin)" in page  # the period's start, in words


def test_declined_or_never_complete_is_a_share_of_the_periods_handoffs(client, rows, clock):
    now = clock.now - timedelta(days=1)
    rows.add(status="declined", ago=timedelta(days=3), offered_at=now, ended_at=now)
    rows.add(status="incomplete", ago=timedelta(days=3), owner=None)
    rows.add(status="cancelled", ago=timedelta(days=3), ended_at=now)  # never offered
    for _ in range(2):
        rows.add(status="closed", ago=timedelta(days=3), offered_at=now, ended_at=now,
                 owner="carol@corp.test")
    figure = api(client)["figures"]["declined_as_incomplete"]
    assert figure["all"] == {"handoffs": 5, "declined": 1, "never_complete": 2, "rate": 0.6}
    by_owner = {r["group"]: r for r in figure["by"]["owner"]}
    assert by_owner["bob@corp.test"]["rate"] == 1.0
    assert by_owner["(no owner yet)"]["never_complete"] == 1
    assert by_owner["carol@corp.test"]["rate"] == 0.0
    page = client.get("/figures").get_data(as_text=True)
    assert "<td>60%</td>" in page


def test_overdue_counts_open_handoffs_past_their_deadline_and_by_how_long(
        client, rows, clock):
    now = clock.now
    rows.add(status="accepted", ago=timedelta(days=5), deadline=now - timedelta(days=2))
    rows.add(status="offered", ago=timedelta(days=5), deadline=now - timedelta(hours=6),
             owner="carol@corp.test")
    rows.add(status="offered", ago=timedelta(days=5), deadline=now + timedelta(days=1))
    rows.add(status="done", ago=timedelta(days=5), deadline=now - timedelta(days=3))
    rows.add(status="closed", ago=timedelta(days=5), deadline=now - timedelta(days=3))
    data = api(client)
    overdue = data["figures"]["overdue"]
    assert overdue["all"] == {"n": 2, "median": 6 * HOUR, "p90": 2 * DAY}
    assert group(data, "overdue", "owner", "bob@corp.test")["median"] == 2 * DAY
    page = client.get("/figures").get_data(as_text=True)
    assert "<td>2 d</td>" in page and "Overdue handoffs" in chart(client, page, "overdue")


def test_open_by_age_buckets_the_open_handoffs_by_time_since_the_mail(client, rows):
    for ago in (timedelta(hours=2), timedelta(days=3), timedelta(days=10),
                timedelta(days=40)):
        rows.add(status="accepted", ago=ago)
    rows.add(status="closed", ago=timedelta(days=3))
    rows.add(status="incomplete", ago=timedelta(days=3), owner=None)
    figure = api(client, "?by=owner")["figures"]["open_by_age"]
    assert {k: figure["all"][k] for k in ("n", "under_1d", "1d_7d", "1w_4w", "over_4w")} == {
        "n": 5, "under_1d": 1, "1d_7d": 2, "1w_4w": 1, "over_4w": 1}
    assert figure["all"]["median"] == 3 * DAY
    assert list(figure["by"]) == ["owner"]  # ?by= narrows the JSON to one grouping


def test_time_in_limbo_counts_a_wait_still_going_on_up_to_now(client, rows, clock):
    now = clock.now
    rows.add(status="offered", ago=timedelta(hours=5), offered_at=now - timedelta(hours=5))
    rows.add(status="closed", ago=timedelta(days=2), offered_at=now - timedelta(days=2),
             limbo_seconds=HOUR, state_changed_at=now - timedelta(days=1))
    rows.add(status="incomplete", ago=timedelta(days=2))  # never offered: no limbo
    limbo = api(client)["figures"]["time_in_limbo"]["all"]
    assert limbo == {"n": 2, "median": HOUR, "p90": 5 * HOUR}


def test_time_to_done_runs_from_the_mail_to_done_for_handoffs_done_or_closed(client, rows,
                                                                                clock):
    now = clock.now
    rows.add(status="closed", ago=timedelta(days=4), done_at=now - timedelta(days=1))
    rows.add(status="done", ago=timedelta(days=2), done_at=now - timedelta(days=1))
    rows.add(status="accepted", ago=timedelta(days=9), done_at=now - timedelta(days=8))
    done = api(client)["figures"]["time_to_done"]["all"]
    assert done == {"n": 2, "median": 1 * DAY, "p90": 3 * DAY}  # a reopened one: not done


def test_decisions_per_workflow_time_from_the_offer_to_the_decision(client, rows, clock):
    now = clock.now
    offered = now - timedelta(days=1)
    rows.add(status="accepted", ago=timedelta(days=1), workflow="sales", offered_at=offered,
             needs_decision="pricing", decided_at=offered + timedelta(hours=3))
    rows.add(status="offered", ago=timedelta(days=1), workflow="sales", offered_at=offered,
             needs_decision="contract")
    # offered after it was decided (completed late): counted from the sender's mail
    rows.add(status="accepted", ago=timedelta(days=2), offered_at=now - timedelta(hours=1),
             needs_decision="legal", decided_at=now - timedelta(days=2) + timedelta(hours=1))
    rows.add(status="accepted", ago=timedelta(days=2))
    data = api(client, "?by=workflow")
    assert group(data, "decisions", "workflow", "sales") == {
        "group": "sales", "needed": 2, "decided": 1, "waiting": 1, "n": 1,
        "median": 3 * HOUR, "p90": 3 * HOUR}
    assert group(data, "decisions", "workflow", "default")["median"] == HOUR
    page = client.get("/figures?by=workflow").get_data(as_text=True)
    assert "Time to decision (hours)" in chart(client, page, "decisions")


def test_clarity_is_a_share_of_answers_per_sender_and_per_workflow(client, rows):
    for answer in ("clear", "clear", "missing"):
        rows.add(status="closed", ago=timedelta(days=3), answer=answer)
    rows.add(status="closed", ago=timedelta(days=3), sender="dan@corp.test",
             workflow="sales", answer="unclear")
    rows.add(status="closed", ago=timedelta(days=3))  # not answered
    data = api(client)
    ana = group(data, "clarity", "sender", "ana@corp.test")
    assert (ana["answers"], ana["clear"], ana["missing"], ana["unclear"]) == (3, 2, 1, 0)
    assert ana["clear_share"] == pytest.approx(2 / 3, abs=1e-4)
    assert group(data, "clarity", "sender", "dan@corp.test")["unclear_share"] == 1.0
    assert group(data, "clarity", "workflow", "sales")["answers"] == 1
    page = client.get("/figures?by=sender").get_data(as_text=True)
    assert re.search(r"<tr><td>ana@corp.test</td><td>3</td><td>67% \(2\)</td>"
                     r"<td>33% \(1\)</td><td>0% \(0\)</td></tr>", page)


def test_handoffs_made_before_the_figure_columns_count_after_the_upgrade(
        settings, client, clock):
    """Revision 0006 works out the seconds and the clarity answer for handoffs already in
    the database (made under 0005, which had only the milestone instants)."""
    engine = make_engine(settings.database_url)
    cfg = alembic_config(engine)
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0005_figures_decisions")
    at = clock.now.astimezone(timezone.utc).replace(tzinfo=None) - timedelta(days=3)
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO people (id, address, display_name, created_at) "
                          "VALUES (1, 'ana@corp.test', '', :at), (2, 'bob@corp.test', '', :at)"),
                     {"at": at})
        conn.execute(text(
            "INSERT INTO handoffs (id, title, status, ball, workflow, sender_id, owner_id, "
            "packet, problems, origin_references, created_at, state_changed_at, "
            "last_activity_at, offered_at, accepted_at, done_at, ended_at, limbo_seconds, "
            "needs_decision, decision_owner_id, decided_at) VALUES (1, 't', 'closed', "
            "'nobody', 'default', 1, 2, '{}', '[]', '[]', :made, :ended, :ended, :made, "
            ":accepted, :done, :ended, 7200, 'pricing', 1, :decided)"),
            {"made": at, "accepted": at + timedelta(hours=2), "done": at + timedelta(hours=6),
             "ended": at + timedelta(hours=8), "decided": at + timedelta(minutes=30)})
        conn.execute(text("INSERT INTO clarity_answers (id, handoff_id, person_id, answer, "
                          "answered_at) VALUES (1, 1, 2, 'missing', :at)"), {"at": at})
    upgrade_database(engine)
    engine.dispose()
    data = api(client)["figures"]
    assert data["time_to_accept"]["all"] == {"n": 1, "median": 2 * HOUR, "p90": 2 * HOUR}
    assert data["time_to_done"]["all"]["median"] == 6 * HOUR
    assert data["decisions"]["all"]["median"] == 30 * 60
    assert data["clarity"]["all"]["missing"] == 1


def test_the_page_and_the_json_show_the_same_numbers(client, rows, clock):
    now = clock.now
    for n in range(1, 6):
        rows.add(status="closed", ago=timedelta(days=n), owner=f"o{n % 2}@corp.test",
                 offered_at=now - timedelta(days=n),
                 accepted_at=now - timedelta(days=n) + timedelta(minutes=37 * n),
                 done_at=now - timedelta(days=n) + timedelta(hours=7 * n),
                 answer=("clear", "missing")[n % 2])
    data = api(client, "?by=owner")
    page = client.get("/figures?by=owner").get_data(as_text=True)
    from web.figure_charts import format_duration
    for name in ("time_to_accept", "time_to_done"):
        for r in data["figures"][name]["by"]["owner"]:
            cells = (f"<tr><td>{r['group']}</td><td>{r['n']}</td>"
                     f"<td>{format_duration(r['median'])}</td>"
                     f"<td>{format_duration(r['p90'])}</td></tr>")
            assert cells in page, (name, cells)


def test_a_chart_reads_only_its_figure_and_gives_the_same_numbers(sessions, rows, clock):
    """A chart computes one figure from a narrower statement (no clarity join, one
    duration): the numbers are those of the whole page's statement."""
    from handoff.figures import FIGURES, compute_figures

    now = clock.now
    for n in range(1, 8):
        rows.add(status=("closed", "accepted", "offered", "declined")[n % 4],
                 ago=timedelta(days=n), owner=f"o{n % 3}@corp.test",
                 offered_at=now - timedelta(days=n), needs_decision="pricing" if n % 2 else None,
                 accepted_at=now - timedelta(days=n) + timedelta(minutes=37 * n),
                 done_at=now - timedelta(days=n) + timedelta(hours=7 * n),
                 decided_at=now - timedelta(days=n) + timedelta(hours=n) if n % 3 else None,
                 deadline=now - timedelta(hours=n), answer=("clear", "missing")[n % 2])
    since = now - timedelta(days=30)
    with sessions() as session:
        whole = {r.figure.name: r for r in compute_figures(session, since, now, ("owner",)).results}
        for figure in FIGURES:
            alone, = compute_figures(session, since, now, ("owner",), names=(figure.name,)).results
            assert (alone.total, alone.by, alone.groups) == (
                whole[figure.name].total, whole[figure.name].by, whole[figure.name].groups)
            assert alone.total.values[figure.count], figure.name  # something was counted


def test_an_empty_database_says_there_is_nothing_to_count(client):
    page = client.get("/figures").get_data(as_text=True)
    assert page.count("Nothing to count in this period.") == 6
    assert page.count("Nothing to count now.") == 2
    assert "<img" not in page
    assert client.get("/figures/charts/time_to_accept.svg").status_code == 404
    assert client.get("/figures/charts/colour.svg").status_code == 404
    assert api(client)["figures"]["time_to_accept"]["all"] == {"n": 0, "median": None,
                                                              "p90": None}


def test_no_script_on_the_page_and_hostile_addresses_are_escaped_in_charts(client, rows):
    evil = '<script>alert(1)</script>"@evil.test'
    rows.add(status="accepted", ago=timedelta(hours=3), sender=evil, owner=evil,
             offered_at=rows.now - timedelta(hours=3), accepted_at=rows.now)
    response = client.get("/figures?by=sender")
    page = response.get_data(as_text=True)
    assert "<script" not in page.lower()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    csp = response.headers["Content-Security-Policy"]
    assert "default-src 'none'" in csp and "script" not in csp
    assert "img-src 'self'" in csp  # the charts: same-origin images, nothing else
    svg = chart(client, page, "time_to_accept")
    assert "<script" not in svg.lower()  # pygal's config script is filtered out
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in svg
    assert client.post("/figures").status_code == 405


def test_the_status_page_links_to_the_figures(client):
    assert '<a href="/figures">Figures</a>' in client.get("/").get_data(as_text=True)


def test_the_figures_need_the_view_key_beyond_loopback(tmp_path, sessions, clock):
    from web import create_app

    settings = make_settings(tmp_path, web_host="0.0.0.0", view_key="sesame")
    client = create_app(settings, sessions, clock=clock).test_client()
    assert client.get("/figures").status_code == 401
    assert client.get("/api/figures").status_code == 401
    assert client.get("/figures/charts/time_to_accept.svg").status_code == 401
    assert client.get("/api/figures", headers={"X-Handoff-View-Key": "sesame"}
                      ).status_code == 200
    assert client.get("/figures?key=sesame").status_code == 200


@pytest.mark.realserver
def test_a_person_sees_the_charts_in_chromium_with_no_csp_violation(
        web, browser, rows, clock, tmp_path):  # noqa: F811
    now = clock.now
    for n in range(24):
        owner = ("bob", "carol", "dan")[n % 3] + "@corp.test"
        rows.add(status=("closed", "accepted", "offered", "declined")[n % 4],
                 ago=timedelta(hours=7 * n + 1), owner=owner,
                 workflow=("default", "sales")[n % 2], offered_at=now - timedelta(hours=7 * n),
                 accepted_at=now - timedelta(hours=7 * n) + timedelta(minutes=20 * n + 5),
                 done_at=now - timedelta(hours=3) if n % 4 == 0 else None,
                 deadline=now - timedelta(hours=n) if n % 5 == 0 else None,
                 answer=("clear", "missing", "unclear")[n // 4 % 3] if n % 4 == 0 else None)
    page = browser.new_page()
    page.set_viewport_size({"width": 1280, "height": 900})
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text)
            if not m.location.get("url", "").endswith("/favicon.ico") else None)  # none kept
    page.on("pageerror", lambda e: problems.append(str(e)))
    page.goto(web + "/")
    page.click("text=Figures")
    page.wait_for_url(re.compile(r"/figures$"))
    charts = page.locator(".chart img")
    assert charts.count() >= 6
    for i in range(charts.count()):
        img = charts.nth(i)
        img.scroll_into_view_if_needed()
        img.evaluate("e => e.complete || new Promise(ok => e.onload = e.onerror = ok)")
        assert img.evaluate("e => e.naturalWidth") > 0, img.get_attribute("src")
        box = img.bounding_box()
        assert box is not None and box["width"] > 300 and box["height"] > 100
    src = page.locator("#time_to_accept .chart img").get_attribute("src")
    svg = page.request.get(web + str(src))
    assert svg.ok and "median" in svg.text() and "rect" in svg.text()
    page.screenshot(path=str(tmp_path / "figures.png"), full_page=True)
    page.click("a[href^='/figures?by=workflow']")
    page.wait_for_url(re.compile(r"by=workflow"))
    assert "sales" in page.locator("#time_to_accept table").inner_text()
    page.screenshot(path=str(tmp_path / "figures-by-workflow.png"), full_page=True)
    page.set_viewport_size({"width": 390, "height": 844})  # a phone: no sideways scrolling
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    page.screenshot(path=str(tmp_path / "figures-phone.png"), full_page=True)
    assert problems == []  # no CSP violation, no script error

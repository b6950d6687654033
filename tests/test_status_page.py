"""The read-only status page, the JSON API of SPEC 11, and who may see them."""

from __future__ import annotations

import re

from tests.conftest import handoff_mail, links_of, mail_to, make_settings


def test_index_lists_ref_title_owner_sender_status_ball_deadline_age(flow, client, clock):
    """Dates and ages in words in the configured zone, the exact value in the title."""
    flow.submit(handoff_mail(body="Deadline: Friday 5pm\nDone when: live"))
    clock.advance(hours=3)
    html = client.get("/").get_data(as_text=True)
    for expected in ("H-1", "Renew the TLS certificate", "bob@corp.test", "ana@corp.test",
                     "offered", "accept or decline",
                     '<time datetime="2026-11-27T16:00:00Z" '
                     'title="Fri 27 Nov 2026, 17:00 (Europe/Berlin)">Fri 27 Nov, 17:00</time>',
                     ">in 4 days</time>", ">3 hours ago</time>"):
        assert expected in html, expected


def test_handoff_page_shows_packet_and_timeline(flow, client):
    flow.submit(handoff_mail(body="Why: customers see warnings"))
    html = client.get("/h/H-1").get_data(as_text=True)
    assert "customers see warnings" in html
    assert 'data-kind="created"' in html and 'data-kind="offered"' in html
    assert client.get("/h/H-99").status_code == 404


def test_api_list_and_detail_have_the_shape_of_spec_11(flow, client):
    flow.submit(handoff_mail(message_id="<a@corp.test>", subject="First"))
    flow.submit(handoff_mail(message_id="<b@corp.test>", subject="Second",
                             to="carol@corp.test"))
    listing = client.get("/api/handoffs").get_json()
    assert listing["total"] == 2
    assert [h["ref"] for h in listing["handoffs"]] == ["H-2", "H-1"]  # newest first
    assert client.get("/api/handoffs?owner=carol@corp.test").get_json()["total"] == 1
    assert client.get("/api/handoffs?status=closed").get_json()["total"] == 0
    assert len(client.get("/api/handoffs?limit=1").get_json()["handoffs"]) == 1
    assert client.get("/api/handoffs?limit=1&offset=1").get_json()["handoffs"][0]["ref"] == "H-1"

    one = client.get("/api/handoffs/H-1").get_json()
    for key in ("ref", "title", "status", "owner", "sender", "ball", "deadline", "packet",
                "events"):
        assert key in one
    assert one["deadline"] == "2026-11-27T16:00:00Z"
    assert one["packet"]["request"] == {"value": "First", "source": "stated"}
    assert one["packet"]["deadline"]["source"] == "stated"
    assert [e["kind"] for e in one["events"]] == ["created", "offered"]
    assert client.get("/api/handoffs/H-7").status_code == 404


def test_sender_text_is_escaped_everywhere(flow, client):
    evil = "<script>alert(1)</script>"
    forward = ("---------- Forwarded message ---------\n"
               f"From: {evil} <client@customer.test>\nDate: Mon, 23 Nov 2026\n"
               f"Subject: {evil}\n\n{evil}\n")
    mails = flow.submit(handoff_mail(subject=f"Fix {evil}", body=f"Why: {evil}\n\n{forward}"))
    for path in ("/", "/h/H-1"):
        html = client.get(path).get_data(as_text=True)
        assert evil not in html and "&lt;script&gt;" in html
    offer_html = mail_to(mails, "bob@corp.test").get_body(("html",)).get_content()
    assert "client@customer.test" in offer_html  # the forward is shown ...
    assert evil not in offer_html and "&lt;script&gt;" in offer_html  # ... escaped


def test_a_view_key_is_required_when_bound_beyond_loopback(tmp_path, sessions,
                                                           flow, clock):
    import pytest

    from handoff.errors import ConfigError
    from web import create_app

    with pytest.raises(ConfigError):
        make_settings(tmp_path, web_host="0.0.0.0")
    offer = mail_to(flow.submit(handoff_mail()), "bob@corp.test")
    settings = make_settings(tmp_path, web_host="0.0.0.0", view_key="sesame")
    client = create_app(settings, sessions, clock=clock).test_client()
    assert client.get("/").status_code == 401
    assert client.get("/api/handoffs").status_code == 401
    assert client.get("/h/H-1").status_code == 401
    assert client.get("/healthz").status_code == 200
    assert client.get("/?key=sesame").status_code == 200
    assert client.get("/api/handoffs").status_code == 200  # the cookie remembers the key
    # the link in a mail opens its own handoff without the key, and only that one
    import re

    page_link = re.search(r"https?://[^/\s]+(/h/H-1\?k=\w+)",
                          offer.get_body(("plain",)).get_content())[1]
    fresh = create_app(settings, sessions, clock=clock).test_client()
    assert fresh.get(page_link).status_code == 200
    assert fresh.get(page_link.replace("H-1", "H-2")).status_code == 401
    # action links need no view key either: they are their own capability
    assert fresh.get(links_of(offer)["Accept"]).status_code == 200


def test_there_is_no_write_endpoint_but_action_links(client, flow):
    flow.submit(handoff_mail())
    for path in ("/", "/h/H-1", "/api/handoffs", "/api/handoffs/H-1"):
        assert client.post(path).status_code == 405


def test_dev_outbox_mail_opens_as_a_page_with_clickable_links(flow, client):
    flow.submit(handoff_mail(subject="Fix <b>it</b>"))
    name = sorted(p.name for p in flow.settings.outbox_dir.glob("*.eml"))[0]
    html = client.get(f"/outbox/{name}").get_data(as_text=True)
    assert '<a href="http' in html and "/a/" in html
    assert "Fix &lt;b&gt;it&lt;/b&gt;" in html and "<b>it</b>" not in html
    raw = client.get(f"/outbox/{name}?raw=1")
    assert raw.mimetype == "message/rfc822"
    assert client.get("/outbox/..%2Fhandoff.db").status_code == 404


def test_no_microseconds_anywhere_on_the_pages(flow, client, clock, sessions):
    """Times are kept to the microsecond; a person never reads one: the timeline, the
    mail table, the failed-mail list and the dev outbox say when in words, and the
    exact value in <time datetime> stops at the second."""
    from datetime import datetime, timezone

    from sqlalchemy import select

    from handoff.models import OutboxMail

    clock.now = datetime(2026, 11, 23, 9, 30, 12, 345678, tzinfo=timezone.utc)
    flow.submit(handoff_mail())
    with sessions.begin() as session:
        mail = session.scalars(select(OutboxMail).order_by(OutboxMail.id)).first()
        mail.status, mail.last_error = "failed", "550 5.1.1 no such user"
    clock.advance(minutes=5)
    name = sorted(p.name for p in flow.settings.outbox_dir.glob("*.eml"))[0]
    for path in ("/", "/h/H-1", f"/outbox/{name}"):
        html = client.get(path).get_data(as_text=True)
        assert "345678" not in html and "12.34" not in html, path
        assert "today, 10:30" in html, path  # Berlin's wall clock, in words
    index = client.get("/").get_data(as_text=True)
    assert 'id="failed-mail"' in index and 'datetime="2026-11-23T09:30:12Z"' in index
    page = client.get("/h/H-1").get_data(as_text=True)
    assert ('<time datetime="2026-11-23T09:30:12Z" title="Mon 23 Nov 2026, 10:30 '
            '(Europe/Berlin)">today, 10:30</time>') in page
    assert "ana@corp.test</span> handed it off" in page
    assert "service</span> offered it to bob@corp.test" in page


def test_the_page_puts_overdue_first_then_longest_waiting_the_api_newest_first(
        flow, client, clock):
    """H-3 is overdue; H-2 has waited longest in its state (H-1, made earlier, was
    accepted since, so its wait began later); H-4 has ended: the page reads 3, 2, 1, 4,
    neither by age nor by number; the API (SPEC 11) still lists newest first."""
    from datetime import datetime, timezone

    def submit(n: int, **kwargs: str) -> list:
        return flow.submit(handoff_mail(message_id=f"<{n}@corp.test>", subject=f"Job {n}",
                                        **kwargs))

    first = mail_to(submit(1, body="Please look at it.\nDone when: done\n"), "bob@corp.test")
    clock.advance(hours=2)
    submit(2, body="Please look at it too.\nDone when: done\n")
    clock.advance(hours=1)
    client.post(links_of(first)["Accept"])  # H-1 is in its new state from now on
    submit(3, body="Deadline: today 5pm\n")
    offer = mail_to(flow.submit(handoff_mail(message_id="<4@corp.test>", subject="Job 4",
                                             to="carol@corp.test")), "carol@corp.test")
    client.post(links_of(offer)["Decline"], data={"note": "not mine"})
    clock.now = datetime(2026, 11, 24, 9, 0, tzinfo=timezone.utc)

    html = client.get("/").get_data(as_text=True)
    order = sorted(("H-1", "H-2", "H-3", "H-4"), key=lambda r: html.index(f'data-ref="{r}"'))
    assert order == ["H-3", "H-2", "H-1", "H-4"]
    # pages of two and of three keep that order across the open and the ended ones
    for limit in (2, 3):
        paged = []
        for offset in range(0, 4, limit):
            page = client.get(f"/?limit={limit}&offset={offset}").get_data(as_text=True)
            paged += sorted(re.findall(r'data-ref="(H-\d+)"', page), key=page.index)
        assert paged == ["H-3", "H-2", "H-1", "H-4"], (limit, paged)
    assert ">yesterday, 17:00</time>" in html and ">17 hours overdue</time>" in html
    assert "<title>(1 overdue) Handoffs</title>" in html  # the tab a lead keeps open
    listing = client.get("/api/handoffs").get_json()["handoffs"]
    assert [h["ref"] for h in listing] == ["H-4", "H-3", "H-2", "H-1"]
    assert listing[1]["deadline"] == "2026-11-23T16:00:00Z"  # the API keeps ISO UTC


def test_dev_outbox_is_listed_by_when_to_whom_and_what(flow, client):
    flow.submit(handoff_mail())
    html = client.get("/").get_data(as_text=True)
    assert "Re: Renew the TLS certificate [H-1]</a>" in html
    assert "Bob Builder &lt;bob@corp.test&gt;" in html and ">today, 10:30</time>" in html


def test_past_a_cap_the_page_says_more_than_and_the_api_keeps_the_exact_total(
        flow, client, monkeypatch):
    """Counting every handoff of a big database on each view cost more than the page:
    the page counts up to a cap; the API's total stays exact (SPEC 11)."""
    import handoff.views
    import web.pages

    for n in range(3):
        flow.submit(handoff_mail(message_id=f"<cap{n}@corp.test>", subject=f"Job {n}"))
    monkeypatch.setattr(handoff.views, "PAGE_COUNT_CAP", 2)
    monkeypatch.setattr(web.pages, "PAGE_COUNT_CAP", 2)
    page = client.get("/").get_data(as_text=True)
    assert re.search(r'id="summary">more than 2 handoffs', page)
    assert len(re.findall(r'data-ref="H-\d+"', page)) >= 3, "every row is still listed"
    assert client.get("/api/handoffs").get_json()["total"] == 3
    monkeypatch.setattr(handoff.views, "PAGE_COUNT_CAP", 3)
    assert 'id="summary">3 handoffs' in client.get("/").get_data(as_text=True)


def test_the_apis_total_is_kept_by_the_database_not_counted(flow, client, settings):
    """The exact total of SPEC 11 comes from the count a trigger keeps (migration 0008):
    right after new handoffs, for handoffs made before the migration, and filtered."""
    from alembic import command
    from sqlalchemy import text

    from handoff.db import make_engine
    from handoff.migrate import alembic_config, upgrade_database

    for n in range(3):
        flow.submit(handoff_mail(message_id=f"<total{n}@corp.test>", subject=f"Job {n}"))
    assert client.get("/api/handoffs").get_json()["total"] == 3
    engine = make_engine(settings.database_url)
    cfg = alembic_config(engine)
    with engine.begin() as conn:  # back to before the count, one more handoff, forward
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0007_last_activity_index")
    with engine.begin() as conn:
        conn.execute(text(
            "INSERT INTO handoffs (title, status, ball, workflow, sender_id, packet, "
            "problems, origin_references, created_at, state_changed_at, last_activity_at, "
            "limbo_seconds) SELECT 'old', 'closed', 'nobody', 'default', sender_id, '{}', "
            "'[]', '[]', created_at, created_at, created_at, 0 FROM handoffs LIMIT 1"))
    upgrade_database(engine)
    with engine.begin() as conn:  # and one the way the service deletes none: by hand
        conn.execute(text("DELETE FROM handoffs WHERE title = 'old'"))
    engine.dispose()
    flow.submit(handoff_mail(message_id="<total9@corp.test>", subject="Job 9"))
    listing = client.get("/api/handoffs").get_json()
    assert listing["total"] == 4 == len(client.get("/api/handoffs?limit=50").get_json()
                                        ["handoffs"])
    assert client.get("/api/handoffs?status=closed").get_json()["total"] == 0

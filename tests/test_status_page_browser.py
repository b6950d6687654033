"""The status page as a team lead sees it, in a real headless Chromium: overdue first, then
what has waited longest; status as coloured badges that keep their words; deadlines and
ages in words in the configured zone; no ISO stamps or microseconds in sight; no CSP
violation; a phone needs no sideways scrolling.  Screenshots land in the test's
tmp_path (index.png, handoff.png, done.png, index-phone.png)."""

from __future__ import annotations

import re
from datetime import datetime, timezone
from typing import Any

import pytest

from tests.conftest import handoff_mail, links_of, mail_to
from tests.test_browser import browser  # noqa: F401  (the Chromium fixture)

pytestmark = pytest.mark.realserver

ISO_STAMP = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d")
FRACTION = re.compile(r"\d\d:\d\d:\d\d[.,]\d|\.\d{6}")


def three_handoffs(flow: Any, client: Any, clock: Any) -> None:
    """H-1 offered on Monday and never accepted; H-2 accepted Tuesday, due Friday 5pm;
    H-3 done on Wednesday.  Then it is the next Monday, 11:00 in Berlin."""
    flow.submit(handoff_mail(subject="Migrate the billing database", message_id="<1@corp.test>",
                             body="Deadline: Dec 18\nDone when: billing runs on PG 16\n"))
    clock.now = datetime(2026, 11, 24, 8, 15, tzinfo=timezone.utc)
    offer = mail_to(flow.submit(handoff_mail(
        subject="Renew the TLS certificate", message_id="<2@corp.test>",
        date="Tue, 24 Nov 2026 09:10:00 +0100")), "bob@corp.test")
    client.post(links_of(offer)["Accept"])
    offer = mail_to(flow.submit(handoff_mail(
        subject="Send the Q4 forecast", message_id="<3@corp.test>", to="carol@corp.test",
        body="Why: the board meets Thursday\n", date="Tue, 24 Nov 2026 09:12:00 +0100")),
        "carol@corp.test")
    clock.now = datetime(2026, 11, 25, 14, 40, tzinfo=timezone.utc)
    client.post(links_of(offer)["Done"], data={"note": "sent to the board list"})
    flow.flush()
    clock.now = datetime(2026, 11, 30, 10, 0, tzinfo=timezone.utc)


def contrast(fg: str, bg: str) -> float:
    """WCAG 2 contrast ratio of two computed ``rgb(...)`` colours."""
    def luminance(css: str) -> float:
        channels = [int(c) / 255 for c in re.findall(r"\d+", css)[:3]]
        lin = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
        return 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2]
    high, low = sorted((luminance(fg), luminance(bg)), reverse=True)
    return (high + 0.05) / (low + 0.05)


def test_a_team_lead_reads_overdue_first_in_words_with_coloured_badges(
        flow, client, clock, web, browser, tmp_path):  # noqa: F811
    three_handoffs(flow, client, clock)
    page = browser.new_page()
    page.set_viewport_size({"width": 1280, "height": 800})
    console: list[str] = []
    page.on("console", lambda msg: console.append(msg.text))
    response = page.goto(web + "/")
    assert response is not None and "default-src 'none'" in response.headers[
        "content-security-policy"]
    page.screenshot(path=str(tmp_path / "index.png"), full_page=True)

    rows = page.locator("#handoffs tbody tr")
    assert [rows.nth(i).get_attribute("data-ref") for i in range(3)] == ["H-2", "H-1", "H-3"]
    overdue, waiting, done = (rows.nth(i) for i in range(3))

    def badges(row: Any) -> list[str]:
        return [b.strip() for b in row.locator(".status").all_inner_texts()]
    assert badges(overdue) == ["accepted", "overdue"]
    assert badges(waiting) == ["offered"]
    assert badges(done) == ["done"]

    # the ball, the deadline and the ages in words, in Berlin's wall clock
    assert overdue.locator(".ball").inner_text().split("\n") == ["bob@corp.test",
                                                                 "deliver and mark done"]
    assert overdue.locator(".deadline").inner_text().split("\n") == ["Fri 27 Nov, 17:00",
                                                                     "3 days overdue"]
    assert waiting.locator(".deadline").inner_text().split("\n") == ["Fri 18 Dec, 17:00",
                                                                     "in 3 weeks"]
    assert waiting.locator(".since").inner_text() == "1 week ago"
    assert done.locator(".ball").inner_text().split("\n") == ["ana@corp.test",
                                                              "confirm or reopen"]
    assert done.locator(".since").inner_text() == "5 days ago"
    # the exact value is one hover away
    when = overdue.locator(".deadline time").first
    assert when.get_attribute("datetime") == "2026-11-27T16:00:00Z"
    assert when.get_attribute("title") == "Fri 27 Nov 2026, 17:00 (Europe/Berlin)"

    # colour carries the status (the word stays), with enough contrast to read
    styles = {status: page.locator(f'.status[data-status="{status}"]').first.evaluate(
        "e => [getComputedStyle(e).color, getComputedStyle(e).backgroundColor]")
        for status in ("accepted", "overdue", "offered", "done")}
    assert len({bg for _fg, bg in styles.values()}) == 4, styles
    for status, (fg, bg) in styles.items():
        assert contrast(fg, bg) >= 4.5, (status, fg, bg)

    text = page.inner_text("body")
    assert not ISO_STAMP.search(text) and not FRACTION.search(text), text
    for stamp in page.locator("time").evaluate_all("ts => ts.map(t => t.dateTime)"):
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", stamp), stamp

    # the handoff page: the ball, the packet, the timeline in words
    page.click("text=Renew the TLS certificate")
    page.wait_for_url(re.compile(r"/h/H-2$"))
    page.screenshot(path=str(tmp_path / "handoff.png"), full_page=True)
    assert page.locator("#status").inner_text() == "accepted"
    assert page.locator("#overdue").inner_text() == "overdue"
    assert page.locator("#ball").inner_text() == "bob@corp.test — deliver and mark done"
    assert page.locator("#deadline").inner_text() == "Fri 27 Nov, 17:00 (3 days overdue)"
    timeline = page.locator("#timeline li").all_inner_texts()
    assert [" ".join(t.split()) for t in timeline] == [
        "Tue 24 Nov, 09:15 ana@corp.test handed it off",
        "Tue 24 Nov, 09:15 service offered it to bob@corp.test",
        "Tue 24 Nov, 09:15 bob@corp.test accepted by link",
    ]
    text = page.inner_text("body")
    assert not ISO_STAMP.search(text) and not FRACTION.search(text), text

    page.goto(web + "/h/H-3")
    page.screenshot(path=str(tmp_path / "done.png"), full_page=True)
    assert "Wed 25 Nov, 15:40 carol@corp.test marked it done by link" in " ".join(
        page.inner_text("#timeline").split())

    # on a phone: no sideways scrolling, each handoff a card with its facts labelled
    page.set_viewport_size({"width": 390, "height": 844})
    for path in ("/h/H-2", "/"):
        page.goto(web + path)
        assert page.evaluate("document.documentElement.scrollWidth") <= 390, path
    page.screenshot(path=str(tmp_path / "index-phone.png"), full_page=True)
    first = page.locator("#handoffs tbody tr").first
    assert first.locator(".deadline").inner_text() == "Fri 27 Nov, 17:00 3 days overdue"
    assert first.locator(".deadline").evaluate(
        "e => getComputedStyle(e, '::before').content") == '"Deadline: "'
    assert not [m for m in console if "Content Security Policy" in m], console

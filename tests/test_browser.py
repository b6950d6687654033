"""End to end in a real headless Chromium: open the accept link from a real offer mail,
see that the GET changed nothing, press the button, see "accepted" on the status page."""

from __future__ import annotations

import json
import os
import re
import shutil
import urllib.request
from typing import Iterator

import pytest

from tests.conftest import handoff_mail, send

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
pytestmark = pytest.mark.realserver

ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        "--disable-quic"]


@pytest.fixture
def browser(tmp_path) -> Iterator[object]:
    if not os.path.exists(CHROMIUM):
        pytest.skip("chromium is not installed (apt-get install chromium)")
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as pw:
        context = pw.chromium.launch_persistent_context(
            str(tmp_path / "profile"), executable_path=CHROMIUM, headless=True, args=ARGS)
        yield context
        context.close()


def api_status(base: str) -> str:
    with urllib.request.urlopen(f"{base}/api/handoffs/H-1") as resp:
        return json.loads(resp.read())["status"]


def test_owner_accepts_from_the_offer_mail_in_a_real_browser(running, sink, browser):
    send(running, handoff_mail())
    mails = sink.wait_for(2)
    offer = next(r.message for r in mails if "bob@corp.test" in r.rcpt_tos)
    html = offer.get_body(("html",)).get_content()
    accept = re.search(r'<a href="([^"]+/a/[^"]+)"[^>]*>Accept</a>', html)[1]
    base = running.settings.base_url

    page = browser.new_page()
    response = page.goto(accept)
    assert response is not None and response.status == 200
    assert page.locator("#act").inner_text() == "Accept"
    assert "Bob Builder" in page.content()
    assert api_status(base) == "offered"  # opening the link changed nothing

    page.fill("#note", "the new cert is live on every host")
    page.click("#act")
    page.wait_for_url(re.compile(r"/h/H-1"))
    assert page.locator("#status").inner_text() == "accepted"
    assert "the new cert is live on every host" in page.content()
    assert api_status(base) == "accepted"

    told = sink.wait_for(3)[2]
    assert "ana@corp.test" in told.rcpt_tos

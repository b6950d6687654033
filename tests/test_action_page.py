"""The action page shows the packet the person is acting on (issue 11 point 7, last
sentence): request, done when, deadline in the configured zone, why, links, decisions and
contingency, above the button; a GET still changes nothing."""

from __future__ import annotations

from tests.conftest import handoff_mail, links_of, mail_to

FULL = ("Hi Bob,\n\nplease renew the certificate.\n\n"
        "Why: the old one expires on Sunday\n"
        "Done when: the new cert is live\n"
        "Deadline: Friday 5pm\n"
        "Decided: we stay with Let's Encrypt\n"
        "If not: call the hosting provider <b>first</b>\n"
        "Links: https://wiki.corp.test/tls\n")


def test_the_accept_page_shows_the_packet_above_the_button(flow, client):
    offer = mail_to(flow.submit(handoff_mail(body=FULL)), "bob@corp.test")
    page = client.get(links_of(offer)["Accept"])
    html = page.get_data(as_text=True)
    for words in ("Renew the TLS certificate", "the old one expires on Sunday",
                  "the new cert is live", "Fri 27 Nov 2026, 17:00 (Europe/Berlin)",
                  "we stay with Let&#39;s Encrypt", "call the hosting provider &lt;b&gt;first",
                  'href="https://wiki.corp.test/tls"'):
        assert words in html, words
    assert "<b>first" not in html  # a sender's markup is shown, never run
    assert html.index('id="packet"') < html.index('id="act"')
    assert flow.flush() == []


def test_a_stale_link_still_shows_the_packet_and_where_it_stands(flow, client):
    offer = mail_to(flow.submit(handoff_mail(body=FULL)), "bob@corp.test")
    links = links_of(offer)
    client.post(links["Decline"], data={"note": "not mine"})
    html = client.get(links["Accept"]).get_data(as_text=True)
    assert "declined now; this link no longer applies" in html
    assert "the new cert is live" in html and 'id="act"' not in html

"""Issue 10, point 7: a link the mail names once is listed once; a deadline in a mail
is written as a person reads it, in the recipient's own zone, with the zone named."""

from __future__ import annotations

from pathlib import Path

from handoff.cli import read_file
from tests.conftest import Flow, handoff_mail, mail_to, make_settings, settings_from_toml

# Thunderbird 115, multipart/alternative: the text part has the URL in a sentence (a
# full stop right after it) and on a Links line; the HTML part has <a href> to both.
THUNDERBIRD = b"""\
Return-Path: <ana@corp.test>
From: Ana Example <ana@corp.test>
To: Bob Builder <bob@corp.test>
Cc: handoff@acme.test
Subject: Renew the TLS certificate
Date: Mon, 23 Nov 2026 10:00:00 +0100
Message-ID: <0a1b2c3d-tb@corp.test>
User-Agent: Mozilla Thunderbird
MIME-Version: 1.0
Content-Type: multipart/alternative;
 boundary="------------0A1B2C3D4E5F6A7B8C9D0E1F"
Content-Language: en-US

This is a multi-part message in MIME format.
--------------0A1B2C3D4E5F6A7B8C9D0E1F
Content-Type: text/plain; charset=UTF-8; format=flowed
Content-Transfer-Encoding: 7bit

Hi Bob,

please renew the certificate, the steps are in
https://wiki.example.com/tls.

Done when: the new cert is live
Deadline: Friday 5pm
Links: https://wiki.example.com/tls

Thanks,
Ana

--------------0A1B2C3D4E5F6A7B8C9D0E1F
Content-Type: text/html; charset=UTF-8
Content-Transfer-Encoding: 7bit

<html><body><p>Hi Bob,</p><p>please renew the certificate, the steps are in
<a class="moz-txt-link-freetext" href="https://wiki.example.com/tls">https://wiki.example.com/tls</a>.</p>
<p>Done when: the new cert is live<br>Deadline: Friday 5pm<br>
Links: <a class="moz-txt-link-freetext" href="https://wiki.example.com/tls">https://wiki.example.com/tls</a></p>
<p>Thanks,<br>Ana</p></body></html>
--------------0A1B2C3D4E5F6A7B8C9D0E1F--
"""

# Outlook: its text part writes a link as "text<url>", and a bare URL that Word
# auto-linked as "url<url>".
OUTLOOK = b"""\
Return-Path: <ana@corp.test>
From: Ana Example <ana@corp.test>
To: Bob Builder <bob@corp.test>
CC: "handoff@acme.test" <handoff@acme.test>
Subject: Renew the TLS certificate
Date: Mon, 23 Nov 2026 09:00:00 +0000
Message-ID: <DB9PR01MB1234ABCD@DB9PR01MB1234.eurprd01.prod.exchangelabs.com>
Content-Type: multipart/alternative;
\tboundary="_000_DB9PR01MB1234ABCD_"
MIME-Version: 1.0

--_000_DB9PR01MB1234ABCD_
Content-Type: text/plain; charset="us-ascii"
Content-Transfer-Encoding: quoted-printable

Hi Bob,

please renew the certificate, see https://wiki.example.com/tls/ for the steps=
.

Links: TLS runbook<https://wiki.example.com/tls>, https://status.example.com<=
https://status.example.com>; the on-call rota

Ana

--_000_DB9PR01MB1234ABCD_
Content-Type: text/html; charset="us-ascii"
Content-Transfer-Encoding: quoted-printable

<html><body><p>Hi Bob,</p><p>please renew the certificate, see <a href=3D"=
https://wiki.example.com/tls/">https://wiki.example.com/tls/</a> for the st=
eps.</p><p>Links: <a href=3D"https://wiki.example.com/tls">TLS runbook</a>,=
 <a href=3D"https://status.example.com">https://status.example.com</a>; th=
e on-call rota</p><p>Ana</p></body></html>

--_000_DB9PR01MB1234ABCD_--
"""


def parse(tmp_path: Path, raw: bytes) -> dict:
    path = tmp_path / "mail.eml"
    path.write_bytes(raw)
    return read_file(make_settings(tmp_path), path)


def packet_text(mail) -> str:
    return mail.get_body(("plain",)).get_content()


def test_a_link_in_the_prose_and_on_the_links_line_is_listed_once(tmp_path):
    """`handoff parse` of a Thunderbird mail naming one URL in a sentence and on its
    Links line: one URL, without the sentence's full stop."""
    links = parse(tmp_path, THUNDERBIRD)["packet"]["links"]
    assert links == {"value": {"urls": ["https://wiki.example.com/tls"], "assets": [],
                               "attachments": []}, "source": "stated"}


def test_a_links_line_keeps_its_words_and_names_each_url_once(tmp_path):
    """Outlook's "text<url>" on a Links line: the named link stays as the sender wrote
    it (stated), the URL it names and a slash variant of it are not repeated, a bare
    URL is listed once, and words without a URL are kept."""
    links = parse(tmp_path, OUTLOOK)["packet"]["links"]["value"]
    assert links["assets"] == ["TLS runbook <https://wiki.example.com/tls>",
                               "the on-call rota"]
    assert links["urls"] == ["https://status.example.com"]


def test_the_offer_lists_a_link_written_once_once(flow):
    """Through the worker: the user's mail, a Links line plus the same URL in the prose,
    gives an offer whose packet reads `Links: https://wiki.example.com/tls`."""
    body = ("Hi Bob,\n\nthe steps are in https://wiki.example.com/tls, as last year.\n\n"
            "Done when: the new cert is live\nLinks: https://wiki.example.com/tls\n")
    offer = mail_to(flow.submit(handoff_mail(body=body)), "bob@corp.test")
    lines = [line for line in packet_text(offer).splitlines() if line.startswith("Links:")]
    assert lines == ["Links: https://wiki.example.com/tls"]
    html = offer.get_body(("html",)).get_content()
    assert "Links: https://wiki.example.com/tls\n" in html


def test_the_thunderbird_mail_through_the_worker_lists_its_link_once(flow):
    """The multipart/alternative mail itself, through the SMTP door's worker."""
    offer = mail_to(flow.submit(THUNDERBIRD), "bob@corp.test")
    lines = [line for line in packet_text(offer).splitlines() if line.startswith("Links:")]
    assert lines == ["Links: https://wiki.example.com/tls"]


def test_an_asset_named_and_attached_is_listed_once(tmp_path):
    """"Assets: chain.pem" with chain.pem attached: the attachment, once."""
    msg = handoff_mail(body="Please install the new chain.\n\n"
                            "Assets: chain.pem, the Grafana board\n")
    msg.add_attachment(b"-----BEGIN CERTIFICATE-----\n", maintype="application",
                       subtype="x-pem-file", filename="chain.pem")
    links = parse(tmp_path, msg.as_bytes())["packet"]["links"]["value"]
    assert links == {"urls": [], "assets": ["the Grafana board"],
                     "attachments": ["chain.pem"]}


def new_york_flow(tmp_path, database_url, sessions, clock) -> Flow:
    """The service's zone is Berlin; Bob, the owner, is configured in New York."""
    settings = settings_from_toml(tmp_path, database_url,
                                  '[people."bob@corp.test"]\nzone = "America/New_York"\n')
    return Flow(settings, sessions, clock)


def test_the_offer_writes_the_deadline_in_the_owners_zone(tmp_path, database_url, sessions,
                                                         clock):
    """Ana in Berlin writes "Deadline: Friday 5pm" (Monday 23 Nov 2026): 16:00 UTC.  Bob
    in New York reads the phrase she wrote and Fri 27 Nov 2026, 11:00 New York time,
    the zone named, in the text and the HTML part; no "+00:00" anywhere."""
    flow = new_york_flow(tmp_path, database_url, sessions, clock)
    offer = mail_to(flow.submit(handoff_mail()), "bob@corp.test")
    text = packet_text(offer)
    html = offer.get_body(("html",)).get_content()
    for part in (text, html):
        assert "Deadline: Friday 5pm — Fri 27 Nov 2026, 11:00 (America/New_York)" in part
        assert "+00:00" not in part and "2026-11-27T" not in part


def test_every_mail_about_the_deadline_writes_it_in_its_recipients_zone(
        tmp_path, database_url, sessions, clock):
    """The receipt to Ana (the default zone, Berlin), the accepted notices both ways and
    their .ics description: each in its reader's zone, never ISO with +00:00."""
    import re

    from tests.conftest import links_of

    flow = new_york_flow(tmp_path, database_url, sessions, clock)
    mails = flow.submit(handoff_mail())
    receipt = mail_to(mails, "ana@corp.test")
    assert "Fri 27 Nov 2026, 17:00 (Europe/Berlin)" in packet_text(receipt)
    offer = mail_to(mails, "bob@corp.test")
    from web import create_app

    client = create_app(flow.settings, sessions, clock=clock).test_client()
    client.post(links_of(offer)["Accept"])
    mails = flow.flush()
    to_bob, to_ana = mail_to(mails, "bob@corp.test"), mail_to(mails, "ana@corp.test")
    assert "Fri 27 Nov 2026, 11:00 (America/New_York)" in packet_text(to_bob)
    assert "Fri 27 Nov 2026, 17:00 (Europe/Berlin)" in packet_text(to_ana)
    for mail, words in ((to_bob, "11:00 (America/New_York)"),
                        (to_ana, "17:00 (Europe/Berlin)")):
        ics = next(p for p in mail.walk() if p.get_content_type() == "text/calendar")
        description = re.sub(r"\r\n[ \t]", "", ics.get_content())
        assert words in description.replace("\\,", ",")
        for part in mail.walk():
            if part.get_content_maintype() == "text":
                assert "+00:00" not in part.get_content()


def test_a_digest_names_each_deadline_in_its_readers_zone(tmp_path, database_url, sessions,
                                                          clock):
    """A nudge to Bob: the handoff's deadline, New York time."""
    from datetime import datetime, timezone

    from handoff.chase import run_chase_pass

    flow = new_york_flow(tmp_path, database_url, sessions, clock)
    flow.submit(handoff_mail())
    # Tuesday 24 Nov, 15:00 in New York: offered a day ago, not accepted
    clock.now = datetime(2026, 11, 24, 20, 0, tzinfo=timezone.utc)
    run_chase_pass(sessions, flow.settings, clock.now)
    nudge = mail_to(flow.flush(), "bob@corp.test")
    text = packet_text(nudge)
    assert "not accepted yet" in text
    assert ('"Renew the TLS certificate" — offered to you, not accepted yet; '
            "due Fri 27 Nov 2026, 11:00 (America/New_York)\n  Accept: ") in text
    assert "+00:00" not in text


def test_the_status_page_shows_no_iso_with_plus_zero_offsets(flow, settings, sessions, clock):
    """The handoff page's packet row and mail table write instants in the configured
    zone, named."""
    from web import create_app

    flow.submit(handoff_mail())
    app = create_app(settings, sessions, clock=clock)
    html = app.test_client().get("/h/H-1").get_data(as_text=True)
    assert "+00:00" not in html
    assert "Friday 5pm — Fri 27 Nov 2026, 17:00 (Europe/Berlin)" in html
    assert "Mon 23 Nov 2026, 10:30 (Europe/Berlin)" in html  # the offer's sending

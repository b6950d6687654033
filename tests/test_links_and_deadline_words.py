"""Issue 10, point 7: a link the mail names once is listed once; a deadline in a mail
is written as a person reads it, in the recipient's own zone, with the zone named."""

from __future__ import annotations

from pathlib import Path

from handoff.cli import read_file
from tests.conftest import handoff_mail, mail_to, make_settings

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

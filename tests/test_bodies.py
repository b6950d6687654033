"""Bodies to text (issue 3, point 3): HTML-only mail read as text, quoted replies and
signatures stripped from comments, forwards kept as context with their original author,
Outlook's winmail.dat opened."""

from __future__ import annotations

import re
import struct
from datetime import datetime, timezone
from email.message import EmailMessage

import pytest

from handoff.addresses import ServiceAddresses
from handoff.packet import build_packet, strip_quoted
from handoff.parsing import parse_message
from tests.conftest import SERVICE, handoff_mail, make_settings

RECEIVED = datetime(2026, 11, 23, 9, 0, tzinfo=timezone.utc)


def packet_of(tmp_path, raw: bytes):
    return build_packet(parse_message(raw), ServiceAddresses(make_settings(tmp_path)),
                        timezone_name="Europe/Berlin", received_at=RECEIVED)


def test_an_html_only_mail_is_read_as_text_and_its_labels_fill_the_packet(tmp_path):
    msg = handoff_mail(body="")
    msg.set_content(
        "<html><head><style>p { color: red }</style><script>alert('x')</script></head>"
        "<body><p>Hi Bob,</p><p>please renew the cert.</p>"
        "<p>Done when: the new cert is live<br>Deadline: Friday 5pm</p>"
        "<table><tr><td>host</td><td>expires</td></tr><tr><td>www</td><td>Dec 3</td></tr>"
        "</table></body></html>", subtype="html")
    message = parse_message(msg.as_bytes())
    assert "alert" not in message.text and "color" not in message.text
    assert "please renew the cert." in message.text and "www" in message.text
    p = packet_of(tmp_path, msg.as_bytes())
    assert p.value("done") == "the new cert is live"
    assert p.fields["deadline"]["phrase"] == "Friday 5pm"


QUOTED = {
    "gmail": "On Mon, Nov 23, 2026 at 9:30 AM Ana Example <ana@corp.test> wrote:\n"
             "> Hi Bob,\n> please renew the certificate.\n",
    "outlook": "________________________________\nFrom: Ana Example <ana@corp.test>\n"
               "Sent: Monday, November 23, 2026 9:30 AM\nTo: Bob <bob@corp.test>\n"
               "Subject: Renew the TLS certificate\n\nHi Bob,\nplease renew it.\n",
    "apple": "> On 23 Nov 2026, at 09:30, Ana Example <ana@corp.test> wrote:\n>\n> Hi Bob\n",
    "german gmail": "Am Mo., 23. Nov. 2026 um 09:30 Uhr schrieb Ana Example "
                    "<ana@corp.test>:\n> Hallo Bob\n",
    "german outlook": "Von: Ana Example <ana@corp.test>\nGesendet: Montag, 23. November "
                      "2026 09:30\nAn: Bob <bob@corp.test>\nBetreff: Zertifikat\n\nHallo Bob\n",
    "french": "Le lun. 23 nov. 2026 à 09:30, Ana Example <ana@corp.test> a écrit :\n"
              "> Salut Bob\n",
    "spanish": "El lun, 23 nov 2026 a las 9:30, Ana Example (<ana@corp.test>) escribió:\n"
               "> Hola Bob\n",
}


@pytest.mark.parametrize("client", sorted(QUOTED))
def test_quoted_replies_are_stripped_from_comments(client):
    text = f"Renewed it, the new cert is live.\n\n{QUOTED[client]}"
    assert strip_quoted(text) == "Renewed it, the new cert is live."


def test_a_signature_is_stripped_from_a_comment():
    text = "Renewed it.\n\nThanks,\nBob\n-- \nBob Builder | Ops | +49 30 1234\n"
    new = strip_quoted(text)
    assert new.startswith("Renewed it.") and "+49" not in new


FORWARDING_CLIENTS = re.compile(
    r"^crispfwd__(gmail|outlook_2019|new_outlook_2019|apple_mail)_(en|de|fr|es)_body"
    r"(_variant_\d+)?\.txt$")


def test_inline_forwards_of_gmail_outlook_and_apple_mail_keep_the_original_author(tmp_path,
                                                                                 corpus):
    """Every forward (or quote) these clients wrote in EN/DE/FR/ES in the corpus: all of
    them forward a mail John Doe wrote."""
    files = [p for p in sorted((corpus / "bodies").glob("crispfwd__*"))
             if FORWARDING_CLIENTS.match(p.name)]
    assert len(files) >= 30
    missed = []
    for path in files:
        msg = handoff_mail(to=SERVICE, cc=None, subject="Fwd: Integer consequat non purus",
                           body=path.read_text(encoding="utf-8", errors="replace"))
        forwarded = packet_of(tmp_path, msg.as_bytes()).fields.get("forwarded")
        if not forwarded or forwarded["value"]["from"] != "john.doe@acme.com":
            missed.append(path.name)
    assert missed == []


def test_a_gmail_forward_keeps_author_date_subject_and_text_and_the_note_on_top(tmp_path):
    body = ("Bob, can you take this over?\nOwner: bob@corp.test\n\n"
            "---------- Forwarded message ---------\n"
            "From: Client Person <client@customer.test>\n"
            "Date: Mon, Nov 23, 2026 at 9:30 AM\nSubject: Broken invoice\n"
            "To: Ana <ana@corp.test>\n\nThe invoice for October is wrong.\n")
    p = packet_of(tmp_path, handoff_mail(to=SERVICE, cc=None, subject="Fwd: Broken invoice",
                                         body=body).as_bytes())
    fw = p.fields["forwarded"]["value"]
    assert (fw["from"], fw["name"], fw["subject"]) == (
        "client@customer.test", "Client Person", "Broken invoice")
    assert "Nov 23, 2026" in fw["date"] and fw["text"] == "The invoice for October is wrong."
    assert p.owner == ("", "bob@corp.test")  # the client is context, never the owner
    assert "invoice for October" not in (p.value("details") or "")


def enclosing(inner: EmailMessage, note: str) -> EmailMessage:
    outer = handoff_mail(to=SERVICE, cc=None, subject="Fwd: Broken invoice", body=note)
    outer.add_attachment(inner)  # message/rfc822
    return outer


def test_a_forward_as_attachment_keeps_the_original(tmp_path):
    inner = handoff_mail(sender="Client Person <client@customer.test>", to="ana@corp.test",
                         cc=None, subject="Broken invoice", message_id="<c1@customer.test>",
                         body="The invoice for October is wrong.\n",
                         date="Mon, 23 Nov 2026 08:00:00 +0000")
    raw = enclosing(inner, "Owner: bob@corp.test\nPlease sort this out.\n").as_bytes()
    message = parse_message(raw)
    assert "invoice for October" not in message.text  # the note is the text
    p = packet_of(tmp_path, raw)
    fw = p.fields["forwarded"]["value"]
    assert fw["from"] == "client@customer.test" and fw["subject"] == "Broken invoice"
    assert fw["date"] == "Mon, 23 Nov 2026 08:00:00 +0000"
    assert fw["text"].strip() == "The invoice for October is wrong."
    assert p.owner[1] == "bob@corp.test"


def test_forwards_inside_forwards_are_all_read(tmp_path):
    first = handoff_mail(sender="client@customer.test", to="carol@corp.test", cc=None,
                         subject="Broken invoice", body="The invoice is wrong.\n",
                         message_id="<c1@customer.test>")
    middle = enclosing(first, "Carol: over to Ana.\n")
    del middle["From"]
    middle["From"] = "carol@corp.test"
    raw = enclosing(middle, "Owner: bob@corp.test\n").as_bytes()
    forwarded = parse_message(raw).forwarded
    assert [f.from_addr for f in forwarded] == ["carol@corp.test", "client@customer.test"]


def tnef_object(level: int, name: int, kind: int, data: bytes) -> bytes:
    return struct.pack("<BHHI", level, name, kind, len(data)) + data + \
        struct.pack("<H", sum(data) & 0xFFFF)


def winmail_dat(body: bytes, filename: bytes, content: bytes) -> bytes:
    """A small TNEF stream as Outlook writes it: version, body, one attachment."""
    return (struct.pack("<IH", 0x223E9F78, 0x0102)
            + tnef_object(1, 0x9006, 0x0008, struct.pack("<I", 0x00010000))  # version
            + tnef_object(1, 0x800C, 0x0002, body)  # attBody
            + tnef_object(2, 0x9002, 0x0006, b"\x01\x00\xff\xff\xff\xff" + b"\x00" * 8)
            + tnef_object(2, 0x8010, 0x0001, filename + b"\x00")  # attAttachTitle
            + tnef_object(2, 0x800F, 0x0006, content))  # attAttachData


def test_winmail_dat_is_opened_so_its_body_and_attachments_are_not_lost(tmp_path):
    msg = handoff_mail(body="")
    msg.clear_content()
    msg.make_mixed()
    msg.add_attachment(winmail_dat(b"Done when: the invoice is corrected\r\n",
                                   b"invoice.pdf", b"%PDF-1.4 fake"),
                       maintype="application", subtype="ms-tnef", filename="winmail.dat")
    message = parse_message(msg.as_bytes())
    assert "the invoice is corrected" in message.text
    assert [(a.filename, a.size) for a in message.attachments] == [("invoice.pdf", 13)]
    assert packet_of(tmp_path, msg.as_bytes()).value("done") == "the invoice is corrected"


def test_a_winmail_dat_that_is_not_tnef_is_kept_and_marked(tmp_path):
    msg = handoff_mail()
    msg.add_attachment(b"\x89PNG not tnef", maintype="application", subtype="ms-tnef",
                       filename="winmail.dat")
    message = parse_message(msg.as_bytes())
    assert any(p.startswith("winmail.dat could not be opened") for p in message.problems)
    assert [a.filename for a in message.attachments] == ["winmail.dat"]

"""Calendar (issue 5, point 5; SPEC 7): the mails that confirm an accepted handoff with a
deadline carry the deadline as an .ics that calendar apps import."""

from __future__ import annotations

from datetime import datetime, timezone

import vobject
from icalendar import Calendar

from tests.conftest import handoff_mail, links_of, mail_to


def accept(flow, client, mail):
    offer = mail_to(flow.submit(mail), "bob@corp.test")
    client.post(links_of(offer)["Accept"], data={"note": "the new cert is live"})
    return flow.flush()


def ics_of(mail) -> tuple[bytes, Calendar]:
    [part] = [p for p in mail.walk() if p.get_content_type() == "text/calendar"]
    assert part.get_param("method") == "PUBLISH"
    assert part.get_filename() == "handoff-H-1.ics"
    raw = part.get_payload(decode=True)
    return raw, Calendar.from_ical(raw)


def test_the_accepted_mails_carry_the_deadline_as_an_ics_both_sides_can_import(
        flow, client):
    mails = accept(flow, client, handoff_mail())  # "Deadline: Friday 5pm", Berlin
    to_ana, to_bob = mail_to(mails, "ana@corp.test"), mail_to(mails, "bob@corp.test")
    assert "You accepted" in to_bob.get_body(("plain",)).get_content()
    deadline = datetime(2026, 11, 27, 16, 0, tzinfo=timezone.utc)  # 17:00 in Berlin

    for mail in (to_ana, to_bob):
        assert mail.get_content_type() == "multipart/mixed"
        assert mail.get_body(("plain",)) is not None  # the text is still read first
        raw, calendar = ics_of(mail)
        # what importers insist on (RFC 5545 3.1, 3.6): CRLF lines of at most 75 octets,
        # PRODID and VERSION, and an event with UID, DTSTAMP and a start
        lines = raw.split(b"\r\n")
        assert lines[-1] == b"" and all(len(line) <= 75 for line in lines)
        assert b"\n" not in raw.replace(b"\r\n", b"")
        assert calendar["version"] == "2.0" and calendar["prodid"]
        [event] = calendar.walk("VEVENT")
        assert event["uid"] == "handoff-1-deadline@acme.test"
        assert event["dtstamp"] and event.decoded("dtend") == deadline
        assert event.decoded("dtstart") < deadline
        assert "Renew the TLS certificate" in str(event["summary"])
        assert "Done when: the new cert is live" in str(event["description"])
        assert str(event["url"]).startswith("http")
        [alarm] = event.walk("VALARM")
        assert alarm["action"] == "DISPLAY"
        # read again by a second, independent reader (vobject, which Radicale's CalDAV
        # server uses), strictly: not only the library that wrote it
        other = vobject.readOne(raw.decode("utf-8"), validate=True)
        assert other.method.value == "PUBLISH"
        assert other.vevent.dtend.value == deadline
        assert other.vevent.uid.value == "handoff-1-deadline@acme.test"
        assert other.vevent.summary.value == "Due: Renew the TLS certificate [H-1]"


def test_without_a_deadline_nothing_is_attached_and_the_owner_gets_no_extra_mail(
        flow, client):
    mails = accept(flow, client, handoff_mail(body="Done when: the new cert is live\n"))
    [to_ana] = mails
    assert not [p for p in to_ana.walk() if p.get_content_type() == "text/calendar"]
    assert to_ana.get_content_type() == "multipart/alternative"


def test_a_title_with_commas_semicolons_and_newline_tricks_stays_one_summary(flow, client):
    mails = accept(flow, client, handoff_mail(
        subject="Fix billing; refunds, credits\\n END:VEVENT"))
    raw, calendar = ics_of(mail_to(mails, "bob@corp.test"))
    [event] = calendar.walk("VEVENT")
    assert str(event["summary"]) == "Due: Fix billing; refunds, credits\\n END:VEVENT [H-1]"
    assert len(calendar.walk("VEVENT")) == 1
    other = vobject.readOne(raw.decode("utf-8"))
    assert other.vevent.summary.value == "Due: Fix billing; refunds, credits\\n END:VEVENT [H-1]"

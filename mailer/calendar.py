"""The deadline of an accepted handoff as an iCalendar file (RFC 5545), for the mails
that confirm the acceptance (SPEC 7).

A ``VEVENT``, not a ``VTODO``: Google Calendar and Outlook import events and ignore
to-dos.  ``METHOD:PUBLISH`` (RFC 5546 3.2.1) adds it to a calendar without making it an
invitation to answer.  The event is the half hour that ends at the deadline, in UTC
(no VTIMEZONE needed; every app shows it in the reader's zone), with an alarm an hour
before (the day-before reminder is the chaser's).  The ``UID`` is the handoff's, so a
later file for the same handoff (a reopen, a new deadline) updates the entry instead
of adding a second one; ``SEQUENCE`` is the mail's number, which only grows.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from icalendar import Alarm, Calendar, Event, vCalAddress, vText

from handoff.models import Handoff

DURATION = timedelta(minutes=30)


def deadline_calendar(handoff: Handoff, *, domain: str, organizer: str, page_url: str,
                      now: datetime, sequence: int = 0, deadline_words: str = "") -> bytes:
    """The ``.ics`` bytes (CRLF lines folded at 75 octets, as the library writes them).
    ``deadline_words``: the deadline as the mail's reader reads it (handoff/words.py format_instant),
    with the phrase the sender wrote, for the description."""
    assert handoff.deadline is not None
    calendar = Calendar()
    calendar.add("prodid", "-//handoff//handoff deadlines//EN")
    calendar.add("version", "2.0")
    calendar.add("method", "PUBLISH")
    event = Event()
    event.add("uid", f"handoff-{handoff.id}-deadline@{domain}")
    event.add("dtstamp", now)
    event.add("sequence", sequence)
    event.add("dtstart", handoff.deadline - DURATION)
    event.add("dtend", handoff.deadline)
    event.add("summary", f"Due: {handoff.title} [{handoff.ref}]")
    done = (handoff.packet or {}).get("done", {}).get("value")
    lines = [f"{handoff.ref}: {handoff.title}"]
    phrase = (handoff.packet or {}).get("deadline", {}).get("phrase")
    if deadline_words:
        lines.append(f"Deadline: {phrase} — {deadline_words}" if phrase
                     else f"Deadline: {deadline_words}")
    if done:
        lines.append(f"Done when: {done}")
    if handoff.owner is not None:
        lines.append(f"Owner: {handoff.owner.label}")
    lines.append(f"Handoff page: {page_url}")
    event.add("description", "\n".join(lines))
    event.add("url", page_url)
    event.add("status", "CONFIRMED")
    event.add("transp", "TRANSPARENT")  # a deadline does not make anyone busy
    who = vCalAddress(f"mailto:{organizer}")
    who.params["cn"] = vText("Handoff")
    event.add("organizer", who)
    alarm = Alarm()
    alarm.add("action", "DISPLAY")
    alarm.add("description", f"Due in an hour: {handoff.title}")
    alarm.add("trigger", timedelta(hours=-1), parameters={"RELATED": "END"})
    event.add_component(alarm)
    calendar.add_component(event)
    return bytes(calendar.to_ical())

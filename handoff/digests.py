"""Weekly digests (issue 11, point 5): each sender hears of their open handoffs, each
workflow's manager of the workflow's, once a week, in their own working hours.

A step of the chase pass (``chase.run_chase_pass`` calls ``send_due_digests`` after the
nudges).  Who is due and when is ``digest_calendar``'s; here: what goes in, and sending
it exactly once.  A reader's digest is one mail holding every part due to them (their
own handoffs as a sender, each workflow they manage); each part is claimed by inserting
its ``Digest`` row, whose unique key (reader, kind, workflow, week) lets one of two
chasers at once send it, as a ``Nudge`` row does a chase step.  A digest counts in the
daily cap of chase mails and waits when the cap is reached; a reader with nothing open
gets no mail.  Overdue handoffs come first, then stalled ones, then the rest.

What overdue and stalled mean, and the words, are ``digest_content``'s.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Iterable

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from handoff.addresses import ServiceAddresses
from handoff.business_time import WorkingHours
from handoff.chase import DAILY_CAP, ChaseLine, _mails_today, working_hours
from handoff.db import SessionFactory
from handoff.digest_calendar import (DigestConfig, Week, read_digest_config, week_due,
                                     workflow_managers)
from handoff.digest_content import MANAGER, SENDER, Part, digest_context
from handoff.models import Digest, Handoff, Person
from handoff.outbox import queue_mail
from handoff.people import ensure_person, find_person
from handoff.settings import Settings
from handoff.states import OPEN_STATES

OPEN = [str(s) for s in OPEN_STATES]


@dataclass
class Reader:
    """Someone whose digest is due now, and the parts it may hold."""

    address: str
    hours: WorkingHours
    week: Week
    parts: list[tuple[str, str]] = field(default_factory=list)  # (kind, workflow)


def send_due_digests(sessions: SessionFactory, settings: Settings, now: datetime, *,
                     dry_run: bool = False, mail_due: datetime | None = None,
                     batch: int = 200) -> list[ChaseLine]:
    """Queue every digest due at ``now`` (its mail due at ``mail_due``), ``batch``
    readers a transaction; a dry run rolls back and reports."""
    config = read_digest_config(settings)
    readers = _due_readers(sessions, settings, config, now)
    lines: list[ChaseLine] = []
    for first in range(0, len(readers), batch):
        session = sessions()
        try:
            session.begin()
            for reader in readers[first:first + batch]:
                line = _send(session, settings, config, reader, now, mail_due or now)
                if line is not None:
                    lines.append(line)
            if dry_run:
                session.rollback()
            else:
                session.commit()
        finally:
            session.close()
    return lines


def _due_readers(sessions: SessionFactory, settings: Settings, config: DigestConfig,
                 now: datetime) -> list[Reader]:
    """Senders of open handoffs (when ``[digests]`` turns theirs on) and workflow
    managers whose digest may go now.  Only the default calendar's week being due reads
    the senders of every open handoff; people with their own calendar or day are looked
    at one by one."""
    people = settings.extra.get("people", {})
    own = {str(a).lower() for a in people} if isinstance(people, dict) else set()
    timing: dict[str, tuple[WorkingHours, Week] | None] = {}
    readers: dict[str, Reader] = {}

    def timing_of(address: str) -> tuple[WorkingHours, Week] | None:
        key = address if address in own else ""  # "": the default calendar and day
        if key not in timing:
            hours = working_hours(settings, key or None)
            week = week_due(hours, config.schedule_of(key) if key else config.schedule, now)
            timing[key] = (hours, week) if week and hours.is_working_time(now) else None
        return timing[key]

    def reader(address: str) -> Reader | None:
        found = timing_of(address)
        return None if found is None else readers.setdefault(address,
                                                             Reader(address, *found))

    default = timing_of("")
    due_own = [a for a in sorted(own) if reader(a) is not None] if config.senders else []
    if config.senders and (default is not None or due_own):
        with sessions.begin() as session:
            if default is not None:
                senders = set(session.scalars(select(Handoff.sender_id)
                                              .where(Handoff.status.in_(OPEN)).distinct()))
                senders -= set(session.scalars(select(Digest.recipient_id).where(
                    Digest.kind == SENDER, Digest.workflow == "",
                    Digest.period_start == default[1].start)))
                for address in _addresses(session, senders):
                    found = reader(address)
                    if found is not None:
                        found.parts.append((SENDER, ""))
            for address in due_own:
                found = readers[address]
                if (SENDER, "") not in found.parts and _has_open(session, address):
                    found.parts.append((SENDER, ""))
    for workflow, manager in sorted(workflow_managers(settings).items()):
        found = reader(manager)
        if found is not None:
            found.parts.append((MANAGER, workflow))
    return [r for _a, r in sorted(readers.items()) if r.parts]


def _addresses(session: Session, ids: set[int]) -> Iterable[str]:
    ordered = sorted(ids)
    for first in range(0, len(ordered), 500):
        yield from session.scalars(select(Person.address)
                                   .where(Person.id.in_(ordered[first:first + 500])))


def _has_open(session: Session, address: str) -> bool:
    return session.scalar(select(Handoff.id).join(Person, Handoff.sender_id == Person.id)
                          .where(Person.address == address, Handoff.status.in_(OPEN))
                          .limit(1)) is not None


def _send(session: Session, settings: Settings, config: DigestConfig, reader: Reader,
          now: datetime, mail_due: datetime) -> ChaseLine | None:
    person = find_person(session, reader.address)
    claimed: set[tuple[str, str]] = set()
    if person is not None:
        claimed = {(k, w) for k, w in session.execute(
            select(Digest.kind, Digest.workflow).where(
                Digest.recipient_id == person.id, Digest.period_start == reader.week.start))}
        if _mails_today(session, reader.hours, person, now, this_pass=True) >= DAILY_CAP:
            return None  # it waits, not dropped: a later pass, tomorrow at the latest
    parts: list[Part] = []
    for kind, workflow in reader.parts:
        if (kind, workflow) in claimed:
            continue
        query = select(Handoff).where(Handoff.status.in_(OPEN))
        if kind == SENDER:
            query = query.where(Handoff.sender_id == (person.id if person else -1))
        else:
            query = query.where(Handoff.workflow == workflow)
        handoffs = list(session.scalars(query.order_by(Handoff.id)).unique())
        if handoffs:
            parts.append((kind, workflow, handoffs))
    if not parts:
        return None  # never an empty mail
    reader_id = person.id if person is not None else None
    context, ranked = digest_context(settings, config.stalled_after, reader.week.start,
                                     reader.hours, reader_id, parts, now)
    anchor = next((h for h in ranked if h.owner_id != reader_id), ranked[0])
    service = ServiceAddresses(settings)
    try:
        with session.begin_nested():  # a manager's first digest makes them a person
            person = person or ensure_person(session, reader.address, "", now)
            # the outbox row names one handoff (its bounce lands on that timeline); the
            # Message-ID names none, so a reply threads into no handoff's conversation
            mail_id = queue_mail(session, service, anchor, "digest", person, now, context,
                                 due_at=mail_due, message_id=service.message_id(0))
            session.add_all(Digest(recipient_id=person.id, kind=kind, workflow=workflow,
                                   period_start=reader.week.start, outbox_id=mail_id,
                                   created_at=now) for kind, workflow, _h in parts)
            session.flush()
    except IntegrityError:
        return None  # another chaser claimed it first, and sends it
    refs = tuple(dict.fromkeys(h.ref for h in ranked))  # in the mail's order
    return ChaseLine(reader.address, "digest", refs, mail_id)

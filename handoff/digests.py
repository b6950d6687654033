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

*Stalled*: in limbo (incomplete, offered or needing info: waiting for someone to take
it up or answer) and, for ``[digests] stalled_after`` business days (2) of whoever holds
the ball, nothing happened to it: no state change, action or reply in its thread; a
snoozed handoff is not stalled.  *Overdue*: its deadline passed while offered, accepted
or needing info.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Iterable

from babel.dates import format_date, format_timedelta
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from handoff.addresses import ServiceAddresses
from handoff.business_time import WorkingHours
from handoff.chase import DAILY_CAP, ChaseLine, _mails_today, working_hours
from handoff.db import SessionFactory
from handoff.digest_calendar import (DigestConfig, Week, read_digest_config, week_due,
                                     workflow_managers)
from handoff.models import Digest, Handoff, Person
from handoff.outbox import queue_mail
from handoff.people import ensure_person, find_person
from handoff.settings import Settings
from handoff.states import BALL, OPEN_STATES, Role, Status

OPEN = [str(s) for s in OPEN_STATES]
LIMBO = frozenset({Status.INCOMPLETE, Status.OFFERED, Status.NEEDS_INFO})
LATE = frozenset({Status.OFFERED, Status.ACCEPTED, Status.NEEDS_INFO})  # can be overdue
SECTIONS = ("overdue", "stalled", "open")  # in this order, each handoff in its first
MAX_ITEMS = 50  # a part lists the 50 most pressing; the rest are counted
SENDER, MANAGER = "sender", "manager"


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
    parts = []
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
    person = person or ensure_person(session, reader.address, "", now)
    context, ranked = _context(settings, config, reader, person, parts, now)
    anchor = next((h for h in ranked if h.owner_id != person.id), ranked[0])
    service = ServiceAddresses(settings)
    try:
        with session.begin_nested():
            # the outbox row names one handoff (its bounce lands on that timeline); the
            # Message-ID names none, so a reply threads into no handoff's conversation
            mail = queue_mail(session, service, anchor, "digest", person, now, context,
                              due_at=mail_due)
            mail.message_id = service.message_id(0)
            session.flush()
            session.add_all(Digest(recipient_id=person.id, kind=kind, workflow=workflow,
                                   period_start=reader.week.start, outbox_id=mail.id,
                                   created_at=now) for kind, workflow, _h in parts)
            session.flush()
    except IntegrityError:
        return None  # another chaser claimed it first, and sends it
    refs = tuple(dict.fromkeys(h.ref for h in ranked))  # in the mail's order
    return ChaseLine(reader.address, "digest", refs, mail.id)


def _context(settings: Settings, config: DigestConfig, reader: Reader, person: Person,
             parts: list[tuple[str, str, list[Handoff]]], now: datetime
             ) -> tuple[dict[str, Any], list[Handoff]]:
    """The mail's context: its parts (heading, counts) and their items, most pressing
    first (``items`` is what the renderer gives each handoff's page link and title);
    and every handoff of the mail in that order."""
    holders: dict[str, WorkingHours] = {}

    def hours_of(p: Person) -> WorkingHours:
        if p.address not in holders:
            holders[p.address] = working_hours(settings, p.address)
        return holders[p.address]

    out_parts, items, ranked_all = [], [], []
    for number, (kind, workflow, handoffs) in enumerate(parts):
        ranked = sorted(((_rank(h, config, hours_of, now), h) for h in handoffs),
                        key=lambda pair: pair[0])
        counts = {s: sum(1 for (rank, _h) in ranked if rank[0] == SECTIONS.index(s))
                  for s in SECTIONS}
        heading = "Your handoffs" if kind == SENDER else f"Workflow {workflow}"
        out_parts.append({"kind": kind, "workflow": workflow, "heading": heading,
                          "counts": _counts(len(handoffs), counts),
                          "more": max(0, len(ranked) - MAX_ITEMS)})
        for rank, handoff in ranked[:MAX_ITEMS]:
            items.append(_item(handoff, SECTIONS[rank[0]], number, person, now))
        ranked_all += [handoff for _rank, handoff in ranked]
    week = format_date(reader.week.start.astimezone(reader.hours.tz).date(),
                       "EEE d MMM y", locale="en")
    if len(out_parts) == 1:
        subject = f"{out_parts[0]['heading']} this week: {out_parts[0]['counts']}"
    else:
        subject = "Your weekly handoff digest: " + "; ".join(
            f"{'yours' if p['kind'] == SENDER else p['workflow']} {p['counts']}"
            for p in out_parts)
    return {"subject": subject, "week": week, "parts": out_parts, "items": items,
            "stalled_after": config.stalled_after}, ranked_all


def _rank(handoff: Handoff, config: DigestConfig, hours_of: Any,
          now: datetime) -> tuple[int, float, int]:
    """(section, then the most pressing first within it, then the oldest)."""
    status = Status(handoff.status)
    if handoff.deadline is not None and handoff.deadline < now and status in LATE:
        return (0, handoff.deadline.timestamp(), handoff.id)  # longest overdue first
    quiet = _quiet_since(handoff, now)
    if status in LIMBO and not (handoff.snoozed_until and handoff.snoozed_until > now):
        hours: WorkingHours = hours_of(_holder(handoff) or handoff.sender)
        if hours.add(quiet, hours.business_days(config.stalled_after)) <= now:
            return (1, quiet.timestamp(), handoff.id)  # quiet the longest first
    deadline = handoff.deadline.timestamp() if handoff.deadline else float("inf")
    return (2, deadline, handoff.id)  # the nearest deadline first, then the oldest


def _quiet_since(handoff: Handoff, now: datetime) -> datetime:
    last = max(handoff.state_changed_at, handoff.last_activity_at)
    if handoff.snoozed_until is not None and handoff.snoozed_until <= now:
        last = max(last, handoff.snoozed_until)  # a snooze's end starts the clock afresh
    return last


def _holder(handoff: Handoff) -> Person | None:
    role, _owes = BALL[Status(handoff.status)]
    return {Role.OWNER: handoff.owner, Role.SENDER: handoff.sender}.get(role)


def _item(handoff: Handoff, section: str, part: int, reader: Person,
          now: datetime) -> dict[str, Any]:
    _role, owes = BALL[Status(handoff.status)]
    holder = _holder(handoff)
    who = "you" if holder is not None and holder.id == reader.id else \
        holder.label if holder is not None else "nobody"
    return {"handoff_id": handoff.id, "ref": handoff.ref, "part": part,
            "section": section, "status": handoff.status.replace("_", " "),
            "ball": f"{who} ({owes})" if owes else who,
            "owner": handoff.owner.label if handoff.owner else "no owner yet",
            "age": _words(now - handoff.created_at),
            "quiet": _words(now - _quiet_since(handoff, now))}


def _counts(total: int, counts: dict[str, int]) -> str:
    extra = [f"{counts[s]} {s}" for s in ("overdue", "stalled") if counts[s]]
    return f"{total} open" + (f" ({', '.join(extra)})" if extra else "")


def _words(delta: timedelta) -> str:
    """"3 hours", "6 days", "2 weeks": an age as a person says it."""
    return str(format_timedelta(max(delta, timedelta(minutes=1)), threshold=1.0,
                                locale="en"))

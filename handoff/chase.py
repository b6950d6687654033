"""The chaser (SPEC 5): one pass as of an instant.

A pass reads only handoffs whose ``next_chase_at`` has come (every change sets it to
"now"), works out their due steps (``chase_policy.due_steps``), claims each step for
each recipient by inserting a ``Nudge`` row (its unique key makes a step go out exactly
once, whichever of several chasers gets there first), and queues one digest mail per
person for the pass.  Nothing goes out outside working hours, nobody gets more than
``DAILY_CAP`` chase mails a local day (the rest waits, it is not dropped), a snoozed
handoff is left alone until the date and its clock then starts afresh, and
done-but-unconfirmed handoffs close by themselves.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time, timedelta, timezone

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from handoff.addresses import ServiceAddresses
from handoff.business_time import WorkingHours
from handoff.chase_policy import ChasePolicy, Due, Step, due_steps
from handoff.db import SessionFactory
from handoff.errors import ConfigError
from handoff.models import Digest, Handoff, Nudge, OutboxMail, Person
from handoff.outbox import queue_mail
from handoff.people import ensure_person
from handoff.settings import Settings
from handoff.states import Status
from handoff.lifecycle import record_event
from handoff.workflow import auto_close
from handoff.workflows import policy_for

DEADLINE_RULES = frozenset({"deadline_near", "overdue"})
CHASED = (Status.OFFERED, Status.ACCEPTED, Status.NEEDS_INFO, Status.DONE)
DAILY_CAP = 2  # chase mails per person per local day (SPEC 5)
WHY = {
    ("unaccepted", Step.NUDGE): "offered to you, not accepted yet",
    ("unaccepted", Step.ESCALATE): "offered and still not accepted after two business days",
    ("unanswered", Step.NUDGE): "your answer to the owner's question is awaited",
    ("deadline_near", Step.NUDGE): "its deadline is near",
    ("overdue", Step.NUDGE): "its deadline has passed",
    ("overdue", Step.ESCALATE): "overdue for three business days",
    ("unconfirmed", Step.NUDGE): "marked done: please confirm or reopen",
}


@dataclass(frozen=True)
class ChaseLine:
    """What a pass sent (or, in a dry run, would send): one line of `handoff chase`."""

    recipient: str
    kind: str  # nudge | escalation | auto_close | digest (the weekly one, issue 11)
    refs: tuple[str, ...]
    mail_id: int | None = None  # the digest's outbox row (None: auto_close, a dry run)

    def __str__(self) -> str:
        what = " ".join(self.refs)
        if self.kind == "digest":  # how many, then which (a manager's may list many)
            n = len(self.refs)
            what = f"{n} handoff{'' if n == 1 else 's'}: " + " ".join(self.refs[:10]) + (
                " ..." if n > 10 else "")
        return f"{self.kind:<10} {self.recipient:<32} {what}"


def working_hours(settings: Settings, address: str | None = None) -> WorkingHours:
    """A person's working hours (SPEC 5): ``[people."addr"]`` in the TOML (zone, hours
    "09:00-17:00", days ["mon", ...], country, subdivision), else the defaults of
    ``[chase]`` (hours, days, country), else 09:00-17:00 Mon-Fri in HANDOFF_TIMEZONE."""
    return _hours(settings, (address or "").lower())


_CALENDAR_KEYS = frozenset({"country", "subdivision", "hours", "days", "zone"})
_DAYS = {name: n for n, name in enumerate(("mon", "tue", "wed", "thu", "fri", "sat", "sun"))}


def _hours(settings: Settings, address: str) -> WorkingHours:
    chase = settings.extra.get("chase", {})
    chase = chase if isinstance(chase, dict) else {}
    people = settings.extra.get("people", {})
    person = people.get(address, {}) if isinstance(people, dict) else {}
    merged = {**chase, **(person if isinstance(person, dict) else {})}
    try:
        start, end = (time.fromisoformat(t.strip())
                      for t in str(merged.get("hours", "09:00-17:00")).split("-", 1))
        days = frozenset(_DAYS[str(d).lower()[:3]]
                         for d in merged.get("days", ["mon", "tue", "wed", "thu", "fri"]))
        return WorkingHours(zone=str(merged.get("zone", settings.timezone)), start=start,
                            end=end, weekdays=days, country=merged.get("country"),
                            subdivision=merged.get("subdivision"))
    except (ValueError, KeyError) as exc:
        where = f'[people."{address}"]' if person else "[chase]"
        raise ConfigError(f"{where}: working hours not understood: {exc}") from exc


def chase_policy(settings: Settings, workflow: str) -> ChasePolicy:
    table = settings.extra.get("chase", {})
    numbers = {k: v for k, v in table.items() if k not in _CALENDAR_KEYS} \
        if isinstance(table, dict) else {}
    base = ChasePolicy.from_table(numbers)
    wf = settings.extra.get("workflows", {}).get(workflow, {})
    return ChasePolicy.from_table(wf.get("chase", {}), base) if isinstance(wf, dict) else base


def check_chase_settings(settings: Settings) -> None:
    """Read every chase number and everyone's working hours once, at start, so a typo
    in the TOML fails then (a ConfigError naming the table), not at the first pass."""
    workflows = settings.extra.get("workflows", {})
    for name in ["default", *(workflows if isinstance(workflows, dict) else {})]:
        chase_policy(settings, name)
    people = settings.extra.get("people", {})
    for address in [None, *(people if isinstance(people, dict) else {})]:
        working_hours(settings, address)
    from handoff.digest_calendar import read_digest_config, workflow_managers

    read_digest_config(settings)  # [digests], and the digest keys of [people]
    workflow_managers(settings)


def run_chase_pass(sessions: SessionFactory, settings: Settings, now: datetime, *,
                   dry_run: bool = False, batch: int = 200,
                   due_at: datetime | None = None) -> list[ChaseLine]:
    """One pass as of ``now``, in short transactions of ``batch`` due handoffs (the
    write lock is shared with the SMTP listener); a dry run rolls back and reports.

    The pass's mail is due at ``due_at`` (default ``now``): a pass run ahead of the
    clock (``handoff chase --now <later>``) still sends when it runs, not at ``now``."""
    lines: list[ChaseLine] = []
    previous: set[int] = set()
    digest_of: dict[int, int] = {}  # person -> this pass's digest (outbox id)
    due = now if due_at is None else min(now, due_at)
    while True:  # every handoff looked at gets a later next_chase_at, so batches move on
        found, looked_at = _one_batch(sessions, settings, now, dry_run, batch, digest_of,
                                      due)
        lines += found
        if len(looked_at) < batch or dry_run or looked_at == previous:
            break
        previous = looked_at
    # the weekly digests, after the nudges so that the daily cap counts this pass's
    # (imported here: digests reads chase's calendars and cap)
    from handoff.digests import send_due_digests

    return lines + send_due_digests(sessions, settings, now, dry_run=dry_run, mail_due=due,
                                    batch=batch)


def _one_batch(sessions: SessionFactory, settings: Settings, now: datetime,
               dry_run: bool, limit: int, digest_of: dict[int, int], mail_due: datetime
               ) -> tuple[list[ChaseLine], set[int]]:
    service = ServiceAddresses(settings)
    session = sessions()
    try:
        session.begin()
        due = list(session.scalars(
            select(Handoff).where(Handoff.next_chase_at <= now,
                                  Handoff.status.in_([str(s) for s in CHASED]))
            .order_by(Handoff.next_chase_at, Handoff.id).limit(limit)
            .with_for_update(skip_locked=True, of=Handoff)).unique())
        digests: dict[tuple[int, str], list[tuple[Handoff, Due]]] = {}
        people: dict[int, Person] = {}
        for handoff in due:
            _look_at(session, settings, handoff, now, digests, people)
        lines = _send(session, service, now, digests, people, digest_of, mail_due)
        if dry_run:
            session.rollback()
        else:
            session.commit()
        return lines, {h.id for h in due}
    finally:
        session.close()


def _look_at(session: Session, settings: Settings, handoff: Handoff, now: datetime,
             digests: dict[tuple[int, str], list[tuple[Handoff, Due]]],
             people: dict[int, Person]) -> None:
    status = Status(handoff.status)
    # the clock counts the business time of whoever holds the ball
    holder = handoff.owner if handoff.ball == "owner" and handoff.owner else handoff.sender
    hours = working_hours(settings, holder.address)
    policy = chase_policy(settings, handoff.workflow)
    # the clock (and the claims' epoch) starts at the state change, or at the end of a
    # snooze: snoozing is an action, and actions reset the timers (SPEC 5)
    # A reply in the thread (last_activity_at) restarts it too.  Deadline steps are
    # keyed by the deadline itself: a comment does not make "overdue" come again.
    epoch = max(handoff.state_changed_at, handoff.last_activity_at)
    if handoff.snoozed_until is not None:
        if handoff.snoozed_until > now:  # chasing paused: look again when it ends
            handoff.next_chase_at = handoff.snoozed_until
            return
        epoch = max(epoch, handoff.snoozed_until)
    steps = due_steps(status, epoch, handoff.deadline, hours, policy, until=now)
    later = due_steps(status, epoch, handoff.deadline, hours, policy,
                      until=now + timedelta(days=400))

    def key_of(due: Due) -> datetime:
        if due.rule in DEADLINE_RULES and handoff.deadline is not None:
            return handoff.deadline
        return epoch

    claimed = {(n.rule, n.number, n.recipient_id, n.epoch) for n in session.scalars(
        select(Nudge).where(Nudge.handoff_id == handoff.id,
                            Nudge.epoch.in_({epoch, handoff.deadline or epoch})))}
    waiting: list[datetime] = []
    for due in steps:
        if due.step is Step.AUTO_CLOSE:
            if not hours.is_working_time(now):
                waiting.append(hours.next_working_moment(now))
                continue
            if _claim(session, handoff, due, handoff.sender, key_of(due), now):
                auto_close(session, ServiceAddresses(settings), handoff, now)
                digests.setdefault((handoff.sender_id, "auto_close"), []).append(
                    (handoff, due))
                people[handoff.sender_id] = handoff.sender
            handoff.next_chase_at = None
            return
        for person in _recipients(session, settings, handoff, due, now):
            if (due.rule, due.number, person.id, key_of(due)) in claimed:
                continue
            theirs = working_hours(settings, person.address)
            if not theirs.is_working_time(now):  # nothing outside their working hours
                waiting.append(theirs.next_working_moment(now))
                continue
            if _mails_today(session, theirs, person, now) >= DAILY_CAP:
                waiting.append(theirs.next_morning(now))  # deferred, not dropped
                continue
            if _claim(session, handoff, due, person, key_of(due), now):
                # one digest per person per pass, reminders and escalations together
                digests.setdefault((person.id, "chase"), []).append((handoff, due))
                people[person.id] = person
    upcoming = [d.at for d in later if d.at > now] + waiting
    handoff.next_chase_at = min(upcoming) if upcoming else None


def _recipients(session: Session, settings: Settings, handoff: Handoff, due: Due,
                now: datetime) -> list[Person]:
    out = []
    for role in due.to:
        if role == "owner" and handoff.owner is not None:
            out.append(handoff.owner)
        elif role == "sender":
            out.append(handoff.sender)
        elif role == "contact":
            contact = policy_for(settings, handoff.workflow).escalation_contact
            if contact:
                out.append(ensure_person(session, contact, "", now))
    return list({p.id: p for p in out}.values())


def _claim(session: Session, handoff: Handoff, due: Due, person: Person,
           epoch: datetime, now: datetime) -> bool:
    """Insert the step's row; False when another chaser got there first."""
    try:
        with session.begin_nested():
            session.add(Nudge(handoff_id=handoff.id, rule=due.rule, number=due.number,
                              epoch=epoch, recipient_id=person.id,
                              step=str(due.step), due_at=due.at, claimed_at=now))
        return True
    except IntegrityError:
        return False


def _mails_today(session: Session, hours: WorkingHours, person: Person,
                 now: datetime, *, this_pass: bool = False) -> int:
    """Chase mails this person got today, local: one per pass with nudges for them (a
    pass's nudges are one mail), and each weekly digest.  ``this_pass`` counts the
    nudge mail of the pass at ``now`` too: a digest would be a mail beside it."""
    local = now.astimezone(hours.tz)
    midnight = datetime.combine(local.date(), time(0), hours.tz).astimezone(timezone.utc)
    nudged = Nudge.claimed_at <= now if this_pass else Nudge.claimed_at < now
    passes = session.scalar(
        select(func.count(func.distinct(Nudge.claimed_at)))
        .where(Nudge.recipient_id == person.id, Nudge.claimed_at >= midnight, nudged))
    digests = session.scalar(  # the parts of one digest share its mail
        select(func.count(func.distinct(Digest.outbox_id)))
        .where(Digest.recipient_id == person.id, Digest.created_at >= midnight,
               Digest.created_at <= now))
    return int(passes or 0) + int(digests or 0)


def _send(session: Session, service: ServiceAddresses, now: datetime,
          digests: dict[tuple[int, str], list[tuple[Handoff, Due]]],
          people: dict[int, Person], digest_of: dict[int, int],
          mail_due: datetime) -> list[ChaseLine]:
    lines = []
    for (person_id, kind), entries in sorted(digests.items()):
        person = people[person_id]
        if kind == "auto_close":
            lines.append(ChaseLine(person.address, kind, tuple(h.ref for h, _ in entries)))
            continue
        latest: dict[int, tuple[Handoff, Due]] = {}
        for handoff, due in entries:  # several steps of one handoff due: one item
            latest[handoff.id] = (handoff, due)
        kind = "escalation" if any(d.step is Step.ESCALATE for _h, d in entries) \
            else "nudge"
        items = [{"handoff_id": h.id, "ref": h.ref, "rule": d.rule, "number": d.number,
                  "why": WHY.get((d.rule, d.step), d.rule)} for h, d in latest.values()]
        earlier = session.get(OutboxMail, digest_of[person_id]) \
            if person_id in digest_of else None
        if earlier is not None and earlier.status == "queued":  # an earlier batch's digest
            earlier.context = {"items": [*earlier.context.get("items", []), *items]}
            if kind == "escalation":
                earlier.kind = kind
        else:
            digest_of[person_id] = queue_mail(session, service, entries[0][0], kind, person,
                                              now, {"items": items}, due_at=mail_due)
        for handoff, due in entries:
            record_event(session, handoff, f"chased_{kind}", "system", now, None,
                         to=person.address, rule=due.rule, number=due.number,
                         step=str(due.step))
        lines.append(ChaseLine(person.address, kind, tuple(h.ref for h, _ in latest.values()),
                               digest_of[person_id]))
    return lines

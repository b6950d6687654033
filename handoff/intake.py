"""The one door for mail (SMTP, IMAP, webhooks) and the worker step behind it.

``receive_message`` only commits the raw bytes and the envelope; it is what stands
between a sending server and our ``250``.  The worker step (``inbound_queue``) later
turns stored messages into handoff changes through ``read_message`` and ``interpret``,
one transaction per message; a message that fails is kept with its error (``handoff
inbound retry`` tries again), never dropped.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Callable, Mapping, Sequence

from sqlalchemy import Connection, bindparam, insert, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from handoff.addresses import ServiceAddresses, normalise_address
from handoff.commands import read_command, take_command
from handoff.db import SessionFactory, append_row
from handoff.errors import ActionRefused, StorageError
from handoff.guards import Envelope, Verdict, classify
from handoff.models import Handoff, InboundMessage, Person, SpentToken, ThreadRef
from handoff.packet import Packet, build_packet, strip_quoted
from handoff.parsing import ParsedMessage, parse_message
from handoff.people import ensure_people, ensure_person
from handoff.settings import Settings
from handoff.states import Action, Role, Status
from handoff.threads import ThreadMatch, find_thread
from handoff.wakeups import INBOUND, notify
from handoff.workflows import policy_for
from handoff.reports import note_report
from handoff.lifecycle import lock_handoff, may_act, role_of
from handoff.workflow import add_comment, open_handoff, perform_action, supply_packet

log = logging.getLogger(__name__)
Clock = Callable[[], datetime]


@dataclass(frozen=True)
class Arrival:
    """One message as a door received it: the bytes and the SMTP envelope."""

    raw: bytes
    mail_from: str
    rcpt_tos: tuple[str, ...]
    # what the door knows it by (IMAP UID, a provider's token): a second arrival with the
    # same id is the same message, and stores nothing
    external_id: str | None = None
    # set when the door could not take the message whole (too large, unreadable at the
    # source): the row is stored ``failed`` with this error, seen on the page, never acted
    # on until ``handoff inbound retry``
    error: str | None = None


def receive_message(
    sessions: SessionFactory,
    raw: bytes,
    *,
    mail_from: str,
    rcpt_tos: list[str],
    source: str,
    now: datetime,
    external_id: str | None = None,
    error: str | None = None,
) -> int:
    """Commit the raw message and its envelope; return its receipt number (the earlier
    one when ``external_id`` was stored before).

    Raises :class:`StorageError` when the commit fails, so the caller can answer 451.
    """
    return receive_messages(
        sessions, [Arrival(raw, mail_from, tuple(rcpt_tos), external_id, error)],
        source=source, now=now)[0]


def receive_messages(sessions: SessionFactory, arrivals: Sequence[Arrival], *,
                     source: str, now: datetime) -> list[int]:
    """Commit several messages in one transaction (a group commit: the SMTP listener
    stores the mails that arrived on different connections meanwhile together); return
    their receipt numbers in order.  All or none: :class:`StorageError` on failure."""
    rows = [{"received_at": now, "source": source, "mail_from": _reverse_path(a.mail_from),
             "rcpt_tos": list(a.rcpt_tos), "raw": a.raw,
             "status": "failed" if a.error else "queued", "error": a.error, "attempts": 0,
             "problems": [], "external_id": a.external_id} for a in arrivals]
    if not rows:
        return []
    engine = sessions.kw["bind"]
    try:
        # Core, not the ORM: this runs for every SMTP transaction, and the unit of work
        # costs several times the INSERT itself.
        with engine.begin() as conn:
            notify(conn, INBOUND)  # worker processes elsewhere: at once, not at their poll
            if any(a.external_id for a in arrivals):
                return _insert_new(conn, rows)
            if len(rows) == 1:
                return [int(conn.execute(_INSERT_INBOUND, rows[0]).inserted_primary_key[0])]
            result = conn.execute(_INSERT_INBOUND_RETURNING, rows)
            return [int(row_id) for row_id in result.scalars()]
    except (SQLAlchemyError, OSError) as exc:
        raise StorageError(f"could not store message: {exc}") from exc


def _insert_new(conn: Connection, rows: Sequence[Mapping[str, Any]]) -> list[int]:
    """Insert the rows whose ``external_id`` is not stored yet; the stored row's number
    for the others.  (Two doors racing on one id: the unique constraint fails one
    transaction, which is then a :class:`StorageError` the door retries.)"""
    known = _receipts_of(conn, [str(r["external_id"]) for r in rows if r["external_id"]])
    receipts = []
    for row in rows:
        earlier = known.get(str(row["external_id"])) if row["external_id"] else None
        if earlier is None:
            key = conn.execute(_INSERT_INBOUND, row).inserted_primary_key
            assert key is not None
            earlier = int(key[0])
            if row["external_id"]:
                known[str(row["external_id"])] = earlier
        receipts.append(int(earlier))
    return receipts


def _receipts_of(conn: Connection, external_ids: Sequence[str]) -> dict[str, int]:
    """external id -> receipt number, for those of ``external_ids`` that are stored."""
    if not external_ids:
        return {}
    return {str(ext): int(row_id) for ext, row_id in conn.execute(
        select(InboundMessage.external_id, InboundMessage.id)
        .where(InboundMessage.external_id.in_(list(external_ids))))}


def find_stored(sessions: SessionFactory, external_ids: Sequence[str]) -> set[str]:
    """Which of these external ids are stored (a door checks before it puts a message
    away: only what is stored may leave the source)."""
    try:
        with sessions() as session:
            return set(_receipts_of(session.connection(), external_ids))
    except SQLAlchemyError as exc:
        raise StorageError(f"could not read stored messages: {exc}") from exc


def is_spent(sessions: SessionFactory, token: str) -> bool:
    """Whether a single-use token was verified before and its request refused."""
    with sessions() as session:
        return session.get(SpentToken, token) is not None


def spend_token(sessions: SessionFactory, token: str, now: datetime) -> None:
    """Remember a verified token whose request was refused, so it cannot be used again
    (a storage failure spends nothing: the provider's retry must still get through)."""
    try:
        with sessions.begin() as session:
            if session.get(SpentToken, token) is None:
                session.add(SpentToken(token=token, spent_at=now))
    except SQLAlchemyError as exc:
        log.warning("could not record spent token: %s", exc)


def _reverse_path(mail_from: str) -> str:
    """The null reverse-path ``<>`` (bounces, auto-replies; RFC 5321 4.5.5) is ''."""
    path = (mail_from or "").strip()
    return "" if path == "<>" else path


_INSERT_INBOUND = insert(InboundMessage)
_INSERT_INBOUND_RETURNING = insert(InboundMessage).returning(
    InboundMessage.id, sort_by_parameter_order=True)


@dataclass(frozen=True)
class Outcome:
    status: str  # done | ignored | duplicate | failed
    kind: str
    handoff_id: int | None = None
    note: str = ""


@dataclass(frozen=True)
class Reading:
    """How the service reads one message, before touching the database: the same code
    path serves the worker and ``handoff parse``."""

    message: ParsedMessage
    envelope: Envelope
    verdict: Verdict
    packet: Packet


def read_message(settings: Settings, raw: bytes, envelope: Envelope,
                 received_at: datetime) -> Reading:
    service = ServiceAddresses(settings)
    message = parse_message(raw)
    verdict = classify(message, envelope, service)
    packet = build_packet(message, service, timezone_name=settings.timezone,
                          received_at=received_at)
    return Reading(message, envelope, verdict, packet)


def warm_up(settings: Settings, now: datetime) -> None:
    """Read one made-up mail, so the first real one does not pay for loading the date
    parser's language data (about half a second)."""
    sample = (b"From: a@example.com\r\nTo: b@example.com\r\nSubject: warm-up\r\n"
              b"Date: Mon, 23 Nov 2026 09:00:00 +0000\r\nMessage-ID: <warm-up@example.com>"
              b"\r\n\r\nDeadline: Friday 5pm\r\n")
    read_message(settings, sample, Envelope("a@example.com", (settings.service_address,)),
                 now)


def interpret(session: Session, settings: Settings, inbound_id: int, reading: Reading,
              now: datetime) -> Outcome:
    """Duplicate? -> thread or new handoff, from a reading.  Runs in one transaction."""
    service = ServiceAddresses(settings)
    message, envelope, verdict = reading.message, reading.envelope, reading.verdict

    if message.message_id and _seen_before(session, message.message_id):
        return Outcome("duplicate", verdict.kind, note=f"{message.message_id} seen before")

    match = find_thread(session, service, message, envelope.rcpt_tos)
    if match is not None:  # several workers: one change of a handoff at a time
        lock_handoff(session, match.handoff)
    if not verdict.acts:
        if match is not None:  # an auto-reply or bounce about one of ours: note it, never answer
            note_report(session, service, match, message, verdict, envelope.rcpt_tos, now)
        return Outcome("ignored", verdict.kind, match.handoff.id if match else None,
                       verdict.reason)
    if not message.from_addr:
        return Outcome("ignored", "human", note="no usable From address")

    if match is not None:
        _remember(session, message, match.handoff.id, inbound_id)
        _take_reply(session, settings, service, match, reading, now)
        return Outcome("done", "human", match.handoff.id)

    if _answers_a_digest(service, message):  # a digest names many handoffs, none alone
        return Outcome("ignored", "human", note="a reply to a weekly digest: digests are "
                       "not handoffs; reply to a handoff's own mail to act on it")
    handoff = _open_from_message(session, settings, service, reading, now)
    _remember(session, message, handoff.id, inbound_id)
    return Outcome("done", "human", handoff.id)


def _answers_a_digest(service: ServiceAddresses, message: ParsedMessage) -> bool:
    """Digests carry a Message-ID of ours made for no handoff (handoff 0)."""
    return any(service.read_message_id(msgid) == 0
               for msgid in message.in_reply_to + message.references)


def _seen_before(session: Session, message_id: str) -> bool:
    """Every human message we acted on left its Message-ID in ``thread_refs`` (a plain
    statement: the rows are written by one, never loaded as objects here)."""
    return session.connection().scalar(_SEEN, {"message_id": message_id}) is not None


# built once (its cache key worked out once: docs/architecture.md, "Speed")
_SEEN = select(ThreadRef.handoff_id).where(ThreadRef.message_id == bindparam("message_id"))


def _remember(session: Session, message: ParsedMessage, handoff_id: int, row_id: int) -> None:
    if message.message_id:  # new: interpret() checked _seen_before in this transaction
        append_row(session, ThreadRef, {
            "message_id": message.message_id, "handoff_id": handoff_id, "inbound_id": row_id})


def _workflow_of(service: ServiceAddresses, rcpt_tos: tuple[str, ...]) -> str:
    for rcpt in rcpt_tos:
        meaning = service.read(rcpt)
        if meaning is not None and meaning.kind == "intake":
            return meaning.workflow
    return "default"


def _open_from_message(session: Session, settings: Settings, service: ServiceAddresses,
                       reading: Reading, now: datetime) -> Handoff:
    message, packet = reading.message, reading.packet
    named = [(message.from_addr, message.from_name)]
    if packet.owner is not None and \
            normalise_address(packet.owner[1]) != normalise_address(message.from_addr):
        named.append((packet.owner[1], packet.owner[0]))  # one read for both
    sender, *others = ensure_people(session, named, now)
    owner = others[0] if others else None
    if packet.owner is not None and owner is None:
        packet.problems.append("the owner named is the sender: name someone else")
        packet.fields.pop("owner", None)
    workflow = policy_for(settings, _workflow_of(service, reading.envelope.rcpt_tos))
    return open_handoff(
        session, service,
        title=str(packet.value("request") or ""),
        sender=sender, owner=owner, packet=packet,
        workflow=workflow.name,
        origin_message_id=message.message_id,
        origin_references=list(message.references),
        now=now,
        required=workflow.required,
        decisions=workflow.decisions,
    )


def _take_reply(session: Session, settings: Settings, service: ServiceAddresses,
                match: ThreadMatch,
                reading: Reading, now: datetime) -> None:
    """A human reply in a handoff's thread: a command, the missing lines of an incomplete
    packet, an answer to a question, or a comment."""
    handoff, message = match.handoff, reading.message
    author = ensure_person(session, message.from_addr, message.from_name, now)
    text = strip_quoted(message.text)
    role = role_of(handoff, author)
    command = read_command(text)
    # a command from the one who may give it; from someone with no part in it now (an
    # earlier owner after a hand on, a stranger) it is refused on the timeline, saying
    # who has it; but the sender's "Done." answering a question is an answer, not a
    # refused "done" (nor is her "Decided: ..." line)
    if command is not None and (may_act(handoff, author, command.action)
                                or role is Role.NOBODY):
        take_command(session, service, handoff, author, command, reading.envelope.rcpt_tos,
                     now)
        return
    if role is Role.SENDER and handoff.status == Status.INCOMPLETE:
        named = reading.packet.owner
        owner = ensure_person(session, named[1], named[0], now) if named else None
        policy = policy_for(settings, handoff.workflow)
        supply_packet(session, service, handoff, author, reading.packet, owner, now=now,
                      required=policy.required, decisions=policy.decisions)
        return
    if role is Role.SENDER and handoff.status == Status.NEEDS_INFO:
        try:
            perform_action(session, service, handoff, Action.ANSWER, author, how="reply",
                           now=now, note=text)
            return
        except ActionRefused:
            pass
    # The others of the handoff (sender, owner, a decision owner) hear of a comment by
    # one of them, unless it was addressed to them too (then they have it already).
    addressed = {a for _n, a in message.to + message.cc}
    people = [handoff.sender, handoff.owner, handoff.decision_owner]
    if role is Role.NOBODY and author not in people:
        tell: list[Person] = []
    else:
        tell = list({p.id: p for p in people
                     if p is not None and p.id != author.id and p.address not in addressed
                     and (p is not handoff.decision_owner or not handoff.decided_at)
                     }.values())
    add_comment(session, service, handoff, author, text, now=now, notify=tell)

"""Which handoff a reply belongs to (SPEC 7), in this order:

1. ``In-Reply-To``/``References`` naming one of our Message-IDs (checked by its HMAC) or
   a Message-ID already in a handoff's thread (the original, earlier replies);
2. a reply or bounce address the service minted (checked by its HMAC);
3. the reference marker in the body, for clients that drop headers (HMAC too);
4. the ``[H-n]`` subject tag, only when the writer takes part in that handoff.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from handoff.addresses import ServiceAddresses
from handoff.models import Handoff, OutboxMail, ThreadRef
from handoff.parsing import ParsedMessage
from handoff.tokens import sign, verify

_MARKER = re.compile(r"\bref:H-(\d+)\.([0-9a-f]{8})\b")
_SUBJECT_TAG = re.compile(r"\[H-(\d+)\]")


@dataclass(frozen=True)
class ThreadMatch:
    handoff: Handoff
    via: str  # headers | address | marker | subject
    person_id: int | None = None  # the person a minted reply address was made for
    outbox_id: int | None = None  # the mail a bounce (VERP) address was made for


def body_marker(secret: str, handoff_id: int) -> str:
    return f"ref:H-{handoff_id}.{sign(secret, 'ref', str(handoff_id), 8)}"


def find_thread(
    session: Session,
    service: ServiceAddresses,
    message: ParsedMessage,
    rcpt_tos: tuple[str, ...],
) -> ThreadMatch | None:
    for msgid in message.in_reply_to + tuple(reversed(message.references)):
        handoff_id = service.read_message_id(msgid)
        if handoff_id is None:
            handoff_id = session.scalar(
                select(ThreadRef.handoff_id).where(ThreadRef.message_id == msgid))
        found = session.get(Handoff, handoff_id) if handoff_id else None
        if found is not None:
            return ThreadMatch(found, "headers")
    for rcpt in rcpt_tos:
        meaning = service.read(rcpt)
        if meaning is None:
            continue
        handoff_id, person_id = meaning.handoff_id, meaning.person_id
        if meaning.kind == "bounce" and meaning.outbox_id is not None:
            handoff_id = session.scalar(
                select(OutboxMail.handoff_id).where(OutboxMail.id == meaning.outbox_id))
        found = session.get(Handoff, handoff_id) if handoff_id else None
        if found is not None:
            return ThreadMatch(found, "address", person_id, meaning.outbox_id)
    for hid, mac in _MARKER.findall(message.text):
        if verify(service.secret, "ref", hid, mac, 8):
            found = session.get(Handoff, int(hid))
            if found is not None:
                return ThreadMatch(found, "marker")
    for hid in _SUBJECT_TAG.findall(message.subject):
        found = session.get(Handoff, int(hid))
        if found is not None and message.from_addr in _participants(found):
            return ThreadMatch(found, "subject")
    return None


def _participants(handoff: Handoff) -> set[str]:
    people = {handoff.sender.address}
    if handoff.owner is not None:
        people.add(handoff.owner.address)
    return people

"""People are records keyed by their normalised address (SPEC 1)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from handoff.addresses import normalise_address
from handoff.models import Person


def find_person(session: Session, address: str) -> Person | None:
    addr = normalise_address(address)
    return session.scalar(select(Person).where(Person.address == addr)) if addr else None


def ensure_person(session: Session, address: str, name: str, now: datetime) -> Person:
    """The person with this address, created on first sight; a new display name is kept."""
    addr = normalise_address(address)
    if not addr:
        raise ValueError(f"not an address: {address!r}")
    person = session.scalar(select(Person).where(Person.address == addr))
    if person is None:
        person = Person(address=addr, display_name=name[:200], created_at=now)
        session.add(person)
        session.flush()
    elif name and not person.display_name:
        person.display_name = name[:200]
    return person

"""People are records keyed by their normalised address (SPEC 1)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
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
        # two workers may meet the same new address at once (PostgreSQL, several
        # processes): the second insert waits for the first's commit and does nothing,
        # and both go on with the one row, where a plain insert failed the second mail
        insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
        session.connection().execute(  # a plain statement: the ORM's insert path costs more
            insert(Person).values(address=addr, display_name=name[:200], created_at=now)
            .on_conflict_do_nothing(index_elements=["address"]))
        person = session.scalars(select(Person).where(Person.address == addr)).one()
    elif name and not person.display_name:
        person.display_name = name[:200]
    return person

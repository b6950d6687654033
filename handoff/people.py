"""People are records keyed by their normalised address (SPEC 1)."""

from __future__ import annotations

from datetime import datetime
from typing import Sequence

from sqlalchemy import bindparam, select
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
    return ensure_people(session, [(address, name)], now)[0]


def ensure_people(session: Session, named: Sequence[tuple[str, str]],
                  now: datetime) -> list[Person]:
    """The people of these (address, display name) pairs, in order, created on first
    sight, a new display name kept: one read for all of them (a new handoff meets its
    sender and its owner), and a second for those that were new."""
    addresses = [normalise_address(address) for address, _name in named]
    for (address, _name), addr in zip(named, addresses):
        if not addr:
            raise ValueError(f"not an address: {address!r}")
    found = _people(session, set(addresses))
    new = {addr: name for (_a, name), addr in zip(named, addresses) if addr not in found}
    if new:
        # two workers may meet the same new address at once (PostgreSQL, several
        # processes): the second insert waits for the first's commit and does nothing,
        # and both go on with the one row, where a plain insert failed the second mail
        insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
        for addr, name in new.items():  # a plain statement: the ORM's insert path costs more
            session.connection().execute(
                insert(Person).values(address=addr, display_name=name[:200], created_at=now)
                .on_conflict_do_nothing(index_elements=["address"]))
        found.update(_people(session, set(new)))
    people = [found[addr] for addr in addresses]
    for person, (_address, name) in zip(people, named):
        if name and not person.display_name:
            person.display_name = name[:200]
    return people


def _people(session: Session, addresses: set[str]) -> dict[str, Person]:
    return {p.address: p for p in session.scalars(_PEOPLE, {"addresses": list(addresses)})}


# built once (its cache key worked out once: docs/architecture.md, "Speed")
_PEOPLE = select(Person).where(Person.address.in_(bindparam("addresses", expanding=True)))

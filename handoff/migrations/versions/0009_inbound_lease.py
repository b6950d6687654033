"""issue 12: a stored message is taken with a lease, so one that kills its worker ends failed

A worker used to take a message and interpret it in one transaction: a message whose
reading killed the process (or hung it until it was killed) went back to the queue
uncounted and was taken again, for ever, by every worker in turn.  A take is now
committed first (``status = 'processing'``, ``attempts + 1``, ``lease_until``); a take
whose lease ran out was never finished, and after three the message is kept failed.

Revision ID: 0009_inbound_lease
Revises: 0008_handoff_count
Create Date: 2026-12-02
"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

revision: str = "0009_inbound_lease"
down_revision: Union[str, Sequence[str], None] = "0008_handoff_count"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.add_column("inbound_messages", sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    # plain DROP COLUMN (SQLite 3.35+): batch mode copies the table, and dropping the
    # old one fails on the foreign keys that point at it
    op.execute("ALTER TABLE inbound_messages DROP COLUMN lease_until")

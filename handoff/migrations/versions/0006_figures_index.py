"""issue 11: one index that holds everything the figures read of a period's handoffs

The figures page reads every handoff made in its period (30 days by default) for a
handful of columns.  Through ``ix_handoffs_created_at`` each of those rows is fetched
from the table, whose rows are wide (the packet's JSON); this index carries the columns
itself, so the period is read from the index alone (SQLite: a covering index; PostgreSQL:
an index-only scan).  Measured in benchmarks/RESULTS.md ("Figures page").

Revision ID: 0006_figures_index
Revises: 0005_figures_decisions
Create Date: 2026-12-02
"""
from typing import Sequence, Union

from alembic import op

revision: str = "0006_figures_index"
down_revision: Union[str, Sequence[str], None] = "0005_figures_decisions"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

COLUMNS = ["created_at", "status", "owner_id", "sender_id", "workflow", "offered_at",
           "accepted_at", "done_at", "state_changed_at", "limbo_seconds", "decided_at",
           "needs_decision"]


def upgrade() -> None:
    op.create_index("ix_handoffs_figures", "handoffs", COLUMNS)


def downgrade() -> None:
    op.drop_index("ix_handoffs_figures", table_name="handoffs")

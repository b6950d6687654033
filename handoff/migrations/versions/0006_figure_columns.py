"""issue 11: what the figures add up, as whole numbers in covering indexes

The figures page read every handoff of its period from the table (rows of ~1-2 KiB with
their packets) and worked out each duration from the milestone instants there.  Now the
durations are kept as whole seconds on the handoff (``lifecycle.keep_figures``), the
clarity answer beside them, and two covering indexes hold all a figures page reads:
one led by ``created_at`` (the period), one by ``status`` (what is open now).  They
replace the plain ``ix_handoffs_created_at`` and ``ix_handoffs_status``, whose lookups
they serve as well.

Revision ID: 0006_figure_columns
Revises: 0005_figures_decisions
Create Date: 2026-12-02
"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

revision: str = "0006_figure_columns"
down_revision: Union[str, Sequence[str], None] = "0005_figures_decisions"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

PERIOD_COLUMNS = [
    "created_at", "owner_id", "sender_id", "workflow", "status", "offered_at",
    "needs_decision", "decided_at", "accept_seconds", "limbo_seconds", "state_changed_at",
    "done_seconds", "decision_seconds", "clarity"]
OPEN_COLUMNS = ["status", "created_at", "deadline", "owner_id", "sender_id", "workflow"]


def _seconds(later: str, earlier: str) -> str:
    """``later - earlier`` in whole seconds, in the dialect's words."""
    if op.get_bind().dialect.name == "sqlite":
        return f"CAST(ROUND((julianday({later}) - julianday({earlier})) * 86400) AS INTEGER)"
    return f"CAST(ROUND(EXTRACT(EPOCH FROM {later} - {earlier})) AS INTEGER)"


def upgrade() -> None:
    with op.batch_alter_table("handoffs") as batch:
        for name in ("accept_seconds", "done_seconds", "decision_seconds"):
            batch.add_column(sa.Column(name, sa.Integer(), nullable=True))
        batch.add_column(sa.Column("clarity", sa.String(length=16), nullable=True))
        batch.drop_index("ix_handoffs_created_at")
        batch.drop_index("ix_handoffs_status")
    # the same rules as lifecycle.keep_figures, for the handoffs made before
    op.execute(f"UPDATE handoffs SET accept_seconds = {_seconds('accepted_at', 'offered_at')} "
               "WHERE accepted_at >= offered_at")
    op.execute(f"UPDATE handoffs SET done_seconds = {_seconds('done_at', 'created_at')} "
               "WHERE status IN ('done', 'closed') AND done_at IS NOT NULL")
    op.execute("UPDATE handoffs SET decision_seconds = CASE WHEN offered_at <= decided_at "
               f"THEN {_seconds('decided_at', 'offered_at')} "
               f"ELSE {_seconds('decided_at', 'created_at')} END "
               "WHERE needs_decision IS NOT NULL AND needs_decision <> '' "
               "AND decided_at IS NOT NULL")
    op.execute("UPDATE handoffs SET clarity = (SELECT a.answer FROM clarity_answers a "
               "WHERE a.handoff_id = handoffs.id)")
    op.create_index("ix_handoffs_figures_period", "handoffs", PERIOD_COLUMNS)
    op.create_index("ix_handoffs_figures_open", "handoffs", OPEN_COLUMNS)


def downgrade() -> None:
    op.drop_index("ix_handoffs_figures_open", table_name="handoffs")
    op.drop_index("ix_handoffs_figures_period", table_name="handoffs")
    with op.batch_alter_table("handoffs") as batch:
        for name in ("clarity", "decision_seconds", "done_seconds", "accept_seconds"):
            batch.drop_column(name)
        batch.create_index("ix_handoffs_status", ["status"])
        batch.create_index("ix_handoffs_created_at", ["created_at"])

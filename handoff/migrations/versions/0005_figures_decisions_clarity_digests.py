"""issue 11: milestones for the figures, decision rules, the clarity answer, weekly digests

Revision ID: 0005_figures_decisions
Revises: 0004_doors_and_events
Create Date: 2026-12-02
"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

revision: str = "0005_figures_decisions"
down_revision: Union[str, Sequence[str], None] = "0004_doors_and_events"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

# a handoff's milestones, kept by lifecycle.set_status; filled from the timeline for
# handoffs made before this revision
_FIRST = {"offered_at": "('offered')", "accepted_at": "('accepted')"}
_LAST = {"done_at": "('done')", "ended_at": "('closed', 'declined', 'cancelled')"}


def upgrade() -> None:
    with op.batch_alter_table("handoffs") as batch:
        for name in ("offered_at", "accepted_at", "done_at", "ended_at", "decided_at"):
            batch.add_column(sa.Column(name, sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("limbo_seconds", sa.Integer(), nullable=False,
                                   server_default="0"))
        batch.add_column(sa.Column("needs_decision", sa.String(length=500), nullable=True))
        batch.add_column(sa.Column("decision_owner_id", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("decision", sa.Text(), nullable=True))
        batch.create_foreign_key("fk_handoffs_decision_owner", "people",
                                 ["decision_owner_id"], ["id"])
    for column, kinds in _FIRST.items():
        op.execute(f"UPDATE handoffs SET {column} = (SELECT MIN(e.at) FROM events e "
                   f"WHERE e.handoff_id = handoffs.id AND e.kind IN {kinds})")
    for column, kinds in _LAST.items():
        op.execute(f"UPDATE handoffs SET {column} = (SELECT MAX(e.at) FROM events e "
                   f"WHERE e.handoff_id = handoffs.id AND e.kind IN {kinds})")
    op.create_index("ix_handoffs_workflow_created", "handoffs", ["workflow", "created_at"])
    op.create_table(
        "clarity_answers",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("handoff_id", sa.Integer(), nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=False),
        sa.Column("answer", sa.String(length=16), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("answered_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["handoff_id"], ["handoffs.id"]),
        sa.ForeignKeyConstraint(["person_id"], ["people.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("handoff_id", name="uq_clarity_answers_handoff"),
    )
    op.create_index("ix_clarity_answers_answered_at", "clarity_answers", ["answered_at"])
    op.create_table(
        "digests",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("recipient_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("workflow", sa.String(length=64), nullable=False, server_default=""),
        sa.Column("period_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("outbox_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["recipient_id"], ["people.id"]),
        sa.ForeignKeyConstraint(["outbox_id"], ["outbox.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("recipient_id", "kind", "workflow", "period_start",
                            name="uq_digests_once_a_period"),
    )
    op.create_index("ix_digests_recipient_created", "digests", ["recipient_id", "created_at"])


def downgrade() -> None:
    op.drop_index("ix_digests_recipient_created", table_name="digests")
    op.drop_table("digests")
    op.drop_index("ix_clarity_answers_answered_at", table_name="clarity_answers")
    op.drop_table("clarity_answers")
    op.drop_index("ix_handoffs_workflow_created", table_name="handoffs")
    with op.batch_alter_table("handoffs") as batch:
        batch.drop_constraint("fk_handoffs_decision_owner", type_="foreignkey")
        for name in ("decision", "decision_owner_id", "needs_decision", "limbo_seconds",
                     "decided_at", "ended_at", "done_at", "accepted_at", "offered_at"):
            batch.drop_column(name)

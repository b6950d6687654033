"""chasing: when a handoff next needs a look, snoozes, and claimed nudges

Revision ID: 0003_chasing
Revises: 0002_owner_marks
Create Date: 2026-11-24
"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

revision: str = "0003_chasing"
down_revision: Union[str, Sequence[str], None] = "0002_owner_marks"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.add_column("handoffs", sa.Column("next_chase_at", sa.DateTime(timezone=True),
                                        nullable=True))
    op.add_column("handoffs", sa.Column("snoozed_until", sa.DateTime(timezone=True),
                                        nullable=True))
    op.create_index("ix_handoffs_next_chase_at", "handoffs", ["next_chase_at"])
    op.create_table(
        "nudges",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("handoff_id", sa.Integer(), nullable=False),
        sa.Column("rule", sa.String(length=32), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("epoch", sa.DateTime(timezone=True), nullable=False),
        sa.Column("recipient_id", sa.Integer(), nullable=False),
        sa.Column("step", sa.String(length=16), nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["handoff_id"], ["handoffs.id"]),
        sa.ForeignKeyConstraint(["recipient_id"], ["people.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("handoff_id", "rule", "number", "epoch", "recipient_id",
                            name="uq_nudges_once"),
    )
    op.create_index("ix_nudges_recipient_claimed", "nudges", ["recipient_id", "claimed_at"])


def downgrade() -> None:
    op.drop_index("ix_nudges_recipient_claimed", table_name="nudges")
    op.drop_table("nudges")
    op.drop_index("ix_handoffs_next_chase_at", table_name="handoffs")
    with op.batch_alter_table("handoffs") as batch:
        batch.drop_column("snoozed_until")
        batch.drop_column("next_chase_at")

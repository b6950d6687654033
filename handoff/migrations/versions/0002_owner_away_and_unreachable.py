"""owner away (out-of-office) and unreachable (bounce) marks on a handoff

Revision ID: 0002_owner_marks
Revises: fd2a7728bedd
Create Date: 2026-11-24
"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

revision: str = "0002_owner_marks"
down_revision: Union[str, Sequence[str], None] = "fd2a7728bedd"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.add_column("handoffs", sa.Column("owner_away_since", sa.DateTime(timezone=True),
                                        nullable=True))
    op.add_column("handoffs", sa.Column("owner_unreachable", sa.String(length=500),
                                        nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("handoffs") as batch:
        batch.drop_column("owner_unreachable")
        batch.drop_column("owner_away_since")

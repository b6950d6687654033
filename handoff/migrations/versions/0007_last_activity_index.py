"""issue 12: the status page's ended handoffs, latest activity first, from an index

With a million handoffs the page sorted every one of them to show a hundred; it now
reads the open ones by status and walks this index for the ended ones.

Revision ID: 0007_last_activity_index
Revises: 0006_figure_columns
Create Date: 2026-12-02
"""
from typing import Sequence, Union

from alembic import op

revision: str = "0007_last_activity_index"
down_revision: Union[str, Sequence[str], None] = "0006_figure_columns"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.create_index("ix_handoffs_last_activity", "handoffs", ["last_activity_at", "id"])


def downgrade() -> None:
    op.drop_index("ix_handoffs_last_activity", table_name="handoffs")

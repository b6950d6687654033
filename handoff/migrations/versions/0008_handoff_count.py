"""issue 12: the API's exact total of handoffs without counting the table

``GET /api/handoffs`` returns an exact ``total`` (SPEC 11).  PostgreSQL counts a
million rows in ~40 ms, on every call.  Now a trigger keeps the count as the rows come
and go, in ``handoff_counts``: sixteen rows (shards) on PostgreSQL, each transaction
adding to the one its connection's backend picks, so concurrent inserts do not queue on
one row; one row on SQLite (one writer anyway).  The total is their sum, exact and
transactional like the rows themselves.

Revision ID: 0008_handoff_count
Revises: 0007_last_activity_index
Create Date: 2026-12-02
"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

revision: str = "0008_handoff_count"
down_revision: Union[str, Sequence[str], None] = "0007_last_activity_index"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

SHARDS = 16

PG_FUNCTION = f"""
CREATE FUNCTION handoff_count_keep() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE handoff_counts SET n = n + CASE TG_OP WHEN 'INSERT' THEN 1 ELSE -1 END
    WHERE shard = pg_backend_pid() % {SHARDS};
    RETURN NULL;
END $$
"""


def upgrade() -> None:
    op.create_table(
        "handoff_counts",
        sa.Column("shard", sa.Integer(), nullable=False),
        sa.Column("n", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("shard"),
    )
    postgres = op.get_bind().dialect.name == "postgresql"
    shards = SHARDS if postgres else 1
    op.execute("INSERT INTO handoff_counts (shard, n) VALUES "
               + ", ".join(f"({i}, 0)" for i in range(shards)))
    op.execute("UPDATE handoff_counts SET n = (SELECT count(*) FROM handoffs) WHERE shard = 0")
    if postgres:
        op.execute(PG_FUNCTION)
        op.execute("CREATE TRIGGER handoff_count_keep AFTER INSERT OR DELETE ON handoffs "
                   "FOR EACH ROW EXECUTE FUNCTION handoff_count_keep()")
    else:
        op.execute("CREATE TRIGGER handoff_count_insert AFTER INSERT ON handoffs BEGIN "
                   "UPDATE handoff_counts SET n = n + 1 WHERE shard = 0; END")
        op.execute("CREATE TRIGGER handoff_count_delete AFTER DELETE ON handoffs BEGIN "
                   "UPDATE handoff_counts SET n = n - 1 WHERE shard = 0; END")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER handoff_count_keep ON handoffs")
        op.execute("DROP FUNCTION handoff_count_keep()")
    else:
        op.execute("DROP TRIGGER handoff_count_insert")
        op.execute("DROP TRIGGER handoff_count_delete")
    op.drop_table("handoff_counts")

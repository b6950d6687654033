"""issue 12: the API's exact total of handoffs without counting the table

``GET /api/handoffs`` returns an exact ``total`` (SPEC 11).  PostgreSQL counts a
million rows in ~40 ms, on every call.  Now a trigger keeps the count as the rows come
and go, in ``handoff_counts``: sixteen rows (shards) on PostgreSQL, each statement
adding to one picked at random, so concurrent inserts seldom queue on one row (and a
TRUNCATE empties them); one row on SQLite (one writer anyway).  The total is their sum, exact and
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

# once per statement, with the rows it inserted or deleted: a row-level trigger made a
# bulk INSERT ... SELECT of a million handoffs update one counter row a million times
# in one transaction, each update walking the versions the earlier ones left (minutes)
PG_FUNCTIONS = [f"""
CREATE FUNCTION handoff_count_{what}() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    -- drawn once: random() in the WHERE clause is drawn again for every row it tests
    picked integer := floor(random() * {SHARDS});
BEGIN
    UPDATE handoff_counts SET n = n {sign} (SELECT count(*) FROM changed)
    WHERE shard = picked;
    RETURN NULL;
END $$
""" for what, sign in (("added", "+"), ("removed", "-"))]
PG_EMPTIED = """
CREATE FUNCTION handoff_count_emptied() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE handoff_counts SET n = 0;
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
    if postgres:  # no insert between the count and the triggers (a running older process)
        op.execute("LOCK TABLE handoffs IN SHARE ROW EXCLUSIVE MODE")
    op.execute("UPDATE handoff_counts SET n = (SELECT count(*) FROM handoffs) WHERE shard = 0")
    if postgres:
        for function in PG_FUNCTIONS:
            op.execute(function)
        op.execute("CREATE TRIGGER handoff_count_added AFTER INSERT ON handoffs "
                   "REFERENCING NEW TABLE AS changed FOR EACH STATEMENT "
                   "EXECUTE FUNCTION handoff_count_added()")
        op.execute("CREATE TRIGGER handoff_count_removed AFTER DELETE ON handoffs "
                   "REFERENCING OLD TABLE AS changed FOR EACH STATEMENT "
                   "EXECUTE FUNCTION handoff_count_removed()")
        op.execute(PG_EMPTIED)
        op.execute("CREATE TRIGGER handoff_count_emptied AFTER TRUNCATE ON handoffs "
                   "FOR EACH STATEMENT EXECUTE FUNCTION handoff_count_emptied()")
    else:
        op.execute("CREATE TRIGGER handoff_count_insert AFTER INSERT ON handoffs BEGIN "
                   "UPDATE handoff_counts SET n = n + 1 WHERE shard = 0; END")
        op.execute("CREATE TRIGGER handoff_count_delete AFTER DELETE ON handoffs BEGIN "
                   "UPDATE handoff_counts SET n = n - 1 WHERE shard = 0; END")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for what in ("added", "removed", "emptied"):
            op.execute(f"DROP TRIGGER handoff_count_{what} ON handoffs")
            op.execute(f"DROP FUNCTION handoff_count_{what}()")
    else:
        op.execute("DROP TRIGGER handoff_count_insert")
        op.execute("DROP TRIGGER handoff_count_delete")
    op.drop_table("handoff_counts")

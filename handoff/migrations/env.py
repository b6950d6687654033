"""Alembic environment: the engine comes from the caller (``handoff.migrate``) through
``config.attributes['connection']``; nothing is read from alembic.ini."""

from alembic import context

from handoff.models import Base

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()

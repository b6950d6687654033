"""Run the Alembic migrations programmatically (``handoff db upgrade``; ``serve`` on start)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, text

MIGRATIONS = Path(__file__).parent / "migrations"


def alembic_config(engine: Engine) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["engine"] = engine
    return cfg


# any number, the same in every process: the key of the migration lock
MIGRATION_LOCK = 0x68616E64  # "hand"


def upgrade_database(engine: Engine, revision: str = "head") -> None:
    """Every process runs this at start.  On PostgreSQL, processes starting together (a
    split deployment's units) take turns behind a transaction-scoped advisory lock:
    the first migrates, the others then find the database at head.  (SQLite's
    transactions take its write lock already.)"""
    cfg = alembic_config(engine)
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK})
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)


def make_revision(engine: Engine, message: str) -> None:
    """Developer helper: autogenerate a migration from the models."""
    cfg = alembic_config(engine)
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.revision(cfg, message=message, autogenerate=True)

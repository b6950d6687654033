"""A real PostgreSQL for the tests (TESTING.md's recipe): a cluster in a temporary
directory owned by ``postgres``, on a free port, stopped by its own ``pg_ctl``."""

from __future__ import annotations

import itertools
import os
import shutil
import socket
import subprocess
from dataclasses import dataclass
from pathlib import Path

BIN = Path(os.environ.get("HANDOFF_PG_BIN", "/usr/lib/postgresql/15/bin"))
_names = itertools.count(1)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _as_postgres(*argv: str) -> list[str]:
    if os.geteuid() == 0:  # PostgreSQL refuses to run as root
        return ["runuser", "-u", "postgres", "--", *argv]
    return list(argv)


@dataclass
class PostgresServer:
    root: Path
    port: int

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    @classmethod
    def start(cls, durable: bool = False) -> "PostgresServer":
        """In a directory of its own under the system temp dir: pytest's are private to
        root, and the ``postgres`` user must reach its data directory.  ``durable``: with
        fsync, as in production (the benchmarks); the tests run without."""
        import tempfile

        if not (BIN / "initdb").exists():
            import pytest

            pytest.skip(f"PostgreSQL is not installed ({BIN}/initdb)")
        root = Path(tempfile.mkdtemp(prefix="handoff-pg-"))
        root.chmod(0o755)
        if os.geteuid() == 0:
            shutil.chown(root, "postgres")
        port = _free_port()
        subprocess.run(_as_postgres(str(BIN / "initdb"), "-D", str(root / "data"), "-A",
                                    "trust", "-U", "postgres"),
                       check=True, capture_output=True)
        subprocess.run(_as_postgres(
            str(BIN / "pg_ctl"), "-D", str(root / "data"), "-w", "-l", str(root / "log"),
            "-o", f"-p {port} -k {root} -c listen_addresses=127.0.0.1 "
                  f"-c fsync={'on' if durable else 'off'} -c max_connections=200", "start"),
            check=True, capture_output=True)
        return cls(root, port)

    def stop(self) -> None:
        subprocess.run(_as_postgres(str(BIN / "pg_ctl"), "-D", str(self.root / "data"),
                                    "-m", "fast", "stop"), capture_output=True)
        shutil.rmtree(self.root, ignore_errors=True)

    @staticmethod
    def _admin(url: str, *statements: str) -> None:
        import psycopg

        plain = url.replace("postgresql+psycopg://", "postgresql://")
        with psycopg.connect(plain, autocommit=True) as conn:
            for statement in statements:
                conn.execute(statement)  # type: ignore[arg-type]

    @classmethod
    def make_template(cls, url: str, name: str) -> None:
        from handoff.db import make_engine
        from handoff.migrate import upgrade_database

        cls._admin(url, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)",
                   f"CREATE DATABASE {name}")
        engine = make_engine(url.rsplit("/", 1)[0] + f"/{name}")
        upgrade_database(engine)
        engine.dispose()

    @classmethod
    def copy_template(cls, url: str, template: str) -> str:
        name = f"t{os.getpid()}_{next(_names)}"
        cls._admin(url, f"CREATE DATABASE {name} TEMPLATE {template}")
        return url.rsplit("/", 1)[0] + f"/{name}"

    @classmethod
    def drop(cls, url: str, db_url: str) -> None:
        cls._admin(url, f"DROP DATABASE IF EXISTS {db_url.rsplit('/', 1)[1]} WITH (FORCE)")

"""Settings follow SPEC 11; the schema is what the Alembic migrations make."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from handoff.db import make_engine
from handoff.errors import ConfigError
from handoff.migrate import upgrade_database
from handoff.models import Base
from handoff.settings import load_settings
from tests.conftest import handoff_mail


def test_embedded_defaults_are_those_of_spec_11(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    s = load_settings(environ={})
    assert (s.smtp_host, s.smtp_port, s.web_host, s.web_port) == ("127.0.0.1", 2525,
                                                                  "127.0.0.1", 8025)
    assert s.data_dir == tmp_path / "var"
    assert s.database_url == f"sqlite:///{tmp_path / 'var' / 'handoff.db'}"
    assert s.base_url == "http://127.0.0.1:8025"
    assert s.service_address == "handoff@localhost" and s.domains == ("localhost",)
    assert s.smarthost == "" and s.timezone == "UTC"
    # the dev secret is generated once into the data directory and reused
    assert len(s.secret_key) == 64
    assert load_settings(environ={}).secret_key == s.secret_key
    assert (tmp_path / "var" / "secret_key").stat().st_mode & 0o077 == 0


def test_environment_and_toml_configure_it(tmp_path):
    toml = tmp_path / "handoff.toml"
    toml.write_text('service_address = "handoff@acme.test"\ntimezone = "Europe/Berlin"\n'
                    'domains = ["acme.test", "handoff.acme.test"]\n')
    s = load_settings(environ={"HANDOFF_CONFIG": str(toml), "HANDOFF_DATA_DIR": str(tmp_path),
                               "HANDOFF_TIMEZONE": "America/New_York",
                               "HANDOFF_SMARTHOST": "mail.acme.test:587"})
    assert s.service_address == "handoff@acme.test"
    assert s.domains == ("acme.test", "handoff.acme.test")
    assert s.timezone == "America/New_York"  # the environment wins over the file
    assert s.smarthost_address == ("mail.acme.test", 587)


def test_production_mode_refuses_to_start_without_a_secret(tmp_path):
    with pytest.raises(ConfigError, match="SECRET_KEY"):
        load_settings(environ={"HANDOFF_PRODUCTION": "1", "HANDOFF_DATA_DIR": str(tmp_path)})


def test_migrations_make_exactly_the_schema_the_models_describe(database_url):
    """On the backend under test: the database the migrations made (the tests' template)
    is exactly what the models describe."""
    engine = make_engine(database_url)
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert diff == []
    upgrade_database(engine)  # idempotent: serve runs it on every start
    engine.dispose()


def test_handoff_db_upgrade_and_parse_run_as_commands(tmp_path):
    env = {"HANDOFF_DATA_DIR": str(tmp_path / "var"), "PATH": "/usr/bin:/bin",
           "HANDOFF_SERVICE_ADDRESS": "handoff@acme.test"}
    up = subprocess.run([sys.executable, "-m", "handoff", "db", "upgrade"], env=env,
                        capture_output=True, text=True, check=True)
    assert "head" in up.stdout and (tmp_path / "var" / "handoff.db").exists()
    eml = tmp_path / "m.eml"
    eml.write_bytes(handoff_mail(cc="handoff@acme.test").as_bytes())
    out = subprocess.run([sys.executable, "-m", "handoff", "parse", str(eml)], env=env,
                         capture_output=True, text=True, check=True)
    reading = json.loads(out.stdout)
    assert reading["kind"] == "human" and reading["automatic"] is False
    assert reading["owner"] == "bob@corp.test"
    assert reading["packet"]["done"] == {"value": "the new cert is live", "source": "stated"}


def test_handoff_parse_stores_nothing_and_prints_one_json_object_per_file(tmp_path):
    """SPEC 11: parse reads as the service reads, without storing anything (not even a
    generated secret or a data directory)."""
    env = {"HANDOFF_DATA_DIR": str(tmp_path / "var"), "PATH": "/usr/bin:/bin",
           "HANDOFF_SERVICE_ADDRESS": "handoff@acme.test"}
    first, second = tmp_path / "a.eml", tmp_path / "b.eml"
    first.write_bytes(handoff_mail(cc="handoff@acme.test").as_bytes())
    second.write_bytes(handoff_mail(subject="Automatic reply: Renew",
                                    Auto_Submitted="auto-replied").as_bytes())
    out = subprocess.run([sys.executable, "-m", "handoff", "parse", str(first), str(second)],
                         env=env, capture_output=True, text=True, check=True)
    readings = [json.loads(line) for line in out.stdout.splitlines()]
    assert [(r["kind"], r["automatic"]) for r in readings] == [("human", False),
                                                                ("autoreply", True)]
    for reading in readings:
        assert set(reading) >= {"kind", "automatic", "owner", "packet", "problems"}
        for field in reading["packet"].values():
            assert field["source"] in ("stated", "inferred")
    assert not (tmp_path / "var").exists()


def test_secrets_are_not_in_the_settings_repr(tmp_path):
    """A settings object in a log line or a traceback shows no key or password."""
    from handoff.settings import load_settings

    settings = load_settings(environ={
        "HANDOFF_SECRET_KEY": "k-secret-1", "HANDOFF_SMARTHOST_PASSWORD": "smtp-pw-2",
        "HANDOFF_IMAP_URL": "imaps://u:imap-pw-3@imap.test/INBOX",
        "HANDOFF_MAILGUN_SIGNING_KEY": "mg-4", "HANDOFF_POSTMARK_AUTH": "pm:pw-5"},
        data_dir=tmp_path / "var")
    shown = repr(settings)
    assert "handoff@localhost" in shown
    assert not any(s in shown for s in ("k-secret-1", "smtp-pw-2", "imap-pw-3", "mg-4", "pw-5"))

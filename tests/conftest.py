"""Real parts for tests: SQLite files, handoff's own SMTP server on a free port, a real
aiosmtpd smarthost that records what it receives, an injected clock."""

from __future__ import annotations

import os
import shutil
import smtplib
import socket
import subprocess
import threading
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any, Iterator

import pytest
from aiosmtpd.controller import Controller

from handoff.cli import Service
from handoff.db import make_engine, make_session_factory
from handoff.migrate import upgrade_database
from handoff.settings import Settings, load_settings

SERVICE = "handoff@acme.test"

# The shared mail corpus (real mails of other projects' fixtures): beside the repository
# in the project's workspace, or where HANDOFF_CORPUS says.  A bare clone has none.
CORPUS = Path(os.environ.get("HANDOFF_CORPUS")
              or Path(__file__).resolve().parents[2] / "shared" / "corpus")


@pytest.fixture
def corpus(request: pytest.FixtureRequest) -> Path:
    """The corpus directory; a test that uses it is skipped where there is none (a bare
    clone), and that skip fails the run under HANDOFF_REQUIRE_REAL=1 (CI)."""
    request.applymarker(pytest.mark.corpus)
    if not (CORPUS / "manifest.tsv").is_file():
        pytest.skip(f"no mail corpus at {CORPUS} (set HANDOFF_CORPUS)")
    return CORPUS


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Clock:
    """The injected clock: tests move time, nobody sleeps."""

    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kwargs: float) -> None:
        self.now += timedelta(**kwargs)


@pytest.fixture
def clock() -> Clock:
    return Clock(datetime(2026, 11, 23, 9, 30, tzinfo=timezone.utc))  # a Monday


# The suite runs on SQLite, and again on PostgreSQL with HANDOFF_TEST_DATABASE=postgresql
# (`make test` does both).  Tests of something only SQLite has are marked sqlite_only.
BACKEND = os.environ.get("HANDOFF_TEST_DATABASE", "sqlite")


@pytest.fixture(scope="session")
def migrated_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One SQLite file at the head revision, copied for every test (migrations run once)."""
    path = tmp_path_factory.mktemp("template") / "handoff.db"
    engine = make_engine(f"sqlite:///{path}")
    upgrade_database(engine)
    engine.dispose()  # closing the last connection checkpoints the WAL into the file
    return path


@pytest.fixture(scope="session")
def postgres(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real PostgreSQL server (``HANDOFF_TEST_PG_URL``, or one started here as the
    ``postgres`` user, since it refuses to run as root), with a migrated template
    database every test copies."""
    from tests.pg import PostgresServer

    url = os.environ.get("HANDOFF_TEST_PG_URL")
    server = None
    if not url:
        server = PostgresServer.start()
        url = server.url
    PostgresServer.make_template(url, "handoff_template")
    yield url
    if server is not None:
        server.stop()


@pytest.fixture
def database_url(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[str]:
    """A fresh database at the head revision, on the backend under test."""
    if BACKEND == "postgresql":
        from tests.pg import PostgresServer

        base = request.getfixturevalue("postgres")
        url = PostgresServer.copy_template(base, "handoff_template")
        yield url
        PostgresServer.drop(base, url)
        return
    template = request.getfixturevalue("migrated_db")
    (tmp_path / "var").mkdir(exist_ok=True)
    shutil.copy(template, tmp_path / "var" / "handoff.db")
    yield f"sqlite:///{tmp_path / 'var' / 'handoff.db'}"


def stored_handoff(sessions: Any, hid: int = 1) -> Any:
    """Handoff ``hid`` as committed now (a session of its own)."""
    from handoff.models import Handoff

    with sessions() as session:
        found = session.get(Handoff, hid)
        assert found is not None, f"no handoff {hid}"
        return found


def event_kinds(sessions: Any, hid: int = 1) -> list[str]:
    """The kinds of handoff ``hid``'s timeline events, in order."""
    from sqlalchemy import select

    from handoff.models import Event

    with sessions() as session:
        return list(session.scalars(select(Event.kind).where(Event.handoff_id == hid)
                                    .order_by(Event.id)))


def make_settings(tmp_path: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = dict(
        data_dir=tmp_path / "var", service_address=SERVICE, secret_key="test-secret-key",
        smtp_port=0, web_port=0, timezone="Europe/Berlin")
    values.update(overrides)
    return load_settings(environ={}, **values)


def process_env(tmp_path: Path, database_url: str, **settings: str) -> dict[str, str]:
    """The environment of a real ``handoff <command>`` process a test starts: this one
    without any HANDOFF_ variable of its own, the database, data directory, service
    address and key, and ``settings`` (``SMARTHOST="127.0.0.1:2525"`` for
    HANDOFF_SMARTHOST)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("HANDOFF_")}
    env.update(HANDOFF_DATABASE_URL=database_url, HANDOFF_DATA_DIR=str(tmp_path / "var"),
               HANDOFF_SERVICE_ADDRESS=SERVICE, HANDOFF_SECRET_KEY="k" * 32,
               PYTHONUNBUFFERED="1")
    env.update({f"HANDOFF_{name}": value for name, value in settings.items()})
    return env


def settings_from_toml(tmp_path: Path, database_url: str, toml: str) -> Settings:
    """Settings read from a ``handoff.toml`` holding ``toml`` (HANDOFF_CONFIG), the
    service in Berlin."""
    config = tmp_path / "handoff.toml"
    config.write_text(toml)
    return load_settings(environ={"HANDOFF_CONFIG": str(config)}, data_dir=tmp_path / "var",
                         service_address=SERVICE, secret_key="k", database_url=database_url,
                         timezone="Europe/Berlin")


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    return make_settings(tmp_path, database_url=database_url)


@pytest.fixture
def sessions(settings: Settings) -> Iterator[Any]:
    engine = make_engine(settings.database_url)
    yield make_session_factory(engine)
    engine.dispose()


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    message: EmailMessage
    raw: bytes


@dataclass
class SinkHandler:
    received: list[Received] = field(default_factory=list)
    cond: threading.Condition = field(default_factory=threading.Condition)
    answers: list[str] = field(default_factory=list)  # scripted replies, then 250

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.answers:
            return self.answers.pop(0)
        msg = message_from_bytes(envelope.original_content, policy=policy.default)
        with self.cond:
            self.received.append(Received(envelope.mail_from, list(envelope.rcpt_tos),
                                          msg, envelope.original_content))  # type: ignore
            self.cond.notify_all()
        return "250 OK"


class Sink:
    """A real SMTP smarthost that records every mail it is given."""

    def __init__(self) -> None:
        self.handler = SinkHandler()
        self.port = free_port()
        self.controller = Controller(self.handler, hostname="127.0.0.1", port=self.port)

    @property
    def received(self) -> list[Received]:
        return self.handler.received

    def wait_for(self, count: int, timeout: float = 10) -> list[Received]:
        with self.handler.cond:
            ok = self.handler.cond.wait_for(lambda: len(self.handler.received) >= count,
                                            timeout)
        assert ok, f"expected {count} mails at the smarthost, got {len(self.received)}"
        return list(self.received)

    def to(self, address: str) -> list[EmailMessage]:
        return [r.message for r in self.received if address in r.rcpt_tos]


@pytest.fixture
def sink() -> Iterator[Sink]:
    s = Sink()
    s.controller.start()
    yield s
    s.controller.stop()


@pytest.fixture
def running(tmp_path: Path, database_url: str, sink: Sink, clock: Clock) -> Iterator[Service]:
    """``handoff serve``'s parts, for real, on free ports, delivering to the sink."""
    web_port = free_port()
    settings = make_settings(tmp_path, smarthost=f"127.0.0.1:{sink.port}", web_port=web_port,
                             base_url=f"http://127.0.0.1:{web_port}", database_url=database_url)
    service = Service(settings, clock=clock).start()
    yield service
    service.stop()


def handoff_mail(
    *,
    sender: str = "Ana Example <ana@corp.test>",
    to: str = "Bob Builder <bob@corp.test>",
    cc: str | None = SERVICE,
    subject: str = "Renew the TLS certificate",
    body: str = "Hi Bob,\n\nplease renew the certificate.\n\nDone when: the new cert is live\n"
                "Deadline: Friday 5pm\n",
    message_id: str = "<m1@corp.test>",
    date: str = "Mon, 23 Nov 2026 10:00:00 +0100",
    **headers: str,
) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = sender
    if to:
        msg["To"] = to
    if cc:
        msg["Cc"] = cc
    msg["Subject"] = subject
    msg["Date"] = date
    msg["Message-ID"] = message_id
    for name, value in headers.items():
        msg[name.replace("_", "-")] = value
    msg.set_content(body)
    return msg


def reply_to(mail: EmailMessage, body: str, *, sender: str, message_id: str,
             **headers: str) -> EmailMessage:
    """A person's reply to one of our mails: to its Reply-To (the minted address),
    threaded to it by In-Reply-To."""
    msg = handoff_mail(sender=sender, to=str(mail["Reply-To"]), cc=None,
                       subject=f"Re: {mail['Subject']}", body=body, message_id=message_id,
                       **headers)
    msg["In-Reply-To"] = mail["Message-ID"]
    return msg


def wait_until(condition: Any, timeout: float = 10.0) -> Any:
    """Wait for ``condition()`` to be truthy (a condition, not a clock: returns at once
    when it holds), failing after ``timeout`` seconds."""
    import time

    deadline = time.monotonic() + timeout
    pause = threading.Event()
    while True:
        value = condition()
        if value or time.monotonic() > deadline:
            return value
        pause.wait(0.02)


def send(service: Service, msg: EmailMessage, rcpt: list[str] | None = None,
         mail_from: str | None = None) -> Any:
    with smtplib.SMTP("127.0.0.1", service.smtp.port) as client:
        return client.send_message(msg, from_addr=mail_from, to_addrs=rcpt or [SERVICE])


class Flow:
    """Drive the worker and the dev outbox in-process, with the injected clock: mail in,
    mail out, no threads.  ``submit`` returns the mails the change caused."""

    def __init__(self, settings: Settings, sessions: Any, clock: Clock) -> None:
        from mailer.deliver import Deliverer

        self.settings, self.sessions, self.clock = settings, sessions, clock
        self.deliverer = Deliverer(settings, sessions, clock)
        self.seen: set[Path] = set()

    def submit(self, msg: EmailMessage | bytes, rcpt: list[str] | None = None,
               mail_from: str = "ana@corp.test") -> list[EmailMessage]:
        from handoff.inbound_queue import process_pending
        from handoff.intake import receive_message

        raw = msg if isinstance(msg, bytes) else msg.as_bytes()
        receive_message(self.sessions, raw, mail_from=mail_from, rcpt_tos=rcpt or [SERVICE],
                        source="smtp", now=self.clock())
        process_pending(self.sessions, self.settings, self.clock)
        return self.flush()

    def flush(self) -> list[EmailMessage]:
        self.deliverer.deliver_pending()
        new = sorted(set(self.settings.outbox_dir.glob("*.eml")) - self.seen)
        self.seen.update(new)
        return [message_from_bytes(p.read_bytes(), policy=policy.default)  # type: ignore
                for p in new]


def mail_to(mails: list[EmailMessage], address: str) -> EmailMessage:
    found = [m for m in mails if address in str(m["To"])]
    assert len(found) == 1, f"expected one mail to {address}, got {[str(m['To']) for m in mails]}"
    return found[0]


def links_of(mail: EmailMessage) -> dict[str, str]:
    """Button label -> path of the action link, read from the mail's text part."""
    import re

    text = mail.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    return {label: path for label, path in
            re.findall(r"^\s+([A-Z][a-z ]+): https?://[^/]+(/a/[\w-]+)$", text, re.M)}


@pytest.fixture
def flow(settings: Settings, sessions: Any, clock: Clock) -> Flow:
    return Flow(settings, sessions, clock)


@pytest.fixture
def client(settings: Settings, sessions: Any, clock: Clock) -> Any:
    from web import create_app

    return create_app(settings, sessions, clock=clock).test_client()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: Any, call: Any) -> Iterator[None]:
    """Under ``HANDOFF_REQUIRE_REAL=1`` (CI), a skipped real-server or corpus test is a
    failure: a missing browser, server or corpus must never pass as green."""
    import os

    outcome = yield
    report = outcome.get_result()  # type: ignore[attr-defined]
    if (report.skipped and os.environ.get("HANDOFF_REQUIRE_REAL") == "1"
            and (item.get_closest_marker("realserver") is not None
                 or item.get_closest_marker("corpus") is not None
                 or BACKEND == "postgresql")):
        report.outcome = "failed"
        report.longrepr = f"real-server test skipped under HANDOFF_REQUIRE_REAL=1: {report.longrepr}"


def run_at_once(argv: list[str], env: dict[str, str],
                count: int = 2) -> list[subprocess.CompletedProcess[str]]:
    """``count`` processes of ``argv`` started at the same instant (a barrier), as two
    chasers or workers racing on one database would be; their results, in order done."""
    start = threading.Barrier(count)
    results: list[subprocess.CompletedProcess[str]] = []

    def run() -> None:
        start.wait()
        results.append(subprocess.run(argv, env=env, capture_output=True, text=True))

    threads = [threading.Thread(target=run) for _ in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert all(r.returncode == 0 for r in results), [r.stderr[-500:] for r in results]
    return results


@pytest.fixture
def web(settings: Settings, sessions: Any, clock: Clock) -> Iterator[str]:
    """The app on a real HTTP server on a free port, on the injected clock: its URL."""
    from werkzeug.serving import make_server

    from web import create_app

    server = make_server("127.0.0.1", 0, create_app(settings, sessions, clock=clock),
                         threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join()

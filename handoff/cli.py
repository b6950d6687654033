"""The ``handoff`` command: the composition root.

The only module of ``handoff/`` that imports the adapters (``mailer``, ``web``,
``webhooks``): it builds the settings, the database, and starts the parts.
"""

from __future__ import annotations

import json
import logging
import signal
import sys
import threading
import time
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Sequence

from sqlalchemy import select, text

from handoff.db import SessionFactory, make_engine, make_session_factory
from handoff.errors import HandoffError
from handoff.chase import ChaseLine, check_chase_settings, run_chase_pass
from handoff.cli_parser import build_parser
from handoff.foreground import Foreground
from handoff.guards import Envelope
from handoff.health import ProcessHealth, queue_states
from handoff.inbound_queue import end_leases, process_pending, retry_failed
from handoff.intake import read_message, warm_up
from handoff.migrate import upgrade_database
from handoff.parsing import parse_message
from handoff.settings import Settings, load_settings
from handoff.telemetry import Telemetry
from handoff.wakeups import INBOUND, OUTBOX, quiet_here, wake_listeners
from handoff.workflows import check_workflows

log = logging.getLogger("handoff")


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


class WorkerLoop:
    """Runs ``step`` whenever woken, or every ``idle`` seconds; ``step`` returns how much
    it did, and the loop goes again at once while there is work."""

    def __init__(self, name: str, step: Callable[[], int], idle: float = 0.5,
                 after: Callable[[], None] | None = None,
                 foreground: Foreground | None = None, quiet: tuple[str, ...] = ()) -> None:
        self.name, self.step, self.idle, self.after = name, step, idle, after
        self.quiet = quiet  # wakeups this loop's thread gives itself, never by NOTIFY
        self.foreground = foreground  # step aside for it before each step
        self.wake = threading.Event()
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._run, name=name, daemon=True)
        self.last_progress: float | None = None  # monotonic: a step last did something

    def _run(self) -> None:
        quiet_here(*self.quiet)
        while not self.stopping.is_set():
            self.wake.clear()
            if self.foreground is not None:
                self.foreground.wait_quiet(self.stopping)
            try:
                did = self.step()
            except Exception:  # process boundary: log, keep the loop alive
                log.exception("%s step failed", self.name)
                did = 0
            if did:
                self.last_progress = time.monotonic()
            if did and self.after is not None:
                self.after()
            if not did:
                self.wake.wait(self.idle)

    def start(self) -> "WorkerLoop":
        self.thread.start()
        return self

    def stop(self) -> None:
        self.stopping.set()
        self.wake.set()
        self.thread.join(10)

    @property
    def alive(self) -> bool:
        return self.thread.is_alive()


class Service:
    """The parts of ``handoff serve`` (or a subset), started and stopped together."""

    def __init__(self, settings: Settings, *, smtp: bool = True, web: bool = True,
                 workers: bool = True, imap: bool | None = None,
                 clock: Callable[[], datetime] = utcnow) -> None:
        self.settings = settings
        self.clock = clock
        self.engine = make_engine(settings.database_url)
        self.sessions: SessionFactory = make_session_factory(self.engine)
        # this process's /metrics: every part counts into it (handoff/telemetry.py)
        self.telemetry = Telemetry.for_process(self.sessions, clock)
        self.want_smtp, self.want_web, self.want_workers = smtp, web, workers
        # the IMAP door: in serve when a mailbox is configured; `handoff imap` alone
        if imap is None:
            from mailer.imap import imap_account  # ConfigError here: at start, not later

            imap = smtp and web and workers and imap_account(settings) is not None
        self.want_imap = imap
        self.imap: Any = None
        self.loops: list[WorkerLoop] = []
        self.wakeups: Any = None  # wakeups.Listener on PostgreSQL
        self.smtp: Any = None
        self.web_server: Any = None
        self._stopping = threading.Event()
        self.web_port: int | None = None

    def start(self) -> "Service":
        from mailer.deliver import Deliverer
        from mailer.smtp_server import InboundHandler, SMTPListener

        upgrade_database(self.engine)
        settings = self.settings
        check_workflows(settings)  # a typo in [workflows] fails at start, not at a mail
        check_chase_settings(settings)
        # With the listener in this process, workers give way to its transactions; the
        # GIL is handed over every millisecond instead of every five, so a listener
        # waiting for it answers a command promptly while a worker computes.
        foreground = Foreground() if self.want_smtp and self.want_workers else None
        if foreground is not None:
            sys.setswitchinterval(0.001)
        if self.want_workers:
            from webhooks.events import EventDeliverer

            warm_up(settings, self.clock())
            end_leases(self.sessions, self.clock())  # SQLite: takes of a process now gone
            deliverer = Deliverer(settings, self.sessions, self.clock, telemetry=self.telemetry)
            events = EventDeliverer(settings, self.sessions, self.clock)  # checks [[webhooks]]
            outbox = WorkerLoop("outbox", lambda: deliverer.deliver_pending(limit=10),
                                idle=settings.worker_poll, foreground=foreground)
            gate = (lambda: foreground.wait_quiet()) if foreground is not None else None
            # event webhooks: woken after the steps that make events; the poll catches
            # the web's actions (another thread, or another process)
            hooks = WorkerLoop("webhooks", events.deliver_pending, idle=5.0,
                               foreground=foreground)

            def wake_senders() -> None:
                outbox.wake.set()
                hooks.wake.set()

            inbound = WorkerLoop(
                "inbound", lambda: process_pending(self.sessions, settings, self.clock,
                                                   limit=20, before_each=gate,
                                                   telemetry=self.telemetry),
                idle=settings.worker_poll, after=wake_senders, quiet=(OUTBOX,))
            chaser = WorkerLoop(
                "chaser", lambda: self.telemetry.time_chase_pass(
                    lambda: run_chase_pass(self.sessions, settings, self.clock())),
                idle=60.0, after=wake_senders, foreground=foreground, quiet=(OUTBOX,))
            self.loops = [inbound.start(), outbox.start(), chaser.start(), hooks.start()]
            # PostgreSQL: stored mail and queued mail from other processes wake us
            self.wakeups = wake_listeners(settings.database_url,
                                          {INBOUND: inbound.wake, OUTBOX: outbox.wake})
        if self.want_smtp:
            handler = InboundHandler(settings, self.sessions, on_stored=self._on_stored(),
                                     clock=self.clock, foreground=foreground,
                                     telemetry=self.telemetry)
            self.smtp = SMTPListener(handler, settings.smtp_host, settings.smtp_port,
                                     data_size_limit=settings.max_message_size,
                                     hostname=settings.service_domain).start()
        if self.want_imap:
            from mailer.imap import ImapWatcher

            self.imap = ImapWatcher(settings, self.sessions, self.clock,
                                    on_stored=self._on_stored(),
                                    telemetry=self.telemetry).start()
        if self.want_web:
            self._start_web()
        elif self.settings.health_port is not None:  # smtp, worker, imap: /healthz alone
            self._start_web(health_only=True)
        return self

    def _on_stored(self) -> Callable[[int], None] | None:
        """What a door calls after a commit: wake this process's inbound worker."""
        if not self.loops:
            return None
        wake = self.loops[0].wake

        def on_stored(_receipt: int) -> None:
            wake.set()

        return on_stored

    def _start_web(self, health_only: bool = False) -> None:
        """The status page, the action links and the provider routes; or, for a process
        without them (``health_only``), /healthz and /metrics on the health port."""
        from waitress import create_server

        from web import create_app
        from webhooks.inbound import inbound_blueprint

        settings = self.settings
        if health_only:  # the app's loopback and view-key rules follow the health port
            assert settings.health_port is not None
            settings = replace(settings, web_host=settings.health_host,
                               web_port=settings.health_port)
        app = create_app(settings, self.sessions, clock=self.clock,
                         health=self.health_report, telemetry=self.telemetry,
                         health_only=health_only)
        if not health_only:
            # the provider inbound routes (Mailgun, Postmark, SendGrid): the same door as SMTP
            app.register_blueprint(inbound_blueprint(settings, self.sessions, self.clock,
                                                     on_stored=self._on_stored(),
                                                     telemetry=self.telemetry))
        self.web_server = create_server(app, host=settings.web_host, port=settings.web_port,
                                        threads=6 if not health_only else 2, ident="handoff")
        self.web_port = self.web_server.effective_port
        self._web_thread = threading.Thread(target=self._serve_web, name="web", daemon=True)
        self._web_thread.start()

    def _serve_web(self) -> None:
        """waitress's loop; closing its sockets from ``stop()`` while it waits in select()
        ends it with EBADF, which is how it stops, not an error."""
        try:
            self.web_server.run()
        except OSError:
            if not self._stopping.is_set():
                raise

    @property
    def kind(self) -> str:
        """What this process is, as ``/healthz`` says: the command that started it."""
        if self.want_smtp and self.want_web and self.want_workers:
            return "serve"
        for kind, wanted in (("smtp", self.want_smtp), ("web", self.want_web),
                             ("worker", self.want_workers), ("imap", self.want_imap)):
            if wanted:
                return kind
        return "none"

    def health_report(self) -> ProcessHealth:
        """What the process is, its parts, and the queues it fills or empties."""
        progress = {loop.name: loop.last_progress for loop in self.loops
                    if loop.name in ("inbound", "outbox")}
        fills = ["inbound"] if (self.want_smtp or self.want_imap) and not progress else []
        queues = queue_states(self.sessions, self.clock(), progress, fills,
                              lambda t: time.monotonic() - t)
        # the wake-ups are shown but not required: polling still moves the queues
        notes = {"wakeups": self.wakeups.listening} if self.wakeups is not None else {}
        return ProcessHealth(self.kind, self.health(), queues, notes)

    def health(self) -> dict[str, bool]:
        parts: dict[str, bool] = {}
        try:
            with self.engine.connect() as conn:
                conn.execute(text("SELECT 1"))
            parts["database"] = True
        except Exception:
            parts["database"] = False
        if self.want_smtp:
            parts["smtp"] = bool(self.smtp and self.smtp.running)
        if self.imap is not None:
            parts["imap"] = self.imap.healthy  # down after failed runs in a row
        for loop in self.loops:
            parts[f"worker:{loop.name}"] = loop.alive
        return parts

    def stop(self) -> None:
        self._stopping.set()
        if self.smtp is not None:
            self.smtp.stop()
        if self.imap is not None:
            self.imap.stop()
        if self.web_server is not None:
            self.web_server.close()
            self._web_thread.join(5)
        if self.wakeups is not None:
            self.wakeups.stop()
        for loop in self.loops:
            loop.stop()
        self.engine.dispose()

    def describe(self) -> str:
        s = self.settings
        lines = [f"handoff is running (data in {s.data_dir})"]
        if self.smtp is not None:
            lines.append(f"  SMTP in     {s.smtp_host}:{self.smtp.port}  "
                         f"(accepts mail for {', '.join(s.domains)})")
        if self.web_server is not None and self.want_web:
            lines.append(f"  status page {s.base_url}/   (listening on {s.web_host}:{self.web_port})")
        elif self.web_server is not None:
            lines.append(f"  health      http://{s.health_host}:{self.web_port}/healthz  "
                         "(and /metrics)")
        if self.imap is not None:
            account = self.imap.account
            lines.append(f"  IMAP in     {account.mailbox}  (read messages move to "
                         f"{s.imap_move_to})")
        if self.loops:
            out = f"smarthost {s.smarthost}" if s.smarthost else f"dev outbox {s.outbox_dir}"
            lines.append(f"  mail out    {out}")
        lines.append(f"  database    {s.database_url.split('@')[-1]}")
        if self.smtp is not None:
            lines += [
                "",
                "Send a first handoff (Ana to Bob, the service in Cc; bash):",
                *("  " + line for line in first_handoff_command(
                    s.smtp_host, self.smtp.port, s.service_address).splitlines()),
                "  (the offer to bob appears in the dev outbox and on the status page)",
            ]
        return "\n".join(lines)


def first_handoff_command(host: str, port: int, service_address: str) -> str:
    """The swaks line ``serve`` prints (and the README shows): the headers say To: the
    owner, Cc: the service; the envelope goes to the service alone (it relays nothing)."""
    return "\n".join([
        f"swaks --server {host}:{port} --from ana@example.com --to {service_address} \\",
        f"  --header 'To: bob@example.com' --header 'Cc: {service_address}' \\",
        "  --header 'Subject: Renew the TLS certificate' \\",
        "  --body $'Done when: the new cert is live\\nDeadline: Friday 5pm'",
    ])


def _wait_for_signal() -> None:
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    stop.wait()


def cmd_run(settings: Settings, *, smtp: bool = True, web: bool = True,
            workers: bool = True, imap: bool | None = None) -> int:
    service = Service(settings, smtp=smtp, web=web, workers=workers, imap=imap).start()
    print(service.describe(), flush=True)
    try:
        _wait_for_signal()
    finally:
        service.stop()
    return 0


def cmd_db_upgrade(settings: Settings) -> int:
    upgrade_database(make_engine(settings.database_url))
    print(f"database at head: {settings.database_url.split('@')[-1]}")
    return 0


def read_file(settings: Settings, path: Path) -> dict[str, Any]:
    """How the service reads one message, without storing anything (SPEC 11): the
    worker's own ``read_message``, with the envelope sender taken from Return-Path."""
    raw = path.read_bytes()
    parsed = parse_message(raw)
    # The envelope sender, where the delivering server wrote it down; else unknown
    # (not null: a file without Return-Path says nothing about the envelope).
    return_path = parsed.headers.get("return-path")
    sender = return_path.strip().strip("<>") if return_path is not None else None
    reading = read_message(settings, raw, Envelope(sender, (settings.service_address,)),
                           utcnow())
    packet = reading.packet
    return {
        "file": str(path),
        "automatic": reading.verdict.automatic,
        "kind": reading.verdict.kind,
        "reason": reading.verdict.reason,
        "owner": packet.owner[1] if packet.owner else None,
        "packet": packet.fields,
        "problems": packet.problems,
    }


def cmd_parse(settings: Settings, files: list[str]) -> int:
    for name in files:
        print(json.dumps(read_file(settings, Path(name)), ensure_ascii=False, default=str))
    return 0


def cmd_inbound_retry(settings: Settings) -> int:
    sessions = make_session_factory(make_engine(settings.database_url))
    print(f"{retry_failed(sessions)} failed message(s) queued again")
    return 0


def cmd_chase(settings: Settings, now: datetime, dry_run: bool) -> int:
    """One pass as of ``now``; its mail is due at once, and this command sends what is
    due itself (as an outbox worker would; a running one may get there first), then
    says of each line what became of it: sent, sending (by another worker), queued (to
    be retried) or failed."""
    engine = make_engine(settings.database_url)
    upgrade_database(engine)
    sessions = make_session_factory(engine)
    lines = run_chase_pass(sessions, settings, now, dry_run=dry_run, due_at=utcnow())
    fates = {} if dry_run else _send_chase_mail(settings, sessions, lines)
    for line in lines:
        if dry_run:
            verb = "would close" if line.kind == "auto_close" else "would send"
        elif line.kind == "auto_close":
            verb = "closed"
        else:
            verb = fates.get(line.mail_id or 0, "queued")
        print(f"{verb} {line}")
    if not lines:
        print("nothing due")
    if "queued" in fates.values():
        print("queued mail is sent by the outbox of `handoff serve` or `handoff worker` "
              "(the smarthost did not take it now; see the status page)")
    engine.dispose()
    return 0


def _send_chase_mail(settings: Settings, sessions: SessionFactory,
                     lines: list[ChaseLine]) -> dict[int, str]:
    """Deliver what is due until the pass's mails have left or nothing more is due;
    return each of the pass's mails' status: sent, sending, queued or failed."""
    from handoff.models import OutboxMail
    from mailer.deliver import Deliverer

    ids = {line.mail_id for line in lines if line.mail_id is not None}
    deliverer = Deliverer(settings, sessions, utcnow)

    def fates() -> dict[int, str]:
        with sessions() as session:
            rows = session.execute(select(OutboxMail.id, OutboxMail.status,
                                          OutboxMail.attempts)
                                   .where(OutboxMail.id.in_(ids)))
            # "sending": another outbox worker (a running service) has it in hand, also
            # while its claim is not yet committed (queued, never tried, skipped locked)
            return {mail_id: "sending" if status == "queued" and not attempts else status
                    for mail_id, status, attempts in rows}

    while ids and set(fates().values()) & {"queued", "sending"} and \
            deliverer.deliver_pending(limit=50):
        pass
    return fates() if ids else {}


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    # aiosmtpd logs every SMTP command at INFO: a line per command costs more than storing
    # the mail, and our own 451/550 lines say what matters.
    logging.getLogger("mail.log").setLevel(logging.WARNING)
    try:
        settings = load_settings(read_only=args.command == "parse")
        if args.command == "serve":
            return cmd_run(settings)
        if args.command == "smtp":
            return cmd_run(settings, web=False, workers=False)
        if args.command == "web":
            return cmd_run(settings, smtp=False, workers=False)
        if args.command == "worker":
            return cmd_run(settings, smtp=False, web=False)
        if args.command == "imap":
            return cmd_run(settings, smtp=False, web=False, workers=False, imap=True)
        if args.command == "db":
            return cmd_db_upgrade(settings)
        if args.command == "parse":
            return cmd_parse(settings, args.files)
        if args.command == "chase":
            return cmd_chase(settings, args.now, args.dry_run)
        if args.command == "inbound":
            return cmd_inbound_retry(settings)
    except HandoffError as exc:
        print(f"handoff: {exc}", file=sys.stderr)
        return 2
    return 1


if __name__ == "__main__":
    sys.exit(main())

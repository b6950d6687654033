"""The ``handoff`` command line: its commands, their options and their help, written for
operators.  ``handoff.cli`` runs what the line asks for."""

from __future__ import annotations

import argparse
from datetime import datetime, timezone


def read_instant(value: str) -> datetime:
    try:
        when = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not an ISO-8601 instant: {value!r}") from exc
    if when.tzinfo is None:
        raise argparse.ArgumentTypeError(f"{value!r} has no offset: add Z or +01:00")
    return when.astimezone(timezone.utc)


DESCRIPTION = """\
Email-native handoffs: people hand work to a colleague by CCing the service address;
handoff tracks each handoff's owner, mails them accept / need info / done links, chases
what goes unanswered and shows everything on a read-only status page."""

EPILOG = """\
Configuration comes from HANDOFF_* environment variables, or a TOML file named by
HANDOFF_CONFIG (HANDOFF_DATA_DIR, HANDOFF_DATABASE_URL, HANDOFF_SMTP_PORT,
HANDOFF_WEB_PORT, HANDOFF_SERVICE_ADDRESS, HANDOFF_SMARTHOST, HANDOFF_SECRET_KEY, ...).
With none set, serve keeps its data in ./var, listens on 127.0.0.1 (SMTP 2525, web
8025) and writes outgoing mail to ./var/outbox. See README.md and docs/deploy.md."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="handoff", description=DESCRIPTION, epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, summary: str, details: str = "") -> argparse.ArgumentParser:
        return sub.add_parser(name, help=summary, description=details or summary)

    command("serve", "run everything in one process: SMTP, status page, workers (and IMAP "
                     "when a mailbox is configured)",
            "Run the whole service: the SMTP listener, the status page and action links, "
            "the workers that read mail, send mail and chase, and the IMAP watcher when "
            "HANDOFF_IMAP_URL is set. Stops cleanly on Ctrl-C or SIGTERM.")
    command("smtp", "run only the SMTP listener (mail in); for several processes sharing "
                    "one PostgreSQL database")
    command("web", "run only the status page and the action links")
    command("worker", "run only the workers: reading stored mail, sending mail, chasing, "
                      "event webhooks")
    command("imap", "run only the IMAP watcher of the mailbox in HANDOFF_IMAP_URL")
    db = command("db", "manage the database schema",
                 "upgrade: bring the database to the schema this version needs (serve "
                 "does it at start; run it before starting separate smtp/web/worker "
                 "processes)")
    db.add_argument("action", choices=["upgrade"], help="upgrade the schema to this version")
    parse = command("parse", "show how messages would be read, as JSON, storing nothing",
                    "Read .eml files as the service would (automatic or a person's, the "
                    "owner, the packet's fields, problems) and print one JSON object per "
                    "file. Nothing is stored and no mail is sent.")
    parse.add_argument("files", nargs="+", metavar="FILE.eml")
    chase = command("chase", "run one chase pass as of an instant and send its reminders",
                    "Run one chase pass as of --now: reminders, escalations and auto-closes "
                    "that are due by then are made and sent at once (each line says sent, "
                    "sending, queued or failed). A running serve or worker runs a pass "
                    "every minute by itself; use this to catch up, or with --dry-run to try a "
                    "policy.")
    chase.add_argument("--now", required=True, type=read_instant, metavar="INSTANT",
                       help="ISO-8601 instant with an offset, e.g. 2026-11-24T10:00:00Z")
    chase.add_argument("--dry-run", action="store_true",
                       help="print what would be sent; change and send nothing")
    inbound = command("inbound", "manage stored incoming mail",
                      "retry: queue again every incoming message that failed to process "
                      "(the status page lists them with their error)")
    inbound.add_argument("action", choices=["retry"],
                         help="queue failed messages for another try")
    return parser

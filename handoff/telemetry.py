"""What ``/metrics`` says (SPEC 9), in the Prometheus text format of ``prometheus_client``.

Two kinds of figures, kept apart on purpose:

* **Events in this process** (counters, histograms): messages a door took or refused,
  messages the worker interpreted and how long after arrival, mails sent, deferred or
  failed, chase passes and their duration.  Each process counts its own; Prometheus
  sums them (``sum without(instance)``).  On the SMTP listener's path a count is one
  in-memory increment, never a query.
* **The state of the database** (gauges read at scrape time by :class:`DatabaseCollector`):
  handoffs by status, the inbound queue and the outbox, and the age of what waits in
  them.  Every process that shares the database reports the same values; take
  ``max without(instance)``, never the sum.

Each :class:`Telemetry` has a registry of its own, never ``prometheus_client``'s global
one: a process builds one (``handoff.cli.Service``) and hands it to its parts, and tests
build many side by side.
"""

from __future__ import annotations

from datetime import datetime
from time import perf_counter
from typing import Any, Callable, Iterable, Protocol, Sequence

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.platform_collector import PlatformCollector
from prometheus_client.process_collector import ProcessCollector
from prometheus_client.registry import Collector
from sqlalchemy import func, select
from sqlalchemy.exc import SQLAlchemyError

from handoff.db import SessionFactory
from handoff.models import Handoff, InboundMessage, OutboxMail
from handoff.states import Status

Clock = Callable[[], datetime]

# The doors, and why each may refuse (a small fixed set: a label value per reason, never
# the address or the error text).  Every pair is reported from the start, at 0.
DOORS = ("smtp", "imap", "mailgun", "postmark", "sendgrid")
PROVIDER_REFUSALS = ("not_authenticated", "bad_request", "too_large", "no_recipient",
                     "storage_failed")
REFUSALS: dict[str, tuple[str, ...]] = {
    "smtp": ("relay_denied", "unknown_mailbox", "too_large", "storage_failed",
             "internal_error"),
    "imap": (),  # the IMAP door refuses nothing: what it cannot take is stored marked
    "mailgun": PROVIDER_REFUSALS, "postmark": PROVIDER_REFUSALS,
    "sendgrid": PROVIDER_REFUSALS,
}
OUTCOMES = ("done", "ignored", "duplicate", "failed")  # intake.Outcome.status
CHASE_KINDS = ("nudge", "escalation", "auto_close")  # chase.ChaseLine.kind
INGEST_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
                  300.0, 900.0, 3600.0)
CHASE_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0)


class HasKind(Protocol):
    @property
    def kind(self) -> str: ...


class Telemetry:
    """This process's metrics in a registry of its own.  ``Telemetry()`` alone counts
    (a part built without one, say in a test, counts into a registry nobody reads);
    :meth:`for_process` adds the database gauges and the process's own figures."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self._received = Counter(
            "handoff_messages_received", "Messages a door stored (SMTP answered 250, a "
            "provider got 200, IMAP stored it), by door; counted by this process.",
            ["door"], registry=r)
        self._refused = Counter(
            "handoff_messages_refused", "Refusals by door and reason, counted by this "
            "process: an SMTP RCPT refused counts each recipient (relay_denied, "
            "unknown_mailbox), every other reason counts a message.",
            ["door", "reason"], registry=r)
        self._interpreted = Counter(
            "handoff_messages_interpreted", "Stored messages the inbound worker of this "
            "process interpreted, by outcome (failed: kept with its error, see `handoff "
            "inbound retry`).", ["outcome"], registry=r)
        self._ingest = Histogram(
            "handoff_ingest_latency_seconds", "From a message's arrival (stored) to its "
            "interpretation by this process's inbound worker.",
            buckets=INGEST_BUCKETS, registry=r)
        self._sent = Counter("handoff_mails_sent", "Mails this process's outbox worker "
                             "handed to the smarthost (or wrote to the dev outbox).",
                             registry=r)
        self._deferred = Counter("handoff_mails_deferred", "Mail sending attempts of this "
                                 "process that failed for now (4xx, smarthost down); "
                                 "retried with backoff.", registry=r)
        self._failed = Counter("handoff_mails_failed", "Mails this process's outbox worker "
                               "gave up on (5xx, rendering failed, or retries exhausted).",
                               registry=r)
        self._chase = Histogram(
            "handoff_chase_pass_duration_seconds", "Duration of this process's chase "
            "passes (its _count is the number of passes).", buckets=CHASE_BUCKETS,
            registry=r)
        self._chase_failures = Counter("handoff_chase_pass_failures", "Chase passes of "
                                       "this process that ended in an error.", registry=r)
        self._chase_results = Counter(
            "handoff_chase_results", "What this process's chase passes did: nudge and "
            "escalation mails queued (one digest per person and pass), handoffs "
            "auto-closed.", ["kind"], registry=r)
        # hot path: the children are looked up once, here
        self._by_door = {door: self._received.labels(door) for door in DOORS}
        for door, reasons in REFUSALS.items():
            for reason in reasons:
                self._refused.labels(door, reason)
        for outcome in OUTCOMES:
            self._interpreted.labels(outcome)
        for kind in CHASE_KINDS:
            self._chase_results.labels(kind)
        self.watching_database = False

    @classmethod
    def for_process(cls, sessions: SessionFactory, clock: Clock) -> "Telemetry":
        """The telemetry a process serves on ``/metrics``: its counters, the database
        gauges, and ``process_*`` / ``python_info`` (CPU, memory, open files)."""
        telemetry = cls()
        telemetry.watch_database(sessions, clock)
        ProcessCollector(registry=telemetry.registry)
        PlatformCollector(registry=telemetry.registry)
        return telemetry

    def watch_database(self, sessions: SessionFactory, clock: Clock) -> None:
        if not self.watching_database:
            self.registry.register(DatabaseCollector(sessions, clock))
            self.watching_database = True

    # the hooks, one call each at the doors and workers
    def count_received(self, door: str, count: int = 1) -> None:
        child = self._by_door.get(door) or self._received.labels(door)
        child.inc(count)

    def count_refused(self, door: str, reason: str) -> None:
        self._refused.labels(door, reason).inc()

    def count_interpreted(self, outcome: str, received_at: datetime, now: datetime) -> None:
        self._interpreted.labels(outcome).inc()
        self._ingest.observe(max(0.0, (now - received_at).total_seconds()))

    def count_deliveries(self, *, sent: int = 0, deferred: int = 0, failed: int = 0) -> None:
        self._sent.inc(sent)
        self._deferred.inc(deferred)
        self._failed.inc(failed)

    def time_chase_pass(self, run: Callable[[], Sequence[HasKind]]) -> int:
        """Run one chase pass, timed and counted; return how many lines it made."""
        started = perf_counter()
        try:
            lines = run()
        except Exception:
            self._chase_failures.inc()
            raise
        finally:
            self._chase.observe(perf_counter() - started)
        for line in lines:
            self._chase_results.labels(line.kind).inc()
        return len(lines)


class DatabaseCollector(Collector):
    """Gauges read from the database at scrape time: the same in every process that
    shares it.  Three small queries on indexed status columns; the inbound and outbox
    queries read only rows that wait (queued, processing/sending, failed), never the
    sent history.  If the database cannot be read, ``handoff_database_up`` is 0 and the
    other figures of this collector are left out (the scrape itself still answers)."""

    INBOUND_WAITING = ("queued", "processing", "failed")
    OUTBOX_WAITING = ("queued", "sending", "failed")

    def __init__(self, sessions: SessionFactory, clock: Clock) -> None:
        self.sessions, self.clock = sessions, clock

    def describe(self) -> Iterable[Metric]:
        return [*self._families(), _up(0)]  # names only: registering reads no database

    def collect(self) -> Iterable[Metric]:
        now = self.clock()
        try:
            with self.sessions() as session:
                handoffs = dict(session.execute(
                    select(Handoff.status, func.count()).group_by(Handoff.status)).all())
                inbound = {status: (count, oldest) for status, count, oldest in
                           session.execute(self._inbound_query())}
                outbox = {status: (count, due, made) for status, count, due, made in
                          session.execute(self._outbox_query())}
        except SQLAlchemyError:
            return [_up(0)]
        by_status, queue, oldest, mails, due_age, unsent_age = self._families()
        for state in Status:
            by_status.add_metric([state.value], handoffs.get(state.value, 0))
        for status in self.INBOUND_WAITING:
            queue.add_metric([status], inbound.get(status, (0, None))[0])
        # taken but not finished counts too: a hung worker's batch is mail still unread
        oldest.add_metric([], _age(now, min((row[1] for key, row in inbound.items()
                                             if key in ("queued", "processing") and row[1]),
                                            default=None)))
        for status in self.OUTBOX_WAITING:
            mails.add_metric([status], outbox.get(status, (0, None, None))[0])
        due_age.add_metric([], _age(now, outbox.get("queued", (0, None, None))[1]))
        unsent = [row[2] for key, row in outbox.items() if key in ("queued", "sending")]
        unsent_age.add_metric([], _age(now, min(unsent, default=None)))
        return [by_status, queue, oldest, mails, due_age, unsent_age, _up(1)]

    def _inbound_query(self) -> Any:
        return (select(InboundMessage.status, func.count(),
                       func.min(InboundMessage.received_at))
                .where(InboundMessage.status.in_(self.INBOUND_WAITING))
                .group_by(InboundMessage.status))

    def _outbox_query(self) -> Any:
        return (select(OutboxMail.status, func.count(), func.min(OutboxMail.next_attempt_at),
                       func.min(OutboxMail.created_at))
                .where(OutboxMail.status.in_(self.OUTBOX_WAITING))
                .group_by(OutboxMail.status))

    @staticmethod
    def _families() -> tuple[GaugeMetricFamily, ...]:
        return (
            GaugeMetricFamily("handoff_handoffs", "Handoffs by status (database-wide).",
                              labels=["status"]),
            GaugeMetricFamily("handoff_inbound_messages", "Stored inbound messages "
                              "waiting to be interpreted (queued, processing) or kept "
                              "with an error (failed); database-wide.", labels=["status"]),
            GaugeMetricFamily("handoff_inbound_oldest_queued_age_seconds", "Age of the "
                              "oldest inbound message not yet interpreted (queued, or taken "
                              "and not finished), 0 when none (database-wide)."),
            GaugeMetricFamily("handoff_outbox_mails", "Outgoing mails not sent yet "
                              "(queued, sending) or given up on (failed); database-wide.",
                              labels=["status"]),
            GaugeMetricFamily("handoff_outbox_oldest_due_age_seconds", "How long the "
                              "longest-due queued mail has been due: the outbox worker's "
                              "lag, 0 when nothing is due (database-wide)."),
            GaugeMetricFamily("handoff_outbox_oldest_unsent_age_seconds", "Age of the "
                              "oldest mail queued or being sent, retries included: mail "
                              "that is not leaving, 0 when none (database-wide)."),
        )


def _up(value: int) -> GaugeMetricFamily:
    return GaugeMetricFamily("handoff_database_up", "1 when this scrape could read the "
                             "database-wide figures, else 0.", value=value)


def _age(now: datetime, since: datetime | None) -> float:
    return 0.0 if since is None else max(0.0, (now - since).total_seconds())

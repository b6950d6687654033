"""``/metrics`` (SPEC 9, issue 11 point 6): what an operator's Prometheus scrapes from a
running service, read with ``prometheus_client``'s own parser.  Mail goes in over real
SMTP (and a provider route, and IMAP), mail goes out to a real smarthost, time moves by
the injected clock."""

from __future__ import annotations

import smtplib
import urllib.error
import urllib.request
from base64 import b64encode
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterator

import pytest
from prometheus_client import CONTENT_TYPE_LATEST
from prometheus_client.parser import text_string_to_metric_families

from handoff.cli import Service
from handoff.db import make_engine, make_session_factory
from handoff.inbound_queue import process_pending
from handoff.states import Status
from handoff.telemetry import Telemetry
from mailer.smtp_server import InboundHandler, SMTPListener
from tests.conftest import (SERVICE, Clock, Sink, free_port, handoff_mail, make_settings,
                            wait_until)


class Scrape(dict[tuple[str, frozenset[tuple[str, str]]], float]):
    """One scrape, parsed: ``scrape["name", {"label": "value"}]`` is a sample's value."""

    def __init__(self, text: str) -> None:
        super().__init__()
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                self[sample.name, frozenset(sample.labels.items())] = sample.value

    def of(self, name: str, **labels: str) -> float:
        return self[name, frozenset(labels.items())]


def scrape(port: int, headers: dict[str, str] | None = None) -> Scrape:
    request = urllib.request.Request(f"http://127.0.0.1:{port}/metrics", headers=headers or {})
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.headers["Content-Type"] == CONTENT_TYPE_LATEST
        return Scrape(response.read().decode())


def serve(tmp_path: Path, database_url: str, clock: Clock, **kwargs: Any) -> Service:
    """A service on free ports; ``smtp``/``web``/``workers`` choose the parts, the rest
    are settings."""
    parts = {k: kwargs.pop(k) for k in ("smtp", "web", "workers") if k in kwargs}
    web_port = free_port()
    settings = make_settings(tmp_path, web_port=web_port, database_url=database_url,
                             base_url=f"http://127.0.0.1:{web_port}", **kwargs)
    return Service(settings, clock=clock, **parts).start()


@pytest.fixture
def parts(tmp_path: Path, database_url: str, clock: Clock) -> Iterator[Service]:
    """The SMTP listener and the web app, no workers: a ``handoff smtp`` + ``handoff web``
    whose worker runs elsewhere (the test calls it), so queues stay where they are."""
    service = serve(tmp_path, database_url, clock, workers=False, max_message_size=20_000)
    yield service
    service.stop()


def test_a_scrape_counts_mail_taken_and_refused_and_shows_the_handoff_it_made(running, sink):
    """One mail accepted, two recipients refused at RCPT: the scrape of the running
    service says so per door and reason, shows one handoff offered, the two mails it
    sent, an empty queue, and the ingest latency of the one message."""
    with smtplib.SMTP("127.0.0.1", running.smtp.port) as client:
        client.ehlo()
        client.mail("ana@corp.test")
        assert client.rcpt("victim@gmail.test")[0] == 550
        assert client.rcpt("nobody@acme.test")[0] == 550
        assert client.rcpt(SERVICE)[0] == 250
        assert client.data(handoff_mail().as_bytes())[0] == 250
    sink.wait_for(2)  # the offer to Bob, the receipt to Ana
    port = running.web_port
    assert port is not None
    assert wait_until(lambda: scrape(port).of("handoff_mails_sent_total") == 2)

    figures = scrape(port)
    assert figures.of("handoff_messages_received_total", door="smtp") == 1
    assert figures.of("handoff_messages_received_total", door="imap") == 0
    refused = "handoff_messages_refused_total"
    assert figures.of(refused, door="smtp", reason="relay_denied") == 1
    assert figures.of(refused, door="smtp", reason="unknown_mailbox") == 1
    assert figures.of(refused, door="smtp", reason="too_large") == 0
    assert figures.of("handoff_messages_interpreted_total", outcome="done") == 1
    assert figures.of("handoff_ingest_latency_seconds_count") == 1
    assert {status: figures.of("handoff_handoffs", status=status) for status in Status} == \
        {status: (1 if status == Status.OFFERED else 0) for status in Status}
    assert figures.of("handoff_inbound_messages", status="queued") == 0
    assert figures.of("handoff_inbound_oldest_queued_age_seconds") == 0
    assert figures.of("handoff_outbox_mails", status="queued") == 0
    assert figures.of("handoff_mails_failed_total") == 0
    assert figures.of("handoff_database_up") == 1
    assert figures.of("handoff_chase_pass_duration_seconds_count") >= 1  # one at start
    assert figures.of("process_resident_memory_bytes") > 0


def test_queue_depth_and_ages_come_from_the_database(parts, clock):
    """With no worker in this process, mail waits: the scrape shows the inbound queue's
    depth and the age of its oldest message; once a worker elsewhere interprets them, the
    queue is empty and the outbox shows the mails due and how long they have been due,
    while this process's own count of interpreted messages stays 0 (it did none)."""
    port = parts.web_port
    assert port is not None
    with smtplib.SMTP("127.0.0.1", parts.smtp.port) as client:
        client.send_message(handoff_mail(message_id="<a@corp.test>"), to_addrs=[SERVICE])
        clock.advance(seconds=90)
        client.send_message(handoff_mail(message_id="<b@corp.test>", subject="Other"),
                            to_addrs=[SERVICE])
    clock.advance(seconds=30)
    figures = scrape(port)
    assert figures.of("handoff_messages_received_total", door="smtp") == 2
    assert figures.of("handoff_inbound_messages", status="queued") == 2
    assert figures.of("handoff_inbound_oldest_queued_age_seconds") == 120

    process_pending(parts.sessions, parts.settings, clock)  # `handoff worker`, elsewhere
    clock.advance(seconds=45)
    figures = scrape(port)
    assert figures.of("handoff_inbound_messages", status="queued") == 0
    assert figures.of("handoff_inbound_oldest_queued_age_seconds") == 0
    assert figures.of("handoff_handoffs", status="offered") == 2
    assert figures.of("handoff_outbox_mails", status="queued") == 4  # offers and receipts
    assert figures.of("handoff_outbox_oldest_due_age_seconds") == 45
    assert figures.of("handoff_outbox_oldest_unsent_age_seconds") == 45
    assert figures.of("handoff_messages_interpreted_total", outcome="done") == 0


def test_a_message_over_the_size_limit_is_counted_as_refused(parts):
    """aiosmtpd answers 552 itself, before any handler: it is still counted."""
    with smtplib.SMTP("127.0.0.1", parts.smtp.port) as client:
        with pytest.raises(smtplib.SMTPException):
            client.send_message(handoff_mail(body="x" * 30_000), to_addrs=[SERVICE])
    assert parts.web_port is not None
    figures = scrape(parts.web_port)
    assert figures.of("handoff_messages_refused_total", door="smtp", reason="too_large") == 1
    assert figures.of("handoff_messages_received_total", door="smtp") == 0


def test_mails_the_smarthost_refuses_are_counted_failed_or_deferred(running, sink, clock):
    """The smarthost refuses the first mail for good (550) and the second for now (451):
    one failed, one deferred, both in the outbox figures; once due again it is sent."""
    sink.handler.answers[:] = ["550 5.1.1 No such user", "451 4.3.0 Try again later"]
    with smtplib.SMTP("127.0.0.1", running.smtp.port) as client:
        client.send_message(handoff_mail(), to_addrs=[SERVICE])
    port = running.web_port
    assert port is not None

    def settled() -> Scrape | None:
        figures = scrape(port)
        waiting = figures.of("handoff_outbox_mails", status="queued") + \
            figures.of("handoff_outbox_mails", status="sending")
        done = figures.of("handoff_mails_failed_total") == 1 and waiting == 1 and \
            figures.of("handoff_mails_sent_total") == len(sink.received)
        return figures if done else None

    figures = wait_until(settled)
    assert figures, scrape(port)
    assert figures.of("handoff_mails_deferred_total") == 1
    assert figures.of("handoff_outbox_mails", status="failed") == 1
    assert figures.of("handoff_outbox_oldest_due_age_seconds") == 0  # its retry is later
    sent = figures.of("handoff_mails_sent_total")

    clock.advance(minutes=5)  # the retry is due; the outbox worker polls
    assert wait_until(lambda: scrape(port).of("handoff_mails_sent_total") == sent + 1)
    assert scrape(port).of("handoff_outbox_mails", status="queued") == 0


def test_a_chase_pass_is_timed_and_its_nudge_counted(running, sink, clock):
    """Five hours after the offer (past four business hours in Berlin) the chaser's next
    pass nudges Bob: one more pass in the histogram, one nudge counted."""
    with smtplib.SMTP("127.0.0.1", running.smtp.port) as client:
        client.send_message(handoff_mail(), to_addrs=[SERVICE])
    sink.wait_for(2)
    port = running.web_port
    assert port is not None
    passes = scrape(port).of("handoff_chase_pass_duration_seconds_count")
    clock.advance(hours=5)
    chaser = next(loop for loop in running.loops if loop.name == "chaser")
    chaser.wake.set()
    assert wait_until(lambda: scrape(port).of("handoff_chase_results_total", kind="nudge") == 1)
    figures = scrape(port)
    assert figures.of("handoff_chase_pass_duration_seconds_count") > passes
    assert figures.of("handoff_chase_pass_failures_total") == 0
    assert figures.of("handoff_chase_results_total", kind="escalation") == 0
    sink.wait_for(3)
    assert len(sink.to("bob@corp.test")) == 2  # the offer, then the nudge


def test_provider_routes_count_what_they_take_and_refuse(tmp_path, database_url, clock):
    """SendGrid posting with the wrong credentials is refused (not_authenticated), with
    the right ones its message is taken: both on the scrape, under door=sendgrid."""
    from tests.test_inbound_webhooks import multipart, sendgrid_fields

    service = serve(tmp_path, database_url, clock, smtp=False, workers=False,
                    sendgrid_auth="sg:secret")
    try:
        port = service.web_port
        assert port is not None
        body, content_type = multipart(sendgrid_fields(handoff_mail().as_bytes()))
        for password, status in (("wrong", 401), ("secret", 200)):
            request = urllib.request.Request(
                f"http://127.0.0.1:{port}/inbound/sendgrid", data=body, method="POST",
                headers={"Content-Type": content_type, "Authorization": "Basic " +
                         b64encode(f"sg:{password}".encode()).decode()})
            try:
                with urllib.request.urlopen(request, timeout=10) as response:
                    assert response.status == status
            except urllib.error.HTTPError as refused:
                assert refused.code == status
        figures = scrape(port)
        assert figures.of("handoff_messages_received_total", door="sendgrid") == 1
        assert figures.of("handoff_messages_refused_total", door="sendgrid",
                          reason="not_authenticated") == 1
        assert figures.of("handoff_inbound_messages", status="queued") == 1
    finally:
        service.stop()


@pytest.mark.realserver
def test_mail_read_from_an_imap_mailbox_is_counted_under_its_door(tmp_path, database_url,
                                                                  clock):
    """``handoff serve`` reading a real Dovecot mailbox counts the message under
    door=imap."""
    from tests.dovecot import Dovecot
    from tests.test_imap import append, mail

    dovecot = Dovecot()
    sink = Sink()
    sink.controller.start()
    service = None
    try:
        dovecot.start()
        service = serve(tmp_path, database_url, clock, imap_url=dovecot.url,
                        smarthost=f"127.0.0.1:{sink.port}")
        port = service.web_port
        assert port is not None
        append(dovecot, mail(1))
        assert wait_until(lambda: scrape(port).of("handoff_messages_received_total",
                                                  door="imap") == 1)
        assert wait_until(lambda: scrape(port).of("handoff_handoffs", status="offered") == 1)
    finally:
        if service is not None:
            service.stop()
        sink.controller.stop()
        dovecot.remove()


def test_beyond_loopback_metrics_need_the_view_key(tmp_path, sessions, clock):
    """Bound beyond loopback, ``/metrics`` answers 401 without the view key, like the
    status page; with it (query, header, or a bearer token as Prometheus sends it), 200."""
    from web import create_app

    settings = make_settings(tmp_path, web_host="0.0.0.0", view_key="sesame")
    app = create_app(settings, sessions, clock=clock)
    assert app.test_client().get("/metrics").status_code == 401
    assert app.test_client().get("/metrics", headers={
        "Authorization": "Bearer wrong"}).status_code == 401
    for path, headers in (("/metrics?key=sesame", {}),
                          ("/metrics", {"X-Handoff-View-Key": "sesame"}),
                          ("/metrics", {"Authorization": "Bearer sesame"})):
        answer = app.test_client().get(path, headers=headers)
        assert answer.status_code == 200 and answer.content_type == CONTENT_TYPE_LATEST
        assert "handoff_handoffs" in answer.get_data(as_text=True)


def test_when_the_database_cannot_be_read_smtp_says_451_and_metrics_still_answer(tmp_path):
    """An unmigrated database: the SMTP door answers 451 and counts storage_failed;
    ``/metrics`` still answers, with ``handoff_database_up 0`` and no stale queue
    figures."""
    from web import create_app

    settings = make_settings(tmp_path)
    engine = make_engine(f"sqlite:///{tmp_path / 'empty.db'}")
    sessions = make_session_factory(engine)
    telemetry = Telemetry.for_process(sessions, lambda: datetime.now(timezone.utc))
    handler = InboundHandler(settings, sessions, telemetry=telemetry)
    listener = SMTPListener(handler, "127.0.0.1", 0, data_size_limit=10**6).start()
    try:
        with smtplib.SMTP("127.0.0.1", listener.port) as client:
            client.ehlo()
            client.mail("ana@corp.test")
            client.rcpt(SERVICE)
            assert client.data(handoff_mail().as_bytes())[0] == 451
        answer = create_app(settings, sessions, telemetry=telemetry).test_client().get(
            "/metrics")
        assert answer.status_code == 200
        figures = Scrape(answer.get_data(as_text=True))
        assert figures.of("handoff_database_up") == 0
        assert figures.of("handoff_messages_refused_total", door="smtp",
                          reason="storage_failed") == 1
        assert ("handoff_inbound_messages", frozenset({("status", "queued")})) not in figures
    finally:
        listener.stop()
        engine.dispose()

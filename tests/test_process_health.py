"""Each process says what it is and whether its queue is moving (issue 12, point 3):
``handoff worker``/``smtp``/``imap`` on ``HANDOFF_HEALTH_PORT``, serve and web on the
web port; a worker whose queue is stuck answers 503, a listener says so and stays 200."""

from __future__ import annotations

import smtplib
import subprocess
import sys
import time
import urllib.error
import urllib.request
from datetime import timedelta
from pathlib import Path

from handoff.cli import Service
from handoff.health import ProcessHealth, queue_states
from handoff.intake import receive_message
from tests.conftest import SERVICE, free_port, handoff_mail, make_settings, process_env


def get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as answer:
            return answer.status, answer.read().decode()
    except urllib.error.HTTPError as refused:
        return refused.code, refused.read().decode()


def test_a_worker_process_answers_healthz_and_metrics_on_its_health_port(
        tmp_path: Path, database_url: str) -> None:
    port = free_port()
    env = process_env(tmp_path, database_url, HEALTH_PORT=str(port))
    log = tmp_path / "worker.log"
    worker = subprocess.Popen([sys.executable, "-m", "handoff", "worker"], env=env,
                              stdout=log.open("wb"), stderr=subprocess.STDOUT)
    try:
        deadline, status, body = time.monotonic() + 30, 0, ""
        while time.monotonic() < deadline and status != 200:
            try:
                status, body = get(f"http://127.0.0.1:{port}/healthz")
            except OSError:
                time.sleep(0.05)  # poll for the port, not a stand-in for readiness
        assert status == 200, log.read_text()
        assert body.startswith("ok\nprocess: worker (pid ")
        for line in ("database: up", "worker:inbound: up", "worker:outbox: up",
                     "inbound queue: empty", "outbox queue: empty"):
            assert line in body.splitlines(), body
        status, metrics = get(f"http://127.0.0.1:{port}/metrics")
        assert status == 200 and "handoff_inbound_oldest_queued_age_seconds" in metrics
        assert get(f"http://127.0.0.1:{port}/")[0] == 404, "no status page on the health port"
    finally:
        worker.terminate()
        worker.wait(20)


def test_a_listener_alone_says_its_queue_is_stuck_and_stays_up(tmp_path, database_url,
                                                                clock) -> None:
    """`handoff smtp` with no worker running: the mail waits; after five minutes the
    listener's /healthz says the queue is stuck (a listener restart would not help, so
    200), and a worker with that queue answers 503."""
    health_port = free_port()
    settings = make_settings(tmp_path, database_url=database_url, smtp_port=free_port(),
                             health_port=health_port)
    listener = Service(settings, smtp=True, web=False, workers=False, clock=clock).start()
    try:
        with smtplib.SMTP("127.0.0.1", listener.smtp.port, timeout=10) as conn:
            conn.send_message(handoff_mail(), to_addrs=["bob@corp.test", SERVICE])
        status, body = get(f"http://127.0.0.1:{health_port}/healthz")
        assert status == 200 and "process: smtp" in body
        assert "inbound queue: 1 waiting, oldest 0 s: moving" in body.splitlines(), body
        clock.now += timedelta(minutes=6)
        status, body = get(f"http://127.0.0.1:{health_port}/healthz")
        assert status == 200
        assert "inbound queue: 1 waiting, oldest 360 s: STUCK" in body.splitlines(), body
    finally:
        listener.stop()


def test_a_worker_with_a_stuck_queue_answers_503(tmp_path, sessions, clock) -> None:
    from web import create_app

    settings = make_settings(tmp_path)
    receive_message(sessions, handoff_mail().as_bytes(), mail_from="ana@corp.test",
                    rcpt_tos=[SERVICE], source="smtp", now=clock())
    clock.now += timedelta(minutes=6)

    def report(progress: float | None) -> ProcessHealth:
        queues = queue_states(sessions, clock(), {"inbound": progress, "outbox": None}, [],
                              lambda t: 0.0 if t else 10_000.0)
        return ProcessHealth("worker", {"database": True, "worker:inbound": True}, queues)

    stuck = create_app(settings, sessions, clock=clock, health=lambda: report(None),
                       health_only=True).test_client().get("/healthz")
    assert stuck.status_code == 503
    assert stuck.get_data(as_text=True).startswith("stuck\nprocess: worker")
    # the same backlog while this worker takes messages from it: moving, 200
    working = create_app(settings, sessions, clock=clock, health=lambda: report(1.0),
                         health_only=True).test_client().get("/healthz")
    assert working.status_code == 200
    assert "inbound queue: 1 waiting, oldest 360 s: moving" in working.get_data(as_text=True)


def test_mail_a_hung_worker_took_still_counts_as_waiting(tmp_path, sessions, clock) -> None:
    """A worker took a batch and hung on it (the take is committed before reading): the
    mail is not interpreted, so /healthz still counts it as waiting, STUCK when nothing
    moves, and the oldest-age gauge the alert watches still grows."""
    from handoff.inbound_queue import take
    from handoff.telemetry import Telemetry
    from web import create_app

    receive_message(sessions, handoff_mail().as_bytes(), mail_from="ana@corp.test",
                    rcpt_tos=[SERVICE], source="smtp", now=clock())
    with sessions.begin() as session:
        assert len(take(session.connection(), clock(), 20)) == 1  # and then nothing more
    clock.now += timedelta(minutes=6)
    queues = queue_states(sessions, clock(), {"inbound": None}, [], lambda t: 10_000.0)
    answer = create_app(make_settings(tmp_path), sessions, clock=clock,
                        health=lambda: ProcessHealth("worker", {"database": True}, queues),
                        health_only=True).test_client().get("/healthz")
    assert answer.status_code == 503
    assert "inbound queue: 1 waiting, oldest 360 s: STUCK" in answer.get_data(as_text=True)
    scraped = Telemetry.for_process(sessions, clock).registry.get_sample_value(
        "handoff_inbound_oldest_queued_age_seconds")
    assert scraped == 360


def test_beyond_loopback_healthz_tells_a_caller_without_the_key_only_ok_or_stuck(
        tmp_path, sessions, clock) -> None:
    """A load balancer asks /healthz on a public port without a key: it gets the status
    and the first line, not the pid, the host or the queues; with the view key, all."""
    from web import create_app

    def report() -> ProcessHealth:
        return ProcessHealth("web", {"database": True},
                             queue_states(sessions, clock(), {}, ["inbound"], lambda t: 0.0))

    public = make_settings(tmp_path, web_host="0.0.0.0", view_key="sesame")
    client = create_app(public, sessions, clock=clock, health=report).test_client()
    bare = client.get("/healthz")
    assert (bare.status_code, bare.get_data(as_text=True)) == (200, "ok\n")
    for path, headers in (("/healthz?key=sesame", {}),
                          ("/healthz", {"Authorization": "Bearer sesame"})):
        full = create_app(public, sessions, clock=clock, health=report).test_client().get(
            path, headers=headers)
        assert full.status_code == 200
        assert full.get_data(as_text=True).startswith("ok\nprocess: web (pid ")
        assert "inbound queue: empty" in full.get_data(as_text=True)
    local = create_app(make_settings(tmp_path), sessions, clock=clock, health=report)
    assert "process: web" in local.test_client().get("/healthz").get_data(as_text=True)

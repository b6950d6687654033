"""Event webhooks (issue 5, point 4): configured endpoints receive signed JSON events,
checked by a real HTTP receiver with the Standard Webhooks reference verifier; failures
are retried with backoff; the handoff's page shows the delivery log."""

from __future__ import annotations

import base64
import json
import threading
from dataclasses import dataclass, field
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Iterator

import pytest
from sqlalchemy import select
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from handoff.errors import ConfigError
from handoff.models import Nudge, WebhookDelivery, WebhookEvent
from handoff.settings import Settings
from tests.conftest import Flow, handoff_mail, links_of, mail_to, make_settings
from tests.test_chase import berlin, chase
from webhooks.events import EventDeliverer, backoff

SECRET = "whsec_" + base64.b64encode(b"0123456789abcdef0123456789abcdef").decode()


@dataclass
class Receiver:
    """A real HTTP endpoint: verifies each request's signature, answers as scripted."""

    secret: str = SECRET
    answers: list[int] = field(default_factory=list)  # then 204
    events: list[dict[str, Any]] = field(default_factory=list)
    rejected: list[str] = field(default_factory=list)
    ids: list[str] = field(default_factory=list)
    server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self.server is not None
        return f"http://127.0.0.1:{self.server.server_address[1]}/hooks"

    def start(self) -> "Receiver":
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's name)
                body = self.rfile.read(int(self.headers["Content-Length"]))
                try:
                    payload = Webhook(receiver.secret).verify(body, dict(self.headers))
                except WebhookVerificationError as exc:
                    receiver.rejected.append(str(exc))
                    self.send_response(401)
                    self.end_headers()
                    return
                code = receiver.answers.pop(0) if receiver.answers else 204
                if code < 300:
                    receiver.events.append(payload)
                receiver.ids.append(self.headers["webhook-id"])
                self.send_response(code)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        assert self.server is not None
        self.server.shutdown()
        self.server.server_close()

    def types(self) -> list[str]:
        return [e["type"] for e in self.events]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver().start()
    yield r
    r.stop()


def hooked(tmp_path, database_url, url: str, secret: str = SECRET, **extra: Any) -> Settings:
    config = tmp_path / "handoff.toml"
    config.write_text(f'[[webhooks]]\nurl = "{url}"\nsecret = "{secret}"\n'
                      + "".join(f"{k} = {json.dumps(v)}\n" for k, v in extra.items()))
    from handoff.settings import load_settings

    return load_settings(environ={"HANDOFF_CONFIG": str(config)}, data_dir=tmp_path / "var",
                         service_address="handoff@acme.test", secret_key="k",
                         database_url=database_url, timezone="Europe/Berlin")


def test_created_and_accepted_reach_the_receiver_signed_with_the_handoff(
        tmp_path, database_url, sessions, clock, receiver):
    from web import create_app

    settings = hooked(tmp_path, database_url, receiver.url)
    flow = Flow(settings, sessions, clock)
    offer = mail_to(flow.submit(handoff_mail()), "bob@corp.test")
    client = create_app(settings, sessions, clock=clock).test_client()
    client.post(links_of(offer)["Accept"], data={"note": "in my words: cert live"})
    EventDeliverer(settings, sessions, clock).deliver_pending()

    assert receiver.rejected == []
    assert receiver.types() == ["handoff.created", "handoff.accepted"]
    accepted = receiver.events[1]["data"]
    assert accepted["ref"] == "H-1" and accepted["status"] == "accepted"
    assert accepted["owner"] == "bob@corp.test" and accepted["sender"] == "ana@corp.test"
    assert accepted["event"]["how"] == "link" and accepted["event"]["actor"] == "bob@corp.test"
    assert accepted["deadline"] is not None and accepted["deadline"].endswith("Z")


def test_without_endpoints_events_are_settled_in_one_pass_and_nothing_is_delivered(
        settings, sessions, clock):
    Flow(settings, sessions, clock).submit(handoff_mail())
    Flow(settings, sessions, clock).submit(handoff_mail(message_id="<second@corp.test>"))
    deliverer = EventDeliverer(settings, sessions, clock)

    assert deliverer.deliver_pending() == 2  # each handoff's "created"
    assert deliverer.deliver_pending() == 0  # an idle pass finds nothing left
    with sessions() as session:
        assert set(session.scalars(select(WebhookEvent.status))) == {"fanned"}
        assert session.scalars(select(WebhookDelivery)).all() == []


def test_a_failing_endpoint_is_retried_with_backoff_under_one_webhook_id_and_logged(
        tmp_path, database_url, sessions, clock, receiver):
    from web import create_app

    settings = hooked(tmp_path, database_url, receiver.url)
    receiver.answers = [503, 500]
    Flow(settings, sessions, clock).submit(handoff_mail())
    deliverer = EventDeliverer(settings, sessions, clock)

    deliverer.deliver_pending()
    assert receiver.events == []
    with sessions() as session:
        [delivery] = session.scalars(select(WebhookDelivery))
        assert delivery.status == "queued" and delivery.next_attempt_at == clock() + backoff(1)
    deliverer.deliver_pending()  # not due: nothing sent
    assert len(receiver.ids) == 1

    clock.advance(seconds=backoff(1).total_seconds())
    deliverer.deliver_pending()  # the 500
    clock.advance(seconds=backoff(2).total_seconds())
    deliverer.deliver_pending()
    assert receiver.types() == ["handoff.created"]
    assert len(set(receiver.ids)) == 1 and len(receiver.ids) == 3  # one id, three tries

    page = create_app(settings, sessions, clock=clock).test_client().get("/h/H-1")
    html = page.get_data(as_text=True)
    assert 'id="webhooks"' in html and "HTTP 503" in html and "HTTP 500" in html
    assert "delivered" in html


def test_a_receiver_with_another_secret_rejects_and_we_retry_then_410_stops_for_good(
        tmp_path, database_url, sessions, clock, receiver):
    other = "whsec_" + base64.b64encode(b"another-secret-of-32-bytes-long!").decode()
    settings = hooked(tmp_path, database_url, receiver.url, secret=other)
    Flow(settings, sessions, clock).submit(handoff_mail())
    deliverer = EventDeliverer(settings, sessions, clock)
    deliverer.deliver_pending()
    assert receiver.rejected == ["No matching signature found"] and receiver.events == []

    receiver.secret = other  # now it knows our secret, but has gone away
    receiver.answers = [410]
    clock.advance(seconds=backoff(1).total_seconds())
    deliverer.deliver_pending()
    clock.advance(hours=7)
    deliverer.deliver_pending()
    with sessions() as session:
        [delivery] = session.scalars(select(WebhookDelivery))
        assert delivery.status == "failed" and delivery.attempts == 2


def test_an_unreachable_endpoint_is_queued_again_not_lost(tmp_path, database_url, sessions,
                                                          clock):
    from tests.conftest import free_port

    settings = hooked(tmp_path, database_url, f"http://127.0.0.1:{free_port()}/none")
    Flow(settings, sessions, clock).submit(handoff_mail())
    EventDeliverer(settings, sessions, clock, timeout=2).deliver_pending()
    with sessions() as session:
        [delivery] = session.scalars(select(WebhookDelivery))
        assert delivery.status == "queued" and "refused" in (delivery.last_error or "")


def test_overdue_and_escalated_are_announced_once_per_handoff(tmp_path, database_url,
                                                              sessions, clock, receiver):
    settings = hooked(tmp_path, database_url, receiver.url,
                      events=["handoff.overdue", "handoff.escalated"])
    flow = Flow(settings, sessions, clock)
    flow.clock.now = berlin(2026, 11, 24, 9, 0)
    flow.submit(handoff_mail(body="Done when: done\nDeadline: Wednesday 5pm\n"))
    deliverer = EventDeliverer(settings, sessions, clock)
    chase(flow, sessions, berlin(2026, 11, 24, 13, 5))  # a first nudge: no event
    deliverer.deliver_pending()
    assert receiver.types() == []
    # Thursday: overdue (owner and sender told) and unaccepted for 2 business days
    # (sender escalated to): each announced once, not once per recipient
    chase(flow, sessions, berlin(2026, 11, 26, 9, 5))
    deliverer.deliver_pending()
    assert sorted(receiver.types()) == ["handoff.escalated", "handoff.overdue"]
    lines, _mails = chase(flow, sessions, berlin(2026, 12, 1, 9, 5))  # overdue again
    assert any(line.kind == "nudge" for line in lines)
    deliverer.deliver_pending()
    assert sorted(receiver.types()) == ["handoff.escalated", "handoff.overdue"]


def test_declined_done_and_closed_are_events_too(tmp_path, database_url, sessions, clock,
                                                 receiver):
    from web import create_app

    settings = hooked(tmp_path, database_url, receiver.url)
    flow = Flow(settings, sessions, clock)
    client = create_app(settings, sessions, clock=clock).test_client()
    offer = mail_to(flow.submit(handoff_mail()), "bob@corp.test")
    client.post(links_of(offer)["Done"], data={"note": "renewed"})
    done = mail_to(flow.flush(), "ana@corp.test")
    client.post(links_of(done)["Confirm done"])
    flow.flush()  # the closed notice to Bob
    second = mail_to(flow.submit(handoff_mail(message_id="<m2@corp.test>", subject="Other")),
                     "bob@corp.test")
    client.post(links_of(second)["Decline"], data={"note": "not mine"})
    EventDeliverer(settings, sessions, clock).deliver_pending()
    assert receiver.types() == ["handoff.created", "handoff.done", "handoff.closed",
                                "handoff.created", "handoff.declined"]


@pytest.mark.parametrize("entry, error", [
    ('url = "ftp://x"\nsecret = "whsec_MTIzNDU2Nzg5MDEyMzQ1Ng=="', "not an http"),
    ('url = "https://x.test/h"\nsecret = "short"', "secret must be base64"),
    ('url = "https://x.test/h"\nsecret = "whsec_MTIzNDU2Nzg5MDEyMzQ1Ng=="\n'
     'events = ["handoff.eaten"]', "unknown events"),
])
def test_a_webhook_that_cannot_work_is_a_clear_error_at_start(tmp_path, database_url,
                                                              sessions, clock, entry, error):
    from handoff.settings import load_settings

    config = tmp_path / "bad.toml"
    config.write_text(f"[[webhooks]]\n{entry}\n")
    settings = load_settings(environ={"HANDOFF_CONFIG": str(config)},
                             data_dir=tmp_path / "var", secret_key="k",
                             database_url=database_url)
    with pytest.raises(ConfigError, match=error):
        EventDeliverer(settings, sessions, clock)


def test_overdue_is_announced_once_when_owner_and_sender_are_chased_in_different_passes(
        tmp_path, database_url, sessions, clock, receiver):
    """Ana works in Berlin, Bob in Tokyo: the overdue reminders reach them in passes
    hours apart; the receiver hears of the overdue handoff once."""
    from datetime import timedelta

    from handoff.settings import load_settings

    config = tmp_path / "handoff.toml"
    config.write_text(f'[[webhooks]]\nurl = "{receiver.url}"\nsecret = "{SECRET}"\n'
                      'events = ["handoff.overdue"]\n\n'
                      '[people."bob@corp.test"]\nzone = "Asia/Tokyo"\n')
    settings = load_settings(environ={"HANDOFF_CONFIG": str(config)},
                             data_dir=tmp_path / "var", service_address="handoff@acme.test",
                             secret_key="k", database_url=database_url,
                             timezone="Europe/Berlin")
    flow = Flow(settings, sessions, clock)
    flow.clock.now = berlin(2026, 11, 24, 9, 0)
    flow.submit(handoff_mail(body="Done when: done\nDeadline: Wednesday 5pm\n"))
    deliverer = EventDeliverer(settings, sessions, clock)
    when = berlin(2026, 11, 25, 12, 0)
    while when < berlin(2026, 11, 28, 12, 0):  # a pass every half hour, as serve runs
        chase(flow, sessions, when)
        deliverer.deliver_pending()
        when += timedelta(minutes=30)
    with sessions() as session:
        steps = session.execute(select(Nudge.recipient_id, Nudge.claimed_at).where(
            Nudge.rule == "overdue", Nudge.number == 1)).all()
    assert len(steps) == 2 and len({at for _who, at in steps}) == 2  # in two passes
    assert receiver.types() == ["handoff.overdue"]


def test_a_redirect_is_a_failed_attempt_never_followed(tmp_path, database_url, sessions,
                                                       clock, receiver):
    """A 302 must not turn into a GET that 'delivers' nothing to somewhere else."""
    receiver.answers = [302]
    settings = hooked(tmp_path, database_url, receiver.url)
    Flow(settings, sessions, clock).submit(handoff_mail())
    EventDeliverer(settings, sessions, clock).deliver_pending()
    with sessions() as session:
        [delivery] = session.scalars(select(WebhookDelivery))
        assert delivery.status == "queued" and "302" in (delivery.last_error or "")


def test_an_answer_that_is_not_http_is_recorded_and_retried_not_left_sending(
        tmp_path, database_url, sessions, clock):
    import socket

    server = socket.create_server(("127.0.0.1", 0))

    def babble() -> None:
        conn, _ = server.accept()
        conn.recv(65536)
        conn.sendall(b"hello there\r\n")
        conn.close()

    thread = threading.Thread(target=babble, daemon=True)
    thread.start()
    settings = hooked(tmp_path, database_url, f"http://127.0.0.1:{server.getsockname()[1]}/h")
    Flow(settings, sessions, clock).submit(handoff_mail())
    EventDeliverer(settings, sessions, clock, timeout=5).deliver_pending()
    thread.join(5)
    server.close()
    with sessions() as session:
        [delivery] = session.scalars(select(WebhookDelivery))
        assert delivery.status == "queued" and delivery.log
        assert "BadStatusLine" in (delivery.last_error or "")


def test_the_page_shows_where_a_webhook_went_but_not_its_secret_path(
        tmp_path, database_url, sessions, clock, receiver):
    from web import create_app

    settings = hooked(tmp_path, database_url, receiver.url + "/T000/B000/XXXXsecretXXXX")
    Flow(settings, sessions, clock).submit(handoff_mail())
    EventDeliverer(settings, sessions, clock).deliver_pending()
    html = create_app(settings, sessions, clock=clock).test_client().get("/h/H-1").get_data(
        as_text=True)
    assert 'id="webhooks"' in html and "XXXXsecretXXXX" not in html

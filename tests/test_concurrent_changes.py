"""Two changes of one handoff at once (issue 12, several processes on PostgreSQL): a
worker applying Bob's "accept" reply and Bob's click on "Decline" in the offer take
turns on the handoff's row, so the click sees the acceptance and is refused, instead of
overwriting it (both applied: the handoff "declined" after it was accepted)."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import select, text, update

from handoff.addresses import ServiceAddresses
from handoff.lifecycle import lock_handoff
from handoff.models import Event, Handoff
from handoff.states import Action
from handoff.workflow import perform_action
from tests.conftest import BACKEND, SERVICE, handoff_mail, links_of, mail_to

pytestmark = pytest.mark.skipif(
    BACKEND != "postgresql", reason="row locks between processes: PostgreSQL")


def _waiting_on_a_lock(sessions) -> int:
    with sessions() as session:
        return int(session.scalar(text(
            "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
            "AND datname = current_database()")))


def test_a_click_on_a_handoff_a_worker_is_changing_waits_and_sees_the_change(
        flow, client, sessions, clock) -> None:
    mails = flow.submit(handoff_mail())
    decline = links_of(mail_to(mails, "bob@corp.test"))["Decline"]
    worker = sessions()  # a worker applying Bob's "accept" reply, not yet committed
    try:
        handoff = worker.scalars(select(Handoff)).unique().one()
        lock_handoff(worker, handoff)
        perform_action(worker, ServiceAddresses(flow.settings), handoff, Action.ACCEPT,
                       handoff.owner, how="reply", now=clock())
        worker.flush()
        with ThreadPoolExecutor(1) as pool:
            click = pool.submit(client.post, decline, data={"note": "not mine"})
            deadline = time.monotonic() + 20
            while not _waiting_on_a_lock(sessions):  # the click is held on the row
                assert time.monotonic() < deadline and not click.done(), \
                    "the click did not wait for the worker's change"
                time.sleep(0.01)  # polling for a state, not waiting for time
            worker.commit()
            answer = click.result(timeout=30)
    finally:
        worker.close()
    assert answer.status_code == 409, answer.get_data(as_text=True)[:500]
    with sessions() as session:
        assert session.scalars(select(Handoff.status)).one() == "accepted"
        kinds = list(session.scalars(select(Event.kind).order_by(Event.id)))
    assert "accepted" in kinds and "declined" not in kinds, kinds


def test_two_copies_of_one_mail_taken_at_once_make_one_handoff_and_a_duplicate(
        flow, sessions, clock) -> None:
    """A mail that came twice (by a list and directly) is read by two workers at once:
    the second loses the race on the Message-ID, tries again, sees the first's commit
    and is a duplicate, not a failure."""
    from handoff.guards import Envelope
    from handoff.inbound_queue import LEASE, Taken, _settle, process_pending
    from handoff.intake import read_message, receive_message
    from handoff.models import InboundMessage

    raw = handoff_mail(message_id="<twice@corp.test>").as_bytes()
    first, second = (receive_message(sessions, raw, mail_from="ana@corp.test",
                                     rcpt_tos=[SERVICE], source="smtp", now=clock())
                     for _ in range(2))
    with sessions.begin() as session:  # the first worker takes copy one
        session.execute(update(InboundMessage).where(InboundMessage.id == first).values(
            status="processing", attempts=1, lease_until=clock() + LEASE))
    taken = Taken(first, raw, "ana@corp.test", [SERVICE], clock(), 1)
    worker = sessions()  # and is interpreting it, not yet committed
    try:
        worker.begin()
        reading = read_message(flow.settings, raw, Envelope("ana@corp.test", (SERVICE,)),
                               clock())
        _settle(worker, flow.settings, taken, reading, clock())
        worker.flush()
        with ThreadPoolExecutor(1) as pool:  # the second worker takes copy two
            other = pool.submit(process_pending, sessions, flow.settings, clock)
            deadline = time.monotonic() + 20
            while not _waiting_on_a_lock(sessions):
                assert time.monotonic() < deadline and not other.done(), \
                    "the second worker did not meet the first's uncommitted work"
                time.sleep(0.01)  # polling for a state, not waiting for time
            worker.commit()
            assert other.result(timeout=30) == 1
    finally:
        worker.close()
    with sessions() as session:
        statuses = dict(session.execute(select(InboundMessage.id, InboundMessage.status))
                        .all())
        handoffs = list(session.scalars(select(Handoff.id)))
    assert statuses == {first: "done", second: "duplicate"}, statuses
    assert len(handoffs) == 1

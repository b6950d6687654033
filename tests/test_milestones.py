"""The milestones the figures read (issue 11), kept as a handoff changes state: when it
was offered, accepted, done and ended, and how long it waited in limbo."""

from __future__ import annotations

from datetime import timedelta

from handoff.addresses import ServiceAddresses
from handoff.models import Handoff
from handoff.states import Action
from handoff.workflow import perform_action
from tests.conftest import handoff_mail, links_of, mail_to
from tests.conftest import stored_handoff as handoff


def act(flow, client, mail, label: str, note: str = "") -> None:
    path = links_of(mail)[label]
    client.post(path, data={"note": note})
    flow.flush()


def test_offer_accept_question_done_close_leave_their_times(flow, sessions, client, clock):
    start = clock.now
    offer = mail_to(flow.submit(handoff_mail()), "bob@corp.test")
    assert handoff(sessions).offered_at == start
    clock.advance(hours=2)  # two hours offered: in limbo
    act(flow, client, offer, "Need info", "Which host?")
    clock.advance(hours=1)  # an hour waiting for Ana's answer: in limbo too
    with sessions() as session:
        h = session.get(Handoff, 1)
        perform_action(session, ServiceAddresses(flow.settings), h, Action.ANSWER, h.sender,
                       how="reply", now=clock.now, note="web-1")
        session.commit()
    clock.advance(minutes=30)  # back to offered for half an hour
    with sessions() as session:
        h = session.get(Handoff, 1)
        perform_action(session, ServiceAddresses(flow.settings), h, Action.ACCEPT, h.owner,
                       how="link", now=clock.now)
        session.commit()
    accepted = clock.now
    clock.advance(days=1)
    with sessions() as session:
        h = session.get(Handoff, 1)
        perform_action(session, ServiceAddresses(flow.settings), h, Action.DONE, h.owner,
                       how="link", now=clock.now)
        done = clock.now
        clock.advance(hours=3)
        perform_action(session, ServiceAddresses(flow.settings), h, Action.CONFIRM,
                       h.sender, how="link", now=clock.now)
        session.commit()
    h = handoff(sessions)
    assert h.offered_at == start  # the answer went back to offered: the same offer
    assert h.accepted_at == accepted and h.done_at == done and h.ended_at == clock.now
    assert timedelta(seconds=h.limbo_seconds) == timedelta(hours=3, minutes=30)

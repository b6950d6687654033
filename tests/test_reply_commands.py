"""Reply commands (SPEC 4): the first line of a reply to the service's mail acts, when it
comes to the reply address minted for that handoff and person, from that person."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from handoff.models import Event, Handoff
from tests.conftest import handoff_mail, mail_to
from tests.conftest import stored_handoff as handoff


def reply(to_mail, body: str, *, sender: str = "Bob Builder <bob@corp.test>",
          message_id: str = "<cmd1@corp.test>", in_reply_to: str | None = None):
    msg = handoff_mail(sender=sender, to=str(to_mail["Reply-To"]), cc=None,
                       subject=f"Re: {to_mail['Subject']}", body=body, message_id=message_id)
    msg["In-Reply-To"] = in_reply_to or to_mail["Message-ID"]
    return msg


def offer_of(flow, **kwargs):
    return mail_to(flow.submit(handoff_mail(**kwargs)), "bob@corp.test")


def refusals(sessions, hid: int = 1) -> list[dict]:
    with sessions() as session:
        return [e.detail for e in session.scalars(
            select(Event).where(Event.handoff_id == hid, Event.kind == "command_refused"))]


def test_accept_by_reply_accepts_and_tells_the_sender(flow, sessions):
    offer = offer_of(flow)
    mails = flow.submit(reply(offer, "Accept\n\nOn Mon, Ana wrote:\n> please renew\n"),
                        rcpt=[str(offer["Reply-To"])], mail_from="bob@corp.test")
    assert handoff(sessions).status == "accepted"
    notice = mail_to(mails, "ana@corp.test")
    assert "accepted" in notice.get_body(("plain",)).get_content().lower()
    with sessions() as session:
        event = session.scalar(select(Event).where(Event.kind == "accepted"))
        assert event.how == "reply"


@pytest.mark.parametrize("first_line, status, note", [
    ("need info: Which hosts exactly?", "needs_info", "Which hosts exactly?"),
    ("NEED INFO:   Which hosts exactly?", "needs_info", "Which hosts exactly?"),
    ("decline: not my team", "declined", "not my team"),
    ("Done", "done", ""),
    ("done: https://wiki.corp.test/cert-renewed", "done",
     "https://wiki.corp.test/cert-renewed"),
])
def test_each_command_acts_with_its_note(flow, sessions, first_line, status, note):
    offer = offer_of(flow)
    mails = flow.submit(reply(offer, first_line + "\n"), rcpt=[str(offer["Reply-To"])],
                        mail_from="bob@corp.test")
    assert handoff(sessions).status == status
    if note:
        told = mail_to(mails, "ana@corp.test")
        assert note in told.get_body(("plain",)).get_content()


def test_a_forged_from_on_someone_elses_reply_address_changes_nothing(flow, sessions):
    """Ana's receipt carries her reply address; 'Bob' writing to it is not Bob."""
    mails = flow.submit(handoff_mail())
    receipt = mail_to(mails, "ana@corp.test")
    flow.submit(reply(receipt, "accept\n"), rcpt=[str(receipt["Reply-To"])],
                mail_from="bob@corp.test")
    assert handoff(sessions).status == "offered"
    [refused] = refusals(sessions)
    assert refused["command"] == "accept" and refused["writer"] == "bob@corp.test"
    assert "reply address" in refused["reason"]


def test_a_command_sent_to_another_handoffs_address_changes_nothing(flow, sessions):
    first = offer_of(flow)
    second = offer_of(flow, message_id="<m2@corp.test>", subject="Second task")
    # the thread of the first, but the reply address of the second
    flow.submit(reply(first, "decline: wrong one\n"), rcpt=[str(second["Reply-To"])],
                mail_from="bob@corp.test")
    assert handoff(sessions, 1).status == "offered"
    assert handoff(sessions, 2).status == "offered"
    assert len(refusals(sessions, 1)) == 1


def test_a_command_to_the_plain_service_address_changes_nothing(flow, sessions):
    offer = offer_of(flow)
    flow.submit(reply(offer, "accept\n"), mail_from="bob@corp.test")  # to handoff@
    assert handoff(sessions).status == "offered"
    assert len(refusals(sessions)) == 1


def test_a_command_that_is_not_possible_now_is_recorded_as_refused(flow, sessions):
    offer = offer_of(flow)
    rcpt = [str(offer["Reply-To"])]
    flow.submit(reply(offer, "decline: no\n"), rcpt=rcpt, mail_from="bob@corp.test")
    flow.submit(reply(offer, "accept\n", message_id="<cmd2@corp.test>"), rcpt=rcpt,
                mail_from="bob@corp.test")
    assert handoff(sessions).status == "declined"
    [refused] = refusals(sessions)
    assert "declined" in refused["reason"]


@pytest.mark.parametrize("body", [
    "Done when: the cert is live on all hosts\n",
    "Thanks! I will accept this tomorrow.\n",
    "Hi Ana,\n\naccept\n",
])
def test_the_same_words_elsewhere_are_ordinary_text(flow, sessions, body):
    offer = offer_of(flow)
    flow.submit(reply(offer, body), rcpt=[str(offer["Reply-To"])], mail_from="bob@corp.test")
    assert handoff(sessions).status == "offered"
    with sessions() as session:
        assert session.scalar(select(Event.kind).order_by(Event.id.desc())) == "comment"


def test_the_senders_done_answering_a_question_is_an_answer(flow, sessions):
    offer = offer_of(flow)
    mails = flow.submit(reply(offer, "need info: did you order the cert?\n"),
                        rcpt=[str(offer["Reply-To"])], mail_from="bob@corp.test")
    question = mail_to(mails, "ana@corp.test")
    flow.submit(reply(question, "Done.\n", sender="Ana Example <ana@corp.test>",
                      message_id="<ans@corp.test>"),
                rcpt=[str(question["Reply-To"])], mail_from="ana@corp.test")
    assert handoff(sessions).status == "offered"  # answered: back where it was asked
    assert refusals(sessions) == []

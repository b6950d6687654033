"""Incomplete packets (SPEC 2): the sender gets a checklist; her reply in the thread that
supplies the lines completes the packet, and only then does the offer go out."""

from __future__ import annotations

from sqlalchemy import select

from handoff.models import Event, Handoff
from tests.conftest import handoff_mail, mail_to


def reply_to(mail, body: str, *, sender: str = "Ana Example <ana@corp.test>",
             message_id: str = "<r1@corp.test>"):
    reply = handoff_mail(sender=sender, to=str(mail["Reply-To"]), cc=None,
                         subject=f"Re: {mail['Subject']}", body=body, message_id=message_id)
    reply["In-Reply-To"] = mail["Message-ID"]
    reply["References"] = mail["Message-ID"]
    return reply


def status(sessions, hid: int = 1) -> str:
    with sessions() as session:
        return session.get(Handoff, hid).status


def test_the_owner_line_in_the_senders_reply_completes_the_packet_and_sends_the_offer(
        flow, sessions):
    checklist = mail_to(flow.submit(handoff_mail(to="bob@corp.test, carol@corp.test")),
                        "ana@corp.test")
    assert status(sessions) == "incomplete"

    mails = flow.submit(reply_to(checklist, "Owner: Carol <carol@corp.test>\n\n"
                                            "> quoted checklist\n"))
    offer = mail_to(mails, "carol@corp.test")
    assert "Accept" in offer.get_body(("plain",)).get_content()
    receipt = mail_to(mails, "ana@corp.test")
    assert "carol@corp.test" in receipt.get_body(("plain",)).get_content()
    with sessions() as session:
        handoff = session.get(Handoff, 1)
        assert handoff.status == "offered" and handoff.owner.address == "carol@corp.test"
        assert handoff.ball == "owner"
        kinds = list(session.scalars(select(Event.kind).order_by(Event.id)))
    assert kinds == ["created", "incomplete", "packet_supplied", "offered"]


def test_other_lines_of_the_reply_join_the_packet_too(flow, sessions):
    checklist = mail_to(flow.submit(handoff_mail(to="bob@corp.test, carol@corp.test",
                                                 body="Please take this.\n")),
                        "ana@corp.test")
    flow.submit(reply_to(checklist, "Owner: bob@corp.test\nDone when: the cert is live\n"
                                    "Deadline: Friday 5pm\n"))
    with sessions() as session:
        handoff = session.get(Handoff, 1)
        assert handoff.packet["done"]["value"] == "the cert is live"
        assert handoff.packet["deadline"]["phrase"] == "Friday 5pm"
        assert handoff.deadline is not None and handoff.status == "offered"


def test_a_reply_that_supplies_nothing_gets_the_checklist_again(flow, sessions):
    checklist = mail_to(flow.submit(handoff_mail(to="bob@corp.test, carol@corp.test")),
                        "ana@corp.test")
    again = mail_to(flow.submit(reply_to(checklist, "Sorry, which one do you mean?\n")),
                    "ana@corp.test")
    assert "Name one owner" in again.get_body(("plain",)).get_content()
    assert status(sessions) == "incomplete"


def test_naming_herself_as_owner_does_not_complete_it(flow, sessions):
    checklist = mail_to(flow.submit(handoff_mail(to="bob@corp.test, carol@corp.test")),
                        "ana@corp.test")
    flow.submit(reply_to(checklist, "Owner: ana@corp.test\n"))
    assert status(sessions) == "incomplete"


def test_only_the_sender_can_complete_it(flow, sessions):
    checklist = mail_to(flow.submit(handoff_mail(to="bob@corp.test, carol@corp.test")),
                        "ana@corp.test")
    mails = flow.submit(reply_to(checklist, "Owner: mallory@corp.test\n",
                                 sender="Mallory <mallory@corp.test>"))
    assert status(sessions) == "incomplete"
    assert not [m for m in mails if "mallory" in str(m["To"])]

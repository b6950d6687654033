"""No duplicates, no loops (SPEC 7): one Message-ID makes one handoff, replies join their
handoff's timeline, automatic mail never makes a handoff and never gets an answer."""

from __future__ import annotations

from sqlalchemy import func, select

from handoff.models import Event, Handoff, InboundMessage
from tests.conftest import SERVICE, handoff_mail, mail_to


def handoff_count(sessions) -> int:
    with sessions() as session:
        return int(session.scalar(select(func.count(Handoff.id))))


def comments(sessions, hid: int = 1) -> list[str]:
    with sessions() as session:
        return [e.detail.get("text", "") for e in session.scalars(
            select(Event).where(Event.handoff_id == hid, Event.kind == "comment"))]


def test_the_same_message_id_delivered_twice_makes_one_handoff(flow, sessions):
    first = flow.submit(handoff_mail())
    second = flow.submit(handoff_mail())  # e.g. once via Cc, once via a list or IMAP
    assert handoff_count(sessions) == 1
    assert len(first) == 2 and second == []
    with sessions() as session:
        statuses = list(session.scalars(select(InboundMessage.status).order_by(InboundMessage.id)))
    assert statuses == ["done", "duplicate"]


def test_reply_by_in_reply_to_our_offer_joins_the_timeline(flow, sessions):
    offer = mail_to(flow.submit(handoff_mail()), "bob@corp.test")
    reply = handoff_mail(sender="bob@corp.test", to="ana@corp.test", cc=SERVICE,
                         subject="Re: Renew the TLS certificate", message_id="<r1@corp.test>",
                         body="Will look at it after lunch.\n\n> quoted offer\n",
                         In_Reply_To=offer["Message-ID"])
    flow.submit(reply, mail_from="bob@corp.test")
    assert handoff_count(sessions) == 1
    assert comments(sessions) == ["Will look at it after lunch."]


def test_reply_all_to_the_original_mail_joins_by_references(flow, sessions):
    flow.submit(handoff_mail())
    reply = handoff_mail(sender="bob@corp.test", to="ana@corp.test", cc=SERVICE,
                         subject="Re: Renew the TLS certificate", message_id="<r2@corp.test>",
                         body="On it.", References="<m1@corp.test>")
    mails = flow.submit(reply, mail_from="bob@corp.test")
    assert handoff_count(sessions) == 1
    assert comments(sessions) == ["On it."]
    assert mails == []  # Ana was addressed directly: no copy from us


def test_subject_tag_finds_the_thread_when_headers_were_lost(flow, sessions):
    flow.submit(handoff_mail())
    reply = handoff_mail(sender="bob@corp.test", to=SERVICE, cc=None,
                         subject="Re: Renew the TLS certificate [H-1]",
                         message_id="<r3@corp.test>", body="Which port?")
    mails = flow.submit(reply, mail_from="bob@corp.test")
    assert handoff_count(sessions) == 1
    assert comments(sessions) == ["Which port?"]
    # Ana did not get Bob's mail directly, so the service passes it on.
    assert "Which port?" in mail_to(mails, "ana@corp.test").get_body(("plain",)).get_content()


def test_a_made_up_in_reply_to_matches_nothing(flow, sessions):
    flow.submit(handoff_mail())
    forged = handoff_mail(sender="eve@evil.test", to="bob@corp.test",
                          subject="Another thing", message_id="<f1@evil.test>",
                          In_Reply_To="<h1.000000000000.0000000000000000@acme.test>")
    flow.submit(forged, mail_from="eve@evil.test")
    assert handoff_count(sessions) == 2
    assert comments(sessions) == []


AUTOMATIC = {
    "out of office": dict(Auto_Submitted="auto-replied", subject="Out of Office: Renew"),
    "vacation header": dict(X_Autoreply="yes", subject="Away"),
    "list mail": dict(List_Id="<dev.lists.corp.test>", subject="Weekly digest"),
    "bulk": dict(Precedence="bulk", subject="Newsletter"),
}


def test_automatic_mail_never_makes_a_handoff_and_never_gets_an_answer(flow, sessions):
    for i, (name, headers) in enumerate(AUTOMATIC.items()):
        msg = handoff_mail(message_id=f"<auto{i}@corp.test>", **headers)
        assert flow.submit(msg) == [], name
    bounce = handoff_mail(sender="MAILER-DAEMON@mx.corp.test", message_id="<b1@mx.corp.test>",
                          subject="Undelivered Mail Returned to Sender")
    assert flow.submit(bounce, mail_from="") == []
    ours = handoff_mail(sender=SERVICE, message_id="<loop@corp.test>")
    assert flow.submit(ours) == []
    assert handoff_count(sessions) == 0
    with sessions() as session:
        kinds = list(session.scalars(select(InboundMessage.kind).order_by(InboundMessage.id)))
    assert kinds == ["autoreply", "autoreply", "list", "list", "bounce", "loop"]


def test_an_auto_reply_to_our_offer_is_noted_on_the_handoff_and_not_answered(flow, sessions):
    offer = mail_to(flow.submit(handoff_mail()), "bob@corp.test")
    ooo = handoff_mail(sender="bob@corp.test", to=str(offer["Reply-To"]), cc=None,
                       subject="Automatic reply: Renew the TLS certificate",
                       message_id="<ooo@corp.test>", body="I am away until Monday.",
                       Auto_Submitted="auto-replied", In_Reply_To=offer["Message-ID"])
    told = flow.submit(ooo, mail_from="")
    assert [str(m["To"]) for m in told] == ["Ana Example <ana@corp.test>"]  # never Bob
    with sessions() as session:
        kinds = list(session.scalars(select(Event.kind).where(Event.handoff_id == 1)))
    assert "received_autoreply" in kinds and "comment" not in kinds

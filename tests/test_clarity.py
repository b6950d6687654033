""""Was the handoff clear?" (SPEC 4, issue 11 point 3): when a handoff closes, the owner's
one mail about it asks, with three one-click answers that act only by the page's POST;
at most once per handoff, never to an owner whose address failed, never to a robot."""

from __future__ import annotations

from datetime import datetime, timezone

from sqlalchemy import func, select

from handoff.chase import run_chase_pass
from handoff.models import ClarityAnswer, Event, Handoff
from tests.conftest import handoff_mail, links_of, mail_to, reply_to
from tests.conftest import event_kinds as kinds
from tests.test_away_and_bounces import bounce_address_of, dsn

ANSWERS = {"Clear", "Missing something", "Unclear"}


def text_of(mail) -> str:
    return mail.get_body(("plain",)).get_content()


def answers(sessions) -> list[tuple[str, str | None]]:
    with sessions() as session:
        return [(a.answer, a.note) for a in session.scalars(select(ClarityAnswer))]


def done_by_bob(flow, client, owner: str = "Bob Builder <bob@corp.test>"):
    """Offered to ``owner``, who marks it done; returns the sender's "done" mail."""
    offer = mail_to(flow.submit(handoff_mail(to=owner)), owner.split("<")[-1].rstrip(">"))
    client.post(links_of(offer)["Done"], data={"note": "renewed"})
    return mail_to(flow.flush(), "ana@corp.test")


def test_confirming_asks_the_owner_once_and_the_answer_is_kept_with_its_note(
        flow, client, sessions):
    done = done_by_bob(flow, client)
    client.post(links_of(done)["Confirm done"])
    [question] = flow.flush()  # one mail: the closed notice is the question
    assert "bob@corp.test" in str(question["To"])
    assert "confirmed" in text_of(question) and "clear enough to act on" in text_of(question)
    assert question["Auto-Submitted"] == "auto-generated"  # an out-of-office stays silent
    links = links_of(question)
    assert set(links) == ANSWERS

    page = client.get(links["Missing something"])
    assert page.status_code == 200 and client.head(links["Missing something"]).status_code == 200
    html = page.get_data(as_text=True)
    assert "What was missing?" in html and "<script" not in html
    assert answers(sessions) == []  # a link scanner's GET answers nothing

    resp = client.post(links["Missing something"], data={"note": "which hosts"})
    assert resp.status_code == 303
    assert answers(sessions) == [("missing", "which hosts")]
    assert kinds(sessions).count("clarity_asked") == 1
    assert flow.flush() == []  # the answer feeds the figures; nobody is mailed


def test_another_answer_replaces_the_first_and_a_pressed_link_shows_it(flow, client,
                                                                      sessions):
    client.post(links_of(done_by_bob(flow, client))["Confirm done"])
    links = links_of(flow.flush()[0])
    client.post(links["Unclear"])
    assert answers(sessions) == [("unclear", None)]
    page = client.get(links["Clear"]).get_data(as_text=True)
    assert "You answered “unclear” before" in page
    client.post(links["Clear"], data={"note": "all there after all"})
    assert answers(sessions) == [("clear", "all there after all")]
    # the figures count the answer as it stands now (handoffs.clarity, kept by the click)
    clarity = client.get("/api/figures").get_json()["figures"]["clarity"]["all"]
    assert (clarity["answers"], clarity["clear"], clarity["unclear"]) == (1, 1, 0)
    again = client.get(links["Unclear"]).get_data(as_text=True)
    assert "already used" in again
    assert client.post(links["Unclear"]).status_code == 409
    assert answers(sessions) == [("clear", "all there after all")]


def test_a_handoff_the_chaser_closes_asks_too_and_only_once(flow, client, sessions):
    flow.clock.now = datetime(2026, 11, 24, 8, 0, tzinfo=timezone.utc)
    done_by_bob(flow, client)
    when = datetime(2026, 12, 2, 9, 5, tzinfo=timezone.utc)  # five business days on
    run_chase_pass(sessions, flow.settings, when)
    flow.clock.now = when
    to_bob = [m for m in flow.flush() if "bob@corp.test" in str(m["To"])]
    [question] = to_bob
    assert "no confirmation came" in text_of(question).lower()
    assert set(links_of(question)) == ANSWERS
    run_chase_pass(sessions, flow.settings, datetime(2026, 12, 9, 9, 5, tzinfo=timezone.utc))
    assert [m for m in flow.flush() if "bob@corp.test" in str(m["To"])] == []
    assert kinds(sessions).count("clarity_asked") == 1


def test_reopened_then_closed_is_still_one_question(flow, client, sessions):
    done = done_by_bob(flow, client)
    client.post(links_of(done)["Reopen"], data={"note": "staging too"})
    reopened = mail_to(flow.flush(), "bob@corp.test")
    client.post(links_of(reopened)["Done"])
    client.post(links_of(mail_to(flow.flush(), "ana@corp.test"))["Confirm done"])
    client.post(links_of(done)["Confirm done"])  # the first done mail's link: stale
    to_bob = [m for m in flow.flush() if "bob@corp.test" in str(m["To"])]
    assert len(to_bob) == 1 and set(links_of(to_bob[0])) == ANSWERS
    with sessions() as session:
        assert session.scalar(select(func.count()).where(Event.kind == "clarity_asked")) == 1


def test_an_owner_whose_address_failed_is_not_asked(flow, client, sessions):
    offer = mail_to(flow.submit(handoff_mail()), "bob@corp.test")
    flow.submit(dsn("bob@corp.test"), rcpt=[bounce_address_of(flow, offer)], mail_from="")
    flow.flush()
    client.post(links_of(offer)["Done"])  # he heard of it another way
    client.post(links_of(mail_to(flow.flush(), "ana@corp.test"))["Confirm done"])
    to_bob = [m for m in flow.flush() if "bob@corp.test" in str(m["To"])]
    assert all(links_of(m) == {} for m in to_bob)
    assert "clarity_asked" not in kinds(sessions) and "clarity_not_asked" in kinds(sessions)


def test_a_robot_owner_is_never_asked(flow, client, sessions):
    """A handoff given to a shared no-reply mailbox (a ticket robot) closes without the
    question: nobody there reads it."""
    done = done_by_bob(flow, client, owner="Deploy Bot <no-reply@builds.corp.test>")
    client.post(links_of(done)["Confirm done"])
    [closed] = [m for m in flow.flush() if "no-reply@builds.corp.test" in str(m["To"])]
    assert links_of(closed) == {} and "clear enough" not in text_of(closed)
    with sessions() as session:
        event = session.scalar(select(Event).where(Event.kind == "clarity_not_asked"))
        assert "automatic mailbox" in event.detail["reason"]
        assert session.get(Handoff, 1).status == "closed"


def thank_after_close(flow, client):
    """Ana confirms, then thanks Bob by replying to the "done" mail: the mail Bob gets."""
    done = done_by_bob(flow, client)
    client.post(links_of(done)["Confirm done"])
    flow.flush()
    thanks = reply_to(done, "Thanks a lot, Bob!\n", sender="Ana Example <ana@corp.test>",
                      message_id="<thanks@corp.test>")
    [to_bob] = flow.submit(thanks, rcpt=[str(done["Reply-To"])])
    return to_bob


def test_a_thank_you_after_the_close_reaches_the_owner_without_a_second_question(
        flow, client, sessions):
    to_bob = thank_after_close(flow, client)
    assert "Thanks a lot, Bob!" in text_of(to_bob)
    assert links_of(to_bob) == {}
    assert kinds(sessions).count("clarity_asked") == 1


def test_an_out_of_office_after_the_close_tells_the_sender_nothing(flow, client, sessions):
    """Ana thanks Bob after the close; Bob's auto-responder answers that mail: it goes
    on the timeline, and nobody is told he looks away from work that has ended."""
    from tests.test_away_and_bounces import out_of_office

    to_bob = thank_after_close(flow, client)
    told = flow.submit(out_of_office(to_bob), rcpt=[bounce_address_of(flow, to_bob)],
                       mail_from="")
    assert told == []
    with sessions() as session:
        assert session.get(Handoff, 1).owner_away_since is None
    assert kinds(sessions)[-1] == "received_autoreply"

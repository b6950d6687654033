"""Action links (SPEC 4): GET and HEAD change nothing, only the button's POST acts, a stale
click shows the current state, and every action tells the other party by mail."""

from __future__ import annotations

from sqlalchemy import func, select

from handoff.models import Event, Handoff
from tests.conftest import handoff_mail, links_of, mail_to
from tests.conftest import event_kinds as events_of


def status_of(sessions, hid: int = 1) -> str:
    with sessions() as session:
        return session.get(Handoff, hid).status


def offered(flow):
    mails = flow.submit(handoff_mail())
    return links_of(mail_to(mails, "bob@corp.test"))


def test_get_and_head_show_a_confirmation_page_and_change_nothing(flow, client, sessions):
    links = offered(flow)
    before = events_of(sessions)
    for _ in range(3):  # a link scanner opening the link again and again
        page = client.get(links["Accept"])
        assert page.status_code == 200
        assert client.head(links["Accept"]).status_code == 200
    html = page.get_data(as_text=True)
    assert "Bob Builder" in html and "bob@corp.test" in html
    assert html.count("<form") == 1 and 'method="post"' in html
    assert "<script" not in html  # nothing submits the form by itself
    assert status_of(sessions) == "offered"
    assert events_of(sessions) == before
    assert flow.flush() == []


def test_accept_by_post_with_read_back_tells_the_sender(flow, client, sessions):
    links = offered(flow)
    resp = client.post(links["Accept"], data={"note": "the new cert serves on all hosts"})
    assert resp.status_code == 303 and "/h/H-1" in resp.headers["Location"]
    assert status_of(sessions) == "accepted"
    told = mail_to(flow.flush(), "ana@corp.test")
    body = told.get_body(("plain",)).get_content()
    assert "accepted" in body and "the new cert serves on all hosts" in body
    assert told["Auto-Submitted"] == "auto-generated"
    assert events_of(sessions)[-1] == "accepted"


def test_a_repeated_click_shows_the_current_state_not_an_error(flow, client, sessions):
    links = offered(flow)
    client.post(links["Accept"])
    again = client.get(links["Accept"])
    assert again.status_code == 200
    assert "already used" in again.get_data(as_text=True)
    repost = client.post(links["Accept"])
    assert repost.status_code == 409 and "accepted" in repost.get_data(as_text=True)
    decline = client.post(links["Decline"], data={"note": "too late"})
    assert "no longer applies" in decline.get_data(as_text=True)
    assert status_of(sessions) == "accepted"
    assert events_of(sessions).count("accepted") == 1


def test_an_expired_link_does_nothing(flow, client, sessions, clock):
    links = offered(flow)
    clock.advance(days=31)
    page = client.get(links["Accept"])
    assert "expired" in page.get_data(as_text=True)
    assert client.post(links["Accept"]).status_code == 409
    assert status_of(sessions) == "offered"


def test_unknown_token_is_a_404_page(client):
    assert client.get("/a/not-a-real-token").status_code == 404
    assert client.post("/a/not-a-real-token").status_code == 404


def test_need_info_goes_to_the_sender_and_her_reply_answers_it(flow, client, sessions):
    links = offered(flow)
    client.post(links["Need info"], data={"note": "Which hosts?"})
    assert status_of(sessions) == "needs_info"
    question = mail_to(flow.flush(), "ana@corp.test")
    assert "Which hosts?" in question.get_body(("plain",)).get_content()
    assert question["Auto-Submitted"] is None  # it asks her to act

    answer = handoff_mail(sender="Ana Example <ana@corp.test>", to=str(question["Reply-To"]),
                          cc=None, subject=f"Re: {question['Subject']}",
                          message_id="<answer@corp.test>",
                          body="All three web hosts.\n\nOn Mon, Bob wrote:\n> Which hosts?\n",
                          In_Reply_To=question["Message-ID"])
    mails = flow.submit(answer, rcpt=[str(question["Reply-To"])])
    assert status_of(sessions) == "offered"  # back where the question was asked
    to_bob = mail_to(mails, "bob@corp.test")
    text = to_bob.get_body(("plain",)).get_content()
    assert "All three web hosts." in text and "> Which hosts?" not in text
    assert set(links_of(to_bob)) == {"Accept", "Need info", "Decline", "Done", "Snooze",
                                     "Hand on"}
    with sessions() as session:
        assert session.scalar(select(func.count(Handoff.id))) == 1


def test_decline_tells_the_sender_with_the_reason(flow, client, sessions):
    links = offered(flow)
    client.post(links["Decline"], data={"note": "Not my team <b>really</b>"})
    assert status_of(sessions) == "declined"
    told = mail_to(flow.flush(), "ana@corp.test")
    assert "Not my team <b>really</b>" in told.get_body(("plain",)).get_content()
    assert "Not my team &lt;b&gt;really&lt;/b&gt;" in told.get_body(("html",)).get_content()


def test_done_then_confirm_closes_and_tells_the_owner(flow, client, sessions):
    links = offered(flow)
    client.post(links["Accept"])
    flow.flush()
    client.post(links["Done"], data={"note": "deployed"})
    assert status_of(sessions) == "done"
    done_mail = mail_to(flow.flush(), "ana@corp.test")
    sender_links = links_of(done_mail)
    assert set(sender_links) == {"Confirm done", "Reopen"}
    client.post(sender_links["Confirm done"])
    assert status_of(sessions) == "closed"
    closed = mail_to(flow.flush(), "bob@corp.test")
    assert "confirmed" in closed.get_body(("plain",)).get_content()


def test_reopen_returns_the_ball_to_the_owner_with_fresh_links(flow, client, sessions):
    links = offered(flow)
    client.post(links["Done"])
    sender_links = links_of(mail_to(flow.flush(), "ana@corp.test"))
    client.post(sender_links["Reopen"], data={"note": "staging still has the old cert"})
    assert status_of(sessions) == "accepted"
    reopened = mail_to(flow.flush(), "bob@corp.test")
    assert "staging still has the old cert" in reopened.get_body(("plain",)).get_content()
    fresh = links_of(reopened)
    assert set(fresh) == {"Need info", "Done", "Snooze", "Hand on"}
    client.post(fresh["Done"])
    assert status_of(sessions) == "done"


def test_a_link_is_bound_to_its_person_the_sender_cannot_use_the_owners_link_token(
        flow, client, sessions):
    """Tokens carry their person: the owner's links act as the owner only; the sender's
    confirm link does nothing while the handoff is not done."""
    links = offered(flow)
    client.post(links["Done"])
    sender_links = links_of(mail_to(flow.flush(), "ana@corp.test"))
    client.post(sender_links["Reopen"])
    flow.flush()
    page = client.get(sender_links["Confirm done"])
    assert "no longer applies" in page.get_data(as_text=True)
    assert client.post(sender_links["Confirm done"]).status_code == 409
    assert status_of(sessions) == "accepted"

"""Hand on (SPEC 4, issue 11 point 4): the owner (link with an address box, or reply
``hand on: carol@...``) or the sender passes the handoff to a new owner, who gets an
offer with the packet and the history; the old owner is released, the sender told; the
ball and the chase clock move with it; the chain is kept."""

from __future__ import annotations

import re
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from handoff.chase import run_chase_pass
from handoff.models import Event, Handoff
from tests.conftest import SERVICE, handoff_mail, links_of, mail_to, send
from tests.conftest import stored_handoff as handoff
from tests.conftest import reply_to as reply
from tests.test_browser import browser  # noqa: F401  (the fixture)

BERLIN = ZoneInfo("Europe/Berlin")
CAROL = "carol@corp.test"


def text_of(mail) -> str:
    return mail.get_body(("plain",)).get_content()


def owner_of(sessions) -> str | None:
    with sessions() as session:
        h = session.get(Handoff, 1)
        return h.owner.address if h.owner else None


def test_the_owner_hands_on_by_link_and_the_new_owner_gets_packet_and_history(
        flow, client, sessions):
    offer = mail_to(flow.submit(handoff_mail()), "bob@corp.test")
    bob = links_of(offer)
    client.post(bob["Accept"], data={"note": "new cert on all hosts"})
    flow.flush()

    page = client.get(bob["Hand on"])
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and 'name="address"' in html and 'name="note"' in html
    assert "the new cert is live" in html  # the packet being handed on, above the button
    assert owner_of(sessions) == "bob@corp.test"  # GET changed nothing

    resp = client.post(bob["Hand on"], data={"address": "Carol Jones <carol@corp.test>",
                                             "note": "Carol has the DNS access"})
    assert resp.status_code == 303
    h = handoff(sessions)
    assert (h.status, h.owner.address, h.ball) == ("offered", CAROL, "owner")

    told = flow.flush()
    to_carol = mail_to(told, CAROL)
    text = text_of(to_carol)
    assert "Bob Builder handed this on to you" in text and "Carol has the DNS access" in text
    assert "Done when: the new cert is live" in text  # the packet
    assert "Owner: carol@corp.test (handed on; first bob@corp.test)" in text
    assert "So far:" in text and "Ana Example: handed it off" in text
    assert "Bob Builder: accepted: new cert on all hosts" in text  # the history, in short
    assert set(links_of(to_carol)) >= {"Accept", "Decline", "Hand on"}
    assert "Nothing more is needed from you" in text_of(mail_to(told, "bob@corp.test"))
    to_ana = text_of(mail_to(told, "ana@corp.test"))
    assert "handed" in to_ana and CAROL in to_ana and "Carol has the DNS access" in to_ana

    # Bob's links now only show where it stands
    stale = client.get(bob["Done"]).get_data(as_text=True)
    assert f"is with {CAROL}" in stale and 'id="act"' not in stale
    assert client.post(bob["Done"]).status_code == 409
    assert handoff(sessions).status == "offered"
    page = client.get("/h/H-1").get_data(as_text=True)
    assert "bob@corp.test → carol@corp.test" in page
    assert client.get("/api/handoffs/H-1").get_json()["chain"] == ["bob@corp.test", CAROL]


@pytest.mark.parametrize("address, says", [
    (SERVICE, "own address: name a person"),
    ("bob@corp.test", "owns H-1 already"),
    ("ana@corp.test", "the sender cannot own it"),
    ("carol@corp.test, dave@corp.test", "one owner"),
    ("carol", "by their address"),
    ("noreply@corp.test", "automatic mailbox"),
])
def test_a_wrong_address_shows_the_form_again_and_changes_nothing(
        flow, client, sessions, address, says):
    link = links_of(mail_to(flow.submit(handoff_mail()), "bob@corp.test"))["Hand on"]
    resp = client.post(link, data={"address": address})
    html = resp.get_data(as_text=True)
    assert resp.status_code == 422 and says in html and 'id="act"' in html
    assert owner_of(sessions) == "bob@corp.test" and flow.flush() == []
    assert client.post(link, data={"address": CAROL}).status_code == 303  # still usable
    assert owner_of(sessions) == CAROL


def test_the_sender_hands_on_by_reply_after_a_decline(flow, client, sessions):
    mails = flow.submit(handoff_mail())
    client.post(links_of(mail_to(mails, "bob@corp.test"))["Decline"],
                data={"note": "not my team"})
    declined = mail_to(flow.flush(), "ana@corp.test")
    assert "hand on: name@example.com" in text_of(declined)
    assert handoff(sessions).ended_at is not None

    told = flow.submit(reply(declined, "Hand on: Carol Jones <carol@corp.test>\n\n"
                                       "She owns the certificates now.\n",
                             sender="Ana Example <ana@corp.test>", message_id="<h1@corp.test>"),
                       rcpt=[str(declined["Reply-To"])])
    h = handoff(sessions)
    assert (h.status, h.owner.address, h.ended_at) == ("offered", CAROL, None)
    assert "She owns the certificates now." in text_of(mail_to(told, CAROL))
    assert "Ana Example handed this on to you" in text_of(mail_to(told, CAROL))
    assert "You handed" in text_of(mail_to(told, "ana@corp.test"))
    assert "Ana Example handed" in text_of(mail_to(told, "bob@corp.test"))
    with sessions() as session:
        event = session.scalar(select(Event).where(Event.kind == "handed_on"))
        assert (event.how, event.actor.address) == ("reply", "ana@corp.test")
        assert event.detail["previous_owner"] == "bob@corp.test"


def test_the_owner_hands_on_by_reply_a_cc_alone_is_a_comment(flow, sessions):
    """Copying someone on a reply is often "for your information": only the first line
    ``hand on:`` moves the handoff."""
    offer = mail_to(flow.submit(handoff_mail()), "bob@corp.test")
    rcpt = [str(offer["Reply-To"])]
    flow.submit(reply(offer, "Carol, can you look at this?\n", sender="bob@corp.test",
                      message_id="<cc@corp.test>", Cc=CAROL), rcpt=rcpt,
                mail_from="bob@corp.test")
    assert owner_of(sessions) == "bob@corp.test"
    told = flow.submit(reply(offer, "hand on: carol@corp.test\n", sender="bob@corp.test",
                             message_id="<ho@corp.test>"), rcpt=rcpt,
                       mail_from="bob@corp.test")
    assert owner_of(sessions) == CAROL
    assert "You handed" in text_of(mail_to(told, "bob@corp.test"))
    # the new owner may hand it on again; the chain grows; Bob's command moves nothing now
    carol_offer = mail_to(told, CAROL)
    flow.submit(reply(carol_offer, "hand on: dave@corp.test\n", sender=CAROL,
                      message_id="<ho2@corp.test>"), rcpt=[str(carol_offer["Reply-To"])],
                mail_from=CAROL)
    flow.submit(reply(offer, "hand on: erin@corp.test\n", sender="bob@corp.test",
                      message_id="<ho3@corp.test>"), rcpt=rcpt, mail_from="bob@corp.test")
    assert owner_of(sessions) == "dave@corp.test"  # Bob is no owner: refused
    with sessions() as session:
        last = session.scalar(select(Event).order_by(Event.id.desc()))
        assert last.kind == "command_refused" and "dave@corp.test" in last.detail["reason"]


def test_the_ball_and_the_chase_clock_move_to_the_new_owner(flow, client, sessions):
    flow.clock.now = datetime(2026, 11, 24, 9, 0, tzinfo=BERLIN)
    offer = mail_to(flow.submit(handoff_mail()), "bob@corp.test")
    client.post(links_of(offer)["Need info"], data={"note": "which hosts?"})
    flow.flush()
    flow.clock.now = datetime(2026, 11, 24, 12, 0, tzinfo=BERLIN)
    client.post(links_of(offer)["Hand on"], data={"address": CAROL})  # from needs info
    flow.flush()
    h = handoff(sessions)
    assert h.offered_at == flow.clock.now and h.ball == "owner"  # a new offer, to Carol

    def nudged(hour: int, minute: int) -> list[str]:
        when = datetime(2026, 11, 24, hour, minute, tzinfo=BERLIN)
        run_chase_pass(sessions, flow.settings, when)
        flow.clock.now = when
        return [str(m["To"]) for m in flow.flush()
                if "wait" in str(m["Subject"]) or "waits for you" in text_of(m)]

    assert nudged(13, 5) == []  # Bob's four hours would be up; Carol's are not
    assert [to for to in nudged(16, 5)] == [CAROL]


def test_handing_back_to_an_earlier_owner_leaves_their_old_links_dead(flow, client,
                                                                    sessions):
    first = links_of(mail_to(flow.submit(handoff_mail()), "bob@corp.test"))
    flow.clock.advance(minutes=5)
    client.post(first["Hand on"], data={"address": CAROL})
    carol = links_of(mail_to(flow.flush(), CAROL))
    flow.clock.advance(minutes=5)
    client.post(carol["Hand on"], data={"address": "bob@corp.test"})
    second = links_of(mail_to(flow.flush(), "bob@corp.test"))
    page = client.get(first["Accept"]).get_data(as_text=True)
    assert "earlier offer" in page
    assert client.post(first["Accept"]).status_code == 409
    assert client.post(second["Accept"]).status_code == 303
    assert client.get("/api/handoffs/H-1").get_json()["chain"] == [
        "bob@corp.test", CAROL, "bob@corp.test"]


@pytest.mark.realserver
def test_the_owner_hands_on_in_a_real_browser(running, sink, browser, tmp_path):  # noqa: F811
    send(running, handoff_mail())
    offer = next(r.message for r in sink.wait_for(2) if "bob@corp.test" in r.rcpt_tos)
    html = offer.get_body(("html",)).get_content()
    link = re.search(r'<a href="([^"]+/a/[^"]+)"[^>]*>Hand on</a>', html)[1]

    page = browser.new_page()
    response = page.goto(link)
    assert response is not None and response.status == 200
    assert page.locator("#act").inner_text() == "Hand on"
    assert "the new cert is live" in page.locator("#packet").inner_text()
    page.screenshot(path=str(tmp_path / "hand-on.png"), full_page=True)
    with running.sessions() as session:
        assert session.get(Handoff, 1).owner.address == "bob@corp.test"

    page.fill("#address", CAROL)
    page.fill("#note", "Carol has the DNS access")
    page.click("#act")
    page.wait_for_url(re.compile(r"/h/H-1"))
    assert page.locator("#status").inner_text() == "offered"
    assert "bob@corp.test → carol@corp.test" in page.locator("#chain").inner_text()
    page.screenshot(path=str(tmp_path / "handed-on.png"), full_page=True)
    mails = sink.wait_for(5)
    assert {r.rcpt_tos[0] for r in mails[2:]} == {CAROL, "bob@corp.test", "ana@corp.test"}


def test_the_earlier_owners_done_by_reply_is_refused_saying_who_has_it(flow, client,
                                                                      sessions):
    """Bob handed it on to Carol, then replies "done" to his old offer: it changes
    nothing, and the timeline says why (Carol has it), not a silent comment."""
    offer = mail_to(flow.submit(handoff_mail()), "bob@corp.test")
    client.post(links_of(offer)["Hand on"], data={"address": CAROL})
    flow.flush()
    flow.submit(reply(offer, "done\n", sender="Bob Builder <bob@corp.test>",
                      message_id="<late-done@corp.test>"),
                rcpt=[str(offer["Reply-To"])], mail_from="bob@corp.test")
    with sessions() as session:
        assert session.get(Handoff, 1).status == "offered"
        refused = session.scalars(select(Event).where(Event.kind == "command_refused")).one()
        assert CAROL in refused.detail["reason"]

"""Decision rules (SPEC 6, issue 11 point 2): a packet that mentions pricing, a contract,
legal, or an amount over a workflow's limit needs a decision; the decision owner named in
the rule is asked (link or reply ``decided: ...``), and the owner cannot mark it done
until they have answered."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from handoff.decisions import find_decision, read_rules
from handoff.errors import ConfigError
from handoff.models import Event, Handoff
from handoff.workflows import check_workflows
from tests.conftest import Flow, handoff_mail, links_of, mail_to, settings_from_toml
from tests.conftest import event_kinds as kinds
from tests.conftest import stored_handoff as handoff
from tests.conftest import reply_to as reply

TOML = """
[[workflows.sales.decisions]]
words = ["pricing", "contract*", "legal"]
owner = "Carla@Corp.test"
why = "pricing, contracts and legal need the CFO"

[[workflows.sales.decisions]]
amount_over = 10000
currency = "EUR"
owner = "carla@corp.test"
why = "deals over 10,000 EUR need the CFO"
"""
SALES = "handoff+sales@acme.test"
PRICING = ("Hi Bob,\n\nplease send Northwind the new pricing for 2027.\n\n"
           "Done when: the offer is in their inbox\nDeadline: Friday 5pm\n")


@pytest.fixture
def sales(tmp_path, database_url, sessions, clock) -> Flow:
    return Flow(settings_from_toml(tmp_path, database_url, TOML), sessions, clock)


def text_of(mail) -> str:
    return mail.get_body(("plain",)).get_content()


def offered(sales: Flow, body: str = PRICING):
    """Ana hands Bob a pricing job through the sales workflow: the mails it makes."""
    return sales.submit(handoff_mail(body=body, subject="Northwind renewal"), rcpt=[SALES])


def test_a_pricing_packet_is_marked_and_the_cfo_is_asked_with_a_decide_link(sales, sessions):
    mails = offered(sales)
    h = handoff(sessions)
    assert h.needs_decision.startswith("pricing, contracts and legal need the CFO")
    assert "“pricing”" in h.needs_decision
    offer = mail_to(mails, "bob@corp.test")
    assert "Needs decision: pricing, contracts and legal need the CFO" in text_of(offer)
    assert "carla@corp.test" in text_of(offer)
    receipt = mail_to(mails, "ana@corp.test")
    assert "It needs a decision" in text_of(receipt)
    ask = mail_to(mails, "carla@corp.test")
    assert "needs your decision" in text_of(ask) and "decided:" in text_of(ask)
    assert "the new pricing for 2027" in text_of(ask)  # the packet, to decide on
    assert set(links_of(ask)) == {"Decide"}
    assert ask["Auto-Submitted"] is None  # it asks her to act, like a colleague's mail
    assert "needs_decision" in kinds(sessions)


def test_done_is_refused_until_the_cfo_decides_then_it_goes(sales, sessions, client):
    mails = offered(sales)
    bob = links_of(mail_to(mails, "bob@corp.test"))
    client.post(bob["Accept"])
    sales.flush()

    page = client.get(bob["Done"]).get_data(as_text=True)  # shows why, offers no button
    assert "waits for a decision by carla@corp.test" in page
    assert 'id="act"' not in page
    refused = client.post(bob["Done"], data={"note": "sent"})
    assert refused.status_code == 409 and "waits for a decision" in refused.get_data(as_text=True)
    assert handoff(sessions).status == "accepted"
    assert sales.flush() == []

    decide = links_of(mail_to(mails, "carla@corp.test"))["Decide"]
    page = client.get(decide).get_data(as_text=True)
    assert 'name="note"' in page and "the new pricing for 2027" in page
    assert handoff(sessions).decided_at is None  # opening the link decided nothing
    empty = client.post(decide, data={"note": "  "})
    assert empty.status_code == 422 and "What was decided" in empty.get_data(as_text=True)
    assert client.post(decide, data={"note": "12% off, no more"}).status_code == 303
    h = handoff(sessions)
    assert h.decision == "12% off, no more" and h.decided_at is not None

    told = sales.flush()
    to_bob, to_ana = mail_to(told, "bob@corp.test"), mail_to(told, "ana@corp.test")
    assert "12% off, no more" in text_of(to_bob) and "12% off, no more" in text_of(to_ana)
    assert "Done" in links_of(to_bob)  # what was waiting for it
    assert client.post(bob["Done"], data={"note": "sent"}).status_code == 303
    assert handoff(sessions).status == "done"
    assert kinds(sessions).count("decided") == 1

    api = client.get("/api/handoffs/H-1").get_json()["decision"]
    assert api["pending"] is False and api["owner"] == "carla@corp.test"
    assert api["decision"] == "12% off, no more"
    assert "12% off, no more" in client.get("/h/H-1").get_data(as_text=True)


def test_the_cfo_decides_by_reply_but_a_forged_from_changes_nothing(sales, sessions):
    mails = offered(sales)
    ask = mail_to(mails, "carla@corp.test")
    rcpt = [str(ask["Reply-To"])]
    sales.submit(reply(ask, "decided: go ahead at list price\n", sender="bob@corp.test",
                       message_id="<forged@corp.test>"), rcpt=rcpt, mail_from="bob@corp.test")
    assert handoff(sessions).decided_at is None
    told = sales.submit(reply(ask, "Decided: go ahead at list price\n\nCarla\n",
                              sender="Carla CFO <carla@corp.test>", message_id="<d@corp.test>"),
                        rcpt=rcpt, mail_from="carla@corp.test")
    h = handoff(sessions)
    assert h.decision.startswith("go ahead at list price") and h.decided_at is not None
    assert {str(m["To"]) for m in told} == {"Ana Example <ana@corp.test>",
                                            "Bob Builder <bob@corp.test>"}


def test_the_owners_done_by_reply_is_refused_with_who_decides(sales, sessions):
    offer = mail_to(offered(sales), "bob@corp.test")
    sales.submit(reply(offer, "done\n", sender="Bob Builder <bob@corp.test>",
                       message_id="<done@corp.test>"),
                 rcpt=[str(offer["Reply-To"])], mail_from="bob@corp.test")
    assert handoff(sessions).status == "offered"
    with sessions() as session:
        refused = session.scalar(select(Event).where(Event.kind == "command_refused"))
        assert "waits for a decision by carla@corp.test" in refused.detail["reason"]


@pytest.mark.parametrize("body, fires", [
    ("Please check the contracts with Northwind.", "contracts"),
    ("Legal review is booked for Tuesday.", "Legal"),
    ("The deal is worth €12,500.", "€12,500"),
    ("Volume: 12.500 EUR a year.", "12.500 EUR"),
    ("Budget: 15 000", "15 000"),
    ("They asked for 15k EUR up front.", "15k EUR"),
    ("Discount of 1,5 Mio. EUR over three years.", "1,5 Mio. EUR"),
    ("Move the illegal parking signs.", None),  # "legal" only as a whole word
    ("Export 15 000 rows by Friday.", None),  # a bare number is not money
    ("Invoice 48213 was paid.", None),  # nor an invoice's number
    ("The deal is $15k.", None),  # no exchange rates: a EUR rule counts EUR (and unmarked)
    ("The deal is €9,999.99.", None),
    ("Angebot: 12.500,- € netto.", "12.500,- €"),  # the German price form
    ("They offered 15000EUR.", "15000EUR"),  # a code right after the digits
    ("Budget 2027 for Northwind.", None),  # a year after a money word is no amount
    ("The fee is 2,5% of 12,000.", None),  # a share, not the 2 of 2,5
])
def test_words_and_amounts_as_people_write_them(body, fires):
    rules = read_rules("[workflows.sales]", [
        {"words": ["pricing", "contract*", "legal"], "owner": "carla@corp.test"},
        {"amount_over": 10000, "currency": "EUR", "owner": "carla@corp.test"}])
    found = find_decision(rules, "Northwind", {"details": {"value": body,
                                                           "source": "stated"}})
    assert (found.found if found else None) == fires


def test_a_decided_line_is_no_open_question(sales, sessions):
    """What the packet says is already decided does not ask for a decision."""
    offered(sales, "Hi Bob,\n\nplease send Northwind the offer.\n\n"
                   "Decided: pricing stays as in 2026\nDone when: sent\n")
    assert handoff(sessions).needs_decision is None
    assert "needs_decision" not in kinds(sessions)


def test_a_decision_owner_who_sent_it_decided_in_sending_it(sales, sessions):
    mails = sales.submit(handoff_mail(sender="Carla CFO <carla@corp.test>", body=PRICING),
                         rcpt=[SALES], mail_from="carla@corp.test")
    h = handoff(sessions)
    assert h.needs_decision and h.decided_at is not None  # marked, and decided at once
    assert "decided by the sender" in h.decision
    assert [k for k in kinds(sessions) if k in ("needs_decision", "decided")] == [
        "needs_decision", "decided"]
    assert len([m for m in mails if "carla@corp.test" in str(m["To"])]) == 1  # the receipt


def test_a_decision_owner_who_owns_it_decides_in_marking_it_done(sales, sessions, client):
    mails = sales.submit(handoff_mail(to="Carla CFO <carla@corp.test>", body=PRICING),
                         rcpt=[SALES])
    offer = mail_to(mails, "carla@corp.test")  # one mail to Carla: her offer, no "ask"
    assert client.post(links_of(offer)["Done"]).status_code == 303
    h = handoff(sessions)
    assert h.status == "done" and "decided by the owner" in h.decision


def test_a_hand_on_by_the_owner_who_decides_leaves_the_decision_to_be_taken(
        sales, sessions, client):
    """Carla owns it and is its decision owner; she hands it on to Bob undecided: the
    mark stays, Carla is asked for the decision, and Bob's Done waits for it."""
    offer = mail_to(sales.submit(handoff_mail(to="Carla CFO <carla@corp.test>",
                                              body=PRICING), rcpt=[SALES]),
                    "carla@corp.test")
    client.post(links_of(offer)["Hand on"], data={"address": "bob@corp.test", "note": ""})
    mails = sales.flush()
    ask = mail_to([m for m in mails if "needs your decision" in text_of(m)],
                  "carla@corp.test")
    bobs = mail_to([m for m in mails if "Hand on" not in str(m["Subject"])
                    and "bob@corp.test" in str(m["To"])], "bob@corp.test")
    assert client.post(links_of(bobs)["Done"]).status_code == 409
    assert handoff(sessions).status == "offered"
    assert client.post(links_of(ask)["Decide"], data={"note": "price as quoted"}
                       ).status_code == 303
    assert handoff(sessions).decision == "price as quoted"


@pytest.mark.parametrize("toml", [
    '[[workflows.sales.decisions]]\nwords = ["pricing"]\nowner = "handoff@acme.test"\n',
    '[[workflows.sales.decisions]]\nwords = ["pricing"]\nowner = "handoff+sales@acme.test"\n',
    '[[workflows.sales.decisions]]\nwords = ["pricing"]\nowner = "noreply@corp.test"\n',
    '[workflows.sales]\nmanager = "handoff@acme.test"\n',
])
def test_a_decision_owner_or_manager_that_is_no_persons_mailbox_fails_at_start(
        tmp_path, database_url, toml):
    with pytest.raises(ConfigError, match="not a person's mailbox"):
        check_workflows(settings_from_toml(tmp_path, database_url, toml))


def test_the_default_workflow_has_no_rules(flow, sessions):
    flow.submit(handoff_mail(body=PRICING))
    assert handoff(sessions).needs_decision is None


@pytest.mark.parametrize("toml, message", [
    ('[[workflows.sales.decisions]]\nwords = ["pricing"]\n', "owner must be"),
    ('[[workflows.sales.decisions]]\nowner = "cfo@corp.test"\n', "needs words or amount_over"),
    ('[[workflows.sales.decisions]]\nowner = "cfo@corp.test"\nword = ["x"]\n',
     r"unknown keys \['word'\]"),
    ('[[workflows.sales.decisions]]\nowner = "cfo@corp.test"\namount_over = "10k"\n',
     "amount_over must be a number"),
    ('[[workflows.sales.decisions]]\nowner = "cfo@corp.test"\namount_over = 5\n'
     'currency = "dollars please"\n', "currency"),
    ('[workflows.sales]\ndecisions = "pricing"\n', "array of tables"),
])
def test_a_rule_typo_fails_at_start(tmp_path, database_url, toml, message):
    with pytest.raises(ConfigError, match=message):
        check_workflows(settings_from_toml(tmp_path, database_url, toml))


def test_the_ball_says_done_waits_for_the_decision_owner(sales, sessions, client):
    """Accepted with a decision pending: the page and the API say what the owner owes,
    and that "done" waits for Carla."""
    offer = mail_to(offered(sales), "bob@corp.test")
    client.post(links_of(offer)["Accept"])
    ball = client.get("/api/handoffs/H-1").get_json()["ball"]
    assert ball["person"] == "bob@corp.test"
    assert ball["owes"] == "deliver; done waits for a decision by carla@corp.test"
    assert "done waits for a decision by carla@corp.test" in client.get(
        "/h/H-1").get_data(as_text=True)


def test_the_decision_owners_question_reaches_the_sender_and_the_owner_once(sales, sessions):
    """Carla replies to her "decision needed" mail with a question, Bob in Cc: Ana hears
    of it; Bob has it already and is not mailed again."""
    ask = mail_to(offered(sales), "carla@corp.test")
    question = reply(ask, "What discount did they ask for?\n",
                     sender="Carla CFO <carla@corp.test>", message_id="<q@corp.test>")
    question["Cc"] = "Bob Builder <bob@corp.test>"
    told = sales.submit(question, rcpt=[str(ask["Reply-To"])], mail_from="carla@corp.test")
    assert "What discount did they ask for?" in text_of(mail_to(told, "ana@corp.test"))
    assert [m for m in told if "bob@corp.test" in str(m["To"])] == []

"""Weekly digests end to end (issue 11, point 5): real handoffs made from real mail,
chase passes run as of explicit instants (`run_chase_pass`, `handoff chase --now`), the
mail read from the dev outbox.  30 November 2026 is a Monday."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from datetime import datetime, timezone
from email.message import EmailMessage
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from handoff.chase import run_chase_pass
from handoff.models import Digest, Handoff, OutboxMail, Person
from tests.conftest import (SERVICE, Flow, handoff_mail, links_of, mail_to, run_at_once,
                            settings_from_toml)

BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")
ON = "[digests]\n"  # the table turns the senders' digests on
QUIET = "Hi,\n\nplease renew the certificate.\n\nDone when: the new cert is live\n"


def berlin(*args: int) -> datetime:
    return datetime(*args, tzinfo=BERLIN).astimezone(timezone.utc)


def new_york(*args: int) -> datetime:
    return datetime(*args, tzinfo=NEW_YORK).astimezone(timezone.utc)


def chase(flow: Flow, when: datetime) -> tuple[list, list[EmailMessage]]:
    lines = run_chase_pass(flow.sessions, flow.settings, when)
    flow.clock.now = when
    return lines, flow.flush()


def digests(mails: list[EmailMessage]) -> list[EmailMessage]:
    return [m for m in mails if "handoff digest" in text_of(m)]


def text_of(mail: EmailMessage) -> str:
    return mail.get_body(("plain",)).get_content()  # type: ignore[union-attr]


def hand_off(flow: Flow, when: datetime, n: int, *, sender: str = "Ana Example <ana@corp.test>",
             to: str = "Bob Builder <bob@corp.test>", body: str = QUIET,
             rcpt: list[str] | None = None, subject: str | None = None) -> EmailMessage:
    """Handoff number ``n`` made at ``when``; returns the offer to its owner."""
    flow.clock.now = when
    mails = flow.submit(handoff_mail(sender=sender, to=to, body=body,
                                     subject=subject or f"Task {n}",
                                     message_id=f"<t{n}@corp.test>",
                                     date=when.astimezone(BERLIN).strftime(
                                         "%a, %d %b %Y %H:%M:%S %z")),
                        rcpt=rcpt, mail_from=re.sub(r".*<|>", "", sender))
    return mail_to(mails, re.sub(r".*<|>", "", to))


def accept(flow: Flow, client, offer: EmailMessage) -> None:
    client.post(links_of(offer)["Accept"])
    flow.flush()


def with_toml(tmp_path, database_url, sessions, clock, toml: str = ON) -> Flow:
    return Flow(settings_from_toml(tmp_path, database_url, toml), sessions, clock)


def web_client(flow: Flow):
    from web import create_app

    return create_app(flow.settings, flow.sessions, clock=flow.clock).test_client()


def test_each_sender_gets_a_digest_monday_at_nine_in_their_own_zone_once(
        tmp_path, database_url, sessions, clock):
    """Ana works in Berlin, Carl in New York: each hears of their open handoffs on
    Monday at 09:00 on their own wall clock, once that week, and never an action link."""
    flow = with_toml(tmp_path, database_url, sessions, clock,
                     ON + '[people."carl@corp.test"]\nzone = "America/New_York"\n')
    client = web_client(flow)
    accept(flow, client, hand_off(flow, berlin(2026, 11, 24, 10, 0), 1))
    accept(flow, client, hand_off(flow, berlin(2026, 11, 24, 11, 0), 2,
                                  sender="Carl Client <carl@corp.test>"))
    assert digests(chase(flow, berlin(2026, 11, 30, 8, 55))[1]) == []
    lines, mails = chase(flow, berlin(2026, 11, 30, 9, 0))
    [ana] = digests(mails)
    assert str(ana["To"]) == "Ana Example <ana@corp.test>"
    assert [str(line) for line in lines] == [
        "digest     ana@corp.test                    1 handoff: H-1"]
    text = text_of(ana)
    assert str(ana["Subject"]) == "Your handoffs this week: 1 open"
    assert 'H-1 "Task 1"' in text and "H-2" not in text
    assert "accepted, the ball is with Bob Builder (deliver and mark done)" in text
    assert "opened 6 days ago" in text
    assert "/a/" not in text and links_of(ana) == {}  # a pure notice: nothing to click but pages
    assert ana["Auto-Submitted"] == "auto-generated"
    assert ana["In-Reply-To"] is None and ana["Reply-To"] is None
    assert digests(chase(flow, berlin(2026, 11, 30, 14, 0))[1]) == []  # Carl: 08:00 NY
    [carl] = digests(chase(flow, new_york(2026, 11, 30, 9, 5))[1])
    assert str(carl["To"]) == "Carl Client <carl@corp.test>" and "H-2" in text_of(carl)
    assert digests(chase(flow, berlin(2026, 12, 1, 10, 0))[1]) == []  # once a week
    [again] = digests(chase(flow, berlin(2026, 12, 7, 9, 0))[1])  # the next Monday
    assert "H-1" in text_of(again)
    # the item's link opens the handoff's own page, without the view key
    page = re.search(r"^  (https?://\S+/h/H-1\?k=\S+)$", text_of(ana), re.M)
    assert page is not None
    assert client.get("/" + page.group(1).split("/", 3)[3]).status_code == 200


def test_nothing_open_means_no_digest(tmp_path, database_url, sessions, clock):
    """A week with nothing open sends nothing: no empty mail, and no claim either."""
    flow = with_toml(tmp_path, database_url, sessions, clock)
    client = web_client(flow)
    offer = hand_off(flow, berlin(2026, 11, 24, 10, 0), 1)
    client.post(links_of(offer)["Decline"], data={"note": "not mine"})
    flow.flush()
    lines, mails = chase(flow, berlin(2026, 11, 30, 9, 5))
    assert lines == [] and digests(mails) == []
    with sessions() as session:
        assert session.scalar(select(func.count(Digest.id))) == 0


def test_two_chasers_at_once_send_one_digest(tmp_path, database_url, sessions, clock):
    """Two `handoff chase --now` processes at the same Monday instant, on the database
    under test: the digest is claimed once, so Ana gets one mail."""
    flow = with_toml(tmp_path, database_url, sessions, clock)
    client = web_client(flow)
    for n in (1, 2, 3):
        accept(flow, client, hand_off(flow, berlin(2026, 11, 24, 9 + n, 0), n))
    env = dict(os.environ, HANDOFF_DATABASE_URL=database_url,
               HANDOFF_DATA_DIR=str(tmp_path / "var"), HANDOFF_SERVICE_ADDRESS=SERVICE,
               HANDOFF_SECRET_KEY="test-secret-key", HANDOFF_TIMEZONE="Europe/Berlin",
               HANDOFF_CONFIG=str(tmp_path / "handoff.toml"))
    argv = [sys.executable, "-m", "handoff", "chase", "--now", "2026-11-30T08:05:00Z"]
    results = run_at_once(argv, env)
    said = [line for r in results for line in r.stdout.splitlines() if " digest " in line]
    assert len(said) == 1 and re.match(
        r"^(sent|sending) digest +ana@corp\.test +3 handoffs: H-1 H-2 H-3$", said[0]), said
    with sessions() as session:
        assert session.scalar(select(func.count(Digest.id))) == 1
        assert session.scalar(select(func.count(OutboxMail.id))
                              .where(OutboxMail.kind == "digest")) == 1
    flow.clock.now = berlin(2026, 11, 30, 9, 10)
    assert [str(m["To"]) for m in digests(flow.flush())] == ["Ana Example <ana@corp.test>"]


SALES = ON + '[workflows.sales]\nmanager = "Lead <LEAD@corp.test>"\n\n' \
        '[people."lead@corp.test"]\nzone = "America/New_York"\n'


def test_a_managers_digest_lists_the_workflows_handoffs_overdue_first(
        tmp_path, database_url, sessions, clock):
    """The sales workflow's manager (in New York) gets, on Monday 09:00 New York time,
    the workflow's open handoffs: the overdue one first, then the stalled one (offered
    six days ago, nobody acted), then the rest; deadlines on the manager's clock."""
    flow = with_toml(tmp_path, database_url, sessions, clock, SALES.replace(
        'manager = "Lead <LEAD@corp.test>"', 'manager = "lead@corp.test"'))
    client = web_client(flow)
    sales = ["handoff+sales@acme.test"]
    accept(flow, client, hand_off(flow, berlin(2026, 11, 27, 10, 0), 1, rcpt=sales,
                                  body=QUIET + "Deadline: next Friday\n"))
    hand_off(flow, berlin(2026, 11, 24, 11, 0), 2, rcpt=sales)  # never accepted: stalled
    accept(flow, client, hand_off(flow, berlin(2026, 11, 24, 10, 0), 3, rcpt=sales,
                                  body=QUIET + "Deadline: Thursday 5pm\n"))  # overdue
    accept(flow, client, hand_off(flow, berlin(2026, 11, 24, 12, 0), 4))  # default workflow
    lines, mails = chase(flow, berlin(2026, 11, 30, 9, 5))
    assert [line.recipient for line in lines if line.kind == "digest"] == ["ana@corp.test"]
    lines, mails = chase(flow, new_york(2026, 11, 30, 9, 5))
    assert [str(line) for line in lines if line.kind == "digest"] == [
        "digest     lead@corp.test                   3 handoffs: H-3 H-2 H-1"]
    lead = mail_to(digests(mails), "lead@corp.test")
    assert str(lead["Subject"]) == "Workflow sales this week: 3 open (1 overdue, 1 stalled)"
    text = text_of(lead)
    assert "H-4" not in text  # another workflow's
    overdue, stalled, still_open = (text.index(s) for s in (
        "\nOverdue\n", "\nStalled: no activity for 2 business days or more\n", "\nOpen\n"))
    assert overdue < text.index('H-3 "Task 3"') < stalled < text.index('H-2 "Task 2"') \
        < still_open < text.index('H-1 "Task 1"')
    assert "offered, the ball is with Bob Builder (accept or decline); owner: Bob Builder" \
        in text
    assert "was due Thu 26 Nov 2026, 11:00 (America/New_York)" in text  # 17:00 Berlin
    assert "due Fri 4 Dec 2026, 11:00 (America/New_York)" in text
    assert re.findall(r"/h/(H-\d)\?k=\w+", text) == ["H-3", "H-2", "H-1"]
    html = lead.get_body(("html",)).get_content()  # type: ignore[union-attr]
    assert re.findall(r'href="[^"]*/h/(H-\d)\?k=\w+"', html) == ["H-3", "H-2", "H-1"]
    assert lead["Auto-Submitted"] == "auto-generated" and "/a/" not in html
    assert digests(chase(flow, new_york(2026, 11, 30, 16, 0))[1]) == []


def test_a_manager_who_also_hands_work_off_gets_one_mail_a_week(
        tmp_path, database_url, sessions, clock):
    flow = with_toml(tmp_path, database_url, sessions, clock, SALES)
    client = web_client(flow)
    accept(flow, client, hand_off(flow, berlin(2026, 11, 24, 10, 0), 1,
                                  rcpt=["handoff+sales@acme.test"]))
    accept(flow, client, hand_off(flow, berlin(2026, 11, 24, 11, 0), 2,
                                  sender="Lead <lead@corp.test>"))
    assert digests(chase(flow, berlin(2026, 11, 30, 9, 5))[1])  # Ana's; the lead's waits
    mail = mail_to(digests(chase(flow, new_york(2026, 11, 30, 9, 0))[1]), "lead@corp.test")
    assert str(mail["To"]) == "Lead <lead@corp.test>"
    assert str(mail["Subject"]) == "Your weekly handoff digest: yours 1 open; sales 1 open"
    text = text_of(mail)
    assert text.index("== Your handoffs: 1 open ==") < text.index('H-2 "Task 2"') \
        < text.index("== Workflow sales: 1 open ==") < text.index('H-1 "Task 1"')
    with sessions() as session:
        rows = session.execute(select(Digest.kind, Digest.workflow, Digest.outbox_id)
                               .join(Person, Person.id == Digest.recipient_id)
                               .where(Person.address == "lead@corp.test")
                               .order_by(Digest.kind)).all()
    assert [(k, w) for k, w, _o in rows] == [("manager", "sales"), ("sender", "")]
    assert rows[0].outbox_id == rows[1].outbox_id  # two claims, one mail


def test_a_digest_counts_in_the_daily_cap(tmp_path, database_url, sessions, clock):
    """Ana's Monday digest is one of her two chase mails that day: after it and one
    nudge, a second nudge waits for Tuesday morning."""
    flow = with_toml(tmp_path, database_url, sessions, clock)
    client = web_client(flow)
    accept(flow, client, hand_off(flow, berlin(2026, 11, 24, 10, 0), 1))
    for n, hour in ((2, 9), (3, 10)):  # Dora hands two things to Ana on Monday
        hand_off(flow, berlin(2026, 11, 30, hour, 0), n, sender="Dora <dora@corp.test>",
                 to="Ana Example <ana@corp.test>")
    digest = mail_to(digests(chase(flow, berlin(2026, 11, 30, 9, 5))[1]), "ana@corp.test")
    assert "H-1" in text_of(digest)  # (Dora has hers too: H-2 was open at nine)
    nudge = mail_to(chase(flow, berlin(2026, 11, 30, 13, 5))[1], "ana@corp.test")
    assert "H-2" in text_of(nudge)
    lines, mails = chase(flow, berlin(2026, 11, 30, 14, 5))
    assert [m for m in mails if "ana@corp.test" in str(m["To"])] == []  # cap: waits
    nudge = mail_to(chase(flow, berlin(2026, 12, 1, 9, 5))[1], "ana@corp.test")
    assert "H-3" in text_of(nudge)


def test_a_digest_waits_for_the_next_morning_when_the_cap_is_reached(
        tmp_path, database_url, sessions, clock):
    """Ana wants hers at 15:00; two nudges reached her first that Monday: it comes
    Tuesday at the start of her day, as the digest of that week, once."""
    flow = with_toml(tmp_path, database_url, sessions, clock,
                     ON + '[people."ana@corp.test"]\ndigest_hour = "15:00"\n')
    accept(flow, web_client(flow), hand_off(flow, berlin(2026, 11, 24, 10, 0), 1))
    for n, hour in ((2, 9), (3, 10)):
        hand_off(flow, berlin(2026, 11, 30, hour, 0), n, sender="Dora <dora@corp.test>",
                 to="Ana Example <ana@corp.test>")
    mails = digests(chase(flow, berlin(2026, 11, 30, 9, 5))[1])
    assert [str(m["To"]) for m in mails] == ["Dora <dora@corp.test>"]  # Ana's is at 15:00
    for hour in (13, 14):
        mail_to(chase(flow, berlin(2026, 11, 30, hour, 5))[1], "ana@corp.test")  # nudges
    assert chase(flow, berlin(2026, 11, 30, 15, 5)) == ([], [])  # her hour, but capped
    assert chase(flow, berlin(2026, 11, 30, 16, 55)) == ([], [])
    lines, mails = chase(flow, berlin(2026, 12, 1, 9, 0))
    [digest] = digests(mails)
    assert str(digest["To"]) == "Ana Example <ana@corp.test>"
    assert "week of Mon 30 Nov 2026" in text_of(digest)
    with sessions() as session:
        assert session.scalars(select(Digest.period_start).join(
            Person, Person.id == Digest.recipient_id).where(
            Person.address == "ana@corp.test")).one() == berlin(2026, 11, 30, 0, 0)
    assert digests(chase(flow, berlin(2026, 12, 1, 15, 5))[1]) == []


def test_a_holiday_moves_the_digest_to_the_next_working_day(
        tmp_path, database_url, sessions, clock):
    """Easter Monday 2027 is a holiday in Germany: Ana's Monday digest comes Tuesday.
    Carl's comes on Fridays; Good Friday and Easter Monday move that week's to Tuesday
    too, and the next week's still comes on its Friday."""
    flow = with_toml(tmp_path, database_url, sessions, clock,
                     ON + '[chase]\ncountry = "DE"\n\n[people."carl@corp.test"]\n'
                     'digest_day = "friday"\n')
    client = web_client(flow)
    accept(flow, client, hand_off(flow, berlin(2027, 3, 23, 10, 0), 1))
    accept(flow, client, hand_off(flow, berlin(2027, 3, 23, 11, 0), 2,
                                  sender="Carl Client <carl@corp.test>"))
    assert digests(chase(flow, berlin(2027, 3, 26, 9, 5))[1]) == []  # Good Friday
    assert digests(chase(flow, berlin(2027, 3, 29, 9, 5))[1]) == []  # Easter Monday
    mails = digests(chase(flow, berlin(2027, 3, 30, 9, 5))[1])
    assert sorted(str(m["To"]) for m in mails) == ["Ana Example <ana@corp.test>",
                                                   "Carl Client <carl@corp.test>"]
    assert "week of Mon 22 Mar 2027" in text_of(mail_to(mails, "carl@corp.test"))
    assert "week of Mon 29 Mar 2027" in text_of(mail_to(mails, "ana@corp.test"))
    assert digests(chase(flow, berlin(2027, 3, 31, 9, 5))[1]) == []
    [carl] = digests(chase(flow, berlin(2027, 4, 2, 9, 5))[1])  # his next Friday
    assert "week of Mon 29 Mar 2027" in text_of(carl)


def chase_command(database_url: str, tmp_path, now: str, *args: str) -> str:
    env = dict(os.environ, HANDOFF_DATABASE_URL=database_url,
               HANDOFF_DATA_DIR=str(tmp_path / "var"), HANDOFF_SERVICE_ADDRESS=SERVICE,
               HANDOFF_SECRET_KEY="test-secret-key", HANDOFF_TIMEZONE="Europe/Berlin",
               HANDOFF_CONFIG=str(tmp_path / "handoff.toml"))
    return subprocess.run([sys.executable, "-m", "handoff", "chase", "--now", now, *args],
                          env=env, capture_output=True, text=True, check=True).stdout


def test_handoff_chase_dry_run_lists_the_digest_and_sends_nothing(
        tmp_path, database_url, sessions, clock):
    flow = with_toml(tmp_path, database_url, sessions, clock)
    client = web_client(flow)
    accept(flow, client, hand_off(flow, berlin(2026, 11, 24, 10, 0), 1))
    out = chase_command(database_url, tmp_path, "2026-11-30T08:05:00Z", "--dry-run")
    assert out.splitlines() == [
        "would send digest     ana@corp.test                    1 handoff: H-1"]
    with sessions() as session:
        assert session.scalar(select(func.count(Digest.id))) == 0
        assert session.scalar(select(func.count(OutboxMail.id))
                              .where(OutboxMail.kind == "digest")) == 0
    assert flow.flush() == []
    out = chase_command(database_url, tmp_path, "2026-11-30T08:05:00Z")
    assert out.splitlines() == [
        "sent digest     ana@corp.test                    1 handoff: H-1"]


BOTH = ["Ana Example <ana@corp.test>", "Carl Client <carl@corp.test>"]


LEAD = '[workflows.default]\nmanager = "lead@corp.test"\n'


@pytest.mark.parametrize("toml, when, expected", [
    (ON, berlin(2026, 11, 30, 9, 0), BOTH),
    ("", berlin(2026, 11, 30, 9, 5), []),  # no [digests] table: none for senders
    (LEAD, berlin(2026, 11, 30, 9, 5), ["lead@corp.test"]),  # a manager is enough
    ('[digests]\nenabled = false\n' + LEAD, berlin(2026, 11, 30, 9, 5), []),
    (ON + '[people."ana@corp.test"]\ndigest = false\n', berlin(2026, 11, 30, 9, 5),
     BOTH[1:]),
    ('[digests]\nday = "wed"\nhour = "14:00"\n', berlin(2026, 11, 30, 9, 5), []),
    ('[digests]\nday = "wed"\nhour = "14:00"\n', berlin(2026, 12, 2, 13, 55), []),
    ('[digests]\nday = "wed"\nhour = "14:00"\n', berlin(2026, 12, 2, 14, 0), BOTH),
    ('[digests]\nhour = "07:00"\n', berlin(2026, 11, 30, 8, 55), []),  # not before work
    ('[digests]\nhour = "07:00"\n', berlin(2026, 11, 30, 9, 0), BOTH),
])
def test_the_day_and_hour_are_configurable_and_digests_are_turned_on_and_off(
        tmp_path, database_url, sessions, clock, toml, when, expected):
    flow = with_toml(tmp_path, database_url, sessions, clock, toml)
    client = web_client(flow)
    accept(flow, client, hand_off(flow, berlin(2026, 11, 24, 10, 0), 1))
    accept(flow, client, hand_off(flow, berlin(2026, 11, 24, 11, 0), 2,
                                  sender="Carl Client <carl@corp.test>"))
    assert sorted(str(m["To"]) for m in digests(chase(flow, when)[1])) == expected


@pytest.mark.parametrize("toml, complaint", [
    ('[digests]\ndya = "mon"\n', "unknown settings"),
    ('[digests]\nday = "funday"\n', "must be a weekday"),
    ('[digests]\nhour = "nine"\n', 'must be a time like "09:00"'),
    ('[digests]\nstalled_after = 0\n', "stalled_after"),
    ('[people."ana@corp.test"]\ndigest = "no"\n', 'people."ana@corp.test"'),
    ('[workflows.sales]\nmanager = "the boss"\n', "manager must be an address"),
])
def test_digest_settings_that_cannot_be_read_fail_at_start(tmp_path, toml, complaint):
    from handoff.chase import check_chase_settings
    from handoff.errors import ConfigError
    from handoff.settings import load_settings

    config = tmp_path / "handoff.toml"
    config.write_text(toml)
    settings = load_settings(environ={"HANDOFF_CONFIG": str(config)},
                             data_dir=tmp_path / "var", secret_key="k")
    with pytest.raises(ConfigError, match=re.escape(complaint)):
        check_chase_settings(settings)


def test_stalled_means_two_business_days_in_limbo_without_activity(
        tmp_path, database_url, sessions, clock, monkeypatch):
    """Monday 09:05: offered last Tuesday and untouched is stalled; offered Thursday
    10:00 has had 15 business hours, not 16; accepted work is never stalled; a question
    asked Friday puts the ball with the reader ("you") and restarts the clock.  A part
    lists its most pressing items and counts the rest.  The manager's, at 10:05, finds
    Thursday's handoff stalled too."""
    monkeypatch.setattr("handoff.digest_content.MAX_ITEMS", 3)
    flow = with_toml(tmp_path, database_url, sessions, clock,
                     ON + '[workflows.default]\nmanager = "lead@corp.test"\n\n'
                     '[people."lead@corp.test"]\ndigest_hour = "10:05"\n')
    client = web_client(flow)
    hand_off(flow, berlin(2026, 11, 24, 10, 0), 1)
    asked = hand_off(flow, berlin(2026, 11, 24, 12, 0), 2)
    hand_off(flow, berlin(2026, 11, 26, 10, 0), 3)
    accept(flow, client, hand_off(flow, berlin(2026, 11, 24, 11, 0), 4))
    flow.clock.now = berlin(2026, 11, 27, 16, 0)
    client.post(links_of(asked)["Need info"], data={"note": "Which hosts?"})
    flow.flush()
    digest = mail_to(digests(chase(flow, berlin(2026, 11, 30, 9, 5))[1]), "ana@corp.test")
    text = text_of(digest)
    assert str(digest["Subject"]) == "Your handoffs this week: 4 open (1 stalled)"
    stalled, still_open = text.index("\nStalled"), text.index("\nOpen\n")
    assert stalled < text.index('H-1 "Task 1"') < still_open
    assert [ref for ref in re.findall(r'^(H-\d) "', text, re.M)] == ["H-1", "H-2", "H-3"]
    assert "... and 1 more: the status page lists them all." in text
    assert "needs info, the ball is with you (answer the question); owner: Bob Builder" \
        in text
    monkeypatch.setattr("handoff.digest_content.MAX_ITEMS", 50)
    lead = mail_to(digests(chase(flow, berlin(2026, 11, 30, 10, 5))[1]), "lead@corp.test")
    text = text_of(lead)
    assert "Workflow default: 4 open (2 stalled)" in text  # H-3's sixteenth hour at 10:00
    assert [ref for ref in re.findall(r'^(H-\d) "', text, re.M)] == [
        "H-1", "H-3", "H-2", "H-4"]
    assert "needs info, the ball is with Ana Example (answer the question)" in text


def test_a_reply_to_a_digest_opens_no_handoff(tmp_path, database_url, sessions, clock):
    """Ana answers her digest ("thanks, will chase Bob"): it threads to no handoff, and
    it must not become a new, incomplete handoff that asks her to name an owner."""
    flow = with_toml(tmp_path, database_url, sessions, clock)
    hand_off(flow, berlin(2026, 11, 24, 10, 0), 1)
    [digest] = digests(chase(flow, berlin(2026, 11, 30, 9, 0))[1])
    reply = handoff_mail(to=SERVICE, cc=None, subject=f"Re: {digest['Subject']}",
                         message_id="<re-digest@corp.test>",
                         body="Thanks, I will chase Bob about it.\n")
    reply["In-Reply-To"] = digest["Message-ID"]
    assert flow.submit(reply) == []
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(Handoff)) == 1


def test_a_bounce_of_a_digest_blames_no_owner(tmp_path, database_url, sessions, clock):
    """Bob manages the workflow and owns its one handoff: his digest is filed under
    that handoff, but its bounce is about the digest, not about Bob as its owner."""
    from tests.test_away_and_bounces import bounce_address_of, dsn

    flow = with_toml(tmp_path, database_url, sessions, clock,
                     '[workflows.default]\nmanager = "bob@corp.test"\n')
    hand_off(flow, berlin(2026, 11, 24, 10, 0), 1)
    [digest] = digests(chase(flow, berlin(2026, 11, 30, 9, 0))[1])
    assert "bob@corp.test" in str(digest["To"])
    flow.submit(dsn("bob@corp.test"), rcpt=[bounce_address_of(flow, digest)], mail_from="")
    with sessions() as session:
        assert session.get(Handoff, 1).owner_unreachable is None

"""Chasing end to end (SPEC 5, issue 4): real handoffs made from real mail, passes run
as of explicit instants (`handoff chase --now`), mail read from the dev outbox."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from handoff.chase import run_chase_pass
from handoff.models import Handoff, Nudge, OutboxMail
from tests.conftest import (BACKEND, SERVICE, handoff_mail, links_of, mail_to, run_at_once,
                            settings_from_toml)

BERLIN = ZoneInfo("Europe/Berlin")
NO_DEADLINE = "Hi Bob,\n\nplease renew the certificate.\n\nDone when: the new cert is live\n"


def berlin(*args: int) -> datetime:
    return datetime(*args, tzinfo=BERLIN).astimezone(timezone.utc)


def chase(flow, sessions, when: datetime):
    lines = run_chase_pass(sessions, flow.settings, when)
    flow.clock.now = when
    return lines, flow.flush()


def offered_at(flow, when: datetime, n: int = 1, to: str = "Bob Builder <bob@corp.test>"):
    flow.clock.now = when
    for i in range(n):
        flow.submit(handoff_mail(message_id=f"<m{i}-{when.timestamp()}@corp.test>",
                                 subject=f"Task {i}", to=to, body=NO_DEADLINE))


def test_an_offer_made_friday_evening_is_chased_monday_afternoon_exactly_once(
        flow, sessions):
    offered_at(flow, berlin(2026, 11, 27, 18, 30))
    assert chase(flow, sessions, berlin(2026, 11, 27, 20, 0)) == ([], [])
    assert chase(flow, sessions, berlin(2026, 11, 30, 12, 59)) == ([], [])
    lines, mails = chase(flow, sessions, berlin(2026, 11, 30, 13, 5))
    nudge = mail_to(mails, "bob@corp.test")
    assert "A handoff waits for you" in nudge.get_body(("plain",)).get_content()
    assert {"Accept", "Need info", "Decline", "Done"} <= set(links_of(nudge))
    assert nudge["Auto-Submitted"] is None  # it asks Bob to act: OOO replies may come back
    assert chase(flow, sessions, berlin(2026, 11, 30, 13, 10)) == ([], [])


def test_three_handoffs_for_bob_are_one_digest(flow, sessions):
    offered_at(flow, berlin(2026, 11, 24, 9, 0), n=3)
    _lines, mails = chase(flow, sessions, berlin(2026, 11, 24, 13, 5))
    [digest] = mails
    text = digest.get_body(("plain",)).get_content()
    assert str(digest["Subject"]) == "Reminder: 3 handoffs wait for you"
    assert all(f"H-{n}" in text for n in (1, 2, 3))
    assert text.count("Accept: ") == 3


def test_escalation_goes_to_the_sender_and_the_contact_after_two_business_days(
        tmp_path, database_url, sessions, clock):
    from tests.conftest import Flow

    settings = settings_from_toml(tmp_path, database_url,
                                  '[workflows.default]\nescalation_contact = "lead@corp.test"\n')
    flow = Flow(settings, sessions, clock)
    offered_at(flow, berlin(2026, 11, 24, 10, 0))
    chase(flow, sessions, berlin(2026, 11, 24, 14, 5))  # first nudge to Bob
    chase(flow, sessions, berlin(2026, 11, 25, 14, 5))  # second nudge to Bob
    _lines, mails = chase(flow, sessions, berlin(2026, 11, 26, 10, 5))
    assert sorted(str(m["To"]) for m in mails) == ["Ana Example <ana@corp.test>",
                                                    "lead@corp.test"]
    assert "stalled" in mails[0].get_body(("plain",)).get_content()


def test_needs_info_chases_the_sender_not_the_owner(flow, sessions, client):
    from handoff.addresses import ServiceAddresses
    from handoff.states import Action
    from handoff.workflow import perform_action

    offered_at(flow, berlin(2026, 11, 24, 9, 0))

    with sessions.begin() as session:  # Bob asks a question at 09:30
        h = session.get(Handoff, 1)
        perform_action(session, ServiceAddresses(flow.settings), h, Action.NEED_INFO,
                       h.owner, how="link", now=berlin(2026, 11, 24, 9, 30), note="Which?")
    flow.clock.now = berlin(2026, 11, 24, 9, 30)
    flow.flush()  # the question itself
    _lines, mails = chase(flow, sessions, berlin(2026, 11, 25, 9, 35))
    assert [str(m["To"]) for m in mails] == ["Ana Example <ana@corp.test>"]


def test_a_person_gets_at_most_two_chase_mails_a_day_the_rest_waits(flow, sessions):
    for hour in (9, 10, 11):
        offered_at(flow, berlin(2026, 11, 24, hour, 0))
    sent = []
    for hour in (13, 14, 15, 16):
        _lines, mails = chase(flow, sessions, berlin(2026, 11, 24, hour, 5))
        sent += mails
    assert len(sent) == 2  # the third nudge waits for tomorrow morning
    _lines, mails = chase(flow, sessions, berlin(2026, 11, 25, 9, 5))
    assert len(mails) == 1 and "H-3" in mails[0].get_body(("plain",)).get_content()


def test_an_action_resets_the_timers(flow, sessions, client):
    flow.clock.now = berlin(2026, 11, 24, 9, 0)
    offer = mail_to(flow.submit(handoff_mail(body=NO_DEADLINE)), "bob@corp.test")
    flow.clock.now = berlin(2026, 11, 24, 12, 0)
    client.post(links_of(offer)["Accept"])
    flow.flush()
    assert chase(flow, sessions, berlin(2026, 11, 24, 13, 5)) == ([], [])


def test_done_but_never_confirmed_closes_itself_after_five_business_days(flow, sessions,
                                                                         client):
    flow.clock.now = berlin(2026, 11, 24, 9, 0)
    offer = mail_to(flow.submit(handoff_mail(body=NO_DEADLINE)), "bob@corp.test")
    client.post(links_of(offer)["Done"], data={"note": "renewed"})
    flow.flush()
    _lines, mails = chase(flow, sessions, berlin(2026, 11, 26, 9, 5))
    assert [str(m["To"]) for m in mails] == ["Ana Example <ana@corp.test>"]  # confirm?
    lines, mails = chase(flow, sessions, berlin(2026, 12, 1, 9, 5))
    assert [line.kind for line in lines] == ["auto_close"]
    with sessions() as session:
        assert session.get(Handoff, 1).status == "closed"


def test_two_chasers_at_once_send_every_nudge_exactly_once(flow, sessions, database_url,
                                                           tmp_path):
    """Two `handoff chase --now` processes at the same instant, on the database under
    test (SQLite and PostgreSQL runs of the suite): every step is claimed once."""
    for i in range(20):
        flow.clock.now = berlin(2026, 11, 24, 9, 0)
        owner = f"Owner {i} <owner{i}@corp.test>"
        flow.submit(handoff_mail(message_id=f"<x{i}@corp.test>", subject=f"T{i}", to=owner,
                                 body=NO_DEADLINE))
    flow.flush()
    env = dict(os.environ, HANDOFF_DATABASE_URL=database_url,
               HANDOFF_DATA_DIR=str(tmp_path / "var"), HANDOFF_SERVICE_ADDRESS=SERVICE,
               HANDOFF_SECRET_KEY="test-secret-key", HANDOFF_TIMEZONE="Europe/Berlin")
    argv = [sys.executable, "-m", "handoff", "chase", "--now", "2026-11-24T12:05:00Z"]
    results = run_at_once(argv, env)
    # each process sends what is due; a mail the other one is sending says so
    sent = [line for r in results for line in r.stdout.splitlines()
            if line.startswith(("sent ", "sending "))]
    assert len(sent) == 20  # one nudge per owner, between the two processes
    with sessions() as session:
        assert session.scalar(select(func.count(Nudge.id))) == 20
    flow.clock.now = berlin(2026, 11, 24, 13, 5)
    mails = flow.flush()
    assert sorted(str(m["To"]) for m in mails) == sorted(
        f"Owner {i} <owner{i}@corp.test>" for i in range(20))


def chase_command(database_url: str, tmp_path, now: str, *args: str,
                  **env: str) -> subprocess.CompletedProcess[str]:
    environ = dict(os.environ, HANDOFF_DATABASE_URL=database_url,
                   HANDOFF_DATA_DIR=str(tmp_path / "var"), HANDOFF_SERVICE_ADDRESS=SERVICE,
                   HANDOFF_SECRET_KEY="test-secret-key", HANDOFF_TIMEZONE="Europe/Berlin",
                   **env)
    return subprocess.run([sys.executable, "-m", "handoff", "chase", "--now", now, *args],
                          env=environ, capture_output=True, text=True, check=True)


def a_tuesday_ahead_of_the_clock() -> tuple[int, int, int]:
    """A Tuesday a year after the real clock, whenever the suite runs."""
    day = date.today() + timedelta(days=365)
    day += timedelta(days=(1 - day.weekday()) % 7)
    return day.year, day.month, day.day


def test_a_pass_ahead_of_the_clock_sends_its_nudge_when_it_runs_and_says_sent(
        flow, sessions, database_url, tmp_path):
    """`handoff chase --now <a later instant>` (issue 10, point 3): the nudge is due
    when the pass runs, not at that later instant, so it leaves now; "sent" is said of
    mail that left."""
    day = a_tuesday_ahead_of_the_clock()
    offered_at(flow, berlin(*day, 9, 0))
    flow.flush()
    out = chase_command(database_url, tmp_path, "%04d-%02d-%02dT12:05:00Z" % day).stdout
    assert out.startswith("sent nudge") and "bob@corp.test" in out and "H-1" in out
    nudge = mail_to(flow.flush(), "bob@corp.test")  # in the dev outbox already
    assert "Task 0" in str(nudge["Subject"])
    with sessions() as session:
        mail = session.scalars(select(OutboxMail).where(OutboxMail.kind == "nudge")).one()
        assert mail.status == "sent"


def test_a_pass_whose_smarthost_says_try_later_says_queued(flow, sessions, database_url,
                                                          tmp_path, sink):
    day = a_tuesday_ahead_of_the_clock()
    offered_at(flow, berlin(*day, 9, 0))
    flow.flush()
    sink.handler.answers = ["451 4.3.0 Try again later"]
    out = chase_command(database_url, tmp_path, "%04d-%02d-%02dT12:05:00Z" % day,
                        HANDOFF_SMARTHOST=f"127.0.0.1:{sink.port}",
                        HANDOFF_SMARTHOST_TLS="none").stdout
    assert out.startswith("queued nudge") and "H-1" in out and "not sent" not in out
    assert "handoff serve" in out  # who sends it later
    assert sink.received == []
    with sessions() as session:
        mail = session.scalars(select(OutboxMail).where(OutboxMail.kind == "nudge")).one()
        assert (mail.status, mail.last_error[:3]) == ("queued", "451")


def test_handoff_chase_dry_run_prints_and_sends_nothing(flow, sessions, database_url,
                                                        tmp_path):
    offered_at(flow, berlin(2026, 11, 24, 9, 0))
    flow.flush()
    env = dict(os.environ, HANDOFF_DATABASE_URL=database_url,
               HANDOFF_DATA_DIR=str(tmp_path / "var"), HANDOFF_SERVICE_ADDRESS=SERVICE,
               HANDOFF_SECRET_KEY="test-secret-key", HANDOFF_TIMEZONE="Europe/Berlin")
    out = subprocess.run([sys.executable, "-m", "handoff", "chase", "--now",
                          "2026-11-24T12:05:00Z", "--dry-run"], env=env,
                         capture_output=True, text=True, check=True).stdout
    assert out.startswith("would send nudge") and "bob@corp.test" in out and "H-1" in out
    with sessions() as session:
        assert session.scalar(select(func.count(Nudge.id))) == 0
    assert flow.flush() == []


def test_each_person_is_chased_in_their_own_working_hours(tmp_path, database_url, sessions,
                                                          clock):
    """Bob works 09:00-17:00 in New York (TOML): a handoff offered to him Tuesday 09:00
    in Berlin starts his clock at 09:00 New York time, so his first nudge (4 business
    hours) comes at 13:00 New York, not at 13:00 Berlin."""
    from tests.conftest import Flow

    settings = settings_from_toml(tmp_path, database_url,
                                  '[chase]\ncountry = "DE"\n\n'
                                  '[people."bob@corp.test"]\nzone = "America/New_York"\n'
                                  'hours = "09:00-17:00"\ncountry = "US"\n')
    flow = Flow(settings, sessions, clock)
    offered_at(flow, berlin(2026, 11, 24, 9, 0))
    new_york = ZoneInfo("America/New_York")
    assert chase(flow, sessions, berlin(2026, 11, 24, 13, 5)) == ([], [])
    assert chase(flow, sessions, datetime(2026, 11, 24, 12, 55, tzinfo=new_york)) == ([], [])
    _lines, mails = chase(flow, sessions, datetime(2026, 11, 24, 13, 5, tzinfo=new_york))
    assert [str(m["To"]) for m in mails] == ["Bob Builder <bob@corp.test>"]


def test_working_hours_that_cannot_be_read_are_a_clear_error(tmp_path):
    import pytest

    from handoff.chase import working_hours
    from handoff.errors import ConfigError
    from handoff.settings import load_settings

    config = tmp_path / "handoff.toml"
    config.write_text('[people."bob@corp.test"]\nhours = "nine to five"\n')
    settings = load_settings(environ={"HANDOFF_CONFIG": str(config)},
                             data_dir=tmp_path / "var", secret_key="k")
    with pytest.raises(ConfigError, match='people."bob@corp.test"'):
        working_hours(settings, "bob@corp.test")


def test_a_snoozed_owner_is_not_chased_until_the_date_then_is(flow, sessions, client):
    flow.clock.now = berlin(2026, 11, 24, 9, 0)
    offer = mail_to(flow.submit(handoff_mail(body=NO_DEADLINE)), "bob@corp.test")
    page = client.get(links_of(offer)["Snooze"]).get_data(as_text=True)
    assert "Until when?" in page  # GET only asks
    with sessions() as session:
        assert session.get(Handoff, 1).snoozed_until is None
    client.post(links_of(offer)["Snooze"], data={"note": "Monday"})
    with sessions() as session:
        h = session.get(Handoff, 1)
        assert h.status == "offered" and h.snoozed_until is not None
    assert chase(flow, sessions, berlin(2026, 11, 26, 13, 5)) == ([], [])  # Thursday
    # Monday: the clock starts afresh at the snooze's end (00:00 UTC): 4 business hours
    assert chase(flow, sessions, berlin(2026, 11, 30, 12, 55)) == ([], [])
    _lines, mails = chase(flow, sessions, berlin(2026, 11, 30, 13, 5))
    assert [str(m["To"]) for m in mails] == ["Bob Builder <bob@corp.test>"]  # no escalation


def test_snooze_by_reply_and_a_date_in_the_past_is_refused(flow, sessions):
    flow.clock.now = berlin(2026, 11, 24, 9, 0)
    offer = mail_to(flow.submit(handoff_mail(body=NO_DEADLINE)), "bob@corp.test")
    reply = handoff_mail(sender="Bob Builder <bob@corp.test>", to=str(offer["Reply-To"]),
                         cc=None, subject=f"Re: {offer['Subject']}", body="snooze: Dec 3\n",
                         message_id="<sz@corp.test>")
    reply["In-Reply-To"] = offer["Message-ID"]
    flow.submit(reply, rcpt=[str(offer["Reply-To"])], mail_from="bob@corp.test")
    with sessions() as session:
        until = session.get(Handoff, 1).snoozed_until
    assert until is not None and until.date().isoformat() == "2026-12-03"


def test_a_reply_in_the_thread_resets_the_timers(flow, sessions):
    flow.clock.now = berlin(2026, 11, 24, 9, 0)
    offer = mail_to(flow.submit(handoff_mail(body=NO_DEADLINE)), "bob@corp.test")
    flow.clock.now = berlin(2026, 11, 24, 12, 0)  # Bob writes back, not a command
    reply = handoff_mail(sender="Bob Builder <bob@corp.test>", to=str(offer["Reply-To"]),
                         cc=None, subject=f"Re: {offer['Subject']}", message_id="<c@corp.test>",
                         body="Looking into it, which hosts are affected?\n")
    reply["In-Reply-To"] = offer["Message-ID"]
    flow.submit(reply, rcpt=[str(offer["Reply-To"])], mail_from="bob@corp.test")
    assert chase(flow, sessions, berlin(2026, 11, 24, 13, 5)) == ([], [])  # was due 13:00
    _lines, mails = chase(flow, sessions, berlin(2026, 11, 24, 16, 5))  # 12:00 + 4 bh
    assert [str(m["To"]) for m in mails] == ["Bob Builder <bob@corp.test>"]


def test_overdue_handoffs_of_one_person_are_one_digest_and_come_once(flow, sessions):
    flow.clock.now = berlin(2026, 11, 24, 9, 0)
    for i in range(3):
        flow.submit(handoff_mail(message_id=f"<o{i}@corp.test>", subject=f"Due {i}",
                                 body="Done when: done\nDeadline: Wednesday 5pm\n"))
    flow.flush()
    chase(flow, sessions, berlin(2026, 11, 24, 13, 5))  # first nudges (unaccepted)
    _lines, mails = chase(flow, sessions, berlin(2026, 11, 26, 9, 5))  # Thursday morning
    to_bob = mail_to(mails, "bob@corp.test")
    text = to_bob.get_body(("plain",)).get_content()
    assert text.count("its deadline has passed") == 3
    mail_to(mails, "ana@corp.test")  # the sender hears of the overdue ones too
    assert chase(flow, sessions, berlin(2026, 11, 26, 9, 10)) == ([], [])


def test_a_public_holiday_is_skipped_by_the_chaser(tmp_path, database_url, sessions, clock):
    from tests.conftest import Flow

    settings = settings_from_toml(tmp_path, database_url, '[chase]\ncountry = "DE"\n')
    flow = Flow(settings, sessions, clock)
    offered_at(flow, berlin(2026, 12, 24, 16, 0))  # Thursday before Christmas
    assert chase(flow, sessions, berlin(2026, 12, 25, 12, 5)) == ([], [])  # holiday
    _lines, mails = chase(flow, sessions, berlin(2026, 12, 28, 12, 5))  # Monday
    assert [str(m["To"]) for m in mails] == ["Bob Builder <bob@corp.test>"]


def test_a_workflow_sets_its_own_chase_numbers_and_typos_fail_at_start(
        tmp_path, database_url, sessions, clock):
    import pytest

    from handoff.chase import check_chase_settings
    from handoff.errors import ConfigError
    from handoff.settings import load_settings
    from tests.conftest import Flow

    settings = settings_from_toml(tmp_path, database_url,
                                  "[chase]\nunaccepted_first = 2\n\n"
                                  "[workflows.urgent.chase]\nunaccepted_first = 1\n")
    config = tmp_path / "handoff.toml"
    check_chase_settings(settings)
    flow = Flow(settings, sessions, clock)
    flow.clock.now = berlin(2026, 11, 24, 9, 0)
    flow.submit(handoff_mail(body=NO_DEADLINE), rcpt=["handoff+urgent@acme.test"])
    flow.submit(handoff_mail(body=NO_DEADLINE, message_id="<n2@corp.test>", subject="Other"))
    flow.flush()
    lines, _mails = chase(flow, sessions, berlin(2026, 11, 24, 10, 5))
    assert [line.refs for line in lines] == [("H-1",)]  # the urgent one, after 1 hour
    lines, _mails = chase(flow, sessions, berlin(2026, 11, 24, 11, 5))
    assert [line.refs for line in lines] == [("H-2",)]  # the default one, after 2 ([chase])

    config.write_text("[workflows.urgent.chase]\nunacepted_first = 1\n")
    typo = load_settings(environ={"HANDOFF_CONFIG": str(config)},
                         data_dir=tmp_path / "var", secret_key="k")
    with pytest.raises(ConfigError, match="unknown chase settings"):
        check_chase_settings(typo)


def test_a_daylight_saving_week_through_the_chaser(flow, sessions):
    """Offered Friday 29 October 2027 16:00 in Berlin; winter time from Sunday: the
    first nudge is Monday 12:00 on the wall clock (1 h Friday + 3 h Monday), once."""
    offered_at(flow, berlin(2027, 10, 29, 16, 0))
    assert chase(flow, sessions, berlin(2027, 11, 1, 11, 55)) == ([], [])
    _lines, mails = chase(flow, sessions, berlin(2027, 11, 1, 12, 5))
    assert len(mails) == 1
    assert chase(flow, sessions, berlin(2027, 11, 1, 12, 10)) == ([], [])


def test_a_pass_works_through_every_due_handoff_in_short_batches(flow, sessions):
    offered_at(flow, berlin(2026, 11, 24, 9, 0), n=12)
    flow.flush()
    lines = run_chase_pass(sessions, flow.settings, berlin(2026, 11, 24, 13, 5), batch=5)
    assert sorted(ref for line in lines for ref in line.refs) == sorted(
        f"H-{n}" for n in range(1, 13))
    flow.clock.now = berlin(2026, 11, 24, 13, 5)
    [digest] = flow.flush()  # still one mail for Bob: later batches joined the first
    assert digest.get_body(("plain",)).get_content().count("Accept: ") == 12


@pytest.mark.skipif(BACKEND != "postgresql",
                    reason="row locks a claim can skip: PostgreSQL's FOR UPDATE SKIP LOCKED")
def test_a_nudge_a_running_worker_is_claiming_is_said_to_be_sending(flow, sessions):
    """The command's words stay true in a race: a worker that has locked the pass's
    mail but not yet committed its claim will send it; the command did not try it, so
    it says "sending", never "queued" (which would claim the smarthost refused it)."""
    from handoff.cli import _send_chase_mail

    offered_at(flow, berlin(2026, 11, 24, 9, 0))
    flow.flush()
    lines = run_chase_pass(sessions, flow.settings, berlin(2026, 11, 24, 13, 5),
                           due_at=datetime.now(timezone.utc))
    worker = sessions()  # a worker inside its claim transaction
    row = worker.scalars(select(OutboxMail).where(OutboxMail.id == lines[0].mail_id)
                         .with_for_update(skip_locked=True, of=OutboxMail)).one()
    row.status = "sending"
    worker.flush()
    try:
        assert _send_chase_mail(flow.settings, sessions, lines) == {lines[0].mail_id:
                                                                     "sending"}
    finally:
        worker.rollback()
        worker.close()

"""The IMAP door against a real Dovecot (tests/dovecot.py), with imapclient as the
test's own second client: what is appended becomes exactly one handoff, whatever
happens to the connection, the server or the mailbox in between."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest
from sqlalchemy import delete, func, select

from handoff.addresses import ServiceAddresses
from handoff.errors import ConfigError
from handoff.inbound_queue import process_pending
from handoff.models import Handoff, ImapCursor, InboundMessage
from handoff.settings import Settings
from mailer.imap import ImapWatcher, imap_account, read_envelope
from tests.conftest import (SERVICE, Clock, free_port, handoff_mail, make_settings,
                            wait_until)
from tests.dovecot import Dovecot

DONE = "handoff-done"


@pytest.fixture
def dovecot() -> Iterator[Dovecot]:
    server = Dovecot()
    try:
        yield server.start()
    finally:  # also when it failed to start: no server left behind
        server.remove()


@pytest.fixture
def plain_dovecot() -> Iterator[Dovecot]:
    """A Dovecot that offers neither IDLE nor MOVE nor UIDPLUS."""
    server = Dovecot(extensions=False)
    try:
        yield server.start()
    finally:
        server.remove()


class Waits:
    """The watcher's injected wait: records what it was asked to wait (poll interval,
    backoff), and waits only a moment, so the test never waits for time to pass."""

    def __init__(self) -> None:
        self.asked: list[float] = []

    def __call__(self, stop: threading.Event, seconds: float) -> bool:
        self.asked.append(seconds)
        return stop.wait(0.02)


@pytest.fixture
def watch(tmp_path: Path, database_url: str, sessions: Any,
          clock: Clock) -> Iterator[Callable[..., ImapWatcher]]:
    """``watch(server, **settings)``: an ImapWatcher on that server, stopped afterwards."""
    made: list[ImapWatcher] = []

    def make(server: Dovecot, folder: str = "INBOX", waits: Waits | None = None,
             **overrides: Any) -> ImapWatcher:
        settings = make_settings(tmp_path, database_url=database_url,
                                 imap_url=server.url.replace("/INBOX", f"/{folder}"),
                                 **overrides)
        watcher = ImapWatcher(settings, sessions, clock, wait=waits or Waits())
        made.append(watcher)
        return watcher

    yield make
    for watcher in made:
        watcher.stop()


def append(server: Dovecot, *messages: bytes, folder: str = "INBOX") -> None:
    client = server.client()
    for raw in messages:
        client.append(folder, raw)
    client.logout()


def folder_flags(server: Dovecot, folder: str) -> list[tuple[bytes, ...]]:
    """The flags of each message in ``folder``, as another client sees them."""
    client = server.client()
    client.select_folder(folder, readonly=True)
    uids = client.search("ALL")
    flags = [tuple(d[b"FLAGS"]) for d in client.fetch(uids, ["FLAGS"]).values()] if uids else []
    client.logout()
    return flags


def mail(n: int, **kwargs: Any) -> bytes:
    return handoff_mail(subject=f"Task number {n}", message_id=f"<t{n}@corp.test>",
                        **kwargs).as_bytes()


def count(sessions: Any, model: Any) -> int:
    with sessions() as session:
        return int(session.scalar(select(func.count()).select_from(model)))


def handoffs(sessions: Any, settings: Settings, clock: Clock) -> list[str]:
    process_pending(sessions, settings, clock, limit=100)
    with sessions() as session:
        return sorted(session.scalars(select(Handoff.title)))


@pytest.mark.realserver
@pytest.mark.parametrize("server", ["dovecot", "plain_dovecot"])
def test_appended_messages_become_handoffs_seen_and_moved(
        server: str, request: pytest.FixtureRequest, watch: Any, sessions: Any,
        clock: Clock) -> None:
    """Appended mail is stored, becomes a handoff each, and is left \\Seen in the done
    folder (MOVE, or COPY + EXPUNGE where MOVE and UIDPLUS are missing)."""
    dovecot: Dovecot = request.getfixturevalue(server)
    append(dovecot, mail(1), mail(2))
    watcher = watch(dovecot)
    assert watcher.run_once() == 2
    assert handoffs(sessions, watcher.settings, clock) == ["Task number 1", "Task number 2"]
    with sessions() as session:
        rows = session.scalars(select(InboundMessage)).all()
    assert {(r.source, r.mail_from, tuple(r.rcpt_tos)) for r in rows} == {
        ("imap", "ana@corp.test", (SERVICE,))}
    assert folder_flags(dovecot, "INBOX") == []
    assert [b"\\Seen" in flags for flags in folder_flags(dovecot, DONE)] == [True, True]


@pytest.mark.realserver
def test_a_second_run_reads_nothing_twice(dovecot: Dovecot, watch: Any, sessions: Any) -> None:
    """Once stored and moved, a message is not read again, and a later one is."""
    append(dovecot, mail(1))
    watcher = watch(dovecot)
    assert watcher.run_once() == 1
    assert watcher.run_once() == 0
    append(dovecot, mail(2))
    assert watcher.run_once() == 1
    assert count(sessions, InboundMessage) == 2


@pytest.mark.realserver
def test_a_message_stored_but_not_moved_duplicates_nothing(
        dovecot: Dovecot, watch: Any, sessions: Any, clock: Clock,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The connection drops after storing, before the move: the next run only moves it;
    a forgotten cursor finds its external id; the same mail appended again is a
    duplicate Message-ID.  One handoff throughout."""
    from imapclient.exceptions import IMAPClientAbortError

    append(dovecot, mail(1))
    watcher = watch(dovecot)
    put_away = watcher._put_away

    def drop_connection(client: Any, uid: int) -> None:
        raise IMAPClientAbortError("connection lost")

    monkeypatch.setattr(watcher, "_put_away", drop_connection)
    with pytest.raises(IMAPClientAbortError):
        watcher.run_once()
    assert count(sessions, InboundMessage) == 1 and len(folder_flags(dovecot, "INBOX")) == 1

    monkeypatch.setattr(watcher, "_put_away", put_away)
    with sessions.begin() as session:
        session.execute(delete(ImapCursor))  # forgotten: UID 1 looks new again
    assert watcher.run_once() == 1  # "stored" means: receive_message gave a receipt
    assert count(sessions, InboundMessage) == 1  # ... the earlier one
    assert folder_flags(dovecot, "INBOX") == []

    append(dovecot, mail(1))  # the same mail again, under a new UID
    watcher.run_once()
    assert handoffs(sessions, watcher.settings, clock) == ["Task number 1"]
    with sessions() as session:
        assert sorted(session.scalars(select(InboundMessage.status))) == ["done", "duplicate"]


@pytest.mark.realserver
def test_a_server_restart_mid_run_loses_and_duplicates_nothing(
        dovecot: Dovecot, watch: Any, sessions: Any, clock: Clock) -> None:
    """The watcher runs in its thread while Dovecot stops (BYE), and later crashes (no
    BYE); mail is delivered while it is down and appended after it is back.  The watcher
    reconnects, and every message becomes exactly one handoff."""
    waits = Waits()
    watcher = watch(dovecot, waits=waits, imap_poll_seconds=3600).start()
    inbox_empty = lambda: folder_flags(dovecot, "INBOX") == []  # noqa: E731
    stored = lambda n: lambda: count(sessions, InboundMessage) == n  # noqa: E731
    append(dovecot, mail(1), mail(2))
    assert wait_until(stored(2)) and wait_until(inbox_empty)
    for crash in (False, True):
        assert wait_until(lambda: watcher.idling)
        n = count(sessions, InboundMessage)
        dovecot.stop(crash=crash)
        assert wait_until(lambda: len(waits.asked) >= 2)  # failed to reconnect, twice
        dovecot.deliver(mail(n + 1))  # the MTA delivers while IMAP is down
        dovecot.start()
        append(dovecot, mail(n + 2))
        assert wait_until(stored(n + 2)) and wait_until(inbox_empty)
        waits.asked.clear()
    assert watcher.running
    assert handoffs(sessions, watcher.settings, clock) == [f"Task number {n}"
                                                           for n in range(1, 7)]


def test_backoff_doubles_and_is_capped(tmp_path: Path, database_url: str, sessions: Any,
                                      clock: Clock) -> None:
    """With no server listening, each failed connection waits twice as long as the one
    before, up to the cap; stop() ends the wait at once."""
    settings = make_settings(tmp_path, database_url=database_url,
                             imap_url=f"imap://u:p@127.0.0.1:{free_port()}/INBOX")
    waits = Waits()
    watcher = ImapWatcher(settings, sessions, clock, wait=waits, retry=(1.0, 8.0)).start()
    assert wait_until(lambda: len(waits.asked) >= 6)
    watcher.stop()
    assert not watcher.alive
    assert waits.asked[:6] == [1.0, 2.0, 4.0, 8.0, 8.0, 8.0]


@pytest.mark.realserver
def test_idle_wakes_the_watcher_promptly(dovecot: Dovecot, watch: Any, sessions: Any) -> None:
    """In IDLE, a new message is read as soon as the server reports it, not after the
    poll interval (an hour here); and stop() ends the IDLE at once."""
    waits = Waits()
    watcher = watch(dovecot, waits=waits, imap_poll_seconds=3600).start()
    assert wait_until(lambda: watcher.idling)
    append(dovecot, mail(1))
    assert wait_until(lambda: count(sessions, InboundMessage) == 1, timeout=5)
    assert wait_until(lambda: watcher.idling)
    assert waits.asked == []  # never polled, never backed off
    began = time.monotonic()
    watcher.stop()
    assert not watcher.alive and time.monotonic() - began < 2


@pytest.mark.realserver
def test_mail_arriving_just_before_idle_is_not_missed(
        dovecot: Dovecot, watch: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """Mail that arrives between the last command and IDLE is reported in the same
    packet as ``+ idling``, where imapclient's idle_check() never looks: the watcher
    still ends that IDLE at once and reads it."""
    import mailer.imap

    monkeypatch.setattr(mailer.imap, "IDLE_CHECK", 5.0)  # a regression costs 5 s, not 30
    watcher = watch(dovecot)
    assert watcher.run_once() == 0
    append(dovecot, mail(1))
    began = time.monotonic()
    watcher._wait_for_mail()
    assert time.monotonic() - began < 2
    assert watcher.run_once() == 1


@pytest.mark.realserver
def test_polling_when_idle_is_not_offered(plain_dovecot: Dovecot, watch: Any,
                                          sessions: Any) -> None:
    """Without IDLE the watcher polls every imap_poll_seconds, and moves by COPY."""
    waits = Waits()
    watcher = watch(plain_dovecot, waits=waits, imap_poll_seconds=3600).start()
    assert wait_until(lambda: 3600 in waits.asked)
    assert not watcher.idles
    append(plain_dovecot, mail(1))
    assert wait_until(lambda: count(sessions, InboundMessage) == 1)
    assert wait_until(lambda: folder_flags(plain_dovecot, "INBOX") == [])
    assert set(waits.asked) == {3600}


@pytest.mark.realserver
def test_a_changed_uidvalidity_starts_over_without_duplicates(
        dovecot: Dovecot, watch: Any, sessions: Any, clock: Clock) -> None:
    """The folder is deleted and made again (new UIDVALIDITY, UIDs from 1): everything
    in it is read again, and what was read before is a duplicate, not a new handoff."""
    client = dovecot.client()
    client.create_folder("intake")
    client.logout()
    append(dovecot, mail(1), folder="intake")
    watcher = watch(dovecot, folder="intake", imap_move_to="")  # leave them in place
    assert watcher.run_once() == 1
    with sessions() as session:
        before = session.scalars(select(ImapCursor)).one()
    client = dovecot.client()
    client.delete_folder("intake")
    client.create_folder("intake")
    client.logout()
    append(dovecot, mail(1), mail(2), folder="intake")
    assert watcher.run_once() == 2
    with sessions() as session:
        after = session.scalars(select(ImapCursor)).one()
    assert after.uidvalidity != before.uidvalidity and after.last_uid == 2
    assert handoffs(sessions, watcher.settings, clock) == ["Task number 1", "Task number 2"]
    assert [b"\\Seen" in f for f in folder_flags(dovecot, "intake")] == [True, True]


@pytest.mark.realserver
def test_garbage_and_empty_messages_are_stored_marked_and_moved(
        dovecot: Dovecot, watch: Any, sessions: Any, clock: Clock) -> None:
    """Bytes that are no mail (NUL bytes, no headers) and an empty message are stored as
    they are, processed to a final status (never queued forever), and moved out."""
    garbage = bytes(range(256)) * 8
    dovecot.client().logout()  # the first login makes the maildir
    dovecot.deliver(garbage)
    dovecot.deliver(b"")
    watcher = watch(dovecot)
    assert watcher.run_once() == 2
    assert watcher.run_once() == 0
    assert folder_flags(dovecot, "INBOX") == []
    assert handoffs(sessions, watcher.settings, clock) == []
    with sessions() as session:
        rows = session.scalars(select(InboundMessage).order_by(InboundMessage.id)).all()
    # as the server gives them: Dovecot sends NUL as 0x80 and bare LF as CRLF
    assert [bytes(range(1, 10)) in r.raw and len(r.raw) > len(garbage) for r in rows] == [
        True, False] and rows[1].raw == b""
    assert [r.source for r in rows] == ["imap", "imap"] and all(r.problems for r in rows)
    assert all(r.status in ("ignored", "failed") for r in rows), [r.status for r in rows]


def test_the_envelope_comes_from_return_path_and_our_addresses(settings: Settings) -> None:
    """Return-Path is the sender (``<>`` stays null); recipients are the addresses of
    ours among Delivered-To, To and Cc, else the service address."""
    service = ServiceAddresses(settings)
    raw = (b"Return-Path: <Bounce@Corp.test>\r\nDelivered-To: handoff@acme.test\r\n"
           b"From: Ana <ana@corp.test>\r\nTo: bob@corp.test, handoff+sales@acme.test\r\n"
           b"Cc: handoff@acme.test\r\n\r\nbody: handoff+x@acme.test\r\n")
    assert read_envelope(raw, service) == (
        "bounce@corp.test", ["handoff@acme.test", "handoff+sales@acme.test"])
    assert read_envelope(b"Return-Path: <>\r\nFrom: mailer-daemon@corp.test\r\n\r\n",
                         service) == ("<>", [SERVICE])
    assert read_envelope(b"From: ana@corp.test\r\nTo: bob@corp.test\r\n\r\n",
                         service) == ("ana@corp.test", [SERVICE])
    assert read_envelope(bytes(range(256)), service) == ("", [SERVICE])


def test_the_account_comes_from_the_url_or_the_parts(tmp_path: Path) -> None:
    """imaps:// is TLS on 993, imap:// plain on 143; user and password are
    percent-decoded; nothing configured is None; another scheme is a ConfigError."""
    account = imap_account(make_settings(
        tmp_path, imap_url="imaps://handoff%40acme.test:p%2Fss%3Aw@Mail.acme.test/Work%20In"))
    assert account is not None
    assert (account.host, account.port, account.tls, account.user, account.password,
            account.folder) == ("mail.acme.test", 993, True, "handoff@acme.test", "p/ss:w",
                                "Work In")
    assert account.mailbox == "handoff@acme.test@mail.acme.test:993/Work In"
    assert "p/ss:w" not in repr(account)
    plain = imap_account(make_settings(tmp_path, imap_host="imap.acme.test", imap_tls=False,
                                       imap_user="u", imap_password="p"))
    assert plain is not None and (plain.port, plain.tls, plain.folder) == (143, False, "INBOX")
    assert imap_account(make_settings(tmp_path)) is None
    with pytest.raises(ConfigError):
        imap_account(make_settings(tmp_path, imap_url="pop3://u:p@host/INBOX"))


@pytest.mark.realserver
def test_handoff_serve_with_a_mailbox_reads_it_and_the_offer_goes_out(
        dovecot: Dovecot, tmp_path: Path, database_url: str, clock: Clock) -> None:
    """``handoff serve`` with HANDOFF_IMAP_URL: mail appended to the mailbox becomes a
    handoff whose offer reaches the smarthost; /healthz counts the watcher."""
    import urllib.request

    from handoff.cli import Service
    from tests.conftest import Sink

    sink = Sink()
    sink.controller.start()
    web_port = free_port()
    settings = make_settings(tmp_path, database_url=database_url, imap_url=dovecot.url,
                             smarthost=f"127.0.0.1:{sink.port}", web_port=web_port,
                             base_url=f"http://127.0.0.1:{web_port}")
    service = Service(settings, clock=clock).start()
    try:
        assert service.imap is not None and "IMAP in" in service.describe()
        append(dovecot, mail(1))
        assert wait_until(lambda: sink.to("bob@corp.test"))
        assert str(sink.to("bob@corp.test")[0]["Subject"]) == "Re: Task number 1 [H-1]"
        with urllib.request.urlopen(f"http://127.0.0.1:{web_port}/healthz") as page:
            assert "imap: up" in page.read().decode()
    finally:
        service.stop()
        sink.controller.stop()


@pytest.mark.realserver
def test_the_handoff_imap_command_stores_the_mailbox_and_stops_on_sigterm(
        dovecot: Dovecot, tmp_path: Path, database_url: str, sessions: Any) -> None:
    """``handoff imap`` as an operator runs it (its own process, HANDOFF_IMAP_URL):
    what is in the mailbox is stored and put away; SIGTERM ends it cleanly."""
    import os
    import signal
    import subprocess
    import sys

    append(dovecot, mail(1))
    env = dict(os.environ, HANDOFF_DATABASE_URL=database_url, HANDOFF_IMAP_URL=dovecot.url,
               HANDOFF_DATA_DIR=str(tmp_path / "var"), HANDOFF_SERVICE_ADDRESS=SERVICE,
               HANDOFF_SECRET_KEY="test-secret-key")
    process = subprocess.Popen([sys.executable, "-m", "handoff", "imap"], env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        assert wait_until(lambda: count(sessions, InboundMessage) == 1, timeout=20)
        assert wait_until(lambda: folder_flags(dovecot, "INBOX") == [])
    finally:
        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=20)
    assert process.returncode == 0, output
    assert "IMAP in" in output


# --- what a review found (each was reproduced against a real Dovecot first) ---

@pytest.mark.realserver
def test_a_message_skipped_while_flagged_deleted_is_stored_before_it_is_moved(
        dovecot: Dovecot, watch: Any, sessions: Any, clock: Clock) -> None:
    """Someone flags UID 1 \\Deleted, we read UID 2 (the cursor passes 1), they take the
    flag back: UID 1 must be stored, not just moved away unread."""
    append(dovecot, mail(1), mail(2))
    other = dovecot.client()
    other.select_folder("INBOX")
    first = min(other.search("ALL"))
    other.add_flags([first], [b"\\Deleted"])
    watcher = watch(dovecot)
    assert watcher.run_once() == 1
    other.remove_flags([first], [b"\\Deleted"])
    other.logout()
    assert watcher.run_once() == 1
    assert handoffs(sessions, watcher.settings, clock) == ["Task number 1", "Task number 2"]


def test_a_done_folder_that_is_the_watched_folder_is_refused(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, imap_url="imap://u:p@127.0.0.1:1/INBOX",
                             imap_move_to="inbox")
    with pytest.raises(ConfigError, match="names the folder that is read"):
        imap_account(settings)


def test_a_bad_url_is_refused_without_showing_the_password(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, imap_url="imaps://bob:Hunter2#x@imap.test/INBOX")
    with pytest.raises(ConfigError) as refused:
        imap_account(settings)
    assert "Hunter2" not in str(refused.value)


def test_a_watcher_that_keeps_failing_is_reported_down(
        tmp_path: Path, database_url: str, sessions: Any, clock: Clock) -> None:
    """A server gone (or a wrong password, or a done folder that cannot be made): the
    thread lives on and retries, but /healthz must not say the door is up.  (Dovecot
    slows down repeated wrong passwords, so a closed port stands for them here.)"""
    waits = Waits()
    settings = make_settings(tmp_path, database_url=database_url,
                             imap_url=f"imap://u:p@127.0.0.1:{free_port()}/INBOX")
    watcher = ImapWatcher(settings, sessions, clock, wait=waits).start()
    try:
        assert wait_until(lambda: len(waits.asked) >= 3)
        assert watcher.alive and not watcher.healthy
    finally:
        watcher.stop()


@pytest.mark.realserver
def test_a_message_the_server_will_not_hand_over_is_stored_marked_and_moved_aside(
        dovecot: Dovecot, watch: Any, sessions: Any, clock: Clock) -> None:
    """One unreadable message must not block the folder: it is asked for a few times,
    then a failed row says so and the messages after it are read."""
    dovecot.client().logout()  # the first login makes the maildir
    dovecot.deliver(mail(1))
    [broken] = list((dovecot.maildir / "new").iterdir())
    broken.chmod(0)  # Dovecot runs as nobody: it cannot read this one
    append(dovecot, mail(2))
    watcher = watch(dovecot)
    from imapclient.exceptions import IMAPClientError

    for _ in range(3):  # Dovecot answers an internal error and hangs up
        with pytest.raises(IMAPClientError):
            watcher.run_once()
    assert watcher.run_once() == 1  # mail 2; the marked row is put away first
    assert handoffs(sessions, watcher.settings, clock) == ["Task number 2"]
    with sessions() as session:
        marked = session.scalars(select(InboundMessage)
                                 .where(InboundMessage.status == "failed")).one()
    assert "refused to hand over" in (marked.error or "") and marked.raw == b""
    assert watcher.run_once() == 0
    assert folder_flags(dovecot, "INBOX") == []  # both put away, the broken one too


@pytest.mark.realserver
def test_a_message_over_the_size_limit_is_stored_as_its_header_marked(
        dovecot: Dovecot, watch: Any, sessions: Any, clock: Clock) -> None:
    append(dovecot, mail(1, body="x" * 5000 + "\n"))
    watcher = watch(dovecot, max_message_size=2000)
    assert watcher.run_once() == 1
    with sessions() as session:
        row = session.scalars(select(InboundMessage)).one()
    assert row.status == "failed" and "over HANDOFF_MAX_MESSAGE_SIZE" in (row.error or "")
    assert b"Subject: Task number 1" in row.raw and b"xxxx" not in row.raw
    assert folder_flags(dovecot, "INBOX") == [] and len(folder_flags(dovecot, DONE)) == 1


@pytest.mark.realserver
def test_a_done_folder_deleted_meanwhile_is_made_again(
        dovecot: Dovecot, watch: Any, sessions: Any) -> None:
    append(dovecot, mail(1))
    watcher = watch(dovecot)
    assert watcher.run_once() == 1
    other = dovecot.client()
    other.delete_folder(DONE)
    other.logout()
    append(dovecot, mail(2))
    assert watcher.run_once() == 1
    assert folder_flags(dovecot, "INBOX") == [] and len(folder_flags(dovecot, DONE)) == 1


@pytest.mark.realserver
def test_stop_ends_a_backlog_promptly(dovecot: Dovecot, watch: Any, sessions: Any) -> None:
    append(dovecot, *[mail(n) for n in range(60)])
    watcher = watch(dovecot).start()
    assert wait_until(lambda: count(sessions, InboundMessage) >= 1)
    watcher.stop(timeout=5)
    assert not watcher.alive
    assert count(sessions, InboundMessage) < 60


@pytest.mark.realserver
def test_imaps_verifies_the_server_certificate(tmp_path: Path, database_url: str,
                                               sessions: Any, clock: Clock) -> None:
    """imaps:// speaks TLS from the first byte and checks the certificate: trusted by
    HANDOFF_IMAP_CA it reads the mailbox; by the system store alone it refuses."""
    import ssl

    import trustme

    ca = trustme.CA()
    server = Dovecot(certificate=ca.issue_cert("127.0.0.1"))
    server.client_context = ssl.create_default_context()
    ca.configure_trust(server.client_context)
    ca_file = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    try:
        server.start()
        assert server.url.startswith("imaps://")
        append(server, mail(1))
        untrusted = ImapWatcher(make_settings(tmp_path, database_url=database_url,
                                              imap_url=server.url), sessions, clock)
        with pytest.raises(ssl.SSLCertVerificationError):
            untrusted.run_once()
        trusted = ImapWatcher(make_settings(tmp_path, database_url=database_url,
                                            imap_url=server.url, imap_ca=str(ca_file)),
                              sessions, clock)
        assert trusted.run_once() == 1
        trusted.stop()
        assert handoffs(sessions, trusted.settings, clock) == ["Task number 1"]
    finally:
        server.remove()

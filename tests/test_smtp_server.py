"""handoff's own SMTP server, fed by smtplib: never a relay, a size limit, 250 only after
the commit, 451 when it cannot store."""

from __future__ import annotations

import smtplib
from datetime import datetime, timezone

import pytest
from sqlalchemy import func, select

from handoff.db import make_engine, make_session_factory
from handoff.models import InboundMessage
from mailer.smtp_server import InboundHandler, SMTPListener
from tests.conftest import SERVICE, handoff_mail, make_settings, wait_until


def count_inbound(service) -> int:
    with service.sessions() as session:
        return int(session.scalar(select(func.count(InboundMessage.id))))


def test_rcpt_outside_the_service_domains_gets_550_and_is_never_relayed(running, sink):
    with smtplib.SMTP("127.0.0.1", running.smtp.port) as client:
        client.ehlo()
        client.mail("spammer@evil.test")
        code, reply = client.rcpt("victim@gmail.test")
        assert code == 550 and b"Relaying denied" in reply
        code, _ = client.rcpt("someone-else@acme.test")  # our domain, not our mailbox
        assert code == 550
    assert count_inbound(running) == 0
    assert sink.received == []


def test_plus_addresses_and_minted_addresses_are_accepted_forged_ones_are_not(running):
    from handoff.addresses import ServiceAddresses

    service = ServiceAddresses(running.settings)
    good_reply = service.reply_address(1, 2)
    forged = good_reply[:-len("@acme.test") - 1] + ("0" if good_reply[-11] != "0" else "1") \
        + "@acme.test"
    with smtplib.SMTP("127.0.0.1", running.smtp.port) as client:
        client.ehlo()
        client.mail("ana@corp.test")
        assert client.rcpt("handoff+sales-to-delivery@acme.test")[0] == 250
        assert client.rcpt(good_reply)[0] == 250
        assert client.rcpt(good_reply.replace("+", "-", 1))[0] == 250  # "+"-stripping lists
        assert client.rcpt(forged)[0] == 550


def test_size_limit_is_advertised_and_enforced(tmp_path, database_url, clock):
    from handoff.cli import Service

    settings = make_settings(tmp_path, max_message_size=20_000, database_url=database_url)
    service = Service(settings, web=False, workers=False, clock=clock).start()
    try:
        with smtplib.SMTP("127.0.0.1", service.smtp.port) as client:
            client.ehlo()
            assert client.has_extn("size") and client.esmtp_features["size"] == "20000"
            big = handoff_mail(body="x" * 30_000)
            with pytest.raises(smtplib.SMTPException) as refused:
                client.send_message(big, to_addrs=[SERVICE])
            code = getattr(refused.value, "smtp_code", None) or \
                next(iter(getattr(refused.value, "recipients", {}).values()), (None,))[0]
            assert code == 552
        assert count_inbound(service) == 0
    finally:
        service.stop()


def test_null_reverse_path_is_accepted_for_bounces_and_auto_replies(running):
    with smtplib.SMTP("127.0.0.1", running.smtp.port) as client:
        client.ehlo()
        assert client.mail("<>")[0] == 250
        assert client.rcpt(SERVICE)[0] == 250
        assert client.data(handoff_mail().as_bytes())[0] == 250
    with running.sessions() as session:
        assert session.scalar(select(InboundMessage.mail_from)) == ""


def test_storage_failure_answers_451_so_the_sender_retries(tmp_path):
    """An unmigrated database cannot take the message: the client hears 451, not 250."""
    settings = make_settings(tmp_path)
    engine = make_engine(f"sqlite:///{tmp_path / 'empty.db'}")
    handler = InboundHandler(settings, make_session_factory(engine),
                             clock=lambda: datetime.now(timezone.utc))
    listener = SMTPListener(handler, "127.0.0.1", 0, data_size_limit=10**6).start()
    try:
        with smtplib.SMTP("127.0.0.1", listener.port) as client:
            client.ehlo()
            client.mail("ana@corp.test")
            client.rcpt(SERVICE)
            code, reply = client.data(handoff_mail().as_bytes())
        assert code == 451 and b"4.3.0" in reply
    finally:
        listener.stop()
        engine.dispose()


def test_undecodable_8bit_garbage_is_stored_and_marked_not_dropped(running):
    raw = (b"From: \xff\xfe<ana@corp.test>\r\nTo: bob@corp.test\r\nSubject: =?x-unknown?q?caf=E9?=\r\n"
           b"Content-Type: text/plain; charset=x-unknown\r\nContent-Transfer-Encoding: 8bit\r\n"
           b"\r\n\xe9\xe8 body \x00 with nul\r\n")
    with smtplib.SMTP("127.0.0.1", running.smtp.port) as client:
        client.ehlo()
        client.mail("ana@corp.test")
        client.rcpt(SERVICE)
        assert client.data(raw)[0] == 250
    def processed():
        with running.sessions() as session:
            row = session.scalar(select(InboundMessage))
            return row if row.status not in ("queued", "processing") else None

    row = wait_until(processed)
    assert row.raw.startswith(b"From: \xff\xfe")
    assert row.status in ("done", "ignored")
    assert row.status != "failed", row.error
    assert row.problems  # read best-effort, and what was broken is marked on the row


def test_mails_arriving_together_are_committed_together_each_under_its_own_receipt(
        tmp_path, database_url, clock):
    """Group commit: while the database is busy, mails from three connections queue up
    and are committed in one transaction; each 250 names the row holding that mail."""
    import re
    import threading

    from handoff.cli import Service

    settings = make_settings(tmp_path, database_url=database_url)
    service = Service(settings, web=False, workers=False, clock=clock).start()
    handler = service.smtp.handler
    blocker = hold_inbound_write_lock(database_url)  # another writer holds the lock
    replies: dict[str, tuple[int, bytes]] = {}

    def deliver(n: int) -> None:
        with smtplib.SMTP("127.0.0.1", service.smtp.port) as client:
            client.ehlo()
            client.mail("ana@corp.test")
            client.rcpt(SERVICE)
            replies[f"<g{n}@corp.test>"] = client.data(
                handoff_mail(message_id=f"<g{n}@corp.test>").as_bytes())

    try:
        first = threading.Thread(target=deliver, args=(0,))
        first.start()  # its commit now waits for the lock ...
        assert wait_until(lambda: handler._writer is not None and not handler._waiting)
        others = [threading.Thread(target=deliver, args=(n,)) for n in (1, 2)]
        for t in others:
            t.start()
        assert wait_until(lambda: len(handler._waiting) == 2)  # ... and these queue behind
        blocker.rollback()
        for t in [first, *others]:
            t.join(30)
        assert sorted(code for code, _ in replies.values()) == [250, 250, 250]
        with service.sessions() as session:
            for message_id, (_code, reply) in replies.items():
                receipt = int(re.search(rb"queued as (\d+)", reply).group(1))
                assert message_id.encode() in session.get(InboundMessage, receipt).raw
    finally:
        blocker.close()
        service.stop()


def hold_inbound_write_lock(database_url: str):
    """A connection of another writer, holding what an INSERT into inbound_messages
    needs until its ``rollback()``."""
    if database_url.startswith("sqlite"):
        import sqlite3

        conn = sqlite3.connect(database_url.split("///", 1)[1])
        conn.execute("BEGIN IMMEDIATE")  # rollback() ends it
        return conn
    import psycopg

    conn = psycopg.connect(database_url.replace("postgresql+psycopg://", "postgresql://"))
    conn.execute("LOCK TABLE inbound_messages IN EXCLUSIVE MODE")
    return conn

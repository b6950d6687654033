"""Out-of-office replies and bounces (SPEC 5, issue 4 points 5 and 6): the sender hears
at once, the handoff is marked on the status page, the robot is never answered."""

from __future__ import annotations

from sqlalchemy import select

from handoff.models import Event, Handoff
from tests.conftest import SERVICE, handoff_mail, links_of, mail_to
from tests.conftest import stored_handoff as handoff


def offer_of(flow):
    return mail_to(flow.submit(handoff_mail()), "bob@corp.test")


def out_of_office(offer, message_id: str = "<ooo1@corp.test>"):
    """Sent like Outlook's: from Bob, null envelope sender, to the offer's envelope
    sender (its per-message bounce address), Auto-Submitted."""
    return handoff_mail(
        sender="Bob Builder <bob@corp.test>", to="handoff@acme.test", cc=None,
        subject="Automatic reply: Renew the TLS certificate", message_id=message_id,
        body="I am out of the office until 7 December with limited access to mail.\n"
             "For urgent matters contact Carol.\n\nBob\n", Auto_Submitted="auto-replied")


def bounce_address_of(flow, mail) -> str:
    """The VERP envelope sender the dev outbox recorded for ``mail``."""
    for path in sorted(flow.settings.outbox_dir.glob("*.eml")):
        raw = path.read_bytes()
        if str(mail["Message-ID"]).encode() in raw:
            return raw.split(b"\r\n", 1)[0].split(b": ", 1)[1].decode()
    raise AssertionError("offer not in the dev outbox")


def test_an_out_of_office_reply_tells_the_sender_at_once_with_its_first_lines(
        flow, sessions, client):
    offer = offer_of(flow)
    bounce_to = bounce_address_of(flow, offer)
    told = flow.submit(out_of_office(offer), rcpt=[bounce_to], mail_from="")
    notice = mail_to(told, "ana@corp.test")
    text = notice.get_body(("plain",)).get_content()
    assert "looks away" in text and "until 7 December" in text
    assert notice["Auto-Submitted"] == "auto-generated"  # a notice, not to be answered
    assert handoff(sessions).owner_away_since is not None
    assert client.get("/api/handoffs/H-1").get_json()["owner_away"] is not None
    assert "away since" in client.get("/h/H-1").get_data(as_text=True)

    # auto-responders answer once per period; a second one tells nobody again
    again = flow.submit(out_of_office(offer, "<ooo2@corp.test>"), rcpt=[bounce_to],
                        mail_from="")
    assert again == []


def test_the_away_mark_stays_until_the_owner_really_acts(flow, sessions, client):
    offer = offer_of(flow)
    flow.submit(out_of_office(offer), rcpt=[bounce_address_of(flow, offer)], mail_from="")
    assert handoff(sessions).owner_away_since is not None
    client.post(links_of(offer)["Accept"])
    assert handoff(sessions).owner_away_since is None


def dsn(original_to: str, message_id: str = "<dsn1@mx.corp.test>") -> bytes:
    """An RFC 3464 delivery status notification as Postfix writes it."""
    return (
        "From: MAILER-DAEMON@mx.corp.test (Mail Delivery System)\r\n"
        "To: handoff@acme.test\r\nSubject: Undelivered Mail Returned to Sender\r\n"
        f"Message-ID: {message_id}\r\nDate: Mon, 23 Nov 2026 10:05:00 +0100\r\n"
        "MIME-Version: 1.0\r\n"
        'Content-Type: multipart/report; report-type=delivery-status; boundary="b"\r\n'
        "\r\n--b\r\nContent-Type: text/plain\r\n\r\n"
        "I'm sorry to have to inform you that your message could not be delivered.\r\n"
        f"<{original_to}>: host mx.corp.test said: 550 5.1.1 <{original_to}>: "
        "Recipient address rejected: User unknown\r\n"
        "\r\n--b\r\nContent-Type: message/delivery-status\r\n\r\n"
        "Reporting-MTA: dns; mx.corp.test\r\n\r\n"
        f"Final-Recipient: rfc822; {original_to}\r\nAction: failed\r\nStatus: 5.1.1\r\n"
        "\r\n--b--\r\n").encode()


def test_a_bounce_of_the_offer_tells_the_sender_that_the_owners_address_failed(
        flow, sessions, client):
    offer = offer_of(flow)
    told = flow.submit(dsn("bob@corp.test"), rcpt=[bounce_address_of(flow, offer)],
                       mail_from="")
    notice = mail_to(told, "ana@corp.test")
    text = notice.get_body(("plain",)).get_content()
    assert "could not be delivered" in text and "5.1.1" in text
    assert "5.1.1" in handoff(sessions).owner_unreachable
    assert "unreachable" in client.get("/").get_data(as_text=True)
    with sessions() as session:
        kinds = list(session.scalars(select(Event.kind).order_by(Event.id)))
    assert kinds[-2:] == ["received_bounce", "owner_unreachable"]


def test_a_bounce_of_the_senders_receipt_does_not_blame_the_owner(flow, sessions):
    mails = flow.submit(handoff_mail())
    receipt = mail_to(mails, "ana@corp.test")
    told = flow.submit(dsn("ana@corp.test"), rcpt=[bounce_address_of(flow, receipt)],
                       mail_from="")
    assert told == [] and handoff(sessions).owner_unreachable is None


def mdn(original_to: str, disposition: str, human: str,
        message_id: str = "<mdn1@corp.test>") -> bytes:
    """An RFC 8098 disposition notification: a read receipt (``displayed``) as mail
    clients send it, or a Sieve refusal (``deleted``, RFC 5429) shaped as Pigeonhole
    writes it, null sender, to the offer's bounce address."""
    return (
        f"From: Postmaster <postmaster@corp.test>\r\nTo: handoff@acme.test\r\n"
        f"Subject: Read: Renew the TLS certificate\r\nMessage-ID: {message_id}\r\n"
        "Date: Mon, 23 Nov 2026 10:05:00 +0100\r\nMIME-Version: 1.0\r\n"
        "Auto-Submitted: auto-replied\r\n"
        "Content-Type: multipart/report; report-type=disposition-notification;\r\n"
        '\tboundary="b"\r\n'
        f"\r\n--b\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{human}\r\n"
        "--b\r\nContent-Type: message/disposition-notification\r\n\r\n"
        "Reporting-UA: mx.corp.test; Dovecot Mail Delivery Agent\r\n"
        f"Final-Recipient: rfc822; {original_to}\r\n"
        f"Disposition: {disposition}\r\n"
        "\r\n--b--\r\n").encode()


def delay_warning(original_to: str) -> bytes:
    """An RFC 3464 DSN with ``Action: delayed``: still being tried, not a failure."""
    return (
        "From: MAILER-DAEMON@mx.corp.test (Mail Delivery System)\r\n"
        "To: handoff@acme.test\r\nSubject: Delayed Mail (still being retried)\r\n"
        "Message-ID: <delay1@mx.corp.test>\r\nDate: Mon, 23 Nov 2026 14:05:00 +0100\r\n"
        "MIME-Version: 1.0\r\n"
        'Content-Type: multipart/report; report-type=delivery-status; boundary="b"\r\n'
        "\r\n--b\r\nContent-Type: text/plain\r\n\r\n"
        "This is a warning only; you do not need to resend your message.\r\n"
        f"<{original_to}>: connect to mx.corp.test: Connection timed out\r\n"
        "\r\n--b\r\nContent-Type: message/delivery-status\r\n\r\n"
        "Reporting-MTA: dns; mx.corp.test\r\n\r\n"
        f"Final-Recipient: rfc822; {original_to}\r\nAction: delayed\r\nStatus: 4.4.1\r\n"
        "Will-Retry-Until: Mon, 28 Nov 2026 10:00:00 +0100\r\n"
        "\r\n--b--\r\n").encode()


def events(sessions) -> list[tuple[str, dict]]:
    with sessions() as session:
        return [(e.kind, e.detail) for e in session.scalars(select(Event).order_by(Event.id))]


def test_a_read_receipt_of_the_offer_goes_on_the_timeline_and_blames_nobody(
        flow, sessions, client):
    offer = offer_of(flow)
    receipt = mdn("bob@corp.test", "manual-action/MDN-sent-manually; displayed",
                  "Your message to Bob Builder was displayed on Mon, 23 Nov 2026.")
    told = flow.submit(receipt, rcpt=[bounce_address_of(flow, offer)], mail_from="")
    assert told == []  # nobody hears of it: the owner opened the mail
    assert handoff(sessions).owner_unreachable is None
    kind, detail = events(sessions)[-1]
    assert (kind, detail["report"]) == ("received_receipt", "receipt")
    assert "unreachable" not in client.get("/").get_data(as_text=True)


def test_a_delay_warning_of_the_offer_goes_on_the_timeline_and_blames_nobody(
        flow, sessions, client):
    offer = offer_of(flow)
    told = flow.submit(delay_warning("bob@corp.test"), rcpt=[bounce_address_of(flow, offer)],
                       mail_from="")
    assert told == []  # a warning: the mail is still being tried
    assert handoff(sessions).owner_unreachable is None
    kind, detail = events(sessions)[-1]
    assert (kind, detail["report"]) == ("received_delay_warning", "delayed")
    assert "received delay warning" in client.get("/h/H-1").get_data(as_text=True)


def test_a_sieve_reject_of_the_offer_tells_the_sender_the_owners_mailbox_refused_it(
        flow, sessions, client):
    """The unit-level twin of tests/test_sieve_reject.py (which runs a real Pigeonhole):
    the reason the script gave reaches the sender, not the notice's lead-in."""
    offer = offer_of(flow)
    refusal = mdn("bob@corp.test", "automatic-action/MDN-sent-automatically; deleted",
                  "Your message to <bob@corp.test> was automatically rejected:\r\n"
                  "I do not take handoffs by mail.")
    told = flow.submit(refusal, rcpt=[bounce_address_of(flow, offer)], mail_from="")
    text = mail_to(told, "ana@corp.test").get_body(("plain",)).get_content()
    assert "the owner's mailbox refused it" in text
    assert "said: I do not take handoffs by mail." in text
    assert "automatically rejected" not in text and "could not be delivered" not in text
    assert handoff(sessions).owner_unreachable.endswith("I do not take handoffs by mail.")
    assert [kind for kind, _ in events(sessions)[-2:]] == ["received_refusal",
                                                           "owner_mailbox_refused"]
    assert "mailbox refused" in client.get("/h/H-1").get_data(as_text=True)

    # the mark is set once: a second refusal (or a later bounce) tells nobody again
    again = mdn("bob@corp.test", "automatic-action/MDN-sent-automatically; deleted",
                "Your message was automatically rejected:\r\nStill no.", "<mdn2@corp.test>")
    assert flow.submit(again, rcpt=[bounce_address_of(flow, offer)], mail_from="") == []


def test_a_refusal_of_the_senders_receipt_does_not_blame_the_owner(flow, sessions):
    receipt = mail_to(flow.submit(handoff_mail()), "ana@corp.test")
    refusal = mdn("ana@corp.test", "automatic-action/MDN-sent-automatically; deleted",
                  "Your message was automatically rejected:\r\nNo robots.")
    told = flow.submit(refusal, rcpt=[bounce_address_of(flow, receipt)], mail_from="")
    assert told == [] and handoff(sessions).owner_unreachable is None


def challenge(message_id: str = "<cr1@corp.test>"):
    """A challenge-response filter's answer to the offer, as TMDA-like software sends
    it: from the owner's address, to the offer's bounce address, no Auto-Submitted."""
    return handoff_mail(
        sender="Bob Builder <bob@corp.test>", to="handoff@acme.test", cc=None,
        subject="Please verify you are human: Renew the TLS certificate",
        message_id=message_id,
        body="Hello,\n\nI use a sender verification service to protect my inbox. Your "
             "message has been held and will be delivered once you confirm:\n\n"
             "https://verify.mailguard.test/c/8f3a2b\n")


def test_a_challenge_for_the_offer_goes_to_the_sender_with_its_link_once(
        flow, sessions, client):
    """The service cannot prove to be a person; Ana can: she gets the challenge's
    words and link, once, and Bob is marked neither away nor unreachable."""
    offer = offer_of(flow)
    told = flow.submit(challenge(), rcpt=[bounce_address_of(flow, offer)], mail_from="")
    notice = mail_to(told, "ana@corp.test")
    text = notice.get_body(("plain",)).get_content()
    assert "until its sender proves to be a person" in text
    assert "https://verify.mailguard.test/c/8f3a2b" in text
    assert "looks away" not in text
    assert str(notice["Auto-Submitted"]) == "auto-generated"
    marked = handoff(sessions)
    assert marked.owner_away_since is None and marked.owner_unreachable is None
    assert [kind for kind, _ in events(sessions)[-2:]] == ["received_challenge",
                                                           "owner_mailbox_challenge"]
    again = flow.submit(challenge("<cr2@corp.test>"), rcpt=[bounce_address_of(flow, offer)],
                        mail_from="")
    assert again == []  # told once per handoff


def test_the_sender_reads_what_the_failing_server_said_from_the_diagnostic_code(
        flow, sessions):
    """Exchange Online's bounce says little in its text; its DSN's Diagnostic-Code
    (RFC 3464 2.3.6) carries the server's words, and that is what Ana reads."""
    offer = offer_of(flow)
    ndr = (
        "From: Microsoft Outlook <MicrosoftExchange329e71ec88ae4615bbc36ab6ce41109e@corp.test>\r\n"
        "To: handoff@acme.test\r\nSubject: Undeliverable: Re: Renew the TLS certificate\r\n"
        "Message-ID: <ndr1@corp.test>\r\nDate: Mon, 23 Nov 2026 10:05:00 +0100\r\n"
        "MIME-Version: 1.0\r\nAuto-Submitted: auto-replied\r\n"
        'Content-Type: multipart/report; report-type=delivery-status; boundary="b"\r\n'
        "\r\n--b\r\nContent-Type: text/plain\r\n\r\n"
        "Your message to bob@corp.test couldn't be delivered.\r\n"
        "bob wasn't found at corp.test.\r\n"
        "\r\n--b\r\nContent-Type: message/delivery-status\r\n\r\n"
        "Reporting-MTA: dns;AM0PR01MB1234.eurprd01.prod.outlook.com\r\n\r\n"
        "Final-Recipient: rfc822;bob@corp.test\r\nAction: failed\r\nStatus: 5.4.1\r\n"
        "Diagnostic-Code: smtp;550 5.4.1 Recipient address rejected: Access denied. "
        "[AM0PR01MB1234.eurprd01.prod.outlook.com]\r\n"
        "\r\n--b--\r\n").encode()
    told = flow.submit(ndr, rcpt=[bounce_address_of(flow, offer)], mail_from="")
    text = mail_to(told, "ana@corp.test").get_body(("plain",)).get_content()
    assert "550 5.4.1 Recipient address rejected: Access denied." in text
    assert handoff(sessions).owner_unreachable.startswith("550 5.4.1 Recipient address")


def test_the_owners_outlook_recall_in_the_thread_is_not_an_out_of_office(flow, sessions):
    """Bob recalls a mail he sent in the thread: automatic, but not an absence; Ana is
    not told he looks away."""
    offer = offer_of(flow)
    recall = handoff_mail(sender="Bob Builder <bob@corp.test>", to=str(offer["Reply-To"]),
                          cc=None, subject="Recall: Renew the TLS certificate",
                          message_id="<recall1@corp.test>",
                          body='Bob Builder would like to recall the message, "Renew the '
                               'TLS certificate".\n', Thread_Topic="Renew the TLS certificate")
    recall["In-Reply-To"] = offer["Message-ID"]
    told = flow.submit(recall, rcpt=[str(offer["Reply-To"])], mail_from="bob@corp.test")
    assert told == [] and handoff(sessions).owner_away_since is None
    kind, detail = events(sessions)[-1]
    assert (kind, detail["report"]) == ("received_recall", "recall")


def test_a_forged_challenge_by_subject_tag_hands_the_sender_no_strangers_link(flow, sessions):
    """From: and a [H-1] tag are anybody's to write: only mail to the routes minted for
    mail to the owner speaks for the owner's mailbox."""
    offer_of(flow)
    forged = handoff_mail(sender="Bob Builder <bob@corp.test>", to=SERVICE, cc=None,
                          subject="[H-1] Please verify you are human",
                          message_id="<evil1@evil.test>",
                          body="Your message is held. Log in to release your message:\n\n"
                               "https://evil.test/login\n")
    told = flow.submit(forged, rcpt=[SERVICE], mail_from="attacker@evil.test")
    assert told == []
    assert all(kind != "owner_mailbox_challenge" for kind, _ in events(sessions))


def test_an_out_of_office_that_says_confirm_is_still_an_absence(flow, sessions):
    offer = offer_of(flow)
    ooo = handoff_mail(sender="Bob Builder <bob@corp.test>", to=SERVICE, cc=None,
                       subject="Automatic reply: Renew the TLS certificate",
                       message_id="<ooo9@corp.test>", Auto_Submitted="auto-replied",
                       body="I am out of the office until 7 December.\nYour message has been "
                            "received and will be pending until I return.\nIf it is urgent, "
                            "reply to this email with URGENT in the subject and Carol will "
                            "confirm.\n")
    told = flow.submit(ooo, rcpt=[bounce_address_of(flow, offer)], mail_from="")
    text = mail_to(told, "ana@corp.test").get_body(("plain",)).get_content()
    assert "looks away" in text and "proves to be a person" not in text
    assert handoff(sessions).owner_away_since is not None


def test_a_person_deleting_the_offer_unread_is_not_a_refusal(flow, sessions):
    """RFC 5429 2.2.2: a Sieve reject's notice is sent automatically; a manual "deleted"
    receipt is the owner's client speaking, not their mailbox refusing."""
    offer = offer_of(flow)
    deleted = mdn("bob@corp.test", "manual-action/MDN-sent-manually; deleted",
                  "Your message to Bob Builder was deleted on Mon, 23 Nov 2026.")
    told = flow.submit(deleted, rcpt=[bounce_address_of(flow, offer)], mail_from="")
    assert told == [] and handoff(sessions).owner_unreachable is None


def test_an_out_of_office_that_threads_by_in_reply_to_still_tells_the_sender(flow, sessions):
    """Pigeonhole's vacation (and Exchange) answer with In-Reply-To the offer: the
    thread is found by its header, and the offer it answers was Bob's, so Bob is away
    whichever address it came to: the offer's bounce address, or the service's own."""
    for rcpt in ("verp", SERVICE):
        offer = offer_of(flow) if rcpt == "verp" else mail_to(
            flow.submit(handoff_mail(message_id="<m2@corp.test>", subject="Second task")),
            "bob@corp.test")
        reply = out_of_office(offer, message_id=f"<ooo-{len(rcpt)}@corp.test>")
        reply["In-Reply-To"] = offer["Message-ID"]
        reply["References"] = offer["Message-ID"]
        to = bounce_address_of(flow, offer) if rcpt == "verp" else SERVICE
        told = flow.submit(reply, rcpt=[to], mail_from="")
        assert "looks away" in mail_to(told, "ana@corp.test").get_body(
            ("plain",)).get_content(), rcpt

"""Automatic mail of kinds the first rules did not know (issue 10, point 1): Lotus Notes
out-of-office, out-of-office subjects in many languages, challenge-response, ARF abuse
reports, moderation notices, ``Precedence: junk``, and what each report says happened
(failed, delayed, refused, read).  Every message here is written as the robot writes it;
people writing about the same things stay people."""

from __future__ import annotations

from email.message import EmailMessage

import pytest

from handoff.addresses import ServiceAddresses
from handoff.guards import Envelope, Verdict, classify
from handoff.parsing import parse_message
from tests.conftest import SERVICE, handoff_mail, make_settings


def verdict_of(tmp_path, msg: EmailMessage | bytes,
               mail_from: str | None = "someone@corp.test") -> Verdict:
    raw = msg if isinstance(msg, bytes) else msg.as_bytes()
    service = ServiceAddresses(make_settings(tmp_path))
    return classify(parse_message(raw), Envelope(mail_from, (SERVICE,)), service)


def test_a_lotus_notes_out_of_office_is_an_autoreply(tmp_path):
    """Notes writes no Auto-Submitted header; its subject is the mark."""
    msg = handoff_mail(
        sender="John Smith <John.Smith@corp.test>", to=SERVICE, cc=None,
        subject="AUTO: Smith, John is out of the office. (returning 12/08/2026)",
        body="I am out of the office until 12/08/2026.\n\nFor urgent matters please "
             "contact Mary Jones.\n\nNote: This is an automated response to your message "
             "\"Renew the TLS certificate\" sent on 12/2/2026 9:14:03 AM.\n\nThis is the "
             "only notification you will receive while this person is away.\n")
    verdict = verdict_of(tmp_path, msg)
    assert (verdict.kind, verdict.report) == ("autoreply", "")
    assert "Lotus Notes" in verdict.reason


@pytest.mark.parametrize("subject", [
    "Automatyczna odpowiedź: Odnowienie certyfikatu TLS",  # Outlook, Polish
    "Odpowiedź automatyczna: Odnowienie certyfikatu",
    "Poza biurem: Odnowienie certyfikatu",
    "Risposta automatica: Rinnovo del certificato TLS",  # Outlook, Italian
    "Fuori sede: Rinnovo del certificato",
    "Automatisch antwoord: Vernieuw het TLS-certificaat",  # Outlook, Dutch
    "Afwezig: Vernieuw het certificaat",
    "Resposta automática: Renovar o certificado TLS",  # Outlook, Portuguese
    "Ausente: Renovar o certificado",
    "Automatiskt svar: Förnya TLS-certifikatet",  # Outlook, Swedish
    "Autosvar: Förnya certifikatet",
    "תשובה אוטומטית: חידוש תעודת TLS",  # Outlook, Hebrew
    "自動応答: TLS 証明書の更新",  # Outlook, Japanese
    "自動返信：TLS 証明書の更新",  # a full-width colon
    "【不在通知】TLS 証明書の更新",
    "Automatisk svar: Forny TLS-sertifikatet",  # Danish / Norwegian
    "Automaattinen vastaus: Uusi TLS-varmenne",  # Finnish
    "Automatická odpověď: Obnovit certifikát",  # Czech
    "Автоматический ответ: Обновить сертификат",  # Russian
    "自动回复: 更新 TLS 证书",  # Chinese
    "자동 회신: TLS 인증서 갱신",  # Korean
    "Otomatik yanıt: TLS sertifikasını yenile",  # Turkish
    "Out of Office AutoReply: Renew the TLS certificate",  # older Exchange
])
def test_out_of_office_subjects_in_many_languages_are_autoreplies(tmp_path, subject):
    verdict = verdict_of(tmp_path, handoff_mail(subject=subject))
    assert verdict.kind == "autoreply", verdict


@pytest.mark.parametrize("subject", [
    "Automatic reply rules for the support inbox",
    "Auto: renew the car insurance",
    "Risposte automatiche del chatbot: requisiti",
    "Afwezigheid tijdens de feestdagen plannen",
    "Poza biurem w piątek - kto przejmie dyżur?",
    "Re: AUTO: Smith, John is out of the office. (returning 12/08/2026)",
    "Bob is out of the office next week, who covers the rota?",
    "Urlaub: wer übernimmt die Bereitschaft?",
    "Please verify the invoice totals before Friday",
])
def test_people_writing_about_absences_and_verification_stay_people(tmp_path, subject):
    assert verdict_of(tmp_path, handoff_mail(subject=subject)).kind == "human"


def test_a_challenge_response_subject_is_an_autoreply_that_holds_the_mail(tmp_path):
    msg = handoff_mail(
        sender="Bob Builder <bob@corp.test>", to=SERVICE, cc=None,
        subject="Please verify you are human: Renew the TLS certificate",
        body="Hello,\n\nI use a sender verification service to protect my inbox. Your "
             "message has been held and will be delivered once you confirm.\n\n"
             "https://verify.mailguard.test/c/8f3a2b\n")
    verdict = verdict_of(tmp_path, msg)
    assert (verdict.kind, verdict.report) == ("autoreply", "challenge")


def test_a_tmda_style_challenge_is_known_by_its_words(tmp_path):
    """TMDA answers with "Re: <subject>"; its text gives it away."""
    msg = handoff_mail(
        sender="Bob Builder <bob-confirm-1733123.a1b2c3@corp.test>", to=SERVICE, cc=None,
        subject="Re: Renew the TLS certificate",
        body="This message was created automatically by mail delivery software.\n\n"
             "Your message is being held pending your confirmation. To confirm that you "
             "are not a robot, please reply to this message; it does not matter what you "
             "write, your reply will confirm it.\n\nOnce confirmed you are added to my "
             "approved senders list.\n")
    verdict = verdict_of(tmp_path, msg)
    assert (verdict.kind, verdict.report) == ("autoreply", "challenge")


def test_a_person_asking_for_a_captcha_is_a_person(tmp_path):
    msg = handoff_mail(body="Hi Bob,\n\nthe signup form needs a captcha so visitors verify "
                            "you are human before posting.\n\nDone when: spam stops\n")
    assert verdict_of(tmp_path, msg).kind == "human"


def report(content_type: str, fields: str, *, subject: str = "Report",
           sender: str = "Mail Delivery System <MAILER-DAEMON@mx.corp.test>",
           human: str = "This is a report about your message.") -> bytes:
    return (
        f"From: {sender}\r\nTo: handoff@acme.test\r\nSubject: {subject}\r\n"
        "Date: Wed, 02 Dec 2026 10:00:00 +0100\r\nMessage-ID: <r1@mx.corp.test>\r\n"
        f"MIME-Version: 1.0\r\nContent-Type: {content_type}; boundary=\"b\"\r\n\r\n"
        f"--b\r\nContent-Type: text/plain\r\n\r\n{human}\r\n"
        f"--b\r\n{fields}\r\n"
        "--b\r\nContent-Type: text/rfc822-headers\r\n\r\n"
        "From: Handoff <handoff@acme.test>\r\nSubject: Re: Renew the TLS certificate [H-1]\r\n"
        "\r\n--b--\r\n").encode()


def test_an_arf_abuse_report_is_a_feedback_report(tmp_path):
    raw = report("multipart/report; report-type=feedback-report",
                 "Content-Type: message/feedback-report\r\n\r\nFeedback-Type: abuse\r\n"
                 "User-Agent: SomeGenerator/1.0\r\nVersion: 1\r\n"
                 "Original-Mail-From: <b1@acme.test>\r\nArrival-Date: Wed, 2 Dec 2026\r\n",
                 sender="Abuse Desk <fbl@isp.test>", subject="Abuse report")
    verdict = verdict_of(tmp_path, raw)
    assert (verdict.kind, verdict.report) == ("bounce", "feedback")
    assert "ARF" in verdict.reason


@pytest.mark.parametrize("disposition, meaning", [
    ("automatic-action/MDN-sent-automatically; deleted", "refused"),  # Sieve reject
    ("manual-action/MDN-sent-manually; displayed", "receipt"),  # a read receipt
    ("automatic-action/MDN-sent-automatically; processed", "receipt"),
])
def test_a_disposition_notice_says_refused_only_when_the_mail_was_deleted(
        tmp_path, disposition, meaning):
    raw = report("multipart/report; report-type=disposition-notification",
                 "Content-Type: message/disposition-notification\r\n\r\n"
                 "Reporting-UA: mx.corp.test; Dovecot Mail Delivery Agent\r\n"
                 "Final-Recipient: rfc822; bob@corp.test\r\n"
                 f"Original-Message-ID: <h1.x@acme.test>\r\nDisposition: {disposition}\r\n",
                 subject="Rejected: Renew the TLS certificate [H-1]",
                 sender="Postmaster <postmaster@corp.test>")
    verdict = verdict_of(tmp_path, raw, mail_from="")
    assert (verdict.kind, verdict.report) == ("bounce", meaning)


@pytest.mark.parametrize("actions, meaning", [
    (["failed"], "failed"),
    (["delayed"], "delayed"),
    (["delivered", "failed"], "failed"),  # one recipient of two failed
    (["relayed"], "delivered"),
])
def test_a_delivery_status_notice_says_what_happened(tmp_path, actions, meaning):
    blocks = "".join(f"\r\nFinal-Recipient: rfc822; r{i}@corp.test\r\nAction: {a}\r\n"
                     f"Status: {'5.1.1' if a == 'failed' else '4.4.7' if a == 'delayed' else '2.0.0'}\r\n"
                     for i, a in enumerate(actions))
    raw = report("multipart/report; report-type=delivery-status",
                 "Content-Type: message/delivery-status\r\n\r\n"
                 f"Reporting-MTA: dns; mx.corp.test\r\n{blocks}",
                 subject="Delivery Status Notification")
    verdict = verdict_of(tmp_path, raw, mail_from="")
    assert (verdict.kind, verdict.report) == ("bounce", meaning)


def test_an_exim_delay_warning_without_a_report_part_is_a_delay(tmp_path):
    msg = handoff_mail(sender="Mail Delivery System <Mailer-Daemon@mx.corp.test>",
                       to="handoff@acme.test", cc=None,
                       subject="Warning: message 1t5Xyz-0001Ab-Cd delayed 24 hours",
                       body="This message was created automatically by mail delivery "
                            "software.\nA message that you sent has not yet been delivered "
                            "to one or more of its recipients after more than 24 hours.\n")
    verdict = verdict_of(tmp_path, msg, mail_from="")
    assert (verdict.kind, verdict.report) == ("bounce", "delayed")


def test_a_moderation_notice_from_the_list_itself_is_automatic(tmp_path):
    """Some list software writes from the list's own address with its List-Id: that
    alone reads as list mail, which is not automatic; the subject says it is."""
    msg = handoff_mail(sender="Ops list <ops@lists.corp.test>", to="handoff@acme.test",
                       cc=None, subject="Your message to Ops awaits moderator approval",
                       body="Your mail to 'Ops' with the subject\n\n    Renew the TLS "
                            "certificate\n\nIs being held until the list moderator can "
                            "review it for approval.\n",
                       List_Id="<ops.lists.corp.test>")
    verdict = verdict_of(tmp_path, msg)
    assert verdict.automatic and (verdict.kind, verdict.report) == ("bounce", "held")


@pytest.mark.parametrize("sender, headers", [
    ("Sympa <sympa@lists.corp.test>", {}),
    ("LISTSERV <LISTSERV@lists.corp.test>", {}),
    ("Ops <ops@lists.corp.test>", {"X-List-Administrivia": "yes"}),
])
def test_list_robots_by_their_own_addresses_and_marks(tmp_path, sender, headers):
    msg = handoff_mail(sender=sender, to="handoff@acme.test", cc=None,
                       subject="Message distribution refused", **headers)
    assert verdict_of(tmp_path, msg).kind == "bounce"


def test_precedence_junk_is_a_vacation_programs_mark_not_a_lists(tmp_path):
    """vacation(1) and its descendants write ``Precedence: junk`` (RFC 3834 section 5
    notes it), with no List-Id; a list that writes it has its List-Id."""
    vacation = handoff_mail(subject="Re: Renew the TLS certificate", Precedence="junk")
    assert verdict_of(tmp_path, vacation).kind == "autoreply"
    listed = handoff_mail(Precedence="junk", List_Id="<ops.lists.corp.test>")
    assert verdict_of(tmp_path, listed).kind == "list"


@pytest.mark.parametrize("header, value", [
    ("X-Autogenerated", "Reply"),
    ("X-Auto-Reply", "yes"),
    ("X-Mail-Autoreply", "yes"),
    ("X-POST-MessageClass", "9; Autoresponder"),
    ("X-FC-MachineGenerated", "true"),
])
def test_auto_responders_own_headers(tmp_path, header, value):
    msg = handoff_mail(subject="Re: Renew the TLS certificate", **{header: value})
    assert verdict_of(tmp_path, msg).kind == "autoreply"


# --- People's mail a careless rule would take for a robot's (red-team pass, issue 10) --

def forward_as_attachment(subject: str, inner_from: str, inner_subject: str,
                          inner: str = "Content-Type: text/plain\r\n\r\nSee above.\r\n",
                          body: str = "Carol, can you take this one? Deadline: Friday") -> bytes:
    """A person's mail with another mail attached (Outlook's and Thunderbird's "Forward
    as attachment"): the attached mail's headers and parts are not this mail's."""
    return (
        "From: Ana Example <ana@corp.test>\r\nTo: Carol <carol@corp.test>\r\n"
        f"Cc: {SERVICE}\r\nSubject: {subject}\r\nDate: Wed, 02 Dec 2026 09:00:00 +0100\r\n"
        "Message-ID: <fwd1@corp.test>\r\nMIME-Version: 1.0\r\n"
        "Content-Type: multipart/mixed; boundary=\"outer\"\r\n\r\n"
        f"--outer\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{body}\r\n"
        "--outer\r\nContent-Type: message/rfc822\r\n"
        "Content-Disposition: attachment; filename=\"forwarded.eml\"\r\n\r\n"
        f"From: {inner_from}\r\nTo: ana@corp.test\r\nSubject: {inner_subject}\r\n"
        f"Message-ID: <inner@elsewhere.test>\r\nMIME-Version: 1.0\r\n{inner}\r\n"
        "--outer--\r\n").encode()


@pytest.mark.parametrize("subject", [
    "Out of office - handover of the TLS renewal",  # a state phrase, then a dash
    "Out of office",
    "OOO",
    "OOO – cert renewal handover",
    "【休暇中】引き継ぎのお願い",  # Japanese mail tags subjects with 【】 too
    "Ana is out of the office (returning 12 Jan): please take over the TLS renewal",
    "Bob is out of office, returning Monday - can you cover the rota?",
    "AUTO: Leasingrückgabe am Freitag",  # a fleet manager's tag, upper case
    "AUTO: leasing return of the company car",
    "Error in the Q3 report",
    "Invoice 4411 pending approval",
    "Budget change requires approval from finance",
    "Travel request pending approval: Ana to Berlin",
    "Forum posts awaiting moderation - please cover while I'm away",
    "Comments held for moderation on the blog",
    "Re: Your message to Ops awaits moderator approval",
    "Challenge-response login for the kiosk API",
    "Should we use Boxbe or SpamArrest for the sales inbox?",
    "Email verification needed for the new CRM users",
    "Re: Please confirm your message",
    "Recall: the Q3 deck had the wrong numbers",
    "Accepted: the vendor's offer - please book the kickoff",
    "Quota warning on the shared drive",
    "Message quarantined by the gateway - please release the vendor's invoice",
])
def test_people_subjects_shaped_like_robots_stay_people(tmp_path, subject):
    assert verdict_of(tmp_path, handoff_mail(subject=subject)).kind == "human"


@pytest.mark.parametrize("subject, inner_from, inner_subject, inner", [
    # Outlook forwards an NDR as an attachment; the DSN's report part is the NDR's
    ("Fwd: Undeliverable: Renew the TLS certificate", "Microsoft Outlook <postmaster@corp.test>",
     "Undeliverable: Renew the TLS certificate",
     "Content-Type: multipart/report; report-type=delivery-status; boundary=\"in\"\r\n\r\n"
     "--in\r\nContent-Type: text/plain\r\n\r\nYour message couldn't be delivered.\r\n"
     "--in\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.corp.test"
     "\r\n\r\nFinal-Recipient: rfc822; bob@corp.test\r\nAction: failed\r\nStatus: 5.1.1\r\n"
     "--in--\r\n"),
    ("Delivery failure: parcel 1Z999 for the Berlin office", "DHL <noreply@dhl.test>",
     "Your parcel could not be delivered", "Content-Type: text/plain\r\n\r\nWe tried today."),
    ("Parcel not delivered - please chase the courier", "DHL <noreply@dhl.test>",
     "Delivery failed", "Content-Type: text/plain\r\n\r\nWe tried today."),
    ("Error in the Q3 report", "Finance <finance@corp.test>", "Q3 report",
     "Content-Type: text/plain\r\n\r\nAttached the Q3 numbers."),
])
def test_a_person_forwarding_a_bounce_or_a_couriers_mail_is_a_person(
        tmp_path, subject, inner_from, inner_subject, inner):
    raw = forward_as_attachment(subject, inner_from, inner_subject, inner)
    assert verdict_of(tmp_path, raw, mail_from="ana@corp.test").kind == "human"


@pytest.mark.parametrize("sender, subject, envelope", [
    ("Postmaster <postmaster@corp.test>", "Renew the TLS certificate", "postmaster@corp.test"),
    ("No Reply <no-reply@corp.test>", "Error in the Q3 report", "no-reply@corp.test"),
    ("IT Admin <it-admin@corp.test>", "Renew the TLS certificate", "it-admin@corp.test"),
    ("Access Requests <access-request@corp.test>", "New starter laptops",
     "access-request@corp.test"),
    ("Product Owner <product-owner@corp.test>", "Renew the TLS certificate",
     "product-owner@corp.test"),
])
def test_shared_mailboxes_people_write_from_stay_people(tmp_path, sender, subject, envelope):
    """Role and shared mailboxes: a bouncer's or list's address alone is not a robot."""
    msg = handoff_mail(sender=sender, subject=subject)
    assert verdict_of(tmp_path, msg, mail_from=envelope).kind == "human"


@pytest.mark.parametrize("subject, body", [
    ("Vendor invoices are being quarantined",
     "Hi Bob,\n\nplease make sure acme-vendor.test is added to the allow list on the "
     "gateway.\nRight now their invoices are held until the sender re-sends them, and they "
     "should be on the safe senders list anyway.\n\nDeadline: Friday\n"),
    ("Add a captcha to the signup form",
     "Hi Bob,\n\nthe signup form needs a captcha so visitors verify you are human before "
     "posting -\nthe reCAPTCHA 'I'm not a robot' checkbox is fine.\n\nDone when: spam stops\n"),
    ("Re: Renew the TLS certificate",
     "Got it, will do.\n\n> Please verify you are human by clicking the link below to "
     "confirm.\n> Your message is held until you confirm.\n"),
    ("Fwd: Please verify you are human: Renew the TLS certificate",
     "Bob's inbox wants us to verify - can you sort it out?\n\n---------- Forwarded message "
     "---------\nYour message is held until you confirm; click the link below to confirm.\n"
     "Once confirmed you are added to my approved senders list.\n"),
])
def test_people_writing_about_captchas_or_forwarding_a_challenge_stay_people(
        tmp_path, subject, body):
    assert verdict_of(tmp_path, handoff_mail(subject=subject, body=body)).kind == "human"


# --- Robots that were missed or misread (red-team pass, issue 10) ----------------------

OFFER = "Renew the TLS certificate [H-1]"


def notice(sender: str, subject: str, body: str, *, content_type: str = "text/plain",
           parts: str = "", **headers: str) -> bytes:
    """A robot's mail as it writes it: its headers, then its text, or its MIME parts
    (``parts``: what follows the boundary ``b``)."""
    lines = [f"From: {sender}", "To: handoff+b.h1@acme.test", f"Subject: {subject}",
             "Date: Wed, 02 Dec 2026 10:00:00 +0000", "Message-ID: <n1@robot.test>",
             *(f"{name.replace('_', '-')}: {value}" for name, value in headers.items()),
             "MIME-Version: 1.0"]
    if parts:
        lines.append(f"Content-Type: {content_type}; boundary=\"b\"")
        text = f"\r\n--b\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{body}\r\n{parts}"
    else:
        lines.append(f"Content-Type: {content_type}; charset=utf-8")
        text = f"\r\n{body}\r\n"
    return ("\r\n".join(lines) + "\r\n" + text.replace("\n", "\r\n").replace("\r\r", "\r")
            ).encode()


RETURNED_PART = ("--b\r\nContent-Type: message/rfc822\r\n\r\nFrom: Handoff <handoff@acme.test>"
                 f"\r\nTo: bob@corp.test\r\nSubject: {OFFER}\r\n\r\nAna handed you ...\r\n"
                 "--b--\r\n")


@pytest.mark.parametrize("raw, report", [
    # Exim with its From set to postmaster: Auto-Submitted made it an auto-reply, and an
    # auto-reply never tells the sender the owner is unreachable
    (notice("Mail Delivery System <postmaster@mx.corp.test>",
            "Mail delivery failed: returning message to sender",
            "This message was created automatically by mail delivery software.\n\nA message "
            "that you sent could not be delivered to one or more of its\nrecipients. This is "
            "a permanent error. The following address(es) failed:\n\n  bob@corp.test\n",
            X_Failed_Recipients="bob@corp.test", Auto_Submitted="auto-replied"), "failed"),
    # a mailbox-full notice from a postmaster with Auto-Submitted (sisimai's rb-issue-368)
    (notice("postmaster@mx.corp.test", "email bounce notification",
            "This message is to inform you that an email you sent was rejected.\n"
            "reject reason: Mailbox full\n", Auto_Submitted="auto-replied"), "failed"),
    # Domino's router, enclosing the returned mail; the file says nothing of the envelope
    (notice("Mail Router <mailrouter@corp.test>",
            "DELIVERY FAILURE: Error transferring to mx.corp.test; Maximum hop count exceeded",
            "Your message was not delivered.", content_type="multipart/mixed",
            parts=RETURNED_PART), "failed"),
    # Exchange's system mailbox, whatever it writes about
    (notice("Microsoft Outlook <MicrosoftExchange329e71ec88ae4615bbc36ab6ce41109e@corp.test>",
            "Your mailbox is almost full.", "Your mailbox is almost full."), "failed"),
    # a mail filter's quarantine: held, and may still be released
    (notice("Email Security <postmaster@corp.test>", f"Message quarantined: {OFFER}",
            "The message you sent to bob@corp.test has been quarantined. It may be released "
            "by an administrator."), "held"),
    (notice("Microsoft 365 <quarantine@messaging.microsoft.com>",
            "Microsoft 365 security: You have messages in quarantine",
            "Review these 2 messages that are being held for you."), "held"),
])
def test_bounces_without_a_report_part_are_bounces(tmp_path, raw, report):
    verdict = verdict_of(tmp_path, raw, mail_from=None)
    assert (verdict.kind, verdict.report) == ("bounce", report), verdict


def disposition_notice(subject: str, disposition: str, human: str) -> bytes:
    return notice("Bob Builder <bob@corp.test>", subject, human,
                  content_type="multipart/report; report-type=disposition-notification",
                  parts="--b\r\nContent-Type: message/disposition-notification\r\n\r\n"
                        "Reporting-UA: Microsoft Exchange Server\r\n"
                        "Final-Recipient: rfc822;bob@corp.test\r\n"
                        f"Disposition: {disposition}\r\n--b--\r\n")


@pytest.mark.parametrize("subject, human", [
    (f"Not read: {OFFER}", f"Your message\n\n  Subject: {OFFER}\n\nwas deleted without being "
                           "read on 12/2/2026 10:00 AM."),
    (f"Ungelesen: {OFFER}", f"Ihre Nachricht\n\n  Betreff: {OFFER}\n\nwurde am 02.12.2026 "
                            "ungelesen gelöscht."),
])
def test_outlooks_not_read_receipt_is_a_receipt_not_a_refusal(tmp_path, subject, human):
    """Outlook writes "deleted" like a Sieve reject (RFC 5429); a person deleted it unread."""
    raw = disposition_notice(subject, "automatic-action/MDN-sent-automatically; deleted", human)
    verdict = verdict_of(tmp_path, raw)
    assert (verdict.kind, verdict.report) == ("bounce", "receipt")


def test_an_outlook_recall_request_is_automatic(tmp_path):
    """Outlook's "Recall This Message" reaches other servers as a plain mail from the
    sender; taken for a person's, it opened a second handoff named "Recall: ..."."""
    msg = handoff_mail(subject="Recall: Renew the TLS certificate",
                       body='Ana Example would like to recall the message, "Renew the TLS '
                            'certificate".\n', Thread_Topic="Renew the TLS certificate")
    verdict = verdict_of(tmp_path, msg, mail_from="ana@corp.test")
    assert verdict.kind == "autoreply" and "recall" in verdict.reason
    assert verdict.report == "recall"


def calendar(subject: str, method: str, *, attached: bool = False) -> bytes:
    disposition = "Content-Disposition: attachment; filename=\"invite.ics\"\r\n" \
        if attached else ""
    return notice("Room 4A <room-4a@corp.test>", subject, "Your request was accepted.",
                  content_type="multipart/alternative",
                  parts=f"--b\r\nContent-Type: text/calendar; charset=utf-8; method={method}"
                        f"\r\n{disposition}\r\nBEGIN:VCALENDAR\r\nMETHOD:{method}\r\n"
                        "END:VCALENDAR\r\n--b--\r\n")


@pytest.mark.parametrize("subject", [
    f"Accepted: {OFFER}",  # an Exchange room that accepts by itself, or a person's click
    f"Declined: {OFFER} @ Fri 4 Dec 2026 5pm - 5:30pm (CET) (bob@corp.test)",  # Google
    f"Zugesagt: {OFFER}",
    f"Accepté : {OFFER}",
])
def test_a_calendars_answer_to_an_invitation_is_a_receipt(tmp_path, subject):
    """An iTIP REPLY carries no words to act on; as an auto-reply from the owner it
    would have told the sender the owner is away."""
    verdict = verdict_of(tmp_path, calendar(subject, "REPLY"))
    assert (verdict.kind, verdict.report) == ("bounce", "receipt")


def test_an_invitation_or_an_attached_ics_is_a_persons_mail(tmp_path):
    assert verdict_of(tmp_path, calendar("TLS renewal handover", "REQUEST")).kind == "human"
    attached = calendar("Accepted: the vendor's offer", "PUBLISH", attached=True)
    assert verdict_of(tmp_path, attached).kind == "human"


MAILMAN = {"Precedence": "bulk", "X_BeenThere": "ops@lists.corp.test",
           "X_Mailman_Version": "2.1.39", "List_Id": "Ops team <ops.lists.corp.test>",
           "X_List_Administrivia": "yes"}


@pytest.mark.parametrize("raw, kind, report", [
    # Mailman 3 and Google Groups write Auto-Submitted: it made them auto-replies
    (notice("ops-bounces@lists.corp.test", "Your message to ops@lists.corp.test awaits "
            "moderator approval", "Your message to ops@lists.corp.test with the subject\n\n"
            f"    {OFFER}\n\nIs being held until the list moderator can review it for "
            "approval.", Auto_Submitted="auto-generated", List_Id="<ops.lists.corp.test>"),
     "bounce", "held"),
    # Sympa says all three under one subject, "Message distribution"
    (notice("SYMPA <sympa@lists.corp.test>", "Message distribution",
            "Your message to the list 'ops' has been forwarded to the moderator(s)",
            Auto_Submitted="auto-replied"), "bounce", "held"),
    (notice("SYMPA <sympa@lists.corp.test>", "Message distribution",
            "Message <h1.x@acme.test> for list 'ops' has been distributed.",
            Auto_Submitted="auto-replied"), "bounce", "delivered"),
    (notice("SYMPA <sympa@lists.corp.test>", "Message distribution",
            "Message <h1.x@acme.test> for list 'ops' has been rejected."), "bounce", "failed"),
    (notice("LISTSERV@LISTS.CORP.TEST", "OPS-L: message distributed",
            "Your message dated Wed, 2 Dec 2026 09:00:00 +0000 with subject \"Renew\" has "
            "been\nsuccessfully distributed to the OPS-L list (214 recipients)."),
     "bounce", "delivered"),
    (notice("LISTSERV@LISTS.CORP.TEST", f'Message "{OFFER}" sent to editor of OPS-L',
            "Your message has been submitted to the moderator of the OPS-L list."),
     "bounce", "held"),
    (notice("ops+owner@lists.corp.test", "Your post to ops@lists.corp.test is awaiting "
            "moderation", "Your post is awaiting moderation."), "bounce", "held"),
    (notice("ops-owner@lists.corp.test", "Request to mailing list Ops rejected",
            f"Your request to the Ops mailing list\n\n    Posting of your message titled "
            f"\"{OFFER}\"\n\nhas been rejected by the list moderator.", **MAILMAN),
     "bounce", "failed"),
    # Mailman's auto-responder to a post: an auto-reply, not a refusal
    (notice("ops-bounces@lists.corp.test",
            'Auto-response for your message to the "Ops" mailing list',
            "Thanks for your post; the team reads the list daily.", **MAILMAN),
     "autoreply", ""),
])
def test_list_software_says_what_happened_to_the_post(tmp_path, raw, kind, report):
    verdict = verdict_of(tmp_path, raw)
    assert (verdict.kind, verdict.report) == (kind, report), verdict


TMDA = (
    'Your e-mail message with the subject of "Renew the TLS certificate [H-1]"\nwas not '
    "delivered because your address was not recognized.\n\nTo release your message for "
    "delivery, please send an empty message\nto the following address, or use your "
    "mailer's \"Reply\" feature.\n\n<mailto:bob-accept-1733130060.12345.abcdef@corp.test>\n\n"
    "This confirmation verifies that your message is legitimate and not\njunk-mail.\n\n"
    "[ This message was generated by TMDA v1.1.12 http://tmda.net/,\n  an automated "
    "junk-mail reduction system. ]\n")


@pytest.mark.parametrize("raw", [
    # TMDA's own template and headers: Auto-Submitted made it a plain auto-reply, which
    # told the sender the owner is away
    notice("bob-confirm-1733130060.12345.abcdef@corp.test", "Please confirm your message",
           TMDA, Auto_Submitted="auto-replied", Precedence="bulk",
           X_Delivery_Agent="TMDA/1.1.12 (Macallan)"),
    notice("Bob Builder <bob@corp.test>", f"Re: {OFFER} [Spam Arrest Sender Verification]",
           "Hello,\n\nI protect myself from receiving junk mail using Spam Arrest.\n\nPlease "
           "click the link below to complete the verification process. You\nhave to do "
           "this only once.\n\nhttp://www.spamarrest.com/a2/verify?c=abcdef\n"),
    notice("Bob Builder via Boxbe <notify@boxbe.com>", "Request to join Bob Builder's Guest "
           "List", "Hello Handoff,\n\nYour message to bob@corp.test was waitlisted.\nPlease "
           "add yourself to my Guest List so your messages will be delivered to my Inbox.\n"),
])
def test_challenge_response_systems_as_they_write(tmp_path, raw):
    verdict = verdict_of(tmp_path, raw)
    assert (verdict.kind, verdict.report) == ("autoreply", "challenge"), verdict


@pytest.mark.parametrize("headers", [
    {"X_OTRS_Loop": "yes", "X_Loop": "yes"},  # OTRS / Znuny auto-response
    {"X_Loop": "yes"},  # Zammad
])
def test_helpdesk_auto_responses_by_their_loop_headers(tmp_path, headers):
    msg = handoff_mail(sender="IT Service Desk <servicedesk@corp.test>",
                       subject=f"[Ticket#2026120210000011] RE: {OFFER}",
                       body="This is an automatically generated answer: your request has "
                            "been received.", **headers)
    assert verdict_of(tmp_path, msg).kind == "autoreply"


def test_a_procmail_x_loop_address_is_not_a_robots_mark(tmp_path):
    msg = handoff_mail(X_Loop="ana@corp.test")
    assert verdict_of(tmp_path, msg).kind == "human"


@pytest.mark.parametrize("subject", [
    "Automatická odpoveď: Obnoviť certifikát",  # Outlook, Slovak
    "Samodejni odgovor: Obnovi certifikat",  # Slovenian
    "Automatski odgovor: Obnovi certifikat",  # Croatian, Serbian, Bosnian
    "Автоматичен отговор: Подновяване на сертификата",  # Bulgarian
    "Автоматична відповідь: Оновити сертифікат",  # Ukrainian
    "Automatinis atsakymas: Atnaujinti sertifikatą",  # Lithuanian
    "Automātiskā atbilde: Atjaunot sertifikātu",  # Latvian
    "Automaatvastus: Uuenda sertifikaati",  # Estonian
    "Balasan otomatis: Perbarui sertifikat",  # Indonesian
    "Trả lời tự động: Gia hạn chứng chỉ",  # Vietnamese
    "Resposta automàtica: Renova el certificat",  # Catalan
    "ตอบกลับอัตโนมัติ: ต่ออายุใบรับรอง",  # Thai
    "AUTO: Bob Builder ist außer Haus (Rückkehr am 08.12.2026)",  # Lotus Notes, German
    "Bob Builder is out of the office (returning 12/08/2026)",  # Notes, prefix dropped
])
def test_more_out_of_office_subjects(tmp_path, subject):
    assert verdict_of(tmp_path, handoff_mail(subject=subject)).kind == "autoreply"

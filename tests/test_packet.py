"""Packet (SPEC 2) and owner rule (SPEC 3) as the service reads them."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from handoff.addresses import ServiceAddresses
from handoff.deadlines import resolve_deadline
from handoff.packet import build_packet, clean_subject
from handoff.parsing import parse_message
from tests.conftest import SERVICE, handoff_mail, make_settings, mail_to

RECEIVED = datetime(2026, 11, 23, 9, 0, tzinfo=timezone.utc)


def read(msg, tmp_path, tz="Europe/Berlin"):
    settings = make_settings(tmp_path)
    return build_packet(parse_message(msg.as_bytes()), ServiceAddresses(settings),
                        timezone_name=tz, received_at=RECEIVED)


def test_labeled_lines_fill_the_packet_and_the_rest_is_details(tmp_path):
    body = ("Hi Bob,\n\nthe cert on www expires soon, please renew it.\n\n"
            "WHY: customers see warnings\n"
            "Done when - the new cert is live on all hosts\n"
            "Deadline: Friday 5pm\n"
            "Decided: we stay with Let's Encrypt\n"
            "Priority: High\n"
            "If not: call the on-call admin\n"
            "Links: https://wiki.corp.test/tls\n\nThanks,\nAna\n-- \nAna Example, Ops\n")
    p = read(handoff_mail(body=body), tmp_path)
    assert p.value("request") == "Renew the TLS certificate"
    assert p.value("why") == "customers see warnings"
    assert p.value("done") == "the new cert is live on all hosts"
    assert p.value("decisions") == "we stay with Let's Encrypt"
    assert p.value("priority") == "high"
    assert p.value("contingency") == "call the on-call admin"
    assert p.value("links")["urls"] == ["https://wiki.corp.test/tls"]
    assert "please renew it" in p.value("details") and "Ops" not in p.value("details")
    assert all(p.fields[f]["source"] == "stated" for f in ("why", "done", "deadline"))


def test_deadline_resolves_against_the_message_date_in_the_senders_timezone_keeping_the_phrase(
        tmp_path):
    # Monday 23 Nov 2026 10:00 in Berlin: "Friday 5pm" is 27 Nov 17:00 CET = 16:00 UTC.
    p = read(handoff_mail(body="Deadline: Friday 5pm"), tmp_path)
    assert p.fields["deadline"]["phrase"] == "Friday 5pm"
    assert p.deadline_at == datetime(2026, 11, 27, 16, 0, tzinfo=timezone.utc)
    # The same words in New York mean six hours later: by the configured zone ...
    p_ny = read(handoff_mail(body="Deadline: Friday 5pm", date="Mon, 23 Nov 2026 04:00:00 "
                             "-0500"), tmp_path, tz="America/New_York")
    assert p_ny.deadline_at == datetime(2026, 11, 27, 22, 0, tzinfo=timezone.utc)
    # ... and by the offset her mail's Date carries, when the default zone is elsewhere
    travelling = read(handoff_mail(body="Deadline: Friday 5pm",
                                   date="Mon, 23 Nov 2026 04:00:00 -0500"), tmp_path)
    assert travelling.deadline_at == datetime(2026, 11, 27, 22, 0, tzinfo=timezone.utc)


@pytest.mark.parametrize("phrase,expected", [
    ("EOD Friday", datetime(2026, 11, 27, 16, 0, tzinfo=timezone.utc)),
    ("next Tue 3pm", datetime(2026, 11, 24, 14, 0, tzinfo=timezone.utc)),
    ("Dec 3", datetime(2026, 12, 3, 16, 0, tzinfo=timezone.utc)),
    ("Monday 5pm", datetime(2026, 11, 23, 16, 0, tzinfo=timezone.utc)),  # today, still ahead
])
def test_deadline_phrases(phrase, expected):
    reference = datetime(2026, 11, 23, 9, 0, tzinfo=timezone.utc)  # Monday 10:00 Berlin
    assert resolve_deadline(phrase, reference, "Europe/Berlin").at == expected


def test_a_relative_deadline_is_kept_to_the_minute_of_the_mail():
    # mails written within one minute read "in 2 hours" alike (the reading is memoised
    # by the minute: dateparser is the costliest step of reading a mail)
    for second in (5, 37, 59):
        written = datetime(2026, 11, 23, 9, 0, second, 250_000, tzinfo=timezone.utc)
        assert resolve_deadline("in 2 hours", written, "Europe/Berlin").at == \
            datetime(2026, 11, 23, 11, 0, tzinfo=timezone.utc)
    a_minute_later = datetime(2026, 11, 23, 9, 1, 2, tzinfo=timezone.utc)
    assert resolve_deadline("in 2 hours", a_minute_later, "Europe/Berlin").at == \
        datetime(2026, 11, 23, 11, 1, tzinfo=timezone.utc)


def test_a_deadline_in_the_past_is_a_problem_not_silently_kept(tmp_path):
    p = read(handoff_mail(body="Deadline: last Friday"), tmp_path)
    assert any("in the past" in problem for problem in p.problems)


def test_owner_line_overrides_the_recipient_rule(tmp_path):
    p = read(handoff_mail(to="Bob <bob@corp.test>, Carol <carol@corp.test>",
                          body="Owner: Carol <Carol@Corp.test>\n"), tmp_path)
    assert p.owner == ("Carol", "carol@corp.test")


def test_single_to_recipient_is_the_owner_with_the_service_in_to_or_cc(tmp_path):
    assert read(handoff_mail(), tmp_path).owner[1] == "bob@corp.test"
    in_to = handoff_mail(to=f"Bob <bob@corp.test>, {SERVICE}", cc=None)
    assert read(in_to, tmp_path).owner[1] == "bob@corp.test"


def test_several_recipients_or_none_mean_no_owner(tmp_path):
    several = read(handoff_mail(to="bob@corp.test, carol@corp.test"), tmp_path)
    assert several.owner is None
    assert several.owner_candidates == ("bob@corp.test", "carol@corp.test")
    forward = read(handoff_mail(to=SERVICE, cc=None, subject="Fwd: client asks"), tmp_path)
    assert forward.owner is None


def test_several_recipients_get_the_name_one_owner_reply_and_wait_incomplete(flow, sessions):
    from handoff.models import Handoff

    mails = flow.submit(handoff_mail(to="bob@corp.test, carol@corp.test"))
    checklist = mail_to(mails, "ana@corp.test")
    text = checklist.get_body(("plain",)).get_content()
    assert "Owner:" in text and "bob@corp.test" in text and "carol@corp.test" in text
    assert len(mails) == 1  # no offer to anyone
    with sessions() as session:
        assert session.get(Handoff, 1).status == "incomplete"


def test_subject_prefixes_and_tags_are_cleaned_for_the_title():
    assert clean_subject("Re: AW: Fwd: [H-12] Renew the cert [H-12]") == "Renew the cert"
    assert clean_subject("WG: TR: RV: SV: Budget") == "Budget"


@pytest.mark.parametrize("body, field, value", [
    ("done WHEN - the cert is live\n", "done", "the cert is live"),
    ("Hallo Bob,\n\nFertig wenn: das Zertifikat ist live\n", "done", "das Zertifikat ist live"),
    ("Warum: Kunden sehen Warnungen\n", "why", "Kunden sehen Warnungen"),
    ("Bereits entschieden: Let's Encrypt\n", "decisions", "Let's Encrypt"),
    ("Bonjour Bob,\n\nPourquoi : les clients voient des alertes\n", "why",
     "les clients voient des alertes"),
    ("Fini quand : le certificat est en ligne\n", "done", "le certificat est en ligne"),
    ("Hola Bob,\n\nHecho cuando: el certificado está activo\n", "done",
     "el certificado está activo"),
    ("Por qué: los clientes ven avisos\n", "why", "los clientes ven avisos"),
    ("Priorität: hoch\n", "priority", "high"),
    ("Prioridad: urgente\n", "priority", "urgent"),
    ("Sinon : appeler l'astreinte\n", "contingency", "appeler l'astreinte"),
])
def test_labels_in_any_case_and_in_german_french_spanish(tmp_path, body, field, value):
    assert read(handoff_mail(body=body), tmp_path).value(field) == value


def test_a_value_runs_over_lines_until_a_blank_line_or_the_next_label(tmp_path):
    body = ("Hi Bob,\n\nWhy: customers see warnings\nin every browser since Monday\n"
            "Done when: the new cert\nis live on all three hosts\n\nThe rest is details.\n")
    p = read(handoff_mail(body=body), tmp_path)
    assert p.value("why") == "customers see warnings in every browser since Monday"
    assert p.value("done") == "the new cert is live on all three hosts"
    assert p.value("details").endswith("The rest is details.")


@pytest.mark.parametrize("sentence, expected", [
    ("Could you get this done by Friday?", datetime(2026, 11, 27, 16, 0, tzinfo=timezone.utc)),
    ("It has to be live before Dec 3, otherwise we lose the slot.",
     datetime(2026, 12, 3, 16, 0, tzinfo=timezone.utc)),
    ("Please send it EOD tomorrow.", datetime(2026, 11, 24, 16, 0, tzinfo=timezone.utc)),
    ("We need it no later than next Tuesday 3pm.",
     datetime(2026, 11, 24, 14, 0, tzinfo=timezone.utc)),
])
def test_an_unlabeled_deadline_phrase_becomes_an_inferred_deadline(tmp_path, sentence,
                                                                   expected):
    body = f"Hi Bob,\n\nplease renew the certificate. {sentence}\n\nDone when: it is live\n"
    p = read(handoff_mail(body=body), tmp_path)
    assert p.fields["deadline"]["source"] == "inferred"
    assert p.deadline_at == expected


def test_a_labeled_deadline_wins_over_a_phrase_in_a_sentence(tmp_path):
    p = read(handoff_mail(body="Ideally by Wednesday.\nDeadline: Friday 5pm\n"), tmp_path)
    assert p.fields["deadline"]["source"] == "stated"
    assert p.fields["deadline"]["phrase"] == "Friday 5pm"


def test_a_deadline_years_away_is_a_problem(tmp_path):
    p = read(handoff_mail(body="Deadline: 3 December 2031\n"), tmp_path)
    assert any("more than two years away" in problem for problem in p.problems)


def test_a_forward_to_the_service_alone_needs_and_takes_an_owner_line(tmp_path):
    body = ("Owner: Bob Builder <bob@corp.test>\n\n---------- Forwarded message ---------\n"
            "From: Client <client@customer.test>\nDate: Mon, Nov 23, 2026\n"
            "Subject: Broken invoice\n\nThe invoice is wrong.\n")
    p = read(handoff_mail(to=SERVICE, cc=None, subject="Fwd: Broken invoice", body=body),
             tmp_path)
    assert p.owner == ("Bob Builder", "bob@corp.test")
    assert p.value("forwarded")["from"] == "client@customer.test"


def test_an_owner_line_with_only_a_display_name_finds_that_recipient(tmp_path):
    p = read(handoff_mail(to="Bob Builder <bob@corp.test>, Carol Cole <carol@corp.test>",
                          body="Owner: Carol Cole\n"), tmp_path)
    assert p.owner == ("Carol Cole", "carol@corp.test")


def test_an_owner_line_naming_nobody_known_is_a_problem_and_no_owner(tmp_path):
    p = read(handoff_mail(to="bob@corp.test, carol@corp.test", body="Owner: Dave\n"),
             tmp_path)
    assert p.owner is None
    assert any("names no address" in problem for problem in p.problems)


def test_the_owner_equal_to_the_sender_waits_incomplete_with_the_checklist(flow, sessions):
    from handoff.models import Handoff

    mails = flow.submit(handoff_mail(body="Owner: ana@corp.test\nDone when: it is live\n"))
    checklist = mail_to(mails, "ana@corp.test")
    assert "Name one owner" in checklist.get_body(("plain",)).get_content()
    with sessions() as session:
        handoff = session.get(Handoff, 1)
        assert handoff.status == "incomplete"
        assert "the owner named is the sender: name someone else" in handoff.problems


def test_no_candidate_at_all_waits_incomplete(flow, sessions):
    from handoff.models import Handoff

    mails = flow.submit(handoff_mail(to=SERVICE, cc=None))
    assert [str(m["To"]) for m in mails] == ["Ana Example <ana@corp.test>"]
    with sessions() as session:
        assert session.get(Handoff, 1).status == "incomplete"


@pytest.mark.parametrize("subject, title", [
    ("Re: Re: RE: Fwd: FW: Renew the cert", "Renew the cert"),
    ("AW: WG: Zertifikat erneuern", "Zertifikat erneuern"),
    ("TR: RE : Renouveler le certificat", "Renouveler le certificat"),
    ("RV: RE: Renovar el certificado [H-7]", "Renovar el certificado"),
    ("SV: VS: Förnya certifikatet", "Förnya certifikatet"),
    ("Re: [H-12] Re: Renew the cert [H-12]", "Renew the cert"),
    ("Re[2]: Renew the cert", "Renew the cert"),
])
def test_subject_stacks_in_many_languages_are_cleaned_for_the_title(subject, title):
    assert clean_subject(subject) == title

"""Automatic mail is told from a person's (SPEC 7): out-of-office replies, bounces, list
mail and our own mail coming back.  Checked over every message of ``../shared/corpus``
against its manifest, and on the header and subject forms common clients send."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from handoff.addresses import ServiceAddresses
from handoff.cli import read_file
from handoff.guards import Envelope, classify
from handoff.parsing import parse_message
from tests.conftest import SERVICE, handoff_mail, make_settings


def manifest(corpus: Path) -> list[dict[str, str]]:
    with (corpus / "manifest.tsv").open(newline="") as f:
        return list(csv.DictReader(f, delimiter="\t"))


def test_every_corpus_message_is_read_and_classified_as_the_manifest_says(tmp_path, corpus):
    """Through `handoff parse`'s own code path: no message raises; every `yes` is
    automatic, every `no` is not."""
    settings = make_settings(tmp_path)
    rows = manifest(corpus)
    assert len(rows) >= 200
    wrong = []
    for row in rows:
        reading = read_file(settings, corpus / row["file"])
        if reading["automatic"] != (row["expected_is_auto"] == "yes"):
            wrong.append(f"{row['file']}: {reading['kind']} ({reading['reason']}), "
                         f"manifest says {row['expected_is_auto']}: {row['notes']}")
    assert wrong == []


def kind_of(tmp_path, msg, mail_from: str | None = "someone@corp.test") -> str:
    service = ServiceAddresses(make_settings(tmp_path))
    return classify(parse_message(msg.as_bytes()), Envelope(mail_from, (SERVICE,)),
                    service).kind


@pytest.mark.parametrize("header, value", [
    ("Auto-Submitted", "auto-replied"),
    ("Auto-Submitted", "auto-generated"),
    ("X-Autoreply", "yes"),
    ("X-Autorespond", "Vacation"),
    ("Precedence", "auto_reply"),
])
def test_auto_reply_headers_mark_an_autoreply(tmp_path, header, value):
    msg = handoff_mail()
    msg[header] = value
    assert kind_of(tmp_path, msg) == "autoreply"


def test_auto_submitted_no_is_a_person(tmp_path):
    msg = handoff_mail()
    msg["Auto-Submitted"] = "no"
    assert kind_of(tmp_path, msg) == "human"


@pytest.mark.parametrize("subject", [
    "Automatic reply: Renew the TLS certificate",  # Outlook / Exchange, English
    "Out of Office: Renew the TLS certificate",
    "Out of office reply",
    "Auto-Reply: Renew the TLS certificate",
    "Autoreply: Renew the TLS certificate",
    "Vacation: Renew the TLS certificate",  # Gmail vacation responder with a subject
    "Automatische Antwort: Zertifikat erneuern",  # Outlook, German
    "Abwesenheitsnotiz: Zertifikat erneuern",  # Exchange, German
    "Réponse automatique : Renouveler le certificat",  # Outlook, French
    "Absent du bureau : Renouveler le certificat",
    "Respuesta automática: Renovar el certificado",  # Outlook, Spanish
    "Fuera de la oficina: Renovar el certificado",
])
def test_out_of_office_subjects_in_four_languages(tmp_path, subject):
    assert kind_of(tmp_path, handoff_mail(subject=subject)) == "autoreply"


@pytest.mark.parametrize("subject", [
    "Vacation plans for the team offsite",
    "Absence calendar for December",
    "Automation of the nightly export",
    "Re: the out-of-office policy draft",
])
def test_a_person_writing_about_vacations_is_still_a_person(tmp_path, subject):
    assert kind_of(tmp_path, handoff_mail(subject=subject)) == "human"


@pytest.mark.parametrize("header, value", [
    ("List-Id", "<ops.lists.corp.test>"),
    ("Precedence", "bulk"),
    ("Precedence", "list"),
])
def test_list_mail_is_list(tmp_path, header, value):
    msg = handoff_mail()
    msg[header] = value
    assert kind_of(tmp_path, msg) == "list"


def test_null_reverse_path_and_mailer_daemon_are_bounces(tmp_path):
    assert kind_of(tmp_path, handoff_mail(), mail_from="") == "bounce"
    assert kind_of(tmp_path, handoff_mail(sender="MAILER-DAEMON@mx.corp.test")) == "bounce"


def test_a_postmaster_who_writes_like_a_person_is_a_person(tmp_path):
    """postmaster@ is a role account people write from too; it bounces only with a
    delivery-failure subject or the returned message enclosed."""
    msg = handoff_mail(sender="Bob <postmaster@corp.test>")
    assert kind_of(tmp_path, msg) == "human"
    bounce = handoff_mail(sender="Postmaster <postmaster@corp.test>",
                          subject="Undeliverable Mail")
    assert kind_of(tmp_path, bounce) == "bounce"


def test_list_software_writing_to_a_poster_is_automatic(tmp_path):
    msg = handoff_mail(sender="ops-owner@lists.corp.test", subject="Post to ops denied")
    assert kind_of(tmp_path, msg) == "bounce"


def test_our_own_mail_coming_back_is_a_loop(tmp_path):
    assert kind_of(tmp_path, handoff_mail(sender=f"Handoff <{SERVICE}>")) == "loop"

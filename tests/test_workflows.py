"""Workflows (SPEC 6): picked by the service address used, they name the packet fields a
handoff needs before it is offered.  Configured in TOML, checked at start."""

from __future__ import annotations

import pytest

from handoff.errors import ConfigError
from handoff.models import Handoff
from handoff.settings import load_settings
from handoff.workflows import check_workflows, policy_for
from tests.conftest import SERVICE, Flow, handoff_mail, mail_to

TOML = """
aliases = ["sales@acme.test"]

[workflows.sales-to-delivery]
required = ["done", "deadline"]
escalation_contact = "Lead@Corp.test"

[workflows.sales]
required = ["why"]
"""


@pytest.fixture
def configured(tmp_path, database_url, sessions, clock):
    config = tmp_path / "handoff.toml"
    config.write_text(TOML)
    settings = load_settings(environ={"HANDOFF_CONFIG": str(config)},
                             data_dir=tmp_path / "var", service_address=SERVICE,
                             secret_key="test-secret-key", database_url=database_url,
                             timezone="Europe/Berlin")
    return Flow(settings, sessions, clock)


def status_and_workflow(sessions, hid: int = 1) -> tuple[str, str]:
    with sessions() as session:
        h = session.get(Handoff, hid)
        return h.status, h.workflow


NO_DEADLINE = "Hi Bob,\n\nplease take over the Northwind rollout.\n\nDone when: it is live\n"


def test_the_plus_address_picks_a_workflow_whose_required_fields_must_be_there(
        configured, sessions):
    mails = configured.submit(handoff_mail(body=NO_DEADLINE),
                              rcpt=["handoff+sales-to-delivery@acme.test"])
    checklist = mail_to(mails, "ana@corp.test")
    assert 'Add a line "Deadline: ..."' in checklist.get_body(("plain",)).get_content()
    assert status_and_workflow(sessions) == ("incomplete", "sales-to-delivery")

    # her reply with the missing line completes it: the offer goes out
    reply = handoff_mail(to=str(checklist["Reply-To"]), cc=None, message_id="<r@corp.test>",
                         subject=f"Re: {checklist['Subject']}", body="Deadline: Friday 5pm\n")
    reply["In-Reply-To"] = checklist["Message-ID"]
    mail_to(configured.submit(reply, rcpt=[str(checklist["Reply-To"])]), "bob@corp.test")
    assert status_and_workflow(sessions) == ("offered", "sales-to-delivery")


def test_the_default_address_keeps_the_default_policy(configured, sessions):
    mail_to(configured.submit(handoff_mail(body=NO_DEADLINE)), "bob@corp.test")  # offered
    assert status_and_workflow(sessions) == ("offered", "default")


def test_a_configured_alias_picks_its_workflow(configured, sessions):
    configured.submit(handoff_mail(cc="sales@acme.test", body=NO_DEADLINE),
                      rcpt=["sales@acme.test"])
    assert status_and_workflow(sessions) == ("incomplete", "sales")  # no Why: line


def test_policies_read_from_toml(configured):
    policy = policy_for(configured.settings, "sales-to-delivery")
    assert policy.required == ("request", "owner", "done", "deadline")
    assert policy.escalation_contact == "lead@corp.test"
    assert policy_for(configured.settings, "anything-else").required == ("request", "owner")


@pytest.mark.parametrize("toml, message", [
    ('[workflows.x]\nrequired = ["deadlin"]\n', "unknown fields"),
    ('[workflows.x]\nrequired = "done"\n', "list of field names"),
    ('[workflows.x]\nescalation_contact = "nobody"\n', "must be an address"),
])
def test_a_mistake_in_a_workflow_fails_at_start_with_a_clear_message(tmp_path, toml,
                                                                     message):
    config = tmp_path / "handoff.toml"
    config.write_text(toml)
    settings = load_settings(environ={"HANDOFF_CONFIG": str(config)},
                             data_dir=tmp_path / "var", secret_key="k")
    with pytest.raises(ConfigError, match=message):
        check_workflows(settings)

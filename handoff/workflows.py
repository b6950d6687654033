"""Workflows (SPEC 6): named policies, picked by the service address a mail came to
(``handoff+NAME@`` or a configured alias), defined in the TOML configuration::

    [workflows.sales-to-delivery]
    required = ["request", "owner", "done", "deadline"]
    escalation_contact = "lead@example.com"
    manager = "lead@example.com"   # gets the workflow's weekly digest (handoff/digests.py)

    [[workflows.sales-to-delivery.decisions]]
    words = ["pricing", "contract*", "legal"]
    amount_over = 10000
    currency = "EUR"
    owner = "cfo@example.com"
    why = "pricing and contracts need the CFO"

A workflow names the packet fields a handoff needs before it is offered (``request``
and ``owner`` always), who hears when chasing fails (issue 4), and its decision rules
(``handoff/decisions.py``: who must decide before a packet that fires one is done).  A
name with no table gets the default policy: the plus-address still files the handoff
under it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

from handoff.addresses import ServiceAddresses, normalise_address
from handoff.decisions import DecisionRule, read_rules
from handoff.errors import ConfigError
from handoff.packet import FIELDS, REQUIRED_DEFAULT
from handoff.robot_signs import is_robot_address
from handoff.settings import Settings

ALWAYS_REQUIRED = ("request", "owner")


@dataclass(frozen=True)
class WorkflowPolicy:
    name: str
    required: tuple[str, ...] = REQUIRED_DEFAULT
    escalation_contact: str | None = None
    decisions: tuple[DecisionRule, ...] = ()
    manager: str | None = None  # hears of the workflow's open handoffs weekly (issue 11)


def policy_for(settings: Settings, name: str) -> WorkflowPolicy:
    table = _tables(settings).get(name)
    if table is None:
        return WorkflowPolicy(name)
    return _policy(name, table)


def check_workflows(settings: Settings) -> dict[str, WorkflowPolicy]:
    """Every configured workflow, read once at start so a typo fails then."""
    policies = {name: _policy(name, table) for name, table in _tables(settings).items()}
    for policy in policies.values():
        _check_people(settings, policy)
    return policies


def _check_people(settings: Settings, policy: WorkflowPolicy) -> None:
    """A decision owner, manager or escalation contact must be a person's mailbox: the
    service's own address would mail itself (and a decision could never be taken), a
    no-reply address reads nothing."""
    service = ServiceAddresses(settings)
    named = [("escalation_contact", policy.escalation_contact),
             ("manager", policy.manager),
             *(("decisions owner", rule.owner) for rule in policy.decisions)]
    for what, address in named:
        if address and (service.is_service(address) or is_robot_address(address)):
            raise ConfigError(f"[workflows.{policy.name}] {what} {address} is not a "
                              "person's mailbox (the service's own, or a no-reply address)")


def _tables(settings: Settings) -> Mapping[str, Any]:
    tables = settings.extra.get("workflows", {})
    if not isinstance(tables, Mapping):
        raise ConfigError("[workflows] must be a table of tables")
    return tables


def _policy(name: str, table: Any) -> WorkflowPolicy:
    if not isinstance(table, Mapping):
        raise ConfigError(f"[workflows.{name}] must be a table")
    required = table.get("required", list(REQUIRED_DEFAULT))
    if not isinstance(required, list) or not all(isinstance(f, str) for f in required):
        raise ConfigError(f"[workflows.{name}] required must be a list of field names")
    unknown = [f for f in required if f not in FIELDS]
    if unknown:
        raise ConfigError(f"[workflows.{name}] required names unknown fields {unknown}; "
                          f"fields are {list(FIELDS)}")
    fields = tuple(dict.fromkeys([*ALWAYS_REQUIRED, *required]))
    contact = table.get("escalation_contact")
    if contact is not None and (not isinstance(contact, str) or "@" not in contact):
        raise ConfigError(f"[workflows.{name}] escalation_contact must be an address")
    decisions = read_rules(f"[workflows.{name}]", table.get("decisions"))
    manager = table.get("manager")
    if manager is not None and not (isinstance(manager, str) and normalise_address(manager)):
        raise ConfigError(f"[workflows.{name}] manager must be an address")
    return WorkflowPolicy(name, fields, contact.lower() if contact else None, decisions,
                          normalise_address(manager) if manager else None)

"""Decision rules (SPEC 6, the seeds' "decision rights"): words or amounts in a packet
that mean somebody named must decide before the work can be called done.

Per workflow, in the TOML configuration, first match wins::

    [[workflows.sales.decisions]]
    words = ["pricing", "contract*", "legal"]   # whole words, any case; * = any ending
    owner = "cfo@acme.example"
    why = "pricing, contracts and legal need the CFO"

    [[workflows.sales.decisions]]
    amount_over = 10000
    currency = "EUR"          # optional: only amounts in EUR (or with no currency mark)
    owner = "cfo@acme.example"

A rule fires when the packet's own words (title, request, details, why, done when,
contingency, a forwarded mail) hold one of its words, or an amount over its limit
(``handoff/amounts.py`` reads how people write them).  "Decided:" lines are left out:
they say what is no longer open.  Rules are read once at start; a typo fails then.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal
from functools import lru_cache
from typing import Any, Mapping

from handoff.addresses import normalise_address
from handoff.amounts import CURRENCIES, CURRENCY_MARKS, Amount, find_amounts
from handoff.errors import ConfigError

# the packet fields whose words count (not "decisions": what is already decided)
SCANNED_FIELDS = ("request", "details", "why", "done", "contingency")
_KEYS = frozenset({"words", "amount_over", "currency", "owner", "why"})


@dataclass(frozen=True)
class DecisionRule:
    owner: str  # the decision owner's address, normalised
    why: str = ""
    words: tuple[str, ...] = ()
    amount_over: Decimal | None = None
    currency: str | None = None  # ISO 4217; None: any currency


@dataclass(frozen=True)
class DecisionNeeded:
    rule: DecisionRule
    found: str  # what in the packet fired it: a word or an amount as written
    reason: str  # the mark the handoff carries: why, and what was found


def read_rules(where: str, value: Any) -> tuple[DecisionRule, ...]:
    """The ``[[workflows.NAME.decisions]]`` array of tables, checked."""
    if value is None:
        return ()
    if not isinstance(value, list):
        raise ConfigError(f"{where}.decisions must be an array of tables "
                          f"([[{where[1:-1]}.decisions]])")
    return tuple(_rule(f"{where}.decisions[{n}]", table) for n, table in enumerate(value))


def _rule(where: str, table: Any) -> DecisionRule:
    if not isinstance(table, Mapping):
        raise ConfigError(f"{where} must be a table")
    unknown = sorted(set(table) - _KEYS)
    if unknown:
        raise ConfigError(f"{where}: unknown keys {unknown}; a rule has {sorted(_KEYS)}")
    owner = table.get("owner")
    if not isinstance(owner, str) or "," in owner or not normalise_address(owner):
        raise ConfigError(f"{where}: owner must be the decision owner's address")
    words = table.get("words", [])
    if not isinstance(words, list) or not all(isinstance(w, str) and w.strip("* ")
                                              for w in words):
        raise ConfigError(f"{where}: words must be a list of words")
    limit = table.get("amount_over")
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, (int, float))
                              or limit < 0):
        raise ConfigError(f"{where}: amount_over must be a number")
    if not words and limit is None:
        raise ConfigError(f"{where}: a rule needs words or amount_over")
    currency = table.get("currency")
    if currency is not None:
        code = CURRENCY_MARKS.get(str(currency).lower(), str(currency).upper())
        if code not in CURRENCIES:
            raise ConfigError(f"{where}: currency {currency!r} is not one of "
                              f"{sorted(CURRENCIES)}")
        currency = code
    why = table.get("why", "")
    if not isinstance(why, str):
        raise ConfigError(f"{where}: why must be text")
    return DecisionRule(owner=normalise_address(owner), why=why.strip()[:300],
                        words=tuple(w.strip() for w in words),
                        amount_over=Decimal(str(limit)) if limit is not None else None,
                        currency=currency)


def packet_text(title: str, packet: Mapping[str, Any]) -> str:
    """The words of a packet that decision rules read."""
    parts = [title]
    for name in SCANNED_FIELDS:
        value = packet.get(name, {}).get("value")
        if isinstance(value, str):
            parts.append(value)
    forwarded = packet.get("forwarded", {}).get("value")
    if isinstance(forwarded, Mapping):
        parts += [str(forwarded.get("subject") or ""), str(forwarded.get("text") or "")]
    return "\n".join(parts)


def find_decision(rules: tuple[DecisionRule, ...], title: str,
                  packet: Mapping[str, Any]) -> DecisionNeeded | None:
    """The first rule the packet fires, with what fired it; None when none does."""
    if not rules:
        return None
    text = packet_text(title, packet)
    amounts = find_amounts(text)
    for rule in rules:
        if rule.words:
            m = _words_pattern(rule.words).search(text)
            if m:
                found = " ".join(m[0].split())
                return DecisionNeeded(rule, found,
                                      _reason(rule, f"the packet mentions “{found}”"))
        over = _amount_over(rule, amounts)
        if over is not None:
            limit = f"{rule.amount_over:,}" + (f" {rule.currency}" if rule.currency else "")
            return DecisionNeeded(rule, over.words,
                                  _reason(rule, f"{over.words} is over {limit}"))
    return None


def _amount_over(rule: DecisionRule, amounts: list[Amount]) -> Amount | None:
    if rule.amount_over is None:
        return None
    for amount in amounts:
        # no exchange rates: a rule with a currency counts its own (and unmarked) amounts
        if rule.currency and amount.currency not in (None, rule.currency):
            continue
        if amount.value > rule.amount_over:
            return amount
    return None


def _reason(rule: DecisionRule, what: str) -> str:
    return (f"{rule.why} ({what})" if rule.why else what)[:500]


@lru_cache(maxsize=256)
def _words_pattern(words: tuple[str, ...]) -> re.Pattern[str]:
    """Whole words, any case, a phrase's spaces matching any whitespace; a trailing
    ``*`` takes any ending ("contract*": contracts, contractual)."""
    alternatives = []
    for word in sorted(words, key=len, reverse=True):
        stem = word.rstrip("*")
        body = r"\s+".join(map(re.escape, stem.split()))
        alternatives.append(body + (r"\w*" if word.endswith("*") else ""))
    return re.compile(r"(?<!\w)(?:" + "|".join(alternatives) + r")(?!\w)", re.I)

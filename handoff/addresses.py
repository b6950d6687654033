"""Addresses: normalising people's, and minting and reading the service's own.

The service answers to its base address (``handoff@``), plus-addresses naming a workflow
(``handoff+sales@``, SPEC 6), configured aliases, and addresses it minted itself:

* reply address ``handoff+r.<handoff>.<person>.<mac>@`` (SPEC 4) — also accepted as
  ``handoff-r.…@`` where list or group software strips ``+`` parts (SPEC 7);
* bounce address ``handoff+b.<outbox>.<mac>@`` (VERP, SPEC 7);
* Message-IDs ``<h<handoff>.<nonce>.<mac>@domain>``.
"""

from __future__ import annotations

import re
import secrets
from functools import lru_cache
from dataclasses import dataclass
from email.utils import getaddresses, parseaddr

from handoff.settings import Settings
from handoff.tokens import sign, verify

_MINTED = re.compile(r"^(?P<kind>[rb])\.(?P<ids>\d+(?:\.\d+)?)\.(?P<mac>[0-9a-f]{16})$")
_OUR_MSGID = re.compile(r"^<?h(?P<h>\d+)\.(?P<o>[0-9a-f]{12})\.(?P<mac>[0-9a-f]{16})@(?P<d>[^>]+)>?$")


@lru_cache(maxsize=4096)  # pure, and called for every address of every mail
def normalise_address(value: str) -> str:
    """``"Bob B" <Bob@Acme.Example>`` -> ``bob@acme.example``; '' when there is none."""
    _name, addr = parseaddr(value or "")
    addr = addr.strip().strip("<>").strip()
    if "@" not in addr:
        return ""
    return addr.lower()


def split_addresses(values: list[str]) -> list[tuple[str, str]]:
    """(display name, normalised address) pairs of address headers, skipping empties."""
    out = []
    for name, addr in getaddresses(values):
        norm = normalise_address(addr)
        if norm:
            out.append((name.strip(), norm))
    return out


@dataclass(frozen=True)
class ServiceRecipient:
    """What one of our addresses means."""

    kind: str  # "intake" | "reply" | "bounce"
    workflow: str = "default"
    handoff_id: int | None = None
    person_id: int | None = None
    outbox_id: int | None = None


class ServiceAddresses:
    def __init__(self, settings: Settings) -> None:
        self.secret = settings.secret_key
        self.local = settings.service_local
        self.domain = settings.service_domain
        self.domains = frozenset(settings.domains) | {self.domain}
        self.aliases = frozenset(a.lower() for a in settings.aliases)

    def is_our_domain(self, address: str) -> bool:
        return normalise_address(address).rpartition("@")[2] in self.domains

    def is_service(self, address: str) -> bool:
        return self.read(address) is not None

    def read(self, address: str) -> ServiceRecipient | None:
        """Interpret an address of ours; None for anything else (including forgeries)."""
        addr = normalise_address(address)
        if not addr:
            return None
        if addr in self.aliases:
            return ServiceRecipient("intake", workflow=addr.split("@")[0])
        local, _, domain = addr.rpartition("@")
        if domain not in self.domains:
            return None
        if local == self.local or local == "postmaster":
            return ServiceRecipient("intake")
        for sep in ("+", "-"):
            if local.startswith(self.local + sep):
                return self._read_detail(local[len(self.local) + 1:], sep)
        return None

    def _read_detail(self, detail: str, sep: str) -> ServiceRecipient | None:
        m = _MINTED.match(detail)
        if m:
            payload = m["ids"]
            if not verify(self.secret, m["kind"], payload, m["mac"]):
                return None
            ids = [int(x) for x in payload.split(".")]
            if m["kind"] == "r" and len(ids) == 2:
                return ServiceRecipient("reply", handoff_id=ids[0], person_id=ids[1])
            if m["kind"] == "b" and len(ids) == 1:
                return ServiceRecipient("bounce", outbox_id=ids[0])
            return None
        if sep == "+" and re.fullmatch(r"[a-z0-9][a-z0-9_-]{0,62}", detail):
            return ServiceRecipient("intake", workflow=detail)
        return None

    def reply_address(self, handoff_id: int, person_id: int) -> str:
        payload = f"{handoff_id}.{person_id}"
        return f"{self.local}+r.{payload}.{sign(self.secret, 'r', payload)}@{self.domain}"

    def bounce_address(self, outbox_id: int) -> str:
        payload = str(outbox_id)
        return f"{self.local}+b.{payload}.{sign(self.secret, 'b', payload)}@{self.domain}"

    def message_id(self, handoff_id: int) -> str:
        nonce = secrets.token_hex(6)
        mac = sign(self.secret, "m", f"{handoff_id}.{nonce}")
        return f"<h{handoff_id}.{nonce}.{mac}@{self.domain}>"

    def read_message_id(self, message_id: str) -> int | None:
        """The handoff id a Message-ID of ours points to; None if it is not (validly) ours."""
        m = _OUR_MSGID.match(message_id.strip())
        if not m or not verify(self.secret, "m", f"{m['h']}.{m['o']}", m["mac"]):
            return None
        return int(m["h"])

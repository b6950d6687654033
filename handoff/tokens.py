"""Keyed hashes and action tokens (SPEC 4, 7).

Two kinds of secret material live here:

* ``sign``/``verify``: a short HMAC-SHA256 over a purpose and a payload.  Message-IDs,
  reply addresses, bounce addresses and per-handoff view links carry one, so a made-up
  ``In-Reply-To`` or address matches nothing.
* action tokens: 128+ random bits handed out in links, stored only as their SHA-256,
  bound to one handoff, one person and one action, expiring.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import datetime, timedelta
from typing import Sequence

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from handoff.models import ActionToken

MAC_CHARS = 16  # 64 bits of HMAC: enough against guessing a route, short enough for headers


def sign(secret: str, purpose: str, payload: str, length: int = MAC_CHARS) -> str:
    digest = hmac.new(secret.encode(), f"{purpose}:{payload}".encode(), hashlib.sha256)
    return digest.hexdigest()[:length]


def verify(secret: str, purpose: str, payload: str, mac: str, length: int = MAC_CHARS) -> bool:
    return hmac.compare_digest(sign(secret, purpose, payload, length), mac.lower())


def hash_token(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


# one statement object (its cache key is worked out once), executed on the connection:
# Core, not the ORM's bulk insert
_INSERT_TOKENS = insert(ActionToken)


def mint_action_tokens(
    session: Session,
    *,
    handoff_id: int,
    person_id: int,
    actions: Sequence[str],
    now: datetime,
    ttl: timedelta,
) -> list[str]:
    """Store new tokens' hashes, one per action, and return the raw tokens in order
    (only the mail ever holds them).  One statement for all of a mail's links: a worker
    mints several per mail, and a statement each was a round trip each.  A plain
    statement on the session's connection: the ORM's bulk insert costs several times it."""
    raws = [secrets.token_urlsafe(24) for _ in actions]  # 192 bits each
    if raws:
        session.connection().execute(_INSERT_TOKENS, [
            {"token_hash": hash_token(raw), "handoff_id": handoff_id, "person_id": person_id,
             "action": action, "created_at": now, "expires_at": now + ttl, "used_at": None}
            for raw, action in zip(raws, actions)])
    return raws


def find_action_token(session: Session, raw: str) -> ActionToken | None:
    if not raw or len(raw) > 100:
        return None
    return session.scalar(select(ActionToken).where(ActionToken.token_hash == hash_token(raw)))


def view_mac(secret: str, ref: str) -> str:
    """The per-handoff capability that lets a mailed link open its page without the view key."""
    return sign(secret, "view", ref, 24)

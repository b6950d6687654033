"""The small exception tree.  Adapters translate these at the edge (SMTP code, HTTP status,
CLI exit code); nothing else catches broadly."""

from __future__ import annotations


class HandoffError(Exception):
    """Base of every error the domain raises on purpose."""


class ConfigError(HandoffError):
    """The settings cannot be built (missing secret, bad value, unreadable TOML)."""


class StorageError(HandoffError):
    """Raw mail could not be committed: the SMTP server answers 451 so the sender retries."""


class NotFound(HandoffError):
    """A handoff, token or message that was asked for does not exist."""

    def __init__(self, what: str, key: object) -> None:
        super().__init__(f"{what} {key!r} not found")
        self.what = what
        self.key = key


class ActionRefused(HandoffError):
    """An action is not allowed now (wrong state, wrong person, stale token)."""

    def __init__(self, reason: str, *, handoff_ref: str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.handoff_ref = handoff_ref

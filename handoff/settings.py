"""One frozen Settings object, built from ``HANDOFF_*`` variables and an optional TOML file.

Nothing here runs at import time: entry points call :func:`load_settings` and pass the
result down.  Environment variables win over the TOML file (``HANDOFF_CONFIG``), which
wins over the embedded defaults of SPEC 11.
"""

from __future__ import annotations

import ipaddress
import os
import secrets
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from handoff.errors import ConfigError

MB = 1024 * 1024
SMARTHOST_TLS_MODES = ("auto", "starttls", "tls", "none")


@dataclass(frozen=True)
class Settings:
    """Secrets (keys, passwords, URLs that carry them) are left out of ``repr``."""

    data_dir: Path
    database_url: str
    smtp_host: str = "127.0.0.1"
    smtp_port: int = 2525
    web_host: str = "127.0.0.1"
    web_port: int = 8025
    # `handoff smtp`/`worker`/`imap` serve /healthz and /metrics here when a port is set
    # (serve and web have them on the web port)
    health_host: str = "127.0.0.1"
    health_port: int | None = None
    # seconds a worker loop with nothing to do waits before it looks again; on
    # PostgreSQL new and retried mail wakes it at once (NOTIFY); what a poll still
    # finds: an outgoing mail whose retry came due
    worker_poll: float = 0.5
    base_url: str = "http://127.0.0.1:8025"
    service_address: str = "handoff@localhost"
    domains: tuple[str, ...] = ("localhost",)
    aliases: tuple[str, ...] = ()
    smarthost: str = ""
    secret_key: str = field(default="", repr=False)
    timezone: str = "UTC"
    max_message_size: int = 25 * MB
    view_key: str = field(default="", repr=False)
    token_ttl_days: int = 30
    production: bool = False
    # outgoing: the smarthost's login and whether to insist on STARTTLS (SPEC 8)
    smarthost_user: str = ""
    smarthost_password: str = field(default="", repr=False)
    smarthost_tls: str = "auto"  # auto (STARTTLS when offered) | starttls | none | tls
    smarthost_ca: str = ""  # a CA bundle to verify the smarthost by; empty: the system's
    # IMAP: a mailbox to read (imaps://user:pass@host:port/INBOX, or the parts)
    imap_url: str = field(default="", repr=False)
    imap_host: str = ""  # or the parts; the URL wins over them
    imap_port: int = 0  # 0: 993 with TLS, 143 without
    imap_user: str = ""
    imap_password: str = field(default="", repr=False)
    imap_folder: str = "INBOX"
    imap_tls: bool = True
    imap_ca: str = ""  # a CA bundle to verify the IMAP server by; empty: the system's
    imap_move_to: str = "handoff-done"  # the folder read messages are moved to
    imap_poll_seconds: int = 60  # where IDLE is not offered
    # provider inbound webhooks (webhooks/): credentials; empty = that route is off
    mailgun_signing_key: str = field(default="", repr=False)
    postmark_auth: str = field(default="", repr=False)  # user:password for HTTP basic auth
    sendgrid_auth: str = field(default="", repr=False)  # user:password for HTTP basic auth
    # a Mailgun signature older than this is refused.  Long on purpose: Mailgun is said
    # to repeat the first attempt's timestamp on retries (for 8 hours), and replays are
    # caught anyway because each token is stored once (docs/deploy.md)
    webhook_replay_seconds: int = 9 * 3600
    # outbound event webhooks: one endpoint from the environment (more in TOML [[webhooks]])
    webhook_url: str = ""
    webhook_secret: str = field(default="", repr=False)
    extra: Mapping[str, Any] = field(default_factory=dict)

    @property
    def service_local(self) -> str:
        return self.service_address.rsplit("@", 1)[0].lower()

    @property
    def service_domain(self) -> str:
        return self.service_address.rsplit("@", 1)[1].lower()

    @property
    def outbox_dir(self) -> Path:
        return self.data_dir / "outbox"

    @property
    def web_is_loopback(self) -> bool:
        return is_loopback_host(self.web_host)

    @property
    def smarthost_address(self) -> tuple[str, int] | None:
        if not self.smarthost:
            return None
        host, _, port = self.smarthost.rpartition(":")
        if not host:
            return (port, 25)
        return (host, int(port))


def is_loopback_host(host: str) -> bool:
    if host in ("localhost", ""):
        return host == "localhost"
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


# variable name (without HANDOFF_) -> (field, converter)
_FIELDS: dict[str, tuple[str, Any]] = {
    "DATA_DIR": ("data_dir", Path),
    "DATABASE_URL": ("database_url", str),
    "SMTP_HOST": ("smtp_host", str),
    "SMTP_PORT": ("smtp_port", int),
    "WEB_HOST": ("web_host", str),
    "WEB_PORT": ("web_port", int),
    "HEALTH_HOST": ("health_host", str),
    "HEALTH_PORT": ("health_port", int),
    "WORKER_POLL": ("worker_poll", float),
    "BASE_URL": ("base_url", str),
    "SERVICE_ADDRESS": ("service_address", str),
    "DOMAINS": ("domains", lambda v: _split(v)),
    "ALIASES": ("aliases", lambda v: _split(v)),
    "SMARTHOST": ("smarthost", str),
    "SECRET_KEY": ("secret_key", str),
    "TIMEZONE": ("timezone", str),
    "MAX_MESSAGE_SIZE": ("max_message_size", int),
    "VIEW_KEY": ("view_key", str),
    "TOKEN_TTL_DAYS": ("token_ttl_days", int),
    "PRODUCTION": ("production", lambda v: str(v).lower() in ("1", "true", "yes")),
    "SMARTHOST_USER": ("smarthost_user", str),
    "SMARTHOST_PASSWORD": ("smarthost_password", str),
    "SMARTHOST_TLS": ("smarthost_tls", str),
    "SMARTHOST_CA": ("smarthost_ca", str),
    "IMAP_URL": ("imap_url", str),
    "IMAP_HOST": ("imap_host", str),
    "IMAP_PORT": ("imap_port", int),
    "IMAP_USER": ("imap_user", str),
    "IMAP_PASSWORD": ("imap_password", str),
    "IMAP_FOLDER": ("imap_folder", str),
    "IMAP_TLS": ("imap_tls", lambda v: str(v).lower() in ("1", "true", "yes")),
    "IMAP_CA": ("imap_ca", str),
    "IMAP_MOVE_TO": ("imap_move_to", str),
    "IMAP_POLL_SECONDS": ("imap_poll_seconds", int),
    "MAILGUN_SIGNING_KEY": ("mailgun_signing_key", str),
    "POSTMARK_AUTH": ("postmark_auth", str),
    "SENDGRID_AUTH": ("sendgrid_auth", str),
    "WEBHOOK_REPLAY_SECONDS": ("webhook_replay_seconds", int),
    "WEBHOOK_URL": ("webhook_url", str),
    "WEBHOOK_SECRET": ("webhook_secret", str),
}


def _split(value: Any) -> tuple[str, ...]:
    items = value if isinstance(value, (list, tuple)) else str(value).split(",")
    return tuple(str(i).strip().lower() for i in items if str(i).strip())


def load_settings(environ: Mapping[str, str] | None = None, *, read_only: bool = False,
                  **overrides: Any) -> Settings:
    """Build the settings: embedded defaults < TOML file < environment < ``overrides``.

    ``read_only`` (``handoff parse``): write nothing; without a secret anywhere, use a
    throwaway one instead of creating the data directory's."""
    env = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    extra: dict[str, Any] = {}
    config_path = env.get("HANDOFF_CONFIG")
    if config_path:
        try:
            with open(config_path, "rb") as fh:
                doc = tomllib.load(fh)
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise ConfigError(f"cannot read HANDOFF_CONFIG {config_path}: {exc}") from exc
        for key, value in doc.items():
            name = key.upper()
            if name in _FIELDS:
                attr, conv = _FIELDS[name]
                values[attr] = conv(value)
            else:
                extra[key] = value
    for name, (attr, conv) in _FIELDS.items():
        raw = env.get("HANDOFF_" + name)
        if raw is not None and raw != "":
            try:
                values[attr] = conv(raw)
            except ValueError as exc:
                raise ConfigError(f"HANDOFF_{name}={raw!r} is not valid: {exc}") from exc
    values.update(overrides)

    data_dir = Path(values.pop("data_dir", Path("./var"))).resolve()
    service_address = values.get("service_address", "handoff@localhost").strip().lower()
    if "@" not in service_address:
        raise ConfigError(f"HANDOFF_SERVICE_ADDRESS {service_address!r} is not an address")
    values["service_address"] = service_address
    values.setdefault("domains", (service_address.rsplit("@", 1)[1],))
    values.setdefault("database_url", f"sqlite:///{data_dir / 'handoff.db'}")
    if "base_url" not in values and "web_port" in values:
        values["base_url"] = f"http://127.0.0.1:{values['web_port']}"
    values["base_url"] = values.get("base_url", "http://127.0.0.1:8025").rstrip("/")
    production = bool(values.get("production", False))
    if not values.get("secret_key"):
        if production:
            raise ConfigError("HANDOFF_SECRET_KEY is required in production mode")
        values["secret_key"] = _dev_secret(data_dir, create=not read_only)
    if values.get("smarthost_tls", "auto") not in SMARTHOST_TLS_MODES:
        raise ConfigError(f"HANDOFF_SMARTHOST_TLS must be one of {', '.join(SMARTHOST_TLS_MODES)}")
    for name in ("postmark_auth", "sendgrid_auth"):
        if values.get(name) and ":" not in values[name]:
            raise ConfigError(f"HANDOFF_{name.upper()} must be user:password "
                              "(the credentials written into the provider's webhook URL)")
    poll = values.get("worker_poll", 0.5)
    if not 0.01 <= poll <= 3600:  # also refuses nan and inf
        raise ConfigError(f"HANDOFF_WORKER_POLL={poll} must be seconds between 0.01 and 3600")
    port = values.get("health_port")
    if port is not None and not 0 <= port <= 65535:
        raise ConfigError(f"HANDOFF_HEALTH_PORT={port} is not a port")
    for what, key in (("the web server", "web_host"), ("the health port", "health_host")):
        host = values.get(key, "127.0.0.1")
        if not is_loopback_host(host) and not values.get("view_key"):
            raise ConfigError(f"{what} is bound to {host}, not loopback: set HANDOFF_VIEW_KEY "
                              "(/metrics and the pages need it beyond loopback)")
    return Settings(data_dir=data_dir, extra=extra, **values)


def _dev_secret(data_dir: Path, create: bool = True) -> str:
    """Generate (once) and reuse a secret kept in the data directory (dev mode only)."""
    path = data_dir / "secret_key"
    if path.exists():
        return path.read_text().strip()
    if not create:
        return secrets.token_hex(32)
    data_dir.mkdir(parents=True, exist_ok=True)
    key = secrets.token_hex(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(key)
    return key

"""The connection to the smarthost (SPEC 8): TLS as configured, then AUTH.

``HANDOFF_SMARTHOST_TLS`` is one of

* ``auto`` (default): STARTTLS when the server offers it (RFC 3207), else plain — the
  usual port-25 relay inside a network;
* ``starttls``: STARTTLS or no mail (port 587 submission, RFC 6409): a server that does
  not offer it is a temporary failure, never a downgrade to plain text;
* ``tls``: TLS from the first byte (port 465, RFC 8314);
* ``none``: never TLS (a relay on loopback).

The certificate is verified against the system's trust store, or ``HANDOFF_SMARTHOST_CA``.
With ``HANDOFF_SMARTHOST_USER`` set, AUTH (RFC 4954) follows; a password is never sent
over a connection that is not encrypted unless TLS was turned off on purpose.
"""

from __future__ import annotations

import smtplib
import ssl

from handoff.settings import Settings

SMTP_TIMEOUT = 30


class SmarthostRefused(smtplib.SMTPException):
    """The smarthost cannot be used as configured (no STARTTLS, login refused): a
    temporary failure for every mail, retried with backoff, until an operator fixes it."""


def server_said(said: bytes | str) -> str:
    """The server's words as a person reads them (not a bytes repr)."""
    return said.decode("utf-8", "replace") if isinstance(said, bytes) else str(said)


def tls_context(settings: Settings) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=settings.smarthost_ca or None)


def open_smarthost(settings: Settings, timeout: float = SMTP_TIMEOUT) -> smtplib.SMTP:
    """A connection ready for ``send_message``; raises ``SMTPException``/``OSError``."""
    target = settings.smarthost_address
    assert target is not None, "no smarthost configured"
    host, port = target
    mode = settings.smarthost_tls
    local = settings.service_domain
    connection: smtplib.SMTP
    if mode == "tls":
        connection = smtplib.SMTP_SSL(host, port, local_hostname=local, timeout=timeout,
                                      context=tls_context(settings))
    else:
        connection = smtplib.SMTP(host, port, local_hostname=local, timeout=timeout)
    try:
        connection.ehlo()
        encrypted = mode == "tls"
        if mode in ("auto", "starttls") and connection.has_extn("starttls"):
            connection.starttls(context=tls_context(settings))
            connection.ehlo()  # RFC 3207 4.2: forget what was said before TLS
            encrypted = True
        elif mode == "starttls":
            raise SmarthostRefused(f"{host}:{port} does not offer STARTTLS "
                                   "(HANDOFF_SMARTHOST_TLS=starttls)")
        if settings.smarthost_user:
            if not encrypted and mode != "none":
                raise SmarthostRefused(f"{host}:{port}: not sending the password in the "
                                       "clear; set HANDOFF_SMARTHOST_TLS=none to allow it")
            try:
                connection.login(settings.smarthost_user, settings.smarthost_password)
            except smtplib.SMTPAuthenticationError as exc:
                raise SmarthostRefused(f"{host}:{port} refused our login: "
                                       f"{exc.smtp_code} {server_said(exc.smtp_error)}") from exc
    except BaseException:
        connection.close()
        raise
    return connection

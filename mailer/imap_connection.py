"""One IMAP connection for the watcher, and what imapclient does not show of it.

imapclient's ``idle_check()`` (RFC 2177 IDLE) only polls the socket.  Two kinds of
server reports never reach it: a ``* n EXISTS`` (RFC 3501 7.3.1) that came along with
an earlier command's response, which imaplib keeps aside, and one the server sent in
the same packet as ``+ idling``, already in imaplib's read buffer (Dovecot does this
whenever mail arrived since the last command).  Either would leave a new message
waiting for the next IDLE round; these helpers look for both.  They read imaplib
internals, guarded: if those change, they find nothing and the watcher is merely
slower (the next round, at most ``IDLE_CHECK`` seconds later).
"""

from __future__ import annotations

import ssl
from typing import Any

from imapclient import IMAPClient
from imapclient.exceptions import IMAPClientError

from mailer.imap_account import ImapAccount


def open_connection(account: ImapAccount, timeout: float) -> IMAPClient:
    """Connect (TLS from the first byte for imaps, RFC 8314; the certificate and the
    host name verified), log in, and make the done folder if it is missing."""
    context = ssl.create_default_context(cafile=account.ca_file or None) \
        if account.tls else None
    client = IMAPClient(account.host, account.port, ssl=account.tls, ssl_context=context,
                        timeout=timeout)
    try:
        client.login(account.user, account.password)
        if account.move_to and not client.folder_exists(account.move_to):
            client.create_folder(account.move_to)
    except BaseException:
        close_connection(client)
        raise
    return client


def has_news(client: IMAPClient) -> bool:
    """Whether ``* n EXISTS`` came with an earlier command's response (and forget it:
    the server will not repeat it in IDLE)."""
    stash = getattr(getattr(client, "_imap", None), "untagged_responses", None)
    return isinstance(stash, dict) and bool(stash.pop("EXISTS", None))


def has_buffered_lines(client: IMAPClient, timeout: float) -> bool:
    """Whether imaplib has read more than the line it returned: peek, not blocking."""
    reader = getattr(getattr(client, "_imap", None), "file", None)
    if reader is None or not hasattr(reader, "peek"):
        return False
    sock = client.socket()
    sock.setblocking(False)
    try:
        return bool(reader.peek(1))
    except OSError:  # nothing there (TLS says "want read"), or the connection is gone
        return False
    finally:
        sock.settimeout(timeout)


def reports_new(responses: list[Any]) -> bool:
    return any(len(r) > 1 and r[1] == b"EXISTS" for r in responses)


def close_connection(client: IMAPClient) -> None:
    """LOGOUT, or at least close the socket: a dead connection cannot log out."""
    for step in (client.logout, client.shutdown):
        try:
            step()
            return
        except (IMAPClientError, OSError):
            continue

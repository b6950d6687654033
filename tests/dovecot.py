"""A real Dovecot for the tests (TESTING.md's recipe): its own config, users file and
maildirs in a temporary directory, on a free loopback port, stopped by its own pid.

It can be stopped and started again on the same port and the same maildirs (a server
restart in the middle of a run), and started with ``extensions=False``: a plain
IMAP4rev1 capability list (no IDLE, MOVE or UIDPLUS) for the client's fallbacks.
Dovecot still accepts those commands; a client that reads CAPABILITY never sends them.

With ``sieve={address: script}`` it is also a delivery agent (TESTING.md, "Real
auto-responders"): an LMTP listener (``deliver_lmtp``) whose deliveries run each
mailbox's Pigeonhole Sieve script, and ``submission_port``, the SMTP server Pigeonhole
sends its own mail to (a ``reject``'s refusal, a ``vacation`` reply).
"""

from __future__ import annotations

import os
import shutil
import smtplib
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from tests.conftest import free_port, wait_until

if TYPE_CHECKING:
    from imapclient import IMAPClient

DOVECOT = shutil.which("dovecot") or "/usr/sbin/dovecot"
LMTP = "/usr/lib/dovecot/lmtp"  # dovecot-lmtpd
SIEVE_PLUGIN = "/usr/lib/dovecot/modules/lib90_sieve_plugin.so"  # dovecot-sieve
USER, PASSWORD = "handoff@acme.test", "secret"
# What Dovecot 2.3 offers after login, minus IDLE, MOVE and UIDPLUS (RFC 2177, 6851, 4315)
PLAIN_CAPABILITIES = "IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE LITERAL+ NAMESPACE"

_CONFIG = """\
base_dir = {root}/run
state_dir = {root}/state
log_path = {root}/dovecot.log
protocols = imap
listen = 127.0.0.1
{ssl}
disable_plaintext_auth = no
auth_mechanisms = plain login
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {root}/users
}}
userdb {{
  driver = static
  args = uid=nobody gid=nogroup home={root}/home/%u
}}
mail_location = maildir:~/Maildir
service imap-login {{
  inet_listener imap {{
    port = {imap_port}
  }}
  inet_listener imaps {{
    port = {imaps_port}
  }}
}}
"""

# Delivery over LMTP into each user's Maildir, through the user's Sieve script
# (Pigeonhole); what Sieve sends (reject's MDN, vacation) goes to ``submission_host``.
_DELIVERY = """\
service lmtp {{
  inet_listener lmtp {{
    address = 127.0.0.1
    port = {lmtp_port}
  }}
}}
protocol lmtp {{
  mail_plugins = $mail_plugins sieve
  postmaster_address = postmaster@{domain}
  hostname = mx.{domain}
}}
submission_host = 127.0.0.1:{submission_port}
plugin {{
  sieve = file:~/sieve;active=~/.dovecot.sieve
}}
"""


class Dovecot:
    """One Dovecot master process; ``url`` is what ``HANDOFF_IMAP_URL`` would say."""

    def __init__(self, *, extensions: bool = True, certificate: Any = None,
                 sieve: dict[str, str] | None = None, submission_port: int = 0) -> None:
        """``certificate``: a trustme ``LeafCert``; then the one listener speaks TLS
        from the first byte (imaps, RFC 8314).  ``sieve``: mailbox address -> its active
        Sieve script, with LMTP delivery and ``submission_port`` for Sieve's own mail."""
        if not os.path.exists(DOVECOT):
            pytest.skip("dovecot is not installed (apt-get install -y dovecot-imapd)")
        if sieve is not None and not (os.path.exists(LMTP) and os.path.exists(SIEVE_PLUGIN)):
            pytest.skip("LMTP or Sieve is not installed "
                        "(apt-get install -y dovecot-lmtpd dovecot-sieve)")
        # under the system temp dir, world-readable: pytest's own are private to root, and
        # Dovecot's mail processes run as nobody
        self.root = Path(tempfile.mkdtemp(prefix="handoff-dovecot-"))
        self.root.chmod(0o755)
        self.port = free_port()
        self.pid: int | None = None
        self._delivered = 0
        self.lmtp_port = free_port() if sieve is not None else 0
        users = [USER, *(a for a in sieve or {} if a != USER)]
        (self.root / "users").write_text("".join(f"{u}:{{PLAIN}}{PASSWORD}\n" for u in users))
        home = self.root / "home"
        home.mkdir()
        shutil.chown(home, "nobody", "nogroup")
        for address, script in (sieve or {}).items():
            self._install_sieve(address, script)
        self.tls = certificate is not None
        ssl_lines = "ssl = no"
        if certificate is not None:
            cert, key = self.root / "cert.pem", self.root / "key.pem"
            certificate.cert_chain_pems[0].write_to_path(str(cert))
            certificate.private_key_pem.write_to_path(str(key))
            ssl_lines = f"ssl = yes\nssl_cert = <{cert}\nssl_key = <{key}"
        config = _CONFIG.format(root=self.root, ssl=ssl_lines,
                                imap_port=0 if self.tls else self.port,
                                imaps_port=self.port if self.tls else 0)
        if not extensions:
            config += f"protocol imap {{\n  imap_capability = {PLAIN_CAPABILITIES}\n}}\n"
        if sieve is not None:
            config = config.replace("protocols = imap\n", "protocols = imap lmtp\n")
            # the owners' mail server: its postmaster signs Sieve's refusals
            domain = next(iter(sieve), USER).split("@")[1]
            config += _DELIVERY.format(lmtp_port=self.lmtp_port, domain=domain,
                                       submission_port=submission_port)
        (self.root / "dovecot.conf").write_text(config)

    def _install_sieve(self, address: str, script: str) -> None:
        """The user's home holds the script (``~/.dovecot.sieve``); Pigeonhole compiles it
        there on the first delivery, as the user (nobody), so the home is theirs."""
        home = self.root / "home" / address
        home.mkdir(parents=True, exist_ok=True)
        (home / "sieve").mkdir(exist_ok=True)
        (home / ".dovecot.sieve").write_text(script)
        for path in (home, home / "sieve", home / ".dovecot.sieve"):
            shutil.chown(path, "nobody", "nogroup")

    @property
    def url(self) -> str:
        scheme = "imaps" if self.tls else "imap"
        return f"{scheme}://{USER.replace('@', '%40')}:{PASSWORD}@127.0.0.1:{self.port}/INBOX"

    client_context: Any = None  # tests set an ssl.SSLContext trusting their CA

    @property
    def maildir(self) -> Path:
        return self.root / "home" / USER / "Maildir"

    def start(self) -> "Dovecot":
        pidfile = self.root / "run" / "master.pid"
        pidfile.unlink(missing_ok=True)
        # the daemon keeps whatever stdout it is given: a pipe would never reach EOF
        subprocess.run([DOVECOT, "-c", str(self.root / "dovecot.conf")], check=True,
                       stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)
        assert wait_until(lambda: pidfile.exists() and pidfile.read_text().strip(), 10), \
            self.log()  # the master writes it after it is there: it may be empty a moment
        self.pid = int(pidfile.read_text().split()[0])
        assert wait_until(self._accepts, 10), f"dovecot not listening\n{self.log()}"
        return self

    def _accepts(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1) as sock:
                return self.tls or sock.recv(64).startswith(b"* OK")
        except OSError:
            return False

    def stop(self, *, crash: bool = False) -> None:
        """Stop the server and wait until every one of its processes is gone: SIGTERM
        (clients get ``* BYE``) or, with ``crash``, SIGKILL (connections just drop).
        The signal goes to the master's process group: SIGTERM to the master alone
        leaves an IDLE session's process running for ten more seconds."""
        if self.pid is None:
            return
        pid, self.pid = self.pid, None
        try:
            os.killpg(pid, 9 if crash else 15)  # the master leads it; its children share it
        except ProcessLookupError:
            return
        assert wait_until(lambda: not _group_alive(pid), 10), f"dovecot {pid} did not exit"

    def deliver(self, raw: bytes, folder: str = "") -> None:
        """Drop ``raw`` into the maildir as a delivery agent would: bytes that APPEND
        would refuse (NUL, no headers) reach a mailbox this way too."""
        where = self.maildir / (f".{folder}" if folder else "")
        for sub in ("tmp", "new", "cur"):
            (where / sub).mkdir(parents=True, exist_ok=True)
        for path in (self.root / "home" / USER, self.maildir, where,
                     where / "tmp", where / "new", where / "cur"):
            shutil.chown(path, "nobody", "nogroup")
        self._delivered += 1
        name = f"{int(time.time())}.M{self._delivered}P{os.getpid()}.test"
        (where / "tmp" / name).write_bytes(raw)
        shutil.chown(where / "tmp" / name, "nobody", "nogroup")
        os.rename(where / "tmp" / name, where / "new" / name)

    def deliver_lmtp(self, raw: bytes, mail_from: str, rcpt_tos: list[str]) -> None:
        """Deliver as a mail server's last hop would: LMTP (RFC 2033), with the
        envelope sender kept (Sieve's refusals and auto-replies go to it)."""
        with smtplib.LMTP("127.0.0.1", self.lmtp_port, timeout=30) as lmtp:
            refused = lmtp.sendmail(mail_from, rcpt_tos, raw)
        assert not refused, f"LMTP refused {refused}\n{self.log()}"

    def remove(self) -> None:
        """Kill it (even half-started) and delete its directory."""
        pidfile = self.root / "run" / "master.pid"
        if self.pid is None and pidfile.exists() and pidfile.read_text().strip():
            self.pid = int(pidfile.read_text().split()[0])
        self.stop(crash=True)
        shutil.rmtree(self.root, ignore_errors=True)

    def log(self) -> str:
        path = self.root / "dovecot.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def client(self) -> "IMAPClient":
        """A second, ordinary IMAP client (the test's hands): logged in, nothing selected."""
        from imapclient import IMAPClient

        client = IMAPClient("127.0.0.1", self.port, ssl=self.tls, timeout=10,
                            ssl_context=self.client_context)
        client.login(USER, PASSWORD)
        return client


def _group_alive(pgid: int) -> bool:
    """Whether any process of the group still runs (zombies do not count: dovecot
    daemonized, so it is not our child to reap)."""
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if fields[0] != "Z" and int(fields[2]) == pgid:
            return True
    return False

"""Start and stop the servers under test as real subprocesses, and wait until they are up."""

from __future__ import annotations

import os
import smtplib
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from benchmarks.mails import SERVICE


_ROOT = str(Path(__file__).resolve().parent.parent)


class BenchError(RuntimeError):
    pass


def free_port() -> int:
    """A port nothing listens on now (aiosmtpd's Controller cannot bind port 0)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def cpu_seconds(pid: int) -> float:
    """User + system CPU time process ``pid`` has used so far (Linux /proc); OSError
    once it is gone."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Server:
    """A subprocess with its output in a log file; ``stop`` terminates, then kills."""

    name = "server"

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.log_path = workdir / f"{self.name}.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.smtp_port = 0

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def _spawn(self, argv: list[str], env: dict[str, str]) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        log = open(self.log_path, "wb")
        try:
            self.proc = subprocess.Popen(argv, cwd=self.workdir, env=env, stdout=log,
                                         stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        finally:
            log.close()

    def cpu_seconds(self) -> float:
        """User + system CPU time the process has used so far (Linux /proc)."""
        if self.proc is None:
            return float("nan")
        try:
            return cpu_seconds(self.proc.pid)
        except OSError:
            return float("nan")

    def _check_alive(self) -> None:
        assert self.proc is not None
        if self.proc.poll() is not None:
            raise BenchError(f"{self.name} exited with {self.proc.returncode}:\n"
                             f"{_tail(self.log_path)}")

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)

    def log_problems(self) -> list[str]:
        """Lines of the log that say something went wrong."""
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return []
        return [line for line in text.splitlines()
                if " ERROR " in line or " WARNING " in line or line.startswith("Traceback")]


class HandoffServe(Server):
    """``python -m handoff serve`` in a fresh data directory, mail out to ``smarthost``."""

    name = "handoff-serve"

    def __init__(self, workdir: Path, smarthost_port: int, command: str = "serve",
                 locktrace: Path | None = None, extra_env: dict[str, str] | None = None
                 ) -> None:
        super().__init__(workdir)
        self.smarthost_port = smarthost_port
        self.command = command  # "smtp" runs the listener alone; "worker" the workers
        self.extra_env = extra_env or {}  # e.g. HANDOFF_DATABASE_URL (benchmarks.split)
        self.locktrace = locktrace  # --diagnose: run through benchmarks.traced_serve
        self.web_port = 0

    def start(self, timeout: float = 60) -> "HandoffServe":
        self.smtp_port, self.web_port = free_port(), free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith("HANDOFF_")}
        env.update({
            "HANDOFF_DATA_DIR": str(self.workdir / "data"),
            "HANDOFF_SMTP_PORT": str(self.smtp_port),
            "HANDOFF_WEB_PORT": str(self.web_port),
            "HANDOFF_SERVICE_ADDRESS": SERVICE,
            "HANDOFF_SMARTHOST": f"127.0.0.1:{self.smarthost_port}",
            "PYTHONUNBUFFERED": "1",
        })
        env.update(self.extra_env)
        module = "handoff"
        if self.locktrace is not None:
            module = "benchmarks.traced_serve"
            env["BENCH_LOCKTRACE"] = str(self.locktrace)
            env["PYTHONPATH"] = os.pathsep.join(
                p for p in (_ROOT, env.get("PYTHONPATH")) if p)
        self._spawn([sys.executable, "-m", module, self.command], env)
        if self.command == "smtp":  # no web server to ask: wait for the listener
            self._wait_listening(timeout)
        elif self.command == "worker":  # nothing to ask: wait for what it prints when up
            self._wait_printed("handoff is running", timeout)
        else:
            self._wait_healthy(timeout)
        return self

    def _wait_healthy(self, timeout: float) -> None:
        url = f"http://127.0.0.1:{self.web_port}/healthz"
        deadline = time.monotonic() + timeout
        last = ""
        while time.monotonic() < deadline:
            self._check_alive()
            try:
                with urllib.request.urlopen(url, timeout=2) as resp:
                    if resp.status == 200:
                        return
                    last = f"HTTP {resp.status}"
            except urllib.error.HTTPError as exc:
                last = f"HTTP {exc.code}"
            except (urllib.error.URLError, OSError) as exc:
                last = str(exc)
            time.sleep(0.05)  # poll interval, not a stand-in for readiness
        raise BenchError(f"{self.name} not healthy after {timeout:.0f} s ({last}):\n"
                         f"{_tail(self.log_path)}")


    def _wait_printed(self, line: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self._check_alive()
            if line in self.log_path.read_text(errors="replace"):
                return
            time.sleep(0.05)  # poll interval, not a stand-in for readiness
        raise BenchError(f"{self.name} did not print {line!r} in {timeout:.0f} s:\n"
                         f"{_tail(self.log_path)}")

    def _wait_listening(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self._check_alive()
            try:
                with smtplib.SMTP("127.0.0.1", self.smtp_port, timeout=2) as conn:
                    if conn.noop()[0] == 250:
                        return
            except (smtplib.SMTPException, OSError):
                pass
            time.sleep(0.05)  # poll interval, not a stand-in for readiness
        raise BenchError(f"{self.name} not listening after {timeout:.0f} s:\n"
                         f"{_tail(self.log_path)}")


class Baseline(Server):
    """``python -m benchmarks.baseline_server``: ready once it prints ``ready <port>``."""

    name = "baseline"

    def start(self, timeout: float = 30) -> "Baseline":
        self.smtp_port = free_port()
        self.workdir.mkdir(parents=True, exist_ok=True)
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        env["PYTHONPATH"] = os.pathsep.join(p for p in (_ROOT, env.get("PYTHONPATH")) if p)
        self._spawn([sys.executable, "-m", "benchmarks.baseline_server",
                     "--port", str(self.smtp_port), "--db", str(self.workdir / "baseline.db")],
                    env)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self._check_alive()
            if "ready " in self.log_path.read_text(errors="replace"):
                return self
            time.sleep(0.02)  # poll interval for the ready line
        raise BenchError(f"baseline not ready after {timeout:.0f} s:\n{_tail(self.log_path)}")

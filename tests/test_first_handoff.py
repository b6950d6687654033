"""The README's first handoff works as printed (issue 10, point 5): `handoff serve` on
its embedded defaults (only the ports moved to free ones), then the very commands the
README shows and `serve` prints (swaks, and the Python snippet) make a handoff offered
to bob@example.com."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path
from typing import Iterator

import pytest

from tests.conftest import free_port, wait_until

README = Path(__file__).resolve().parents[1] / "README.md"

# `make run` keeps its data in SQLite whatever backend the suite runs on: so does this
pytestmark = pytest.mark.realserver


def readme_block(language: str, containing: str) -> str:
    blocks = re.findall(rf"```{language}\n(.*?)```", README.read_text(), re.S)
    found = [b for b in blocks if containing in b]
    assert len(found) == 1, f"one ```{language} block with {containing!r} in the README"
    return found[0]


class Served:
    def __init__(self, tmp_path: Path) -> None:
        for _ in range(3):  # a free port can be taken by another process before serve binds
            if self._start(tmp_path):
                return
        raise AssertionError("handoff serve did not start:\n" + self.errors)

    def _start(self, tmp_path: Path) -> bool:
        self.smtp_port, self.web_port = free_port(), free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith("HANDOFF_")}
        env.update(HANDOFF_DATA_DIR=str(tmp_path / "var"),
                   HANDOFF_SMTP_PORT=str(self.smtp_port), HANDOFF_WEB_PORT=str(self.web_port),
                   HANDOFF_BASE_URL=f"http://127.0.0.1:{self.web_port}")
        errors = tmp_path / "serve.stderr"
        with errors.open("wb") as sink:
            self.process = subprocess.Popen([sys.executable, "-m", "handoff", "serve"],
                                            env=env, cwd=tmp_path, stdout=subprocess.PIPE,
                                            stderr=sink, text=True)
        assert self.process.stdout is not None
        self.printed: list[str] = []
        for line in self.process.stdout:  # what serve prints once everything is up
            self.printed.append(line.rstrip("\n"))
            if line.startswith("  (the offer to bob"):
                return True
        self.process.wait(20)  # it ended before saying it was up
        self.errors = errors.read_text(errors="replace")[-3000:]
        return False

    def printed_command(self) -> str:
        start = next(i for i, line in enumerate(self.printed)
                     if line.startswith("Send a first handoff"))
        return "\n".join(line[2:] for line in self.printed[start + 1:-1])

    def handoffs(self) -> list[dict[str, object]]:
        url = f"http://127.0.0.1:{self.web_port}/api/handoffs"
        with urllib.request.urlopen(url, timeout=5) as answer:
            return json.load(answer)["handoffs"]

    def stop(self) -> None:
        self.process.send_signal(signal.SIGTERM)
        self.process.wait(20)


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    if shutil.which("swaks") is None:
        pytest.skip("swaks is not installed (Debian package swaks)")
    service = Served(tmp_path)
    yield service
    service.stop()


def offered_to_bob(served: Served, count: int) -> list[dict[str, object]]:
    found = wait_until(lambda: [h for h in served.handoffs()
                                if h["owner"] == "bob@example.com" and h["status"] == "offered"]
                       if len(served.handoffs()) >= count else [])
    assert len(found) == count, served.handoffs()
    return found


def test_the_swaks_line_serve_prints_hands_work_to_bob(served, tmp_path):
    command = served.printed_command()
    assert command.startswith("swaks ") and f"127.0.0.1:{served.smtp_port}" in command
    subprocess.run(["bash", "-c", command], check=True, capture_output=True, cwd=tmp_path)
    (handoff,) = offered_to_bob(served, 1)
    assert handoff["title"] == "Renew the TLS certificate"
    assert handoff["sender"] == "ana@example.com"
    outbox = tmp_path / "var" / "outbox"  # the offer is written just after the commit
    assert wait_until(lambda: any(b"To: bob@example.com" in p.read_bytes()
                                  for p in outbox.glob("*.eml")))


def test_the_readme_commands_work_as_printed(served, tmp_path):
    """Only the port differs from what a reader types (2525 may be taken here)."""
    swaks = readme_block("sh", "swaks").replace("127.0.0.1:2525",
                                                f"127.0.0.1:{served.smtp_port}")
    subprocess.run(["bash", "-c", swaks], check=True, capture_output=True, cwd=tmp_path)
    python = readme_block("python", "smtplib").replace("2525", str(served.smtp_port))
    subprocess.run([sys.executable, "-c", python], check=True, capture_output=True,
                   cwd=tmp_path)
    handoffs = offered_to_bob(served, 2)
    assert {h["title"] for h in handoffs} == {"Renew the TLS certificate"}

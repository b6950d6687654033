"""`handoff --help` speaks to operators (issue 10, point 7): what the tool does, each
command in words, where the configuration comes from; no words of our own documents
("composition root", "SPEC 5") or of Python docstrings."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

COMMANDS = ["serve", "smtp", "web", "worker", "imap", "db", "parse", "chase", "inbound"]
INSIDE_WORDS = re.compile(r"composition root|SPEC|``|\(issue|\bTODO\b", re.I)


def help_of(*argv: str) -> str:
    return subprocess.run([sys.executable, "-m", "handoff", *argv, "--help"],
                          capture_output=True, text=True, check=True).stdout


def test_the_top_help_says_what_handoff_is_and_where_its_settings_come_from():
    text = help_of()
    assert INSIDE_WORDS.search(text) is None, INSIDE_WORDS.search(text)
    assert "CCing" in text and "HANDOFF_CONFIG" in text and "./var" in text
    for name in COMMANDS:  # every command listed with a line of its own
        assert re.search(rf"^\s+{name}\s+\S", text, re.M), name


@pytest.mark.parametrize("name", COMMANDS)
def test_each_commands_help_is_written_for_operators(name):
    text = help_of(name)
    assert INSIDE_WORDS.search(text) is None, INSIDE_WORDS.search(text)
    description = text.split("\n\n")[1]  # the paragraph under the usage line
    assert len(description.split()) >= 5, text

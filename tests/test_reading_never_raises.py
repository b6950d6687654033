"""Property tests (hypothesis): the reader never raises, whatever the bytes; what it
could not read is a line in ``problems``, never an exception."""

from __future__ import annotations

import json
from datetime import datetime, timezone

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from handoff.guards import Envelope
from handoff.intake import read_message
from handoff.parsing import parse_message
from tests.conftest import SERVICE, make_settings

NOW = datetime(2026, 11, 23, 9, 0, tzinfo=timezone.utc)
HEADER_NAMES = ["From", "To", "Cc", "Subject", "Date", "Message-ID", "In-Reply-To",
                "References", "Content-Type", "Content-Transfer-Encoding",
                "Content-Disposition", "MIME-Version", "Auto-Submitted", "Precedence",
                "List-Id", "Return-Path", "X-Autoreply"]
TRICKY = ["=?utf-8?b?w6k=?=", "=?x-unknown?q?caf=E9?=", "=?utf-8?q?broken", "<>", "\xe9",
          "multipart/mixed; boundary=", "multipart/alternative; boundary=\"b\"",
          "text/plain; charset=\"utf-8\"\\r\\n", "base64", "quoted-printable",
          "message/rfc822", "application/ms-tnef", "--b", "--b--", "Fwd: Re: AW:",
          "Owner: bob@corp.test", "Deadline: by Friday", "\x00", "\r", "\n ", ";", ":"]
text = st.one_of(st.text(max_size=60), st.sampled_from(TRICKY))


@st.composite
def mail_like(draw: st.DrawFn) -> bytes:
    """Header lines and body parts in arbitrary mixes, with the pieces real mail breaks."""
    headers = draw(st.lists(st.tuples(st.sampled_from(HEADER_NAMES + ["X-" + "y" * 3]),
                                      st.lists(text, max_size=3)), max_size=12))
    lines = [f"{name}: {' '.join(values)}" for name, values in headers]
    body = draw(st.lists(st.one_of(text, st.binary(max_size=40).map(
        lambda b: b.decode("latin-1"))), max_size=12))
    joined = "\r\n".join(lines) + "\r\n\r\n" + "\r\n".join(body)
    return joined.encode("utf-8", "surrogateescape") + draw(st.binary(max_size=30))


SETTINGS = settings(max_examples=300, deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture])


@SETTINGS
@given(st.binary(max_size=2000))
def test_arbitrary_bytes_are_read_without_an_exception(raw):
    message = parse_message(raw)
    assert isinstance(message.text, str) and isinstance(message.problems, tuple)


@SETTINGS
@given(mail_like())
def test_arbitrary_header_and_body_mixes_are_read_without_an_exception(tmp_path, raw):
    settings_ = make_settings(tmp_path)
    reading = read_message(settings_, raw, Envelope("ana@corp.test", (SERVICE,)), NOW)
    json.dumps(reading.packet.fields, default=str)  # what `handoff parse` prints
    assert reading.verdict.kind in ("human", "autoreply", "bounce", "list", "loop")


def test_missing_date_from_and_message_id_are_problems_not_errors():
    message = parse_message(b"Subject: hello\r\n\r\nbody\r\n")
    assert {"no usable From address", "no Message-ID", "no Date"} <= set(message.problems)


def test_an_unreadable_date_is_a_problem():
    message = parse_message(b"From: a@corp.test\r\nDate: the day after tomorrow\r\n\r\nx")
    assert any(p.startswith("unreadable Date") for p in message.problems)


HOSTILE = {
    "a line of spaces after On": "On " + " " * 20000 + "x",
    "a long almost-quote header": "On " + "x, " * 5000 + "wrote",
    "a long German one": "Am " + "1 " * 5000 + "schrieb " + "x " * 5000,
    "thousands of header-like lines": "Von: a@b.c\n" * 5000,
    "deadline words": "by next " * 5000,
}


def test_hostile_long_lines_are_read_and_the_worker_moves_on(tmp_path):
    """These once sent a regex (or the reply parser) into seconds-to-minutes of
    backtracking: a worker stuck on one mail stops every handoff behind it.  (No clock
    here; a regression hangs the suite.  The speed is `make bench`'s.)"""
    settings_ = make_settings(tmp_path)
    for name, body in HOSTILE.items():
        raw = f"From: a@corp.test\r\nSubject: x\r\n\r\n{body}".encode()
        reading = read_message(settings_, raw, Envelope("a@corp.test", (SERVICE,)), NOW)
        assert reading.verdict.kind == "human", name

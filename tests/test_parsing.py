"""Reading raw mail best-effort, as a person would read it, and never an exception.

The messages are written here byte by byte with the quirks of real clients (the same
quirks as files of ``../shared/corpus``, which the corpus sweep of issue 3 reads)."""

from __future__ import annotations

from handoff.parsing import parse_message


def raw(*lines: bytes) -> bytes:
    return b"\r\n".join(lines)


def test_a_raw_latin1_subject_and_display_name_read_as_text():
    """Outlook 2000 wrote raw ISO-8859-1 bytes into headers; they are not UTF-8."""
    m = parse_message(raw(
        b"From: Doug <doug@example.com>",
        b'To: "J\xfcrgen Schm\xfcrgen" <schmuergen@example.com>',
        b"Subject: Die Hasen und die Fr\xf6sche",
        b"", b"body"))
    assert m.subject == "Die Hasen und die Frösche"
    assert m.to == (("Jürgen Schmürgen", "schmuergen@example.com"),)


def test_raw_utf8_headers_read_as_utf8_even_when_cut_mid_character():
    m = parse_message(raw(
        "From: Сергей <s@example.com>".encode(),
        "Subject: Картинка с очень".encode() + "ч".encode()[:1],
        b"", b"body"))
    assert m.from_name == "Сергей"
    assert m.subject.startswith("Картинка с очень")


def test_a_raw_8bit_byte_inside_an_encoded_word_is_read_in_the_words_charset():
    m = parse_message(raw(
        b"From: a@example.com",
        b"To: Heinz =?iso-8859-1?Q?M\xfcller?= <mueller@example.com>",
        b"Subject: =?iso-8859-1?Q?Die_Hasen_und_die_Fr\xf6sche?=",
        b"", b"body"))
    assert m.subject == "Die Hasen und die Frösche"
    assert m.to == (("Heinz Müller", "mueller@example.com"),)


def test_encoded_words_are_decoded_and_no_space_is_invented_after_them():
    m = parse_message(raw(
        b"From: =?UTF-8?B?w4FuYQ==?= <ana@example.com>",
        b"Subject: =?UTF-8?B?0JLQsNGI0LUg0YHQvtC+0LHRidC10L3QuNC1?=. Mail failure.",
        b"", b"body"))
    assert m.from_name == "Ána"
    assert m.subject == "Ваше сообщение. Mail failure."


def test_a_comma_inside_an_encoded_display_name_splits_no_address():
    m = parse_message(raw(
        b"From: a@example.com",
        b"To: =?utf-8?q?Doe=2C_John?= <john@example.com>, bob@example.com",
        b"", b"body"))
    assert m.to == (("Doe, John", "john@example.com"), ("", "bob@example.com"))


def test_a_boundary_folded_over_two_lines_still_splits_the_parts():
    """RFC 5322 unfolding keeps the space, and the body's delimiter lines have it too."""
    m = parse_message(raw(
        b"From: a@example.com",
        b"Content-Type: multipart/mixed;",
        b'    boundary="----=_NextPart',
        b' _000_0002"',
        b"", b"preamble",
        b"------=_NextPart _000_0002",
        b"Content-Type: text/plain", b"", b"The Hare and the Tortoise",
        b"------=_NextPart _000_0002",
        b"Content-Type: image/png; name=ball.png",
        b"Content-Disposition: attachment; filename=ball.png",
        b"Content-Transfer-Encoding: base64", b"", b"iVBORw0KGgo=",
        b"------=_NextPart _000_0002--", b""))
    assert m.text.strip() == "The Hare and the Tortoise"
    assert [(a.filename, a.size) for a in m.attachments] == [("ball.png", 8)]


def test_junk_after_a_charset_name_is_ignored():
    m = parse_message(raw(
        b"From: a@example.com",
        b'Content-Type: text/plain; charset="UTF-8"\\r\\n',
        b"", "Grüße".encode()))
    assert m.text == "Grüße" and m.problems == ("no Message-ID", "no Date")


def test_an_unknown_charset_is_a_problem_and_the_text_is_kept():
    m = parse_message(raw(
        b"From: a@example.com",
        b"Content-Type: text/plain; charset=invalid-charset",
        b"", b"Done when: it works"))
    assert "unknown charset 'invalid-charset' in a text/plain part" in m.problems
    assert m.text == "Done when: it works"


def test_undeclared_8bit_text_is_read_as_utf8():
    m = parse_message(raw(b"From: a@example.com", b"", "Début du message".encode()))
    assert m.text == "Début du message"


def test_bytes_that_are_not_the_declared_charset_are_a_problem_not_an_exception():
    m = parse_message(raw(
        b"From: a@example.com",
        b"Content-Type: text/plain; charset=utf-8",
        b"", b"caf\xe9 au lait"))
    assert m.text == "caf\ufffd au lait"
    assert "undecodable bytes in a text/plain part (utf-8)" in m.problems


def test_a_comment_style_from_address_gives_the_name():
    m = parse_message(raw(b"From: jdoe@example.com (John X. Doe)", b"", b"hi"))
    assert (m.from_name, m.from_addr) == ("John X. Doe", "jdoe@example.com")


def test_latin1_header_bytes_and_undecodable_words_are_listed_as_problems():
    m = parse_message(raw(
        b"From: =?x-unknown?q?caf=E9?= <a@example.com>",
        b"Subject: Die Fr\xf6sche",
        b"", b"body"))
    assert m.subject == "Die Frösche" and m.from_addr == "a@example.com"
    assert "raw 8-bit bytes in the Subject header, read as Windows-1252" in m.problems
    assert any(p.startswith("undecodable encoded word in the From header") for p in m.problems)


def test_a_multipart_without_its_closing_boundary_is_read_and_marked():
    m = parse_message(raw(
        b"From: a@example.com",
        b'Content-Type: multipart/mixed; boundary="b"',
        b"", b"--b", b"Content-Type: text/plain", b"", b"Done when: it works", b""))
    assert "Done when: it works" in m.text
    assert "MIME defect: CloseBoundaryNotFoundDefect" in m.problems

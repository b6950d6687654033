"""Forwarded mail: who wrote the original, when, and what (SPEC 2, 3: the client whose
request is handed on is context, never the owner).

Two shapes: a ``message/rfc822`` attachment (read by ``parsing``), and an inline block
that Gmail, Outlook and Apple Mail write into the body.  Inline blocks are read with
``quotequail``; its header names are English, so a block whose labels it does not know
(``Von:``, ``De :``, ``Datum:``...) is read here from a small table of the labels those
clients write in English, German, French and Spanish.
"""

from __future__ import annotations

import re
import textwrap
from dataclasses import dataclass

import quotequail

from handoff.addresses import split_addresses


@dataclass(frozen=True)
class Forwarded:
    from_name: str
    from_addr: str
    date: str  # as the block or header wrote it
    subject: str
    text: str

    def as_packet_value(self) -> dict[str, str]:
        return {"from": self.from_addr, "name": self.from_name, "date": self.date,
                "subject": self.subject, "text": self.text[:5000]}


# Labels of forwarded headers as mail clients write them (Gmail, Outlook, Apple Mail,
# Thunderbird) in English, German, French, Spanish and the other languages they ship.
_FIELD_LABELS: dict[str, tuple[str, ...]] = {
    "from": ("from", "von", "de", "fra", "från", "van", "da", "od", "mittente", "afzender",
             "lähettäjä", "feladó", "kimden", "от", "від", "від кого", "šalje", "de la",
             "expeditorul", "remitente", "enviado por", "odesílatel", "nadawca", "avsändare",
             "frá", "saatja", "lähettäjä", "от кого", "expéditeur"),
    "date": ("date", "sent", "datum", "gesendet", "envoyé", "envoye", "fecha", "enviado",
             "enviada", "data", "dato", "sendt", "skickat", "päivämäärä", "päiväys", "dátum",
             "tarih", "дата", "datë", "dată", "odesláno", "wysłano", "verzonden",
             "lähetetty", "elküldve", "gönderildi", "отправлено", "надіслано", "poslano",
             "odoslané", "trimis", "inviato"),
    "subject": ("subject", "betreff", "objet", "sujet", "asunto", "assunto", "oggetto",
                "onderwerp", "emne", "ämne", "aihe", "tárgy", "konu", "тема", "predmet",
                "předmět", "temat", "subiect", "subiectul", "otsikko"),
    "to": ("to", "an", "à", "a", "para", "cc", "kopie", "copie", "aan", "til", "till",
           "vastaanottaja", "címzett", "kime", "кому", "komu", "do", "către", "destinatario",
           "kopio", "másolat", "bilgi", "копия", "kópia", "kopia"),
}
_LABEL = {label: name for name, labels in _FIELD_LABELS.items() for label in labels}
_HEADER_LINE = re.compile(
    r"^\s*(?:>\s?)*\*?(?P<label>[^\W\d_][^:：]{0,20}?)\*?\s*[:：]\s*(?P<value>.*)$")
# "On <date>, <person> wrote:" above a quote, as clients write it in EN, DE, FR, ES
# "On <date>, <who> wrote:" above a quote, as clients write it in EN, DE, FR, ES (German
# puts the verb first: "Am <date> schrieb <who>:").  Read by plain string steps, not one
# regex: a pattern with optional parts around free text backtracks for seconds on a
# long line of spaces, and mail is hostile.
_WROTE_VERBS = ("wrote", "schrieb", "a écrit", "escribió")
_WROTE_OPENERS = ("on ", "am ", "le ", "el ")
_ADDRESS = re.compile(r"[^\s<>()\"«»:,;]+@[^\s<>()\"«»:,;]+")
_SEPARATOR = re.compile(r"forward|original message|ursprüngliche|weitergeleit|transféré|"
                        r"réexpédié|d'origine|reenviado|mensaje original", re.I)
_LOOK_AT = 20_000  # characters: a forward header sits near the top; the packet keeps 5000
_QUOTE_PREFIX = re.compile(r"^\s*>\s?")
# Something a forward or quote header has: a "Label: ... @" line or a "wrote:" line
_HINT = re.compile(r"^[\s>*]*[^\W\d_][^:：\n]{0,25}[:：][^\n]*@|"
                   r"(?:wrote|schrieb|a écrit|escribió)\s*:?\s*$", re.I | re.M)


def find_inline_forward(text: str) -> Forwarded | None:
    """The first forwarded (or, failing that, quoted) message written into ``text``."""
    if not text or len(text) > 500_000:
        return None
    text = text.replace("\ufeff", "")  # byte-order marks Outlook leaves mid-text
    text = text[:_LOOK_AT]
    if "@" not in text or not _HINT.search(text):  # most mail: no need to look closer
        return None
    # quotequail knows the forward separators; a bare header block or a "wrote:" line
    # (the table below reads those) is not worth its time
    found = _with_quotequail(text) if _SEPARATOR.search(text) else None
    if found is not None and found.from_addr:
        return found
    return _with_label_table(text) or _with_wrote_line(text) or found


def _with_quotequail(text: str) -> Forwarded | None:
    try:
        unwrapped = quotequail.unwrap(text)
    except Exception:  # a third-party parser on hostile input: never let it raise
        return None
    if not unwrapped or unwrapped.get("type") != "forward":
        return None
    name, addr = _person(str(unwrapped.get("from") or ""))
    return Forwarded(name, addr, str(unwrapped.get("date") or ""),
                     str(unwrapped.get("subject") or ""), str(unwrapped.get("text") or ""))


def _with_label_table(text: str) -> Forwarded | None:
    """A block of header lines (From/Von/De..., with a date or subject line), quoted or
    not; the text below it (quote marks removed) is the original."""
    lines = text.splitlines()
    for start in range(len(lines)):
        fields = _header_block(lines, start)
        if fields is None:
            continue
        end = start + int(fields.pop("_lines"))
        body = "\n".join(_QUOTE_PREFIX.sub("", ln) for ln in lines[end:]).strip()
        name, addr = _person(fields.get("from", ""))
        return Forwarded(name, addr, fields.get("date", ""), fields.get("subject", ""), body)
    return None


def _header_block(lines: list[str], start: int) -> dict[str, str] | None:
    fields: dict[str, str] = {}
    n = 0
    for line in lines[start:start + 8]:
        m = _HEADER_LINE.match(line)
        if not m:
            break
        name = _LABEL.get(m["label"].strip().lower())
        if name is None:
            break
        fields.setdefault(name, m["value"].strip())
        n += 1
    if "from" not in fields or not ({"date", "subject"} & fields.keys()):
        return None
    if not _person(fields["from"])[1]:
        return None
    fields["_lines"] = str(n)
    return fields


def _with_wrote_line(text: str) -> Forwarded | None:
    lines = text.splitlines()
    for i, line in enumerate(lines):
        for candidate, skip in ((line, 1), (f"{line} {lines[i + 1]}" if i + 1 < len(lines)
                                            else None, 2)):
            found = _read_wrote_line(candidate) if candidate else None
            if found is not None:
                date, name, addr = found
                body = "\n".join(_QUOTE_PREFIX.sub("", ln) for ln in lines[i + skip:])
                return Forwarded(name, addr, date, "", textwrap.dedent(body).strip())
    return None


def _read_wrote_line(line: str) -> tuple[str, str, str] | None:
    """(date, name, address) of an "On <date>, <name> <address> wrote:" line."""
    s = _QUOTE_PREFIX.sub("", line).strip()
    low = s.lower()
    if len(s) > 300 or not low.endswith(":") or not low.startswith(_WROTE_OPENERS):
        return None
    verb = next((v for v in _WROTE_VERBS if v in low), None)
    addresses = list(_ADDRESS.finditer(s))
    if verb is None or not addresses:
        return None
    address = addresses[-1]
    head = s[3:address.start()]  # after "On "; the date, the verb (German), the name
    at = head.lower().find(verb)
    if at >= 0:  # "Am <date> schrieb <name>"
        date, name = head[:at], head[at + len(verb):]
    else:  # "On <date>, <name>"
        date, _, name = head.rpartition(",")
    name = name.strip(' <("«»')
    name = name.strip().strip('"').strip()
    return date.strip().rstrip(","), name, address.group(0).lower()


def _person(value: str) -> tuple[str, str]:
    found = split_addresses([value.replace("mailto:", "").replace("«", '"').replace("»", '"')])
    if found:
        return found[0]
    bracketed = re.search(r"\[mailto:([^\]\s]+)\]", value) or re.search(r"<([^>\s]+@[^>\s]+)>", value)
    if bracketed:
        return value.split("[")[0].split("<")[0].strip().strip('"'), bracketed.group(1).lower()
    return value.strip(), ""

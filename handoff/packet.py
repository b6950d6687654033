"""ParsedMessage -> Packet: the labeled fields of SPEC 2 and the owner rule of SPEC 3.

The label table is data; the reader walks the body once, line by line.  A value runs
from its label over the following lines until a blank line or the next label.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache
from datetime import datetime, timezone
from typing import Any

from mailparser_reply import EmailReplyParser

from handoff.addresses import ServiceAddresses, normalise_address, split_addresses
from handoff.deadlines import find_deadline_phrase, resolve_deadline, sender_timezone
from handoff.forwards import find_inline_forward
from handoff.links import gather_links
from handoff.parsing import ParsedMessage

# field -> labels (case-insensitive, at the start of a line, then ":" or " -"), in
# English (SPEC 2), German, French and Spanish.  The longest label wins at a line.
LABELS: dict[str, tuple[str, ...]] = {
    "request": ("request", "task", "aufgabe", "anfrage", "auftrag", "tâche", "demande",
                "tarea", "solicitud", "petición"),
    "why": ("why", "because", "context", "background", "warum", "weil", "kontext",
            "hintergrund", "pourquoi", "parce que", "contexte", "por qué", "porque",
            "contexto", "antecedentes"),
    "done": ("done when", "definition of done", "done means", "dod", "done",
             "fertig wenn", "erledigt wenn", "fertig", "erledigt", "fini quand",
             "terminé quand", "terminé si", "hecho cuando", "terminado cuando",
             "listo cuando"),
    "deadline": ("deadline", "due", "by", "when", "frist", "fällig", "fällig am", "bis",
                 "termin", "échéance", "date limite", "pour le", "fecha límite", "plazo",
                 "vencimiento"),
    "links": ("links", "assets", "anhänge", "liens", "pièces jointes", "enlaces",
              "adjuntos"),
    "decisions": ("already decided", "decisions", "decided", "bereits entschieden",
                  "entschieden", "entscheidungen", "déjà décidé", "décidé", "décisions",
                  "ya decidido", "decidido", "decisiones"),
    "owner": ("owner", "assignee", "for", "verantwortlich", "zuständig", "responsable",
              "propriétaire", "encargado", "dueño"),
    "priority": ("priority", "severity", "urgency", "priorität", "dringlichkeit",
                 "priorité", "urgence", "prioridad", "urgencia"),
    "contingency": ("if not", "watch out", "risk", "if", "falls nicht", "wenn nicht",
                    "risiko", "achtung", "sinon", "risque", "attention", "si no", "riesgo",
                    "cuidado"),
}
# priority words of other languages -> SPEC 2's four
_PRIORITY_WORDS = {"niedrig": "low", "hoch": "high", "dringend": "urgent", "basse": "low",
                   "bas": "low", "normale": "normal", "haute": "high", "élevée": "high",
                   "urgente": "urgent", "baja": "low", "alta": "high", "media": "normal",
                   "mittel": "normal", "moyenne": "normal"}
FIELDS = ("request", "details", "why", "done", "deadline", "links", "decisions", "owner",
          "priority", "contingency", "forwarded")
REQUIRED_DEFAULT = ("request", "owner")
RECOMMENDED_DEFAULT = ("done", "deadline")
PRIORITIES = ("low", "normal", "high", "urgent")
_ONE_LINE = frozenset({"owner", "priority", "deadline"})

_LABEL_TO_FIELD = {label: name for name, labels in LABELS.items() for label in labels}
_LABEL_RE = re.compile(
    r"^\s*(?:[-*•]\s+)?(?P<label>"
    + "|".join(sorted((re.escape(lbl) for lbl in _LABEL_TO_FIELD), key=len, reverse=True))
    + r")\s*(?::|\s[-–—])\s*(?P<value>.*)$",
    re.I,
)
_SUBJECT_PREFIX = re.compile(
    r"^\s*((re|fwd?|aw|wg|tr|rv|sv|vs|antw)\s*(\[\d+\])?\s*:\s*|\[H-\d+\]\s*)+", re.I
)
_TAG = re.compile(r"\s*\[H-\d+\]\s*")
# Where quoted or forwarded text starts, in EN, DE, FR and ES, when the reply parser
# left it in (it misses some forms): "On ... wrote:", "Am ... schrieb ...:", "Le ... a
# écrit :", "El ... escribió:", Outlook's "From:/Von:/De :" block and separator lines.
_QUOTE_HEADER = re.compile(
    r"^(?:(?:on|am|le|el)\s.{4,200}(?:wrote|schrieb|a écrit|escribió)\b.{0,120}:"
    r"|(?:from|von|de|da)\s?:\s.+"
    r"|-{2,}\s?(?:original message|ursprüngliche nachricht|message d'origine|"
    r"mensaje original)\s?-{2,}"
    r"|-{3,}\s?(?:forwarded message|weitergeleitete nachricht|message transféré|"
    r"mensaje reenviado)\s?-{3,}"
    r"|(?:begin forwarded message|anfang der weitergeleiteten nachricht|"
    r"début du message réexpédié|inicio del mensaje reenviado)\s?:)\s*$",
    re.I,
)
_REPLY_LANGUAGES = ["en", "de", "fr", "es"]
_LONGEST_LINE = 1000  # characters
_LOOK_AT = 50_000  # characters given to the reply parser


@dataclass
class Packet:
    fields: dict[str, dict[str, Any]] = field(default_factory=dict)
    owner: tuple[str, str] | None = None  # (display name, normalised address)
    owner_candidates: tuple[str, ...] = ()
    problems: list[str] = field(default_factory=list)
    deadline_at: datetime | None = None

    def value(self, name: str) -> Any:
        entry = self.fields.get(name)
        return entry["value"] if entry else None

    def missing(self, names: tuple[str, ...]) -> list[str]:
        return [n for n in names if not self.fields.get(n)]


def clean_subject(subject: str) -> str:
    """Title from a subject: no ``Re:``/``Fwd:``/``AW:`` stacks, no ``[H-n]`` tags."""
    title = _SUBJECT_PREFIX.sub("", subject or "")
    title = _TAG.sub(" ", title)
    return " ".join(title.split())


@lru_cache(maxsize=1)
def _reply_parser() -> EmailReplyParser:
    return EmailReplyParser(languages=_REPLY_LANGUAGES)


def strip_quoted(text: str) -> str:
    """The new part of a reply: no quoted reply (Outlook, Gmail, Apple Mail forms, in
    English, German, French and Spanish) and no signature.  mail-parser-reply does the
    reading; the line rules below catch the forms it misses."""
    text = text.replace("\r\n", "\n").replace("\ufeff", "")
    # mail-parser-reply's patterns take seconds on very long lines (hostile or machine
    # written): such text gets the line rules below only
    if max(map(len, text.split("\n", 2000)), default=0) <= _LONGEST_LINE:
        try:
            replies = _reply_parser().read(text=text[:_LOOK_AT]).replies
            if replies and replies[0].body.strip():
                text = replies[0].body
        except Exception:  # a third-party parser on hostile text: fall back to the rules
            pass
    kept: list[str] = []
    for line in text.split("\n"):
        if line.rstrip() in ("--", "-- ") or _QUOTE_HEADER.match(line.strip()):
            break
        if line.lstrip().startswith(">"):
            continue
        kept.append(line)
    return "\n".join(kept).strip()


def read_labels(text: str) -> tuple[dict[str, str], str]:
    """Labeled values (first match wins) and the body text no label claimed."""
    values: dict[str, list[str]] = {}
    details: list[str] = []
    current: list[str] | None = None
    for line in text.split("\n"):
        m = _LABEL_RE.match(line)
        if m:
            name = _LABEL_TO_FIELD[m["label"].lower()]
            if name in values:  # a later repeat of a label is ordinary text
                current = None
                details.append(line)
                continue
            values[name] = [m["value"].strip()]
            # an address, a word, a date: these never run on over the next lines
            current = None if name in _ONE_LINE else values[name]
            continue
        if not line.strip():
            current = None
            details.append(line)
        elif current is not None:
            current.append(line.strip())
        else:
            details.append(line)
    joined = {k: " ".join(v for v in parts if v).strip() for k, parts in values.items()}
    return {k: v for k, v in joined.items() if v}, "\n".join(details).strip()


def build_packet(
    message: ParsedMessage,
    service: ServiceAddresses,
    *,
    timezone_name: str,
    received_at: datetime,
) -> Packet:
    packet = Packet(problems=list(message.problems))
    body = strip_quoted(message.text)
    labeled, details = read_labels(body)

    def put(name: str, value: Any, source: str = "stated", **more: Any) -> None:
        packet.fields[name] = {"value": value, "source": source, **more}

    title = labeled.get("request") or clean_subject(message.subject)
    if title:
        put("request", title[:500])
    if details:
        put("details", details)
    for name in ("why", "done", "decisions", "contingency"):
        if labeled.get(name):
            put(name, labeled[name])

    links = gather_links(message.text, labeled.get("links"),
                         [a.filename for a in message.attachments])
    if any(links.values()):
        put("links", links)

    priority = (labeled.get("priority") or "").split()[0:1]
    if priority:
        word = priority[0].lower().strip(".,;!")
        word = _PRIORITY_WORDS.get(word, word)
        if word in PRIORITIES:
            put("priority", word)
        else:
            packet.problems.append(f"priority {labeled['priority']!r} is not one of {PRIORITIES}")
    if "priority" not in packet.fields:
        put("priority", "normal", "inferred", by="default")

    phrase, source = labeled.get("deadline"), "stated"
    if not phrase:  # "by Friday", "before Dec 3", "EOD tomorrow" in a sentence
        phrase, source = find_deadline_phrase(details), "inferred"
    if phrase:
        reference = message.date or received_at
        deadline = resolve_deadline(phrase, reference,
                                    sender_timezone(message.date, timezone_name))
        if deadline.at is not None:
            put("deadline", deadline.at.astimezone(timezone.utc).isoformat(), source,
                phrase=deadline.phrase)
            packet.deadline_at = deadline.at
        if deadline.problem:
            packet.problems.append(deadline.problem)

    # A forward (attached, or written into the body) keeps who asked originally, when and
    # what they wrote: context for the owner, never the owner (SPEC 3).
    forwarded = message.forwarded[0] if message.forwarded else \
        find_inline_forward(message.text)
    if forwarded is not None and (forwarded.from_addr or forwarded.text):
        put("forwarded", forwarded.as_packet_value())

    _decide_owner(packet, message, service, labeled.get("owner"))
    return packet


def _decide_owner(
    packet: Packet, message: ParsedMessage, service: ServiceAddresses, owner_line: str | None
) -> None:
    """SPEC 3: the Owner line, else the single To recipient who is neither sender nor us."""
    sender = message.from_addr
    if owner_line:
        named = split_addresses([owner_line])
        if named:
            packet.owner = named[0]
        else:
            by_name = [
                (n, a) for n, a in message.to + message.cc
                if n and n.lower() == owner_line.lower() and not service.is_service(a)
            ]
            if len(by_name) == 1:
                packet.owner = by_name[0]
            else:
                packet.problems.append(f"Owner line {owner_line!r} names no address")
    if packet.owner is None:
        candidates = [
            (n, a) for n, a in message.to if a != sender and not service.is_service(a)
        ]
        unique = list(dict((a, (n, a)) for n, a in candidates).values())
        packet.owner_candidates = tuple(a for _n, a in unique)
        if len(unique) == 1 and not owner_line:
            packet.owner = unique[0]
    if packet.owner is not None:
        name, addr = packet.owner
        packet.owner = (name, normalise_address(addr))
        packet.fields["owner"] = {
            "value": addr,
            "source": "stated",
            "by": "owner line" if owner_line else "to",
            **({"name": name} if name else {}),
        }

"""Amounts of money as people write them, for the decision rules (SPEC 6): "€12,500",
"12.500 EUR", "$15k", "15 000 €", "CHF 12'500", "1,5 Mio. EUR", "Budget: 15 000".

A number is an amount only with a currency mark beside it (a sign, an ISO code, "euro",
"dollars") or right after a money word ("budget", "price", "Kosten" ...): order numbers,
years, ticket ids and "15 000 rows" are not money.  There are no exchange rates: an
amount keeps the currency it was written in (``None`` when only a money word said it
was money).

Separators: a space, a thin space or an apostrophe groups thousands; with both "." and
"," the last one is the decimal mark; a single "." or "," followed by exactly three
digits groups thousands ("12.500" is twelve thousand five hundred, as in German),
otherwise it is the decimal mark ("12.5k").
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

# currency mark (as written, lower case) -> ISO 4217 code
CURRENCY_MARKS: dict[str, str] = {
    "€": "EUR", "eur": "EUR", "euro": "EUR", "euros": "EUR",
    "$": "USD", "us$": "USD", "usd": "USD", "dollar": "USD", "dollars": "USD",
    "£": "GBP", "gbp": "GBP",
    "chf": "CHF", "fr.": "CHF",
    "¥": "JPY", "jpy": "JPY",
    "cad": "CAD", "c$": "CAD", "aud": "AUD", "a$": "AUD",
    "sek": "SEK", "nok": "NOK", "dkk": "DKK", "pln": "PLN", "zł": "PLN", "czk": "CZK",
    "₹": "INR", "inr": "INR", "cny": "CNY",
}
CURRENCIES = frozenset(CURRENCY_MARKS.values())
# words after the number -> its multiplier ("15k", "1,5 Mio.", "2 million")
MULTIPLIERS: dict[str, int] = {
    "k": 1_000, "thousand": 1_000, "tsd": 1_000, "tsd.": 1_000,
    "m": 1_000_000, "mn": 1_000_000, "mio": 1_000_000,  # not "mm": "300 mm" is a length
    "mio.": 1_000_000, "million": 1_000_000, "millions": 1_000_000,
    "bn": 1_000_000_000, "billion": 1_000_000_000, "mrd": 1_000_000_000,
    "mrd.": 1_000_000_000,
}
# words that make the number after them money, in the languages packets are read in
# (not "total" or "value": "a total of 20000 rows" is not money; not "invoice" or
# "quote": "Invoice 48213" is a number)
MONEY_WORDS = ("budget", "price", "pricing", "cost", "costs", "fee", "fees", "amount",
               "discount", "deal size", "preis", "betrag", "kosten", "rabatt", "montant",
               "prix", "coût", "remise", "importe", "precio", "coste", "descuento")
# what may stand between a money word and its number: "Budget: 15 000", "a price of
# about 12k", "Kosten von ca. 12.000"
_GAP = (r"[\s:=\-–—]*(?:(?:of|is|was|about|approx\.?|around|ca\.?|circa|von|etwa|rund|de|"
        r"du|d'environ|environ)\s+)*")

_SIGNS = sorted((m for m in CURRENCY_MARKS if not m.isalpha()), key=len, reverse=True)
_CODES = sorted((m for m in CURRENCY_MARKS if m.isalpha()), key=len, reverse=True)
# a code stands apart from letters, not from digits: "15000USD" is money
_CUR = ("(?:" + "|".join(map(re.escape, _SIGNS)) + r"|(?<![^\W\d_])(?:"
        + "|".join(map(re.escape, _CODES)) + r")(?![^\W\d_]))")
# a whole number (never a part of one: "2,5%" is not 2), and the "12.500,-" of German
# prices
_NUM = (r"(?<![\d.,])(?:\d{1,3}(?:[ \u00a0\u202f'’]\d{3})+(?:[.,]\d{1,2})?|\d+(?:[.,]\d+)*)"
        r"(?![.,]?\d)(?:[.,]-)?")
_MULT = (r"(?:\s?(?:" + "|".join(map(re.escape, sorted(MULTIPLIERS, key=len, reverse=True)))
         + r")(?![\w]))?")
_AMOUNT = re.compile(
    rf"(?P<pre>{_CUR})\s?(?P<n1>{_NUM})(?P<m1>{_MULT})"
    rf"|(?P<n2>{_NUM})(?P<m2>{_MULT})\s?(?P<post>{_CUR})"
    rf"|\b(?:{'|'.join(map(re.escape, MONEY_WORDS))})\b{_GAP}(?P<n3>{_NUM})"
    rf"(?P<m3>{_MULT})(?:\s?(?P<post3>{_CUR}))?(?!\s?%)",
    re.I,
)


_YEAR = re.compile(r"(?:19|20)\d\d")


@dataclass(frozen=True)
class Amount:
    value: Decimal
    currency: str | None  # ISO 4217; None when only a money word marked it
    words: str  # as written

    def __str__(self) -> str:
        return self.words


def read_number(text: str) -> Decimal | None:
    """``"12,500.50"`` -> 12500.50, ``"12.500"`` -> 12500, ``"15 000"`` -> 15000."""
    digits = re.sub(r"[ \u00a0\u202f'’]", "", text)
    marks = [c for c in digits if c in ".,"]
    if len(set(marks)) == 2:
        decimal = digits[max(digits.rfind("."), digits.rfind(","))]
        thousands = "," if decimal == "." else "."
        digits = digits.replace(thousands, "").replace(decimal, ".")
    elif len(marks) > 1:  # "1,234,567": only thousands
        digits = digits.replace(marks[0], "")
    elif marks:
        whole, _, part = digits.partition(marks[0])
        digits = whole + part if len(part) == 3 else f"{whole}.{part}"
    try:
        return Decimal(digits)
    except InvalidOperation:
        return None


def find_amounts(text: str) -> list[Amount]:
    """Every amount of money in ``text``, in order."""
    found = []
    for m in _AMOUNT.finditer(text[:20_000]):
        number = m["n1"] or m["n2"] or m["n3"]
        mark = (m["pre"] or m["post"] or m["post3"] or "").lower()
        mult = (m["m1"] or m["m2"] or m["m3"] or "").strip().lower()
        if m["n3"] and not mark and not mult and _YEAR.fullmatch(number):
            continue  # "Budget 2027", "Pricing 2027 for Northwind": a year, not money
        value = read_number(number.rstrip("-").rstrip(".,"))
        if value is None:
            continue
        if mult:
            value *= MULTIPLIERS[mult]
        words = m[0][m.start("n3") - m.start():] if m["n3"] else m[0]  # not the money word
        found.append(Amount(value, CURRENCY_MARKS.get(mark), " ".join(words.split())))
    return found

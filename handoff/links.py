"""The packet's links (SPEC 2): every URL of the mail and what a ``Links:``/``Assets:``
line names, each once.

A link is often written twice: in a sentence and again on the Links line, with and
without a trailing slash, or as Outlook's text part writes one, ``text<url>``.  The
line is what the sender stated, so its items win: an item with words ("TLS runbook
<url>", "the on-call rota") is kept as written, and the URL it names is not listed
again; an item that is only a URL is listed with the other URLs, in the order the mail
first shows them.  A sentence's punctuation after a URL ("see https://x/tls.") is not
part of it.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

URL = re.compile(r"https?://[^\s<>\"')\]]+", re.I)
_AFTER_URL = ".,;:!?*"  # what a sentence puts right after a URL
_ITEM_SEPARATOR = re.compile(r"[,;]\s+")
_OUTLOOK_TWICE = re.compile(r"(https?://[^\s<>]+?)<\1>", re.I)  # "url<url>": one URL
_OUTLOOK_NAMED = re.compile(r"(?<=\S)<(https?://)", re.I)  # "text<url>" -> "text <url>"
_WORD = re.compile(r"\w")


def clean_url(url: str) -> str:
    return url.rstrip(_AFTER_URL)


def link_key(url: str) -> str:
    """What makes two spellings one link: scheme and host in any case, with or without
    the path's last slash."""
    try:
        parts = urlsplit(url)
    except ValueError:  # "http://[oops": compare it as written
        return url
    key = f"{parts.scheme.lower()}://{parts.netloc.lower()}{parts.path.rstrip('/')}"
    return key + (f"?{parts.query}" if parts.query else "") + \
        (f"#{parts.fragment}" if parts.fragment else "")


def gather_links(text: str, line: str | None,
                 attachments: list[str]) -> dict[str, list[str]]:
    """``urls``: the mail's URLs, first seen first, except those a line item names with
    words; ``assets``: the line's items with words; ``attachments``: the file names."""
    assets: list[str] = []
    named: set[str] = set()
    for item in _items(line or ""):
        urls = [clean_url(u) for u in URL.findall(item)]
        if not _WORD.search(URL.sub(" ", item)):
            continue  # only URLs: they are listed with the others
        if item.casefold() in {a.casefold() for a in [*assets, *attachments]}:
            continue  # "Assets: chain.pem" with chain.pem attached
        assets.append(item)
        named.update(link_key(u) for u in urls)
    seen = set(named)
    listed = []
    for url in map(clean_url, URL.findall(text)):
        key = link_key(url)
        if key not in seen and url.partition("://")[2]:
            seen.add(key)
            listed.append(url)
    return {"urls": listed, "assets": assets, "attachments": attachments}


def _items(line: str) -> list[str]:
    line = _OUTLOOK_NAMED.sub(r" <\1", _OUTLOOK_TWICE.sub(r"\1", line))
    items = (item.strip().rstrip(".;,").strip() for item in _ITEM_SEPARATOR.split(line))
    return [item for item in items if item]

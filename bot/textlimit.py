"""Byte limits of WeChat text (≤ 2048 bytes; we keep 2000): cut on a character boundary and
never inside a URL, so a link in an answer is either whole or absent."""
from __future__ import annotations

import re

REPLY_LIMIT_BYTES = 2000
URL = re.compile(r"https?://[^\s，。；、）》」】]+")
ELLIPSIS = "…"


def utf8_len(text: str) -> int:
    return len(text.encode("utf-8"))


def cut_to_bytes(text: str, limit: int, ellipsis: str = ELLIPSIS) -> str:
    """`text` if it fits, else its longest prefix (plus `ellipsis`) within `limit` bytes,
    ending on a character boundary and outside any URL."""
    if utf8_len(text) <= limit:
        return text
    room = limit - utf8_len(ellipsis)
    if room <= 0:
        return ""
    prefix = text.encode("utf-8")[:room].decode("utf-8", "ignore")
    prefix = _outside_urls(text, prefix)
    return prefix.rstrip() + ellipsis


def _outside_urls(text: str, prefix: str) -> str:
    """Move the cut back before any URL that the cut would split."""
    cut = len(prefix)
    for match in URL.finditer(text):
        if match.start() < cut < match.end():
            return text[:match.start()]
    return prefix

"""Titles: one clean form to store, and one way to quote them with 书名号.

A title is stored without outer 书名号 and without the spaces and line breaks a PDF or a
Word line wrap leaves in it. Quoting follows GB/T 15834-2011 (标点符号用法): a title inside
a quoted title takes the single 书名号, so an interpretation titled 《某办法》政策解读 is
quoted 《〈某办法〉政策解读》, never 《《某办法》政策解读》.

Pure: no I/O.
"""
from __future__ import annotations

import re

_CJK = r"[\u3000-\u303f\u4e00-\u9fff\uff00-\uffef]"
_SPACES_BETWEEN_CJK = re.compile(rf"(?<={_CJK})\s+(?={_CJK})")


def normalise_title(title: str | None) -> str | None:
    """`《《某办法》政策解读》` → `《某办法》政策解读`; `《某办法》` → `某办法`; spaces and
    line breaks between Chinese characters removed; trailing 。 dropped."""
    if title is None:
        return None
    text = _SPACES_BETWEEN_CJK.sub("", " ".join(title.split())).strip().rstrip("。．.")
    while text.startswith("《") and text.endswith("》") and _outer_pair(text):
        text = text[1:-1].strip()
    text = re.sub(r"《+", "《", text)
    text = re.sub(r"》+", "》", text)
    text = text.replace("〈", "《").replace("〉", "》") if "《" not in text else text
    return text or None


def book_title(title: str | None) -> str:
    """The title between 书名号, inner 书名号 made single: 《〈某办法〉政策解读》."""
    inner = (normalise_title(title) or "").replace("《", "〈").replace("》", "〉")
    return f"《{inner}》"


def _outer_pair(text: str) -> bool:
    """Whether the first 《 closes at the very last 》 (`《甲》` yes, `《甲》和《乙》` no)."""
    depth = 0
    for index, char in enumerate(text):
        depth += (char == "《") - (char == "》")
        if depth == 0:
            return index == len(text) - 1
    return False

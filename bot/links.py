"""Links from a reply to the public H5 pages, and the anchors those pages carry, in one
place so the two cannot drift apart."""
from __future__ import annotations

import re
import secrets
from typing import TypeGuard
from urllib.parse import quote, urlencode

ANSWER_REF_PARAM = "r"  # the query parameter naming the answer a page was opened from
ANSWER_REF_BYTES = 9  # 72 random bits: unguessable, and only 12 characters in the reply
ANSWER_REF_RE = re.compile(r"[A-Za-z0-9_-]{12}")


def new_answer_ref() -> str:
    """An unguessable reference to one answer: whoever holds the link may rate that answer."""
    return secrets.token_urlsafe(ANSWER_REF_BYTES)


def is_answer_ref(value: str | None) -> TypeGuard[str]:
    return value is not None and ANSWER_REF_RE.fullmatch(value) is not None


def article_anchor(article: str) -> str:
    return "a-" + article


def offset_anchor(start: int) -> str:
    return f"c{start}"


def interpretation_anchor(doc_id: str) -> str:
    return "jd-" + doc_id


def policy_url(public_url: str, doc_id: str, anchor: str | None = None,
               answer_ref: str | None = None) -> str:
    """`answer_ref` (the answer's reference, `?r=`) lets the page rate that answer."""
    url = f"{public_url.rstrip('/')}/p/{quote(doc_id, safe='')}"
    if answer_ref:
        url += "?" + urlencode({ANSWER_REF_PARAM: answer_ref})
    return url + "#" + quote(anchor, safe="-") if anchor else url


def catalogue_url(public_url: str) -> str:
    return public_url.rstrip("/") + "/catalogue"

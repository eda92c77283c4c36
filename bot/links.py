"""Links from a reply to the public H5 pages, and the anchors those pages carry, in one
place so the two cannot drift apart."""
from __future__ import annotations

from urllib.parse import quote


def article_anchor(article: str) -> str:
    return "a-" + article


def offset_anchor(start: int) -> str:
    return f"c{start}"


def interpretation_anchor(doc_id: str) -> str:
    return "jd-" + doc_id


def policy_url(public_url: str, doc_id: str, anchor: str | None = None) -> str:
    url = f"{public_url.rstrip('/')}/p/{quote(doc_id, safe='')}"
    return url + "#" + quote(anchor, safe="-") if anchor else url


def catalogue_url(public_url: str) -> str:
    return public_url.rstrip("/") + "/catalogue"

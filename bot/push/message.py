"""What a push says: the template fields, subscribe-message fields or text, from the
release's policy and the match reason. Field mappings come from the config."""
from __future__ import annotations

import dataclasses
import datetime as dt
from urllib.parse import quote

from interpretations import listing
from policies import store
from policies.status import Validity
from policies.titles import book_title
from policies.validity import local_today

DEFAULT_TEMPLATE_FIELDS = {"first": "{reason}", "keyword1": "{title}", "keyword2": "{issuing_body}",
                           "keyword3": "{publish_date}", "remark": "点击查看政策原文和官方解读"}
DEFAULT_SUBSCRIBE_FIELDS = {"thing1": "{short_title}", "thing2": "{short_reason}",
                            "time3": "{publish_date}"}
FIELD_LIMIT = 200  # characters of a template field value


@dataclasses.dataclass(frozen=True)
class ReleaseSummary:
    release_id: int
    doc_id: str
    title: str
    doc_number: str
    issuing_body: str
    publish_date: str
    status: str  # policies.status's word on the day the summary was made


def summary_of(conn, release_id: int, today: dt.date | None = None) -> ReleaseSummary | None:
    doc_id = listing.title_document(conn, release_id)  # a supplement: its first interpretation
    doc = store.get_document(conn, doc_id) if doc_id else None
    if doc is None:
        return None
    # an interpretation stands as its policy does (policies.status)
    policy = store.get_document(conn, doc.interprets) if doc.interprets else None
    validity = Validity.of(doc, policy)
    return ReleaseSummary(release_id, doc.id, doc.title, doc.doc_number or "",
                          doc.issuing_body or "", str(doc.publish_date or ""),
                          validity.word(today or local_today()))


def document_url(public_url: str, doc_id: str) -> str:
    """The H5 page of a document (same form as bot/links.py policy_url)."""
    return f"{public_url.rstrip('/')}/p/{quote(doc_id, safe='')}"


def values(summary: ReleaseSummary, reason: str) -> dict:
    return {"title": summary.title, "short_title": _cut(summary.title, 20),
            "doc_number": summary.doc_number, "issuing_body": summary.issuing_body,
            "publish_date": summary.publish_date, "reason": reason, "short_reason": _cut(reason, 20),
            "status": summary.status}


def render_fields(mapping: dict, summary: ReleaseSummary, reason: str) -> dict:
    slots = values(summary, reason)
    return {key: {"value": _cut(str(fmt).format(**slots), FIELD_LIMIT)} for key, fmt in mapping.items()}


def render_text(summary: ReleaseSummary, reason: str, url: str) -> str:
    number = f"（{summary.doc_number}）" if summary.doc_number else ""
    return f"【政策推送】{book_title(summary.title)}{number}\n{summary.status}\n{reason}\n{url}"


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit - 1] + "…"

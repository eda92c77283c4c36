"""How a document's validity is said to a resident (never "current" when it is not)."""
from __future__ import annotations

import datetime as dt

from policies.model import Document

STATUS_WORDS = {"effective": "现行有效", "expired": "已失效", "repealed": "已废止", "amended": "已被修订"}


def is_current(doc: Document, today: dt.date) -> bool:
    return doc.in_force(today)


def status_label(doc: Document, today: dt.date) -> str:
    if doc.status != "effective":
        return STATUS_WORDS.get(doc.status, doc.status)
    if doc.valid_from and doc.valid_from > today:
        return f"尚未施行（{doc.valid_from.isoformat()}起施行）"
    if doc.valid_until and doc.valid_until < today:
        return f"已失效（有效期至{doc.valid_until.isoformat()}）"
    if doc.valid_until:
        return f"现行有效（有效期至{doc.valid_until.isoformat()}）"
    return "现行有效"


def not_current_reason(doc: Document, today: dt.date) -> str:
    """'已失效（有效期至…）', '已废止' …: why it is not in force (for doc not in force)."""
    if doc.status == "effective" and doc.valid_until and doc.valid_until < today:
        return f"已失效（有效期至{doc.valid_until.isoformat()}）"
    return status_label(doc, today)

"""Between the editor's HTML form and a Document: parse what staff typed, clearly refuse what
cannot be a document, and fill the form back from a document."""
from __future__ import annotations

import datetime as dt
import re
import secrets

from policies.model import SECTION_NAMES, Document

LIST_SPLIT = re.compile(r"[,，、;；\n]+")
PLAIN_FIELDS = ("title", "doc_number", "issuing_body", "doc_type", "publish_date", "valid_from",
                "valid_until", "importance", "region", "source_url", "interpretation_form",
                "supersedes")


def new_document_id(kind: str, today: dt.date) -> str:
    prefix = "policy" if kind == "policy" else "interp"
    return f"{prefix}-{today:%Y%m%d}-{secrets.token_hex(3)}"


def document_from_form(form, *, doc_id: str, kind: str, interprets: str | None) -> Document:
    """Raises policies.model.InvalidDocument listing every problem."""
    record = {name: (form.get(name) or "").strip() or None for name in PLAIN_FIELDS}
    record.update(id=doc_id, kind=kind, interprets=interprets if kind == "interpretation" else None,
                  text=_text(form.get("text")), provenance="portal")
    record["topics"] = _list(form.get("topics"))
    record["audience"] = _list(form.get("audience"))
    if kind == "policy":
        record["interpretation_form"] = None
    else:
        record["supersedes"] = None
        record["importance"] = None
    record["sections"] = [{"name": name, "text": _text(form.get(f"section_{name}"))}
                          for name in SECTION_NAMES if _text(form.get(f"section_{name}"))]
    record["faq"] = parse_faq(form.get("faq") or "")
    record["media"] = parse_media(form.get("media") or "")
    return Document.from_record(record)


def parse_faq(text: str) -> list[dict]:
    """Pairs written as lines `问：…` followed by `答：…` (answers may run over lines)."""
    pairs, current = [], None
    for line in text.replace("\r\n", "\n").split("\n"):
        stripped = line.strip()
        if re.match(r"^(问|Q)[:：]", stripped):
            current = {"q": stripped[2:].strip(), "a": ""}
            pairs.append(current)
        elif re.match(r"^(答|A)[:：]", stripped) and current is not None:
            current["a"] = stripped[2:].strip()
        elif stripped and current is not None and current["a"]:
            current["a"] += "\n" + stripped
    return [p for p in pairs if p["q"]]


def parse_media(text: str) -> list[dict]:
    """One link a line: `video https://… 标题`."""
    media = []
    for line in text.replace("\r\n", "\n").split("\n"):
        bits = line.strip().split(None, 2)
        if bits:
            media.append({"kind": bits[0], "url": bits[1] if len(bits) > 1 else "",
                          "title": bits[2] if len(bits) > 2 else ""})
    return media


def form_from_document(doc: Document | None, suggested: dict | None = None) -> dict:
    """Values for the editor's inputs."""
    if doc is None:
        values = {k: v or "" for k, v in (suggested or {}).items() if isinstance(v, (str, type(None)))}
        return values
    record = doc.to_record()
    values = {name: record.get(name) or "" for name in PLAIN_FIELDS}
    values.update(text=doc.text, topics="、".join(doc.topics), audience="、".join(doc.audience))
    values.update({f"section_{s['name']}": s["text"] for s in doc.sections})
    values["faq"] = "\n".join(f"问：{p['q']}\n答：{p['a']}" for p in doc.faq)
    values["media"] = "\n".join(f"{m['kind']} {m['url']} {m.get('title') or ''}".strip() for m in doc.media)
    return values


def _list(value: str | None) -> list[str]:
    return [v.strip() for v in LIST_SPLIT.split(value or "") if v.strip()]


def _text(value: str | None) -> str:
    return (value or "").replace("\r\n", "\n").strip()

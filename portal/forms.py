"""Between the editor's HTML form and a Document: parse what staff typed, clearly refuse what
cannot be a document, and fill the form back from a document."""
from __future__ import annotations

import datetime as dt
import re
import secrets

from interpretations.labels import LABELS, label
from policies.model import SECTION_NAMES, Document
from policies.titles import normalise_title

MEDIA_CODES = {word: code for code, word in LABELS["media_kind"].items()}  # 视频 → video
LIST_SPLIT = re.compile(r"[,，、;；\n]+")
PLAIN_FIELDS = ("title", "doc_number", "issuing_body", "doc_type", "publish_date", "valid_from",
                "valid_until", "importance", "region", "source_url", "interpretation_form",
                "supersedes")
# What an interpretation takes from its policy when the drafter leaves it blank: the reports
# group questions by topic, and the answer header names the issuing body and validity.
INHERITED_FIELDS = {"topics": "主题", "audience": "适用对象", "issuing_body": "发文机关",
                    "region": "适用地区",
                    "valid_from": "施行日期", "valid_until": "有效期至"}


def new_document_id(kind: str, today: dt.date) -> str:
    prefix = "policy" if kind == "policy" else "interp"
    return f"{prefix}-{today:%Y%m%d}-{secrets.token_hex(3)}"


def document_from_form(form, *, doc_id: str, kind: str, interprets: str | None) -> Document:
    """Raises policies.model.InvalidDocument listing every problem."""
    record = {name: (form.get(name) or "").strip() or None for name in PLAIN_FIELDS}
    record.update(id=doc_id, kind=kind, interprets=interprets if kind == "interpretation" else None,
                  text=_text(form.get("text")), provenance="portal")
    record["title"] = normalise_title(record["title"])
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


def policy_defaults(policy: Document | None) -> dict:
    """Form values an interpretation of `policy` starts with (its topics, body, validity)."""
    if policy is None:
        return {}
    values = form_from_document(policy)
    return {name: values[name] for name in INHERITED_FIELDS if values.get(name)}


def inherit_blanks(doc: Document, policy: Document | None) -> tuple[Document, list[str]]:
    """The interpretation with every field the drafter left blank taken from its policy, and
    the Chinese names of the fields so taken (to tell the drafter)."""
    if policy is None or doc.is_policy:
        return doc, []
    taken = {name: getattr(policy, name) for name in INHERITED_FIELDS
             if not getattr(doc, name) and getattr(policy, name)}
    return (doc.replace(**taken) if taken else doc), [INHERITED_FIELDS[name] for name in taken]


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
    """One link a line: `视频 https://… 标题` (or the code: `video https://… 标题`)."""
    media = []
    for line in text.replace("\r\n", "\n").split("\n"):
        bits = line.strip().split(None, 2)
        if bits:
            media.append({"kind": MEDIA_CODES.get(bits[0], bits[0]), "url": bits[1] if len(bits) > 1 else "",
                          "title": bits[2] if len(bits) > 2 else ""})
    return media


def form_from_document(doc: Document | None, suggested: dict | None = None) -> dict:
    """Values for the editor's inputs."""
    if doc is None:
        suggested = suggested or {}
        values = {k: v or "" for k, v in suggested.items() if isinstance(v, (str, type(None)))}
        values.update({f"section_{name}": text for name, text in (suggested.get("sections") or {}).items()})
        if suggested.get("faq"):
            values["faq"] = faq_text(suggested["faq"])
        return values
    record = doc.to_record()
    values = {name: record.get(name) or "" for name in PLAIN_FIELDS}
    values.update(text=doc.text, topics="、".join(doc.topics), audience="、".join(doc.audience))
    values.update({f"section_{s['name']}": s["text"] for s in doc.sections})
    values["faq"] = faq_text(doc.faq)
    values["media"] = "\n".join(f"{label('media_kind', m['kind'])} {m['url']} {m.get('title') or ''}".strip()
                                for m in doc.media)
    return values


def faq_text(pairs) -> str:
    """Q&A pairs as the editor shows them, read back by `parse_faq`."""
    return "\n".join(f"问：{p['q']}\n答：{p['a']}" for p in pairs)


def _list(value: str | None) -> list[str]:
    return [v.strip() for v in LIST_SPLIT.split(value or "") if v.strip()]


def _text(value: str | None) -> str:
    return (value or "").replace("\r\n", "\n").strip()

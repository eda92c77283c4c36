"""The content model: one document (a policy or an interpretation) with every field of the
JSONL interchange format (shared/corpus/FORMAT.md), plus the structured parts of an
interpretation that staff edit (sections, media links).

Pure: no I/O. `Document.from_record` validates a record and says what is wrong with it.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
from typing import Any

from policies.status import Validity

KINDS = ("policy", "interpretation")
STATUSES = ("effective", "expired", "repealed", "amended")
IMPORTANCE = ("major", "normal")
INTERPRETATION_FORMS = ("text", "faq", "graphic", "audio", "video", "press", "guide")
# The structured sections of an interpretation named by the customer's rules
# (政策背景、主要内容、执行标准、新旧政策差异、后续工作考虑).
SECTION_NAMES = ("政策背景", "主要内容", "执行标准", "新旧政策差异", "后续工作考虑")
MEDIA_KINDS = ("audio", "video", "graphic")

# Field order of FORMAT.md; export writes records in this order.
FORMAT_FIELDS = (
    "id", "kind", "title", "text", "doc_number", "issuing_body", "doc_type", "publish_date",
    "valid_from", "valid_until", "status", "importance", "topics", "audience", "region",
    "source_url", "interprets", "interpretation_form", "faq", "supersedes", "provenance",
)
# Our own fields, exported only when they hold something (so a FORMAT.md file round-trips).
EXTRA_FIELDS = ("sections", "media")
REQUIRED_FIELDS = ("id", "kind", "title", "text")
DATE_FIELDS = ("publish_date", "valid_from", "valid_until")
LIST_FIELDS = ("topics", "audience")
# Fields whose change makes a different content version (status is lifecycle, not content).
CONTENT_FIELDS = tuple(f for f in FORMAT_FIELDS + EXTRA_FIELDS if f not in ("status", "provenance"))


class InvalidDocument(ValueError):
    """A record that cannot be a document; `problems` lists every reason."""

    def __init__(self, problems: list[str]):
        super().__init__("; ".join(problems))
        self.problems = problems


@dataclasses.dataclass(frozen=True)
class Document:
    id: str
    kind: str
    title: str
    text: str
    doc_number: str | None = None
    issuing_body: str | None = None
    doc_type: str | None = None
    publish_date: dt.date | None = None
    valid_from: dt.date | None = None
    valid_until: dt.date | None = None
    status: str = "effective"
    importance: str = "normal"
    topics: tuple[str, ...] = ()
    audience: tuple[str, ...] = ()
    region: str | None = None
    source_url: str | None = None
    interprets: str | None = None
    interpretation_form: str | None = None
    faq: tuple[dict, ...] = ()
    supersedes: str | None = None
    provenance: str | None = None
    sections: tuple[dict, ...] = ()  # [{"name": "政策背景", "text": "…"}]
    media: tuple[dict, ...] = ()  # [{"kind": "video", "url": "…", "title": "…"}]

    @property
    def is_policy(self) -> bool:
        return self.kind == "policy"

    @property
    def is_major(self) -> bool:
        return self.importance == "major"

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> Document:
        """Validate a FORMAT.md record (unknown fields ignored) and build the document."""
        if not isinstance(record, dict):
            raise InvalidDocument(["a document must be a JSON object"])
        problems: list[str] = []
        values = {name: _clean(name, record.get(name), problems) for name in _all_fields()}
        problems += _cross_field_problems(values)
        if problems:
            raise InvalidDocument(problems)
        return cls(**values)

    def to_record(self) -> dict[str, Any]:
        """The FORMAT.md record, fields in FORMAT order; our extra fields only when set."""
        record = {name: _export_value(getattr(self, name)) for name in FORMAT_FIELDS}
        for name in EXTRA_FIELDS:
            if getattr(self, name):
                record[name] = _export_value(getattr(self, name))
        return record

    def content_hash(self) -> str:
        """SHA-256 over the content fields: what a reviewer approved is bound to this."""
        record = self.to_record()
        content = {name: record.get(name) for name in CONTENT_FIELDS}
        return sha256_json(content)

    def replace(self, **changes) -> Document:
        return Document.from_record({**self.to_record(), **_records(changes)})

    def in_force(self, today: dt.date) -> bool:
        """Current (现行有效) on `today` by its own record (policies.status is the rule; an
        interpretation's standing is its policy's: `Validity.of(doc, policy)`)."""
        return Validity.of(self).in_force(today)


def sha256_json(value: Any) -> str:
    canonical = json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def _all_fields() -> tuple[str, ...]:
    return FORMAT_FIELDS + EXTRA_FIELDS


def _records(changes: dict[str, Any]) -> dict[str, Any]:
    return {k: _export_value(v) for k, v in changes.items()}


def _export_value(value: Any) -> Any:
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, tuple):
        return [dict(v) if isinstance(v, dict) else v for v in value]
    return value


def _clean(name: str, value: Any, problems: list[str]) -> Any:
    """Normalise one field; append a reason to `problems` when it is invalid."""
    if name in REQUIRED_FIELDS:
        if not isinstance(value, str) or not value.strip():
            problems.append(f"missing field '{name}'")
            return value
        return value if name == "text" else value.strip()
    if name in DATE_FIELDS:
        return _date(name, value, problems)
    if name in LIST_FIELDS:
        return _string_list(name, value, problems)
    if name == "faq":
        return _faq(value, problems)
    if name in EXTRA_FIELDS:
        return _dict_list(name, value, problems)
    if name == "status":
        return _choice(name, value, STATUSES, "effective", problems)
    if name == "importance":
        return _choice(name, value, IMPORTANCE, "normal", problems)
    return _optional_string(name, value, problems)


def _date(name: str, value: Any, problems: list[str]) -> dt.date | None:
    if value in (None, ""):
        return None
    try:
        if not isinstance(value, str) or len(value) != 10:
            raise ValueError
        return dt.date.fromisoformat(value)
    except ValueError:
        problems.append(f"bad date in '{name}': {value!r} (expected YYYY-MM-DD)")
        return None


def _string_list(name: str, value: Any, problems: list[str]) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        problems.append(f"'{name}' must be a list of non-empty strings")
        return ()
    return tuple(v.strip() for v in value)


def _faq(value: Any, problems: list[str]) -> tuple[dict, ...]:
    pairs = _dict_list("faq", value, problems)
    for number, pair in enumerate(pairs, 1):
        if not (isinstance(pair.get("q"), str) and isinstance(pair.get("a"), str)):
            problems.append(f"faq pair {number} needs string 'q' and 'a'")
    return tuple({"q": p.get("q"), "a": p.get("a")} for p in pairs)


def _dict_list(name: str, value: Any, problems: list[str]) -> tuple[dict, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        problems.append(f"'{name}' must be a list of objects")
        return ()
    return tuple(dict(v) for v in value)


def _choice(name: str, value: Any, allowed: tuple, default: str, problems: list[str]) -> str:
    if value in (None, ""):
        return default
    if value not in allowed:
        problems.append(f"unknown {name} {value!r} (one of {', '.join(allowed)})")
        return default
    return value


def _optional_string(name: str, value: Any, problems: list[str]) -> str | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        problems.append(f"'{name}' must be a string or null")
        return None
    return value


def _cross_field_problems(v: dict[str, Any]) -> list[str]:
    problems = []
    if v["kind"] not in KINDS and isinstance(v["kind"], str) and v["kind"].strip():
        problems.append(f"unknown kind {v['kind']!r} (policy or interpretation)")
    if v["kind"] == "interpretation" and not v["interprets"]:
        problems.append("an interpretation must name the policy it interprets ('interprets')")
    if v["kind"] == "policy" and v["interprets"]:
        problems.append("a policy cannot interpret another document ('interprets' is for interpretations)")
    form = v["interpretation_form"]
    if form and form not in INTERPRETATION_FORMS:
        problems.append(f"unknown interpretation_form {form!r}")
    if v["valid_from"] and v["valid_until"] and v["valid_until"] < v["valid_from"]:
        problems.append("valid_until is before valid_from")
    if v["id"] and v["supersedes"] == v["id"]:
        problems.append("a document cannot supersede itself")
    problems += _section_problems(v["sections"]) + _media_problems(v["media"])
    return problems


def _section_problems(sections: tuple[dict, ...]) -> list[str]:
    return [f"section {s.get('name')!r}: name must be one of {', '.join(SECTION_NAMES)} and text a string"
            for s in sections
            if s.get("name") not in SECTION_NAMES or not isinstance(s.get("text"), str)]


def _media_problems(media: tuple[dict, ...]) -> list[str]:
    return [f"media link {m.get('url')!r}: kind must be one of {', '.join(MEDIA_KINDS)}, url http(s)"
            for m in media
            if m.get("kind") not in MEDIA_KINDS
            or not str(m.get("url", "")).startswith(("https://", "http://"))]

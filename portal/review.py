"""What the reviewer reads on a release page: every member's whole text (sections and Q&A
too) and every hidden part of the file it was uploaded from (comments, tracked changes,
headers, footers, metadata), each confidentiality finding marked where it was found.

A finding is marked only while the text still holds it: its stored offsets must cover a
value that masks to the stored masked value (a fixed or edited text shows no stale mark).
"""
from __future__ import annotations

import dataclasses

import sqlalchemy as sa

from interpretations.confidentiality import mask
from interpretations.labels import label_properties
from policies.model import Document
from portal.hidden import PART_PREFIX
from portal.tables import uploads

# Segments of a text: (text, None) as written, or (masked value, finding row) where marked.
Segments = list[tuple[str, dict | None]]


@dataclasses.dataclass
class UploadedFile:
    filename: str
    file_type: str
    size: int
    uploaded_by: str
    created_at: object
    parts: list[tuple[str, Segments]]  # (part name, its text marked), non-empty parts only


@dataclasses.dataclass
class MemberView:
    doc: Document
    text: Segments
    sections: list[tuple[str, Segments]]
    faq: list[tuple[Segments, Segments]]
    files: list[UploadedFile]


def member_views(conn, documents: list[Document], findings: list[dict]) -> list[MemberView]:
    live = [f for f in findings if f["state"] != "stale"]
    files = _uploaded_files(conn, [d.id for d in documents])
    return [_member(doc, [f for f in live if f["document_id"] == doc.id], files.get(doc.id, []))
            for doc in documents]


def marked(text: str, rows: list[dict]) -> Segments:
    """`text` cut into segments, each finding still present replaced by its masked value."""
    spans = sorted((r for r in rows if _still_there(text, r)), key=lambda r: r["start"])
    segments: Segments = []
    at = 0
    for row in spans:
        if row["start"] < at:  # overlapping findings: the first one marks the span
            continue
        segments += [(text[at:row["start"]], None), (row["masked"], row)]
        at = row["end"]
    return segments + [(text[at:], None)]


def _still_there(text: str, row: dict) -> bool:
    start, end = row["start"], row["end"]
    return 0 <= start < end <= len(text) and mask(text[start:end]) == row["masked"]


def _member(doc: Document, rows: list[dict], files: list[dict]) -> MemberView:
    def part(name: str, text: str) -> Segments:
        return marked(text, [r for r in rows if r["part"] == name])

    return MemberView(
        doc=doc, text=part("text", doc.text),
        sections=[(s["name"], part(f"section {s['name']}", s["text"])) for s in doc.sections],
        faq=[(part(f"faq {n} q", p["q"]), part(f"faq {n} a", p["a"])) for n, p in enumerate(doc.faq, 1)],
        files=[_file(row, rows) for row in files])


def _file(row: dict, rows: list[dict]) -> UploadedFile:
    parts = [(name, marked(text, [r for r in rows if r["part"] == (PART_PREFIX + name)[:60]]))
             for name, text in sorted((row["hidden_parts"] or {}).items()) if text and text.strip()]
    named = []
    for name, segments in parts:
        if name != "metadata":
            named.append((name, segments))
            continue
        kept, counts = _split_statistics(segments)
        named += [(name, _named_properties(kept))] + ([(STATISTICS_PART, _named_properties(counts))]
                                                      if counts else [])
    return UploadedFile(row["filename"], row["file_type"], row["size"], row["uploaded_by"],
                        row["created_at"], named)


# File properties that are counts and software settings, never words a person wrote: the
# reviewer finds them folded under their own heading, so that 作者, 最后修改者, 备注 and 标题
# are not lost among twenty lines of 页数 / 字符数 / 缩略图裁剪.
STATISTICS = frozenset({"Template", "TotalTime", "Pages", "Words", "Characters", "CharactersWithSpaces",
                        "Application", "AppVersion", "DocSecurity", "Lines", "Paragraphs", "ScaleCrop",
                        "LinksUpToDate", "SharedDoc", "HyperlinksChanged", "Trapped", "revision", "i4"})
STATISTICS_PART = "metadata statistics"


def _split_statistics(segments: Segments) -> tuple[Segments, Segments]:
    """The metadata part's lines in two: the rest, and the statistics lines (a line holding a
    finding always stays in the rest). Marks are kept where they are."""
    lines: list[Segments] = [[]]
    for text, row in segments:
        for n, piece in enumerate(text.split("\n")):
            if n:
                lines.append([])
            if piece:
                lines[-1].append((piece, row))
    kept: Segments = []
    counts: Segments = []
    for line in lines:
        key = "".join(text for text, _ in line).partition(": ")[0]
        into = counts if key in STATISTICS and all(row is None for _, row in line) else kept
        into += ([("\n", None)] if into else []) + line
    return kept, counts


def _named_properties(segments: Segments) -> Segments:
    """The metadata part with its property names in Chinese (marks are left as they are)."""
    return [(label_properties(text) if row is None else text, row) for text, row in segments]


def _uploaded_files(conn, doc_ids: list[str]) -> dict[str, list[dict]]:
    if not doc_ids:
        return {}
    query = sa.select(uploads.c.document_id, uploads.c.filename, uploads.c.file_type, uploads.c.size,
                      uploads.c.uploaded_by, uploads.c.created_at, uploads.c.hidden_parts) \
        .where(uploads.c.document_id.in_(doc_ids)).order_by(uploads.c.created_at)
    files: dict[str, list[dict]] = {}
    for row in conn.execute(query).mappings():
        files.setdefault(row["document_id"], []).append(dict(row))
    return files

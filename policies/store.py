"""Reading and writing documents. Functions take an open SQLAlchemy connection, so the
caller decides the transaction (the release workflow publishes several documents in one).
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from policies.model import EXTRA_FIELDS, FORMAT_FIELDS, Document
from policies.tables import documents

_JSON_FIELDS = ("topics", "audience", "faq", "sections", "media")


class ImmutableDocument(RuntimeError):
    """Published content cannot change: a change is a new version that supersedes it."""


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def insert_document(conn: Connection, doc: Document, *, visibility: str = "draft",
                    department: str | None = None, now: dt.datetime | None = None) -> None:
    now = now or utcnow()
    conn.execute(documents.insert().values(
        **_row_values(doc), visibility=visibility, department=department,
        created_at=now, updated_at=now))


def update_content(conn: Connection, doc: Document, now: dt.datetime | None = None) -> None:
    """Replace the content of a draft document; refused once it has been made public."""
    visibility = conn.execute(sa.select(documents.c.visibility)
                              .where(documents.c.id == doc.id)).scalar_one_or_none()
    if visibility is None:
        raise KeyError(doc.id)
    if visibility != "draft":
        raise ImmutableDocument(
            f"{doc.id} has been published: create a new version that supersedes it")
    conn.execute(documents.update().where(documents.c.id == doc.id)
                 .values(**_row_values(doc), updated_at=now or utcnow()))


def set_visibility(conn: Connection, ids: Iterable[str], visibility: str) -> None:
    ids = list(ids)
    if ids:
        conn.execute(documents.update().where(documents.c.id.in_(ids))
                     .values(visibility=visibility, updated_at=utcnow()))


def set_status(conn: Connection, ids: Iterable[str], status: str) -> None:
    """Lifecycle change (expired, repealed, amended): status is not content."""
    ids = list(ids)
    if ids:
        conn.execute(documents.update().where(documents.c.id.in_(ids))
                     .values(status=status, updated_at=utcnow()))


def get_document(conn: Connection, doc_id: str) -> Document | None:
    row = conn.execute(sa.select(documents).where(documents.c.id == doc_id)).mappings().first()
    return row_to_document(row) if row else None


def require_document(conn: Connection, doc_id: str) -> Document:
    """A document that must exist (a release's member: documents are never deleted)."""
    doc = get_document(conn, doc_id)
    if doc is None:
        raise KeyError(f"document {doc_id} is missing")
    return doc


def get_visibility(conn: Connection, doc_id: str) -> str | None:
    return conn.execute(sa.select(documents.c.visibility)
                        .where(documents.c.id == doc_id)).scalar_one_or_none()


def department_of(conn: Connection, doc_id: str) -> str | None:
    """The department that drafted the document (None: imported, or drafted without one)."""
    return conn.execute(sa.select(documents.c.department)
                        .where(documents.c.id == doc_id)).scalar_one_or_none()


def existing_ids(conn: Connection, ids: Iterable[str]) -> set[str]:
    ids = list(ids)
    found: set[str] = set()
    for start in range(0, len(ids), 500):  # stay under SQLite's bound-parameter limit
        chunk = ids[start:start + 500]
        found |= set(conn.execute(sa.select(documents.c.id)
                                  .where(documents.c.id.in_(chunk))).scalars())
    return found


def public_documents(conn: Connection) -> list[Document]:
    """Everything ever published and not withdrawn, whatever its validity."""
    rows = conn.execute(sa.select(documents).where(documents.c.visibility == "public")
                        .order_by(documents.c.id)).mappings()
    return [row_to_document(r) for r in rows]


def interpretations_of(conn: Connection, policy_id: str, visibility: str | None = None):
    query = sa.select(documents).where(documents.c.interprets == policy_id)
    if visibility:
        query = query.where(documents.c.visibility == visibility)
    return [row_to_document(r) for r in conn.execute(query.order_by(documents.c.id)).mappings()]


def successor_of(conn: Connection, doc_id: str) -> Document | None:
    """The public version that supersedes `doc_id`, if one has been published."""
    row = conn.execute(sa.select(documents).where(documents.c.supersedes == doc_id,
                                                  documents.c.visibility == "public")
                       ).mappings().first()
    return row_to_document(row) if row else None


def document_count(conn: Connection) -> int:
    return conn.execute(sa.select(sa.func.count()).select_from(documents)).scalar_one()


def change_marker(conn: Connection) -> tuple[int, dt.datetime | None]:
    """(count, latest change): differs whenever a document is added or its content,
    visibility or status changes (every write sets updated_at)."""
    count, latest = conn.execute(sa.select(sa.func.count(), sa.func.max(documents.c.updated_at))
                                 .select_from(documents)).one()
    return count, latest


def public_versions(conn: Connection, ids: Iterable[str] | None = None) -> dict[str, tuple[str, str]]:
    """(content hash, status) of each public document (of those in `ids`, when given)."""
    c = documents.c
    query = sa.select(c.id, c.content_hash, c.status).where(c.visibility == "public")
    if ids is not None:
        query = query.where(c.id.in_(list(ids)))
    return {row.id: (row.content_hash, row.status) for row in conn.execute(query)}


def summaries(conn: Connection, ids: Iterable[str]) -> list[sa.RowMapping]:
    """id, kind, title, topics, interprets, department and issuing_body of each id that
    exists: what a listing needs, without the text (a law is ~100 KB)."""
    c = documents.c
    query = sa.select(c.id, c.kind, c.title, c.topics, c.interprets, c.department,
                      c.issuing_body).where(c.id.in_(sorted(set(ids))))
    return list(conn.execute(query).mappings())


def owners(conn: Connection, ids: Iterable[str]) -> dict[str, str | None]:
    """The department each document belongs to: the one that drafted it, else its issuing body."""
    query = sa.select(documents.c.id, documents.c.department, documents.c.issuing_body).where(
        documents.c.id.in_(sorted(set(ids))))
    return {r.id: r.department or r.issuing_body for r in conn.execute(query)}


def public_topics_and_audiences(conn: Connection) -> list[tuple[list[str], list[str]]]:
    """(topics, audience) of each public document."""
    rows = conn.execute(sa.select(documents.c.topics, documents.c.audience)
                        .where(documents.c.visibility == "public"))
    return [(list(topics or ()), list(audience or ())) for topics, audience in rows]


def interpreted_policy_ids(conn: Connection) -> set[str]:
    """The policies a public interpretation explains."""
    return set(conn.execute(sa.select(documents.c.interprets).where(
        documents.c.kind == "interpretation", documents.c.visibility == "public")).scalars())


def row_to_document(row) -> Document:
    record = {name: row[name] for name in FORMAT_FIELDS + EXTRA_FIELDS}
    for name in ("publish_date", "valid_from", "valid_until"):
        if isinstance(record[name], dt.date):
            record[name] = record[name].isoformat()
    return Document.from_record(record)


def _row_values(doc: Document) -> dict:
    values = {name: getattr(doc, name) for name in FORMAT_FIELDS + EXTRA_FIELDS}
    for name in _JSON_FIELDS:
        values[name] = [dict(v) if isinstance(v, dict) else v for v in values[name]]
    values["content_hash"] = doc.content_hash()
    return values

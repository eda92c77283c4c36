"""Validity: what is in force on a given day (现行有效), and what has run out.

"Today" is the government's local date (Asia/Shanghai by default), not the server's UTC date:
a policy valid until 2026-12-31 has run out at 07:00 on 1 January in Beijing, when the UTC
date still says 31 December. The caller passes `today`.
"""
from __future__ import annotations

import datetime as dt
import zoneinfo

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from policies.model import Document
from policies.store import row_to_document
from policies.tables import documents

DEFAULT_TIMEZONE = "Asia/Shanghai"


def local_today(timezone: str = DEFAULT_TIMEZONE) -> dt.date:
    return dt.datetime.now(zoneinfo.ZoneInfo(timezone)).date()


def in_force_clause(today: dt.date):
    c = documents.c
    return sa.and_(
        c.visibility == "public", c.status == "effective",
        sa.or_(c.valid_from.is_(None), c.valid_from <= today),
        sa.or_(c.valid_until.is_(None), c.valid_until >= today))


def catalogue(conn: Connection, today: dt.date, *, topic: str | None = None,
              issuing_body: str | None = None, audience: str | None = None,
              kind: str | None = "policy") -> list[Document]:
    """The 现行有效目录: public documents in force on `today`, newest first."""
    query = _in_force(sa.select(documents), today, kind)
    if issuing_body:
        query = query.where(documents.c.issuing_body == issuing_body)
    rows = conn.execute(query.order_by(documents.c.publish_date.desc().nulls_last(),
                                       documents.c.id)).mappings()
    docs = [row_to_document(r) for r in rows]
    if topic:
        docs = [d for d in docs if topic in d.topics]
    if audience:
        docs = [d for d in docs if audience in d.audience]
    return docs


def catalogue_topics(conn: Connection, today: dt.date, kind: str | None = "policy") -> list[list[str]]:
    """The topics of each catalogue entry, without reading the documents' text (a law is
    ~100 KB): what the bot needs to suggest topics when it found nothing."""
    query = _in_force(sa.select(documents.c.topics), today, kind)
    return [list(topics or ()) for topics in conn.execute(query).scalars()]


def catalogue_count(conn: Connection, today: dt.date, kind: str | None = "policy") -> int:
    """len(catalogue(conn, today)) counted by the database."""
    query = _in_force(sa.select(sa.func.count()).select_from(documents), today, kind)
    return int(conn.execute(query).scalar_one())


def _in_force(query, today: dt.date, kind: str | None):
    """The catalogue's rows: in force on `today`, of one kind (None: every kind)."""
    query = query.where(in_force_clause(today))
    return query.where(documents.c.kind == kind) if kind else query


def upcoming(conn: Connection, today: dt.date, kind: str | None = "policy") -> list[Document]:
    """即将施行: public documents in effect from a day after `today`, soonest first. They are
    not in the catalogue yet (nor counted in the 解读率); pages list them apart."""
    query = sa.select(documents).where(documents.c.visibility == "public",
                                       documents.c.status == "effective",
                                       documents.c.valid_from > today)
    if kind:
        query = query.where(documents.c.kind == kind)
    rows = conn.execute(query.order_by(documents.c.valid_from, documents.c.id)).mappings()
    return [row_to_document(r) for r in rows]


def run_out(conn: Connection, today: dt.date) -> list[Document]:
    """Public documents still marked effective whose validity ended before `today`."""
    query = sa.select(documents).where(
        documents.c.visibility == "public", documents.c.status == "effective",
        documents.c.valid_until.is_not(None), documents.c.valid_until < today)
    return [row_to_document(r) for r in conn.execute(query.order_by(documents.c.id)).mappings()]


def expiring_within(conn: Connection, today: dt.date, days: int) -> list[Document]:
    """Public documents in force today whose validity ends within `days` days."""
    horizon = today + dt.timedelta(days=days)
    query = sa.select(documents).where(in_force_clause(today),
                                       documents.c.valid_until.is_not(None),
                                       documents.c.valid_until <= horizon)
    return [row_to_document(r) for r in conn.execute(query.order_by(documents.c.valid_until))
            .mappings()]


def catalogue_facets(conn: Connection, today: dt.date) -> dict[str, list[str]]:
    """Topics, audiences and issuing bodies that occur in the catalogue (for filters)."""
    docs = catalogue(conn, today)
    return {
        "topics": sorted({t for d in docs for t in d.topics}),
        "audience": sorted({a for d in docs for a in d.audience}),
        "issuing_body": sorted({d.issuing_body for d in docs if d.issuing_body}),
    }


def major_policies_in_force(conn: Connection, today: dt.date,
                            department: str | None = None) -> list[Document]:
    """Major policies in force today (of one drafting department, when given), by id."""
    query = sa.select(documents).where(in_force_clause(today), documents.c.kind == "policy",
                                       documents.c.importance == "major")
    if department:
        query = query.where(documents.c.department == department)
    return [row_to_document(r) for r in conn.execute(query.order_by(documents.c.id)).mappings()]

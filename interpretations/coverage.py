"""解读率: the share of published major policies in force that carry a published
interpretation, and the list of those that do not (解读缺失). A major policy published to
take effect later (即将施行) counts from its first day in force; until then it is listed
apart, so that nobody wonders why publishing it did not move the rate."""
from __future__ import annotations

import dataclasses
import datetime as dt

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from policies.store import row_to_document
from policies.tables import documents
from policies.validity import in_force_clause, upcoming


@dataclasses.dataclass(frozen=True)
class Coverage:
    major: int
    interpreted: int
    missing: list  # Documents without interpretation
    upcoming: list = dataclasses.field(default_factory=list)  # (Document, interpreted) not yet in force

    @property
    def rate(self) -> float:
        return self.interpreted / self.major if self.major else 1.0


def interpretation_coverage(conn: Connection, today: dt.date, department: str | None = None) -> Coverage:
    query = sa.select(documents).where(in_force_clause(today), documents.c.kind == "policy",
                                       documents.c.importance == "major")
    if department:
        query = query.where(documents.c.department == department)
    majors = [row_to_document(r) for r in conn.execute(query.order_by(documents.c.id)).mappings()]
    interpreted = set(conn.execute(sa.select(documents.c.interprets).where(
        documents.c.kind == "interpretation", documents.c.visibility == "public")).scalars())
    missing = [d for d in majors if d.id not in interpreted]
    later = [d for d in upcoming(conn, today) if d.is_major
             and (department is None or _department(conn, d.id) == department)]
    return Coverage(len(majors), len(majors) - len(missing), missing,
                    [(d, d.id in interpreted) for d in later])


def _department(conn: Connection, doc_id: str) -> str | None:
    return conn.execute(sa.select(documents.c.department).where(documents.c.id == doc_id)).scalar()

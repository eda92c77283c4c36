"""Findings in the hidden parts of uploaded files (comments, tracked changes, headers,
footers, metadata) join the release's confidentiality findings.

The workflow scans the documents' own fields when a release is submitted; the parts of the
original file that never become document fields are scanned here, right after submission
(and again before review, idempotently), as open findings of the same table, so that the
workflow's rule "no approval while a finding is open" covers them too.
"""
from __future__ import annotations

import sqlalchemy as sa

from interpretations.confidentiality import context_of, scan_text
from interpretations.tables import findings, release_documents
from policies import store
from policies.db import Database
from portal.tables import uploads

PART_PREFIX = "upload:"


def record_hidden_findings(db: Database, release_id: int) -> int:
    """Add an open finding for each hidden-part finding not recorded yet (a justification
    given for the same file part in an earlier round stands); returns the count added."""
    added = 0
    with db.write() as conn:
        members = list(conn.execute(sa.select(release_documents.c.document_id)
                                    .where(release_documents.c.release_id == release_id)).scalars())
        rows = conn.execute(sa.select(uploads).where(uploads.c.document_id.in_(members))).mappings().all()
        present = _open_keys(conn, release_id)
        for upload in rows:
            doc = store.get_document(conn, upload["document_id"])
            if doc is None:  # a member document is never deleted; nothing to scan if it were
                continue
            for row in hidden_finding_rows(upload["hidden_parts"], release_id, doc.id, doc.content_hash()):
                if (row["document_id"], row["part"], row["masked"]) not in present:
                    conn.execute(findings.insert().values(**row, created_at=store.utcnow()))
                    present.add((row["document_id"], row["part"], row["masked"]))
                    added += 1
    return added


def hidden_finding_rows(parts: dict, release_id: int, doc_id: str, content_hash: str) -> list[dict]:
    rows = []
    for part, text in sorted(parts.items()):
        for finding in scan_text(text):
            rows.append(dict(release_id=release_id, document_id=doc_id, content_hash=content_hash,
                             category=finding.category, part=(PART_PREFIX + part)[:60],
                             start=finding.start, end=finding.end, masked=finding.masked(),
                             context=context_of(text, finding), state="open"))
    return rows


def _open_keys(conn, release_id: int) -> set:
    rows = conn.execute(sa.select(findings.c.document_id, findings.c.part, findings.c.masked).where(
        findings.c.release_id == release_id, findings.c.state != "stale",
        findings.c.part.like(PART_PREFIX + "%")))
    return {tuple(r) for r in rows}

"""Import a JSONL corpus as the publications it already is.

The whole file is validated first; every bad line is reported with its number and reason,
and nothing is written when any line is bad (unless `skip_invalid`). Re-importing the same
file changes nothing: a document whose id exists with the same content is left alone; one
whose id exists with other content is refused (published content is immutable: a new
version needs an id of its own and `supersedes`).

Imported documents are recorded as releases with provenance `import`, published (or
retired, when their status says they are no longer in force), each with one audit entry.
A major policy imported without an interpretation is listed as 解读缺失 (see coverage.py);
the import does not invent one, and new releases still go through the workflow.
"""
from __future__ import annotations

import dataclasses
import pathlib

from sqlalchemy.engine import Connection

from interpretations import audit, events
from interpretations.workflow import (
    Actor,
    ReleaseInfo,
    Releases,
    insert_release,
    link_document,
    release_content_hash,
)
from policies import store
from policies.jsonl import LineError, read_documents
from policies.model import Document

IMPORTER = Actor("import", "system")


class ImportRefused(Exception):
    def __init__(self, errors: list[LineError]):
        super().__init__(f"{len(errors)} problem(s) in the file; nothing was imported")
        self.errors = errors


@dataclasses.dataclass
class ImportReport:
    imported: int = 0
    unchanged: int = 0
    skipped: list[LineError] = dataclasses.field(default_factory=list)
    releases: list[ReleaseInfo] = dataclasses.field(default_factory=list)


def import_file(releases: Releases, path: pathlib.Path | str, *,
                skip_invalid: bool = False) -> ImportReport:
    docs, errors = read_documents(path)
    with releases.db.write() as conn:
        docs, errors, unchanged = _check_batch(conn, docs, errors)
        if errors and not skip_invalid:
            raise ImportRefused(errors)
        report = ImportReport(unchanged=unchanged, skipped=errors)
        report.releases = _record_publications(conn, [d for _, d in docs])
        report.imported = len(docs)
    releases.hooks.notify_published(report.releases)
    return report


def _check_batch(conn: Connection, docs, errors):
    """Drop (and report) lines that cannot be imported; repeat until stable, because
    dropping a policy makes its interpretations unimportable too."""
    errors = list(errors)
    bad_ids = {e.doc_id for e in errors if e.doc_id}
    docs = _drop_duplicates(docs, errors)
    existing = {d.id: d for d in _existing(conn, [d for _, d in docs])}
    unchanged = 0
    kept = []
    for number, doc in docs:
        old = existing.get(doc.id)
        if old is None:
            kept.append((number, doc))
        elif old.content_hash() == doc.content_hash():
            unchanged += 1
        else:
            errors.append(LineError(number, doc.id, "a document with this id exists with other "
                                    "content; published content is immutable (give the new "
                                    "version its own id and 'supersedes')"))
    referenced = {i for _, d in kept for i in (d.interprets, d.supersedes) if i}
    stored = {d.id: d for d in _existing_by_id(conn, referenced)}
    while True:
        known = stored | existing | {d.id: d for _, d in kept}
        problems = [(n, d, r) for n, d in kept if (r := _reference_problem(d, known, bad_ids))]
        if not problems:
            break
        for number, doc, reason in problems:
            errors.append(LineError(number, doc.id, reason))
            bad_ids.add(doc.id)
        kept = [(n, d) for n, d in kept if d.id not in bad_ids]
    return kept, sorted(errors, key=lambda e: e.line), unchanged


def _drop_duplicates(docs, errors):
    seen: dict[str, int] = {}
    kept = []
    for number, doc in docs:
        if doc.id in seen:
            errors.append(LineError(number, doc.id, f"duplicate id (first on line {seen[doc.id]})"))
        else:
            seen[doc.id] = number
            kept.append((number, doc))
    return kept


def _existing(conn: Connection, docs: list[Document]) -> list[Document]:
    return _existing_by_id(conn, [d.id for d in docs])


def _existing_by_id(conn: Connection, ids) -> list[Document]:
    return [store.require_document(conn, i) for i in sorted(store.existing_ids(conn, ids))]


def _reference_problem(doc: Document, known: dict[str, Document], bad_ids: set[str]) -> str | None:
    if doc.interprets:
        target = known.get(doc.interprets)
        if target is None:
            why = " (that line is invalid)" if doc.interprets in bad_ids else ""
            return f"unknown 'interprets' target {doc.interprets!r}{why}"
        if not target.is_policy:
            return f"'interprets' names {doc.interprets!r}, which is not a policy"
    if doc.supersedes and doc.supersedes not in known:
        return f"unknown 'supersedes' target {doc.supersedes!r}"
    return None


def _record_publications(conn: Connection, docs: list[Document]) -> list[ReleaseInfo]:
    """One release per policy (with its interpretations in the batch); interpretations of a
    policy already stored form a supplementary release of their own."""
    policies = [d for d in docs if d.is_policy]
    by_policy: dict[str, list[Document]] = {}
    for doc in docs:
        if doc.interprets:  # an interpretation (Document refuses one without, and a policy with)
            by_policy.setdefault(doc.interprets, []).append(doc)
    infos = [_publication(conn, p, by_policy.pop(p.id, [])) for p in policies]
    infos += [_publication(conn, None, interps) for interps in by_policy.values()]
    return infos


def _publication(conn: Connection, policy: Document | None, interps: list[Document]) -> ReleaseInfo:
    members = ([policy] if policy else []) + interps
    for doc in members:
        store.insert_document(conn, doc, visibility="public")
    in_force = policy.status == "effective" if policy else True
    state = "published" if in_force else "retired"
    release_id = insert_release(conn, IMPORTER, policy.id if policy else None,
                                 state=state, provenance="import")
    for doc in members:
        link_document(conn, release_id, doc.id)
    audit.append(conn, actor=IMPORTER.name, role=IMPORTER.role, action="import",
                 release_id=release_id, from_state=None, to_state=state,
                 content_hash=release_content_hash(conn, release_id),
                 comment=(policy.provenance if policy else interps[0].provenance) or None)
    info = ReleaseInfo(release_id, state, policy.id if policy else None,
                       tuple(sorted(d.id for d in members)))
    events.append(conn, "published", info)  # the outbox: other processes index it
    return info

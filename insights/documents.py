"""What the analytics need to know about a cited document: its topic, its policy (an
interpretation counts for the policy it interprets), and the department that owns it."""
from __future__ import annotations

import dataclasses

from sqlalchemy.engine import Connection

from policies import store

UNCLASSIFIED = "未归类"


@dataclasses.dataclass(frozen=True)
class DocInfo:
    id: str
    kind: str
    title: str
    topic: str
    policy_id: str          # itself for a policy, the interpreted policy for an interpretation
    department: str | None  # documents.department, else the issuing body


def document_infos(conn: Connection, ids) -> dict[str, DocInfo]:
    """DocInfo of each id that exists (interpretations take the department of their policy
    when they name none)."""
    wanted = sorted({i for i in ids if i})
    if not wanted:
        return {}
    rows = store.summaries(conn, wanted)
    owners = store.owners(conn, {r["interprets"] for r in rows if r["interprets"]})
    return {r["id"]: _info(r, owners) for r in rows}


def _info(row, owners: dict) -> DocInfo:
    policy_id = row["interprets"] or row["id"]
    own = row["department"] or row["issuing_body"]
    department = own if row["kind"] == "policy" else (owners.get(policy_id) or own)
    topics = row["topics"] or []
    return DocInfo(row["id"], row["kind"], row["title"], topics[0] if topics else UNCLASSIFIED,
                   policy_id, department)

"""Releases as the staff pages list them: by state, waiting for someone's step, a
department's drafts, and the documents each holds. The workflow's steps are in workflow.py;
this module only reads."""
from __future__ import annotations

from collections.abc import Iterable

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from interpretations.tables import RELEASE_STATES, findings, release_documents, releases
from interpretations.workflow import Actor
from policies import store

__all__ = ["RELEASE_STATES", "count_by_state", "drafts", "member_ids", "recent",
           "release_of_finding", "titles", "waiting_for"]

# What each role is asked to do next, by release state: the first thing a 签发 official
# looks for is what awaits their signature.
WAITING_FOR = {"drafter": ("draft",), "reviewer": ("submitted",), "signer": ("reviewed", "signed"),
               "admin": ("draft", "submitted", "reviewed", "signed")}


def count_by_state(conn: Connection) -> dict[str, int]:
    rows = conn.execute(sa.select(releases.c.state, sa.func.count()).group_by(releases.c.state))
    return {state: count for state, count in rows}


def recent(conn: Connection, state: str | None = None, limit: int = 300) -> list[sa.RowMapping]:
    """The releases changed last (in one state, when given), newest first."""
    query = sa.select(releases).order_by(releases.c.updated_at.desc()).limit(limit)
    if state is not None:
        query = query.where(releases.c.state == state)
    return list(conn.execute(query).mappings())


def waiting_for(conn: Connection, actor: Actor, limit: int = 50) -> list[sa.RowMapping]:
    """The releases waiting for this person's step, oldest first: a drafter's department's
    drafts (new or sent back), what a reviewer reviews, what a signer signs or publishes, and
    all of these for an admin; never a release this person may not act on (一事一审)."""
    rel = releases.c
    query = sa.select(releases).where(rel.state.in_(WAITING_FOR.get(actor.role, ()))) \
        .order_by(rel.updated_at).limit(limit)
    if actor.role == "drafter":
        query = query.where(rel.department == actor.department if actor.department
                            else rel.department.is_(None))
    if actor.role == "reviewer":
        query = query.where(rel.drafted_by != actor.name)
    if actor.role == "signer":
        query = query.where(sa.or_(rel.reviewed_by.is_(None), rel.reviewed_by != actor.name))
    return list(conn.execute(query).mappings())


def drafts(conn: Connection, department: str | None, every_department: bool = False
           ) -> list[sa.RowMapping]:
    """Draft releases (id, policy_id) of one department (None: drafted without one), or of
    every department; newest first."""
    query = sa.select(releases.c.id, releases.c.policy_id).where(
        releases.c.state == "draft").order_by(releases.c.id.desc())
    if not every_department:
        query = query.where(releases.c.department == department)
    return list(conn.execute(query).mappings())


def member_ids(conn: Connection, release_ids: Iterable[int]) -> dict[int, list[str]]:
    """The documents each release holds, by id."""
    query = sa.select(release_documents.c.release_id, release_documents.c.document_id).where(
        release_documents.c.release_id.in_(list(release_ids))).order_by(release_documents.c.document_id)
    members: dict[int, list[str]] = {}
    for release_id, document_id in conn.execute(query):
        members.setdefault(release_id, []).append(document_id)
    return members


def release_of_finding(conn: Connection, finding_id: int) -> int | None:
    return conn.execute(sa.select(findings.c.release_id)
                        .where(findings.c.id == finding_id)).scalar_one_or_none()


def title_document(conn: Connection, release_id: int) -> str | None:
    """The document a release is known by: its policy, or for a supplementary release its
    first interpretation (by id); None for a release holding nothing."""
    policy_id = conn.execute(sa.select(releases.c.policy_id)
                             .where(releases.c.id == release_id)).scalar()
    return policy_id or next(iter(member_ids(conn, [release_id]).get(release_id, [])), None)


def titles(conn: Connection, release_ids: Iterable[int]) -> dict[int, str]:
    """Each release's title: its policy's, or for a supplementary release its first
    interpretation's (by id); a release holding no document has none."""
    release_ids = list(release_ids)
    members = member_ids(conn, release_ids)
    query = sa.select(releases.c.id, releases.c.policy_id).where(releases.c.id.in_(release_ids))
    policies: dict[int, str | None] = {r: p for r, p in conn.execute(query)}
    named = {r: policies.get(r) or members[r][0] for r in release_ids if policies.get(r) or members.get(r)}
    title = {row["id"]: row["title"] for row in store.summaries(conn, named.values())}
    return {r: title.get(doc_id, "") for r, doc_id in named.items()}

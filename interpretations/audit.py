"""The audit log: append-only and hash-chained.

Each entry's hash covers its fields and the previous entry's hash, so a modified, deleted or
reordered entry breaks the chain at that point, and `verify` names the first broken entry.
The database refuses UPDATE and DELETE on the table (triggers, created by the migration);
the chain catches what is done behind the database's back (a restored file, a dropped
trigger).
"""
from __future__ import annotations

import dataclasses
import datetime as dt

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from interpretations.tables import audit_log
from policies.model import sha256_json

GENESIS = "0" * 64
HASHED_FIELDS = ("at", "actor", "role", "action", "release_id", "from_state", "to_state",
                 "content_hash", "comment", "prev_hash")
# Serialises appends on PostgreSQL (SQLite's BEGIN IMMEDIATE already does): two concurrent
# appends must not both chain onto the same previous entry.
_PG_LOCK_KEY = 0x5042415544  # "PBAUD"


@dataclasses.dataclass(frozen=True)
class Verification:
    ok: bool
    entries: int
    first_broken: int | None = None  # seq of the first entry that does not verify
    reason: str = ""


def append(conn: Connection, *, actor: str, role: str, action: str, release_id: int | None,
           from_state: str | None, to_state: str | None, content_hash: str | None = None,
           comment: str | None = None, at: dt.datetime | None = None) -> dict:
    if conn.dialect.name == "postgresql":
        conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_LOCK_KEY})
    entry = {
        "at": (at or dt.datetime.now(dt.UTC)).isoformat(timespec="microseconds"),
        "actor": actor, "role": role, "action": action, "release_id": release_id,
        "from_state": from_state, "to_state": to_state, "content_hash": content_hash,
        "comment": comment, "prev_hash": _last_hash(conn),
    }
    entry["entry_hash"] = entry_hash(entry)
    conn.execute(audit_log.insert().values(**entry))
    return entry


def entry_hash(entry: dict) -> str:
    return sha256_json({name: entry[name] for name in HASHED_FIELDS})


def verify(conn: Connection) -> Verification:
    """Walk the chain in sequence order; report the first entry that does not fit."""
    previous, count = GENESIS, 0
    for row in conn.execute(sa.select(audit_log).order_by(audit_log.c.seq)).mappings():
        count += 1
        if row["prev_hash"] != previous:
            return Verification(False, count, row["seq"],
                                "与前一条记录接不上（有记录被删除、插入或移动）")
        if entry_hash(dict(row)) != row["entry_hash"]:
            return Verification(False, count, row["seq"], "记录内容被改动过")
        previous = row["entry_hash"]
    return Verification(True, count)


def head(conn: Connection) -> tuple[int, str]:
    """(seq, hash) of the last entry: keep a copy elsewhere to detect a cut-off tail."""
    row = conn.execute(sa.select(audit_log.c.seq, audit_log.c.entry_hash)
                       .order_by(audit_log.c.seq.desc()).limit(1)).first()
    return (row[0], row[1]) if row else (0, GENESIS)


def matches_anchor(conn: Connection, seq: int, entry_hash_: str) -> bool:
    """Is the entry recorded earlier as the head still there, unchanged?"""
    if seq == 0:
        return True
    found = conn.execute(sa.select(audit_log.c.entry_hash).where(audit_log.c.seq == seq)).scalar()
    return found == entry_hash_


def entries(conn: Connection, *, release_id: int | None = None, actor: str | None = None,
            since: str | None = None, until: str | None = None, limit: int = 500) -> list[dict]:
    query = sa.select(audit_log).order_by(audit_log.c.seq.desc()).limit(limit)
    if release_id is not None:
        query = query.where(audit_log.c.release_id == release_id)
    if actor:
        query = query.where(audit_log.c.actor == actor)
    if since:
        query = query.where(audit_log.c.at >= since)
    if until:
        query = query.where(audit_log.c.at < until)
    return [dict(r) for r in conn.execute(query).mappings()]


def _last_hash(conn: Connection) -> str:
    last = conn.execute(sa.select(audit_log.c.entry_hash)
                        .order_by(audit_log.c.seq.desc()).limit(1)).scalar_one_or_none()
    return last or GENESIS


# DDL used by the migration: the database itself refuses changes to past entries.
SQLITE_TRIGGERS = [
    """CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
       BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END""",
    """CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
       BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END""",
]
POSTGRES_TRIGGERS = [
    """CREATE OR REPLACE FUNCTION audit_log_append_only() RETURNS trigger AS $$
       BEGIN RAISE EXCEPTION 'audit_log is append-only'; END; $$ LANGUAGE plpgsql""",
    """CREATE TRIGGER audit_log_no_change BEFORE UPDATE OR DELETE ON audit_log
       FOR EACH ROW EXECUTE FUNCTION audit_log_append_only()""",
    """CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
       FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only()""",
]

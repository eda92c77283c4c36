"""The audit log: append-only, and chained with a key kept outside the database.

Each entry's hash covers its fields and the previous entry's hash, so a modified, deleted or
reordered entry breaks the chain at that point, and `verify` names the first broken entry.
The database refuses UPDATE, DELETE and (SQLite) INSERT OR REPLACE on the table (triggers,
created by the migrations); the chain catches what is done behind the database's back.

A plain SHA-256 chain can be recomputed by anyone who can write the table: rewrite history
from entry N, recompute the hashes, and it verifies. So entries are sealed with HMAC-SHA256
under the instance's audit key (POLICYBOT_AUDIT_KEY, or a key file: interpretations.auditkey),
which is not in the database: without it no one can write an entry that verifies. Each
committed append also writes a signed checkpoint (seq, hash) to an append-only file outside
the database, so a tail cut off the log, or an entry appended without the key, is detected.

Entries written before the key existed (`chain` NULL) keep their SHA-256 chain; they are
accepted only as the log's beginning, followed by keyed entries to its end (the app seals
an unkeyed head at start), so they cannot be rewritten without breaking the first keyed link.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import hmac
import json
import os
import pathlib
import weakref

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from interpretations.tables import audit_log
from policies.db import after_commit
from policies.model import sha256_json

GENESIS = "0" * 64
HASHED_FIELDS = ("at", "actor", "role", "action", "release_id", "from_state", "to_state",
                 "content_hash", "comment", "prev_hash")
KEYED = "hmac-sha256"
# Serialises appends on PostgreSQL (SQLite's BEGIN IMMEDIATE already does): two concurrent
# appends must not both chain onto the same previous entry.
_PG_LOCK_KEY = 0x5042415544  # "PBAUD"


@dataclasses.dataclass(frozen=True)
class Verification:
    ok: bool
    entries: int
    first_broken: int | None = None  # seq of the first entry that does not verify
    reason: str = ""
    keyed: int = 0  # of the entries, how many are sealed with the key
    checkpoints: int = 0  # signed checkpoints found consistent


class AuditSeal:
    """The instance's audit key, and where its signed checkpoints go."""

    def __init__(self, key: bytes, checkpoints: pathlib.Path | None = None):
        if len(key) < 16:
            raise ValueError("the audit key needs at least 16 bytes")
        self._key = key
        self.checkpoints = checkpoints
        self.chain = f"{KEYED}:{self.mac(b'policybot audit key id')[:16]}"

    def mac(self, data: bytes) -> str:
        return hmac.new(self._key, data, hashlib.sha256).hexdigest()

    def entry_mac(self, entry: dict) -> str:
        fields = {name: entry[name] for name in (*HASHED_FIELDS, "chain")}
        return self.mac(_canonical(fields))

    def write_checkpoint(self, seq: int, entry_hash_: str) -> None:
        """Append one signed line `seq hash at mac` (O_APPEND, fsynced, 0600)."""
        if self.checkpoints is None:
            return
        at = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
        line = f"{seq} {entry_hash_} {at} {self.mac(_checkpoint_bytes(seq, entry_hash_, at))}\n"
        fd = os.open(self.checkpoints, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(fd, line.encode("ascii"))
            os.fsync(fd)
        finally:
            os.close(fd)

    def read_checkpoints(self) -> list[tuple[int, int, str, bool]]:
        """(line number, seq, hash, signature valid) for every line of the file."""
        if self.checkpoints is None or not self.checkpoints.exists():
            return []
        out = []
        for number, line in enumerate(self.checkpoints.read_text(encoding="ascii").splitlines(), 1):
            parts = line.split()
            if len(parts) != 4 or not parts[0].isdigit():
                out.append((number, -1, "", False))
                continue
            seq, digest, at, mac = int(parts[0]), parts[1], parts[2], parts[3]
            expected = self.mac(_checkpoint_bytes(seq, digest, at))
            out.append((number, seq, digest, hmac.compare_digest(expected, mac)))
        return out


_seals: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def use_seal(engine: sa.Engine, seal: AuditSeal | None) -> None:
    """Every append and verification through `engine` uses this seal (set by the app)."""
    if seal is None:
        _seals.pop(engine, None)
    else:
        _seals[engine] = seal


def seal_for(conn: Connection) -> AuditSeal | None:
    return _seals.get(conn.engine)


def append(conn: Connection, *, actor: str, role: str, action: str, release_id: int | None,
           from_state: str | None, to_state: str | None, content_hash: str | None = None,
           comment: str | None = None, at: dt.datetime | None = None) -> dict:
    if conn.dialect.name == "postgresql":
        conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_LOCK_KEY})
    seal = seal_for(conn)
    entry = {
        "at": (at or dt.datetime.now(dt.UTC)).isoformat(timespec="microseconds"),
        "actor": actor, "role": role, "action": action, "release_id": release_id,
        "from_state": from_state, "to_state": to_state, "content_hash": content_hash,
        "comment": comment, "prev_hash": _last_hash(conn), "chain": seal.chain if seal else None,
    }
    digest = seal.entry_mac(entry) if seal else entry_hash(entry)
    entry["entry_hash"] = digest
    seq = conn.execute(audit_log.insert().values(**entry).returning(audit_log.c.seq)).scalar_one()
    if seal is not None:
        after_commit(conn, "audit checkpoint", lambda: seal.write_checkpoint(seq, digest))
    return {**entry, "seq": seq}


def entry_hash(entry: dict) -> str:
    return sha256_json({name: entry[name] for name in HASHED_FIELDS})


def verify(conn: Connection, seal: AuditSeal | None = None) -> Verification:
    """Walk the chain in sequence order; report the first entry that does not fit, then check
    the signed checkpoints. `seal` defaults to the one the app set for this database."""
    seal = seal or seal_for(conn)
    previous, count, keyed = GENESIS, 0, 0
    for row in conn.execute(sa.select(audit_log).order_by(audit_log.c.seq)).mappings():
        count += 1
        problem = _link_problem(dict(row), previous, keyed, seal)
        if problem:
            return Verification(False, count, row["seq"], problem, keyed)
        keyed += row["chain"] is not None
        previous = row["entry_hash"]
    if seal is not None and count and not keyed:
        return Verification(False, count, None, "没有一条记录有审计密钥的封记：日志被不知道密钥的人重写过",
                            keyed)
    return _check_checkpoints(conn, seal, Verification(True, count, keyed=keyed))


def _link_problem(row: dict, previous: str, keyed_before: int, seal: AuditSeal | None) -> str | None:
    if row["prev_hash"] != previous:
        return "与前一条记录接不上（有记录被删除、插入或移动）"
    if row["chain"] is None:
        if keyed_before:
            return "没有审计密钥的封记，却排在已封记的记录之后（不是用密钥写入的）"
        return None if entry_hash(row) == row["entry_hash"] else "记录内容被改动过"
    if seal is None:
        return "有审计密钥的封记，但本实例没有配置密钥（POLICYBOT_AUDIT_KEY）"
    if row["chain"] != seal.chain:
        return f"用另一把密钥封记（{row['chain']}），不是本实例的（{seal.chain}）"
    if not hmac.compare_digest(seal.entry_mac(row), row["entry_hash"]):
        return "记录内容被改动过，或不是用审计密钥写入的"
    return None


def _check_checkpoints(conn: Connection, seal: AuditSeal | None, chain: Verification) -> Verification:
    """Every signed checkpoint names an entry that is still there, unchanged: a cut-off tail
    or a replaced entry shows as a checkpoint that no longer matches."""
    if seal is None:
        return chain
    lines = seal.read_checkpoints()
    query = sa.select(audit_log.c.seq, audit_log.c.entry_hash).where(
        audit_log.c.seq.in_({seq for _, seq, _, _ in lines}))
    hashes: dict[int, str] = {seq: digest for seq, digest in conn.execute(query)}
    for number, seq, digest, signed in lines:
        if not signed:
            return dataclasses.replace(chain, ok=False, reason=f"检查点文件 {seal.checkpoints} 的第 "
                                       f"{number} 行没有审计密钥的签名")
        if hashes.get(seq) != digest:
            state = "不见了（日志末尾的记录被删除）" if seq not in hashes else "被改动过"
            return dataclasses.replace(chain, ok=False, first_broken=seq,
                                       reason=f"第 {seq} 条记录（已记入签名检查点）{state}")
    return dataclasses.replace(chain, checkpoints=len(lines))


def seal_head(conn: Connection) -> bool:
    """If the log ends with entries written before the key existed, append one sealed entry
    after them (their SHA-256 chain is then protected by its keyed link). True if it did."""
    seal = seal_for(conn)
    last = conn.execute(sa.select(audit_log.c.chain).order_by(audit_log.c.seq.desc()).limit(1)).first()
    if seal is None or last is None or last[0] is not None:
        return False
    append(conn, actor="system", role="system", action="seal audit log", release_id=None,
           from_state=None, to_state=None, comment="此前写入的记录由本实例的审计密钥封记")
    return True


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


def _canonical(value: dict) -> bytes:
    return json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode("utf-8")


def _checkpoint_bytes(seq: int, digest: str, at: str) -> bytes:
    return f"checkpoint|{seq}|{digest}|{at}".encode("ascii")


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
# The trigger above refuses UPDATE, but SQLite's INSERT OR REPLACE deletes the conflicting row
# without firing DELETE triggers (unless recursive_triggers is on in that very connection):
# refuse an insert that would collide with an existing entry (migration 0010).
SQLITE_NO_REPLACE = """CREATE TRIGGER audit_log_no_replace BEFORE INSERT ON audit_log
   WHEN EXISTS (SELECT 1 FROM audit_log WHERE seq = NEW.seq OR entry_hash = NEW.entry_hash)
   BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END"""
POSTGRES_TRIGGERS = [
    """CREATE OR REPLACE FUNCTION audit_log_append_only() RETURNS trigger AS $$
       BEGIN RAISE EXCEPTION 'audit_log is append-only'; END; $$ LANGUAGE plpgsql""",
    """CREATE TRIGGER audit_log_no_change BEFORE UPDATE OR DELETE ON audit_log
       FOR EACH ROW EXECUTE FUNCTION audit_log_append_only()""",
    """CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
       FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only()""",
]

"""The audit log holds against the database's own users (issue 13, finding 3), on SQLite and
PostgreSQL: INSERT OR REPLACE / ON CONFLICT DO UPDATE is refused by the database, and what a
user who can also drop the triggers does — replace an entry, rewrite the whole log with
recomputed unkeyed hashes, append a forged entry, cut the tail off — `verify-audit` detects
with the audit key and the signed checkpoints, which are not in the database."""
from __future__ import annotations

import pytest
import sqlalchemy as sa

from interpretations import audit
from interpretations.tables import audit_log
from policies.db import Database
from portal.testing import app_config
from tests.conftest import make_interpretation, make_policy
from tests.test_workflow import published

ATTACKS = ("replace entry 4", "rewrite all, unkeyed hashes", "forged entry appended", "tail cut off")


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def instance(request, tmp_path):
    from server import create_app, start

    config = app_config(tmp_path / "i")
    if request.param == "postgres":
        config["DATABASE_URL"] = request.getfixturevalue("pg_url")
    app = start(create_app(config))
    releases = app.extensions["policybot"].releases
    published(releases)
    published(releases, make_policy("p2"), [make_interpretation("i2", "p2")])
    yield request.param, app
    app.extensions["policybot"].db.dispose()


def _raw(app) -> Database:
    """The attacker's own connection: the database's credentials, not the app's key."""
    return Database(app.config["DATABASE_URL"])


def _drop_triggers(conn) -> None:
    if conn.dialect.name == "sqlite":
        for name in ("audit_log_no_update", "audit_log_no_delete", "audit_log_no_replace"):
            conn.exec_driver_sql(f"DROP TRIGGER IF EXISTS {name}")
    else:
        conn.exec_driver_sql("ALTER TABLE audit_log DISABLE TRIGGER USER")


def _rows(conn) -> list[dict]:
    return [dict(r) for r in conn.execute(sa.select(audit_log).order_by(audit_log.c.seq)).mappings()]


def _replace_sql(conn, row: dict):
    values = {**row, "actor": "mallory"}
    columns = ", ".join(values)
    marks = ", ".join(f":{k}" for k in values)
    if conn.dialect.name == "sqlite":
        return sa.text(f"INSERT OR REPLACE INTO audit_log ({columns}) VALUES ({marks})"), values
    return sa.text(f"INSERT INTO audit_log ({columns}) VALUES ({marks}) "
                   "ON CONFLICT (seq) DO UPDATE SET actor = EXCLUDED.actor"), values


def replace_entry(db: Database) -> str:
    with db.engine.connect() as conn:
        with conn.begin():
            row = next(r for r in _rows(conn) if r["seq"] == 4)
        try:
            with conn.begin():
                conn.execute(*_replace_sql(conn, row))
        except sa.exc.DBAPIError as refused:
            assert "append-only" in str(refused)
        else:
            return "NOT refused by the database"
        with conn.begin():  # the same, by someone who drops the triggers first
            _drop_triggers(conn)
            conn.execute(*_replace_sql(conn, row))
    return "refused by the database; "


def rewrite_all(db: Database) -> str:
    """Every entry rewritten (one actor renamed) and re-chained with plain SHA-256 hashes."""
    with db.engine.begin() as conn:
        _drop_triggers(conn)
        rows = _rows(conn)
        conn.execute(audit_log.delete())
        previous = audit.GENESIS
        for row in rows:
            row.update(actor="mallory" if row["actor"] == "wang.reviewer" else row["actor"],
                       prev_hash=previous, chain=None)
            row["entry_hash"] = previous = audit.entry_hash(row)
            conn.execute(audit_log.insert().values(**row))
    return ""


def forge_append(db: Database) -> str:
    """A correctly chained entry at the end, carrying the instance's key label."""
    with db.engine.begin() as conn:
        last = _rows(conn)[-1]
        entry = {**{k: last[k] for k in audit.HASHED_FIELDS}, "actor": "mallory", "action": "publish",
                 "prev_hash": last["entry_hash"], "chain": last["chain"], "comment": "forged"}
        entry["entry_hash"] = audit.entry_hash(entry)
        conn.execute(audit_log.insert().values(**entry))  # a plain INSERT: the triggers allow it
    return ""


def cut_tail(db: Database) -> str:
    with db.engine.begin() as conn:
        _drop_triggers(conn)
        conn.execute(audit_log.delete().where(audit_log.c.seq >= 9))
    return ""


@pytest.mark.parametrize("attack", ATTACKS)
def test_tampering_is_refused_or_detected(instance, attack):
    database, app = instance
    assert app.test_cli_runner().invoke(args=["verify-audit"]).exit_code == 0
    db = _raw(app)
    try:
        prefix = {"replace entry 4": replace_entry, "rewrite all, unkeyed hashes": rewrite_all,
                  "forged entry appended": forge_append, "tail cut off": cut_tail}[attack](db)
    finally:
        db.dispose()
    result = app.test_cli_runner().invoke(args=["verify-audit"])
    last_line = result.output.strip().splitlines()[-1]
    outcome = prefix + (f"detected: {last_line}" if result.exit_code else "MISSED")
    # Each attack prints its own row (the "figures" section of the summary collects them):
    # no test depends on another having run first.
    print(f"audit tampering | {attack} | {database} | {outcome}")
    assert "NOT refused" not in outcome
    assert result.exit_code == 1 and "BROKEN" in result.output, result.output

"""Migrations 0009–0013 of issue 13 go down and up again on SQLite and PostgreSQL, and the
append-only audit triggers survive them (the REPLACE trigger comes and goes with 0010)."""
from __future__ import annotations

import sqlalchemy as sa
from alembic import command
from alembic.script import ScriptDirectory

from policies.db import Database, alembic_config

OURS = {"0011_must_change_password": "0009_login_devices", "0009_login_devices": "0005_portal",
        "0010_audit_keyed": "0001_foundation", "0012_simulated_subscribers": "0006_push",
        "0013_simulated_questions": "0008_answer_ref"}


STEPS = [("0011_must_change_password", "staff_users", "must_change_password"),
         ("0009_login_devices", "staff_login_failures", "device"),
         ("0012_simulated_subscribers", "push_subscribers", "simulated"),
         ("0013_simulated_questions", "question_log", "simulated"),
         ("0010_audit_keyed", "audit_log", "chain")]


def _columns(database, table) -> set[str]:
    return {c["name"] for c in sa.inspect(database.engine).get_columns(table)}


def _triggers(database) -> set[str]:
    sql = ("SELECT name FROM sqlite_master WHERE type = 'trigger'" if database.is_sqlite else
           "SELECT tgname FROM pg_trigger WHERE tgrelid = 'audit_log'::regclass")
    with database.read() as conn:
        return set(conn.exec_driver_sql(sql).scalars())


def test_down_and_up_again(any_db_url):
    database = Database(any_db_url)
    try:
        database.upgrade()
        config = alembic_config(database.url)
        # 0010 last: its parent is the foundation, so going below it takes every branch down
        for revision, table, column in STEPS:
            command.downgrade(config, f"{revision}-1")
            database.engine.dispose()
            assert column not in _columns(database, table), revision
        database.upgrade()
        database.engine.dispose()
        assert all(column in _columns(database, table) for _, table, column in STEPS)
        with database.read() as conn:
            versions = set(conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalars())
        assert versions == set(ScriptDirectory.from_config(config).get_heads())  # all the way up
        assert _triggers(database) >= ({"audit_log_no_update", "audit_log_no_delete", "audit_log_no_replace"}
                                       if database.is_sqlite else {"audit_log_no_change"})
    finally:
        database.dispose()

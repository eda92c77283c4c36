"""verify-audit detects a modified, deleted or reordered entry and names the first one."""
import sqlite3

import pytest

from interpretations import audit
from tests.conftest import make_interpretation, make_policy
from tests.test_workflow import published


@pytest.fixture
def audited_app(app):
    releases = app.extensions["policybot"].releases
    published(releases)
    published(releases, make_policy("p2"), [make_interpretation("i2", "p2")])
    return app


def sqlite_path(app):
    return app.config["DATABASE_URL"].removeprefix("sqlite:///")


def tamper(app, *statements):
    """Change the log behind the database's back: drop the append-only triggers first."""
    conn = sqlite3.connect(sqlite_path(app))
    conn.execute("DROP TRIGGER audit_log_no_update")
    conn.execute("DROP TRIGGER audit_log_no_delete")
    for statement in statements:
        conn.execute(statement)
    conn.commit()
    conn.close()


def verify(app):
    return app.test_cli_runner().invoke(args=["verify-audit"])


def test_an_intact_chain_verifies(audited_app):
    result = verify(audited_app)
    assert result.exit_code == 0 and "10 entries verified (10 sealed with the audit key)" in result.output
    assert "10 signed checkpoints match" in result.output


@pytest.mark.parametrize("name, statements, first_broken", [
    ("modified", ["UPDATE audit_log SET actor = 'mallory' WHERE seq = 4"], 4),
    ("deleted", ["DELETE FROM audit_log WHERE seq = 6"], 7),
    ("reordered", ["UPDATE audit_log SET seq = 100 WHERE seq = 3",
                   "UPDATE audit_log SET seq = 3 WHERE seq = 5",
                   "UPDATE audit_log SET seq = 5 WHERE seq = 100"], 3),
    ("comment rewritten", ["UPDATE audit_log SET comment = '同意' WHERE seq = 10"], 10),
])
def test_tampering_is_detected_at_the_first_broken_entry(audited_app, name, statements, first_broken):
    tamper(audited_app, *statements)
    result = verify(audited_app)
    print(f"{name}: exit {result.exit_code}, {result.output.strip()}")
    assert result.exit_code == 1
    assert f"BROKEN at entry {first_broken}:" in result.output


def test_a_cut_off_tail_is_detected_with_an_anchor(audited_app, tmp_path):
    anchor = str(tmp_path / "audit.anchor")
    runner = audited_app.test_cli_runner()
    assert runner.invoke(args=["verify-audit", "--anchor", anchor]).exit_code == 0
    tamper(audited_app, "DELETE FROM audit_log WHERE seq >= 9")
    result = verify(audited_app)  # the signed checkpoints see it even without an anchor
    assert result.exit_code == 1 and "已记入签名检查点）不见了" in result.output
    result = runner.invoke(args=["verify-audit", "--anchor", anchor])
    assert result.exit_code == 1


def test_entries_written_before_the_key_are_sealed_at_start(tmp_path):
    """An instance upgraded from the unkeyed chain: its old entries stay, sealed by one keyed
    entry on the next start; rewriting them (hashes recomputed) breaks at that seal."""
    from interpretations.workflow import Hooks, Releases
    from policies.db import Database, sqlite_url
    from portal.testing import app_config
    from server import create_app, start

    (tmp_path / "i").mkdir()
    old = Database(sqlite_url(tmp_path / "i" / "policybot.sqlite3"))
    old.upgrade()
    published(Releases(old, Hooks()))  # five entries, no key (as before this version)
    old.dispose()
    app = start(create_app(app_config(tmp_path / "i")))
    try:
        result = verify(app)
        assert result.exit_code == 0 and "6 entries verified (1 sealed with the audit key)" in result.output
        conn = sqlite3.connect(sqlite_path(app))
        for name in ("audit_log_no_update", "audit_log_no_delete"):
            conn.execute(f"DROP TRIGGER {name}")
        previous = audit.GENESIS
        for row in conn.execute("SELECT * FROM audit_log WHERE chain IS NULL ORDER BY seq").fetchall():
            names = [d[0] for d in conn.execute("SELECT * FROM audit_log LIMIT 0").description]
            entry = dict(zip(names, row, strict=True))
            entry.update(actor="mallory" if entry["seq"] == 2 else entry["actor"], prev_hash=previous)
            entry["entry_hash"] = previous = audit.entry_hash(entry)
            conn.execute("UPDATE audit_log SET actor = ?, prev_hash = ?, entry_hash = ? WHERE seq = ?",
                         (entry["actor"], entry["prev_hash"], entry["entry_hash"], entry["seq"]))
        conn.commit()
        conn.close()
        result = verify(app)
        assert result.exit_code == 1 and "BROKEN at entry 6: 与前一条记录接不上" in result.output
    finally:
        app.extensions["policybot"].db.dispose()

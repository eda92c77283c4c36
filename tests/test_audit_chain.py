"""verify-audit detects a modified, deleted or reordered entry and names the first one."""
import sqlite3

import pytest

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
    assert result.exit_code == 0 and "10 entries verified" in result.output


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
    assert verify(audited_app).exit_code == 0  # the chain alone cannot see a cut-off tail
    result = runner.invoke(args=["verify-audit", "--anchor", anchor])
    assert result.exit_code == 1 and "removed from the end" in result.output

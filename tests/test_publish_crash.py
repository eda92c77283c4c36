"""A process killed in the middle of publishing leaves no half-published release.

The publishing process is a real subprocess, killed with SIGKILL right after its N-th SQL
statement inside the publish transaction, for every N the transaction has."""
import signal
import subprocess
import sys
import textwrap

import pytest

from interpretations.workflow import Hooks, Releases
from policies import store
from policies.db import Database
from tests.conftest import DRAFTER, REVIEWER, ROOT, SIGNER, make_interpretation, make_policy

PUBLISHER = textwrap.dedent("""
    import os, signal, sys
    from sqlalchemy import event
    from interpretations.workflow import Actor, Hooks, Releases
    from policies.db import Database
    url, kill_after, release_id = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    db = Database(url)
    seen = 0
    @event.listens_for(db.engine, "after_cursor_execute")
    def count(conn, cursor, statement, *args):
        global seen
        seen += 1
        if seen == kill_after:
            os.kill(os.getpid(), signal.SIGKILL)
    Releases(db, Hooks()).publish(Actor("zhao.signer", "signer"), release_id)
    print("STATEMENTS", seen)
""")


def signed_release(db):
    releases = Releases(db, Hooks())
    release_id = releases.create(DRAFTER, make_policy("p1", importance="major"),
                                 [make_interpretation("i1"), make_interpretation("i2")])
    releases.submit(DRAFTER, release_id)
    releases.review(REVIEWER, release_id, "ok")
    releases.sign(SIGNER, release_id)
    return releases, release_id


def run_publisher(url, kill_after, release_id):
    return subprocess.run([sys.executable, "-c", PUBLISHER, url, str(kill_after), str(release_id)],
                          cwd=ROOT, capture_output=True, text=True, timeout=60)


@pytest.mark.slow
def test_killing_the_publisher_at_every_statement_leaves_all_or_nothing(any_db_url):
    db = Database(any_db_url)
    db.upgrade()
    releases, release_id = signed_release(db)
    total = count_statements(any_db_url, release_id)
    outcomes = []
    for kill_after in range(1, total + 1):
        result = run_publisher(any_db_url, kill_after, release_id)
        assert result.returncode == -signal.SIGKILL, result.stderr
        outcomes.append(state_of(releases, release_id))
    print(f"killed at {total} points: {outcomes.count('unpublished')} unpublished, "
          f"{outcomes.count('published')} published, 0 half-published")
    assert set(outcomes) == {"unpublished"}  # the commit is the last statement
    assert run_publisher(any_db_url, 10_000, release_id).returncode == 0
    assert state_of(releases, release_id) == "published"
    db.dispose()


def count_statements(url, release_id):
    """The statements of the publish transaction, counted by a publisher whose last
    in-transaction hook raises, so that it rolls back and the release stays signed."""
    script = PUBLISHER.replace('Releases(db, Hooks()).publish',
                               'import contextlib\n'
                               'class Stop(Exception): pass\n'
                               'def stop(conn, info): raise Stop()\n'
                               'hooks = Hooks(); hooks.publishing.append(stop)\n'
                               'with contextlib.suppress(Stop): Releases(db, hooks).publish')
    out = subprocess.run([sys.executable, "-c", script, url, "100000", str(release_id)],
                         cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    return int(out.stdout.split()[-1])


def state_of(releases, release_id):
    state = releases.get(release_id)["state"]
    with releases.db.read() as conn:
        seen = {store.get_visibility(conn, d) for d in ("p1", "i1", "i2")}
    if state == "signed" and seen == {"draft"}:
        return "unpublished"
    if state == "published" and seen == {"public"}:
        return "published"
    return f"HALF: release {state}, documents {seen}"

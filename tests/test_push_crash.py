"""The sender in separate processes: kill -9 at random points (0 duplicates, 0 lost, unknown
rows listed) and two senders at once on SQLite and PostgreSQL (0 duplicates)."""
import json
import multiprocessing
import os
import pathlib
import random
import signal
import subprocess
import sys
import time

import pytest
import sqlalchemy as sa

from bot.push.bulk import add_subscribers
from bot.push.outbox import unknown_rows
from bot.push.runner import run_sender
from bot.push.service import Push
from bot.push.tables import outbox
from bot.subscribers import Subscribers
from interpretations.workflow import Hooks, Releases
from policies.db import Database, sqlite_url
from tests.conftest import DRAFTER, REVIEWER, SIGNER, make_policy

ROOT = pathlib.Path(__file__).resolve().parent.parent
TEMPLATE = "/cgi-bin/message/template/send"
SECRET = "crash-test-secret"


def sender_env(fake) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("POLICYBOT_")}
    env.update(POLICYBOT_WECHAT_APPID=fake.appid, POLICYBOT_WECHAT_APPSECRET=fake.secret,
               POLICYBOT_WECHAT_API_BASE=fake.url, POLICYBOT_WECHAT_TIMEOUT="2,2",
               POLICYBOT_PUSH_TEMPLATE_ID="TPL", POLICYBOT_PUSH_RATES='{"template": 0}',
               POLICYBOT_OPENID_KEY=SECRET, POLICYBOT_PUSH_BATCH="50", PYTHONPATH=str(ROOT))
    return env


def start_sender(url: str, fake, name: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "bot.push.runner", "--database-url", url, "--name", name],
                            cwd=ROOT, env=sender_env(fake), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)


def queue_release(url: str, count: int, channel: str = "template") -> tuple[Database, int]:
    db = Database(url)
    db.upgrade()
    subs = Subscribers(db, secret=SECRET)
    add_subscribers(db, subs.cipher, [{"openid": f"oCRASH{i:022d}", "tags": [("就业创业", "topic")]}
                                      for i in range(count)])
    releases = Releases(db, Hooks())
    Push(db, {"PUSH_CHANNEL": channel}, subs).register(releases.hooks)
    release_id = releases.create(DRAFTER, make_policy("p-crash"))
    releases.submit(DRAFTER, release_id)
    releases.review(REVIEWER, release_id, "无涉密")
    releases.sign(SIGNER, release_id)
    releases.publish(SIGNER, release_id)
    return db, release_id


def states(db) -> dict:
    with db.read() as conn:
        return dict(conn.execute(sa.select(outbox.c.state, sa.func.count()).group_by(outbox.c.state)).all())


def wait_for_more_deliveries(fake, seen: int, proc, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    alive = proc.is_alive if hasattr(proc, "is_alive") else (lambda: proc.poll() is None)
    while len(fake.deliveries) <= seen and alive() and time.monotonic() < deadline:
        time.sleep(0.005)


def sender_config(fake) -> dict:
    return {key[len("POLICYBOT_"):]: value for key, value in sender_env(fake).items()
            if key.startswith("POLICYBOT_")} | {"PUSH_RATES": {"template": 0}}


def test_kill_9_at_50_random_points_loses_and_duplicates_nothing(fake_wechat, tmp_path):
    total, kills = 10_000, 50
    url = sqlite_url(tmp_path / "crash.sqlite3")
    db, release_id = queue_release(url, total)
    # Sender processes come from a fork server that has imported the sender once: a restart
    # then costs milliseconds instead of an interpreter start-up (never a fork of pytest).
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload(["bot.push.runner"])
    config, rng = sender_config(fake_wechat), random.Random(20261127)
    started, killed = time.monotonic(), 0
    while killed < kills:
        proc = ctx.Process(target=run_sender, args=(url, config, "crash-sender"))
        proc.start()
        wait_for_more_deliveries(fake_wechat, len(fake_wechat.deliveries), proc)
        time.sleep(rng.uniform(0.0, 0.1))  # somewhere in claim / send / record
        if not proc.is_alive():
            break  # it finished everything before we could kill it
        os.kill(proc.pid, signal.SIGKILL)
        proc.join()
        killed += 1
    final = ctx.Process(target=run_sender, args=(url, config, "crash-sender"))
    final.start()
    final.join(300)
    assert final.exitcode == 0
    counts = fake_wechat.delivery_counts(TEMPLATE)
    with db.read() as conn:
        rows = conn.execute(sa.select(outbox.c.state, outbox.c.client_msg_id)).all()
    sent_keys = {key for state, key in rows if state == "sent"}
    delivered_keys = {key for _, key in counts}
    unknown = unknown_rows(db, release_id)
    duplicates = sum(c - 1 for c in counts.values() if c > 1)
    lost = len(sent_keys - delivered_keys) + len([1 for state, _ in rows if state not in ("sent", "unknown")])
    print(f"kill -9 x{killed} over {total} subscribers in {time.monotonic() - started:.1f} s: "
          f"deliveries {len(counts)}, duplicates {duplicates}, lost {lost}, unknown {len(unknown)} "
          f"{[u['id'] for u in unknown][:20]}, states {states(db)}")
    assert killed == kills
    assert duplicates == 0 and lost == 0
    assert len(sent_keys) + len(unknown) == total
    assert delivered_keys <= {key for _, key in rows}
    db.dispose()


def test_kill_9_without_an_idempotency_key_leaves_at_most_one_unknown_per_kill(fake_wechat, tmp_path):
    """Subscribe messages (bizsend) carry no idempotency key: a row interrupted mid-send is
    never resent but listed unknown, and rows are recorded one by one."""
    total, kills = 600, 8
    url = sqlite_url(tmp_path / "bizsend.sqlite3")
    db, release_id = queue_release(url, total, channel="subscribe")
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload(["bot.push.runner"])
    config = sender_config(fake_wechat) | {"PUSH_SUBSCRIBE_TEMPLATE_ID": "SUB"}
    rng, killed = random.Random(6), 0
    while killed < kills:
        proc = ctx.Process(target=run_sender, args=(url, config, "biz-sender"))
        proc.start()
        wait_for_more_deliveries(fake_wechat, len(fake_wechat.deliveries), proc)
        time.sleep(rng.uniform(0.0, 0.02))
        if not proc.is_alive():
            break
        os.kill(proc.pid, signal.SIGKILL)
        proc.join()
        killed += 1
    final = ctx.Process(target=run_sender, args=(url, config, "biz-sender"))
    final.start()
    final.join(120)
    counts = fake_wechat.delivery_counts("/cgi-bin/message/subscribe/bizsend")
    duplicates = sum(c - 1 for c in counts.values() if c > 1)
    unknown = unknown_rows(db, release_id)
    print(f"bizsend, kill -9 x{killed} over {total}: deliveries {len(counts)}, duplicates {duplicates}, "
          f"unknown {len(unknown)}, states {states(db)}")
    assert final.exitcode == 0 and duplicates == 0 and killed >= 4
    assert len(unknown) <= killed
    assert states(db).get("sent", 0) + len(unknown) == total
    assert total - len(unknown) <= len(counts) <= total
    db.dispose()


@pytest.mark.parametrize("backend", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_two_senders_at_once_never_duplicate(fake_wechat, tmp_path, request, backend):
    url = sqlite_url(tmp_path / "two.sqlite3") if backend == "sqlite" else request.getfixturevalue("pg_url")
    total = 1_000
    db, release_id = queue_release(url, total)
    fake_wechat.slow(TEMPLATE, 0.001)  # keep both busy long enough to overlap
    procs = [start_sender(url, fake_wechat, f"two-{i}") for i in range(2)]
    reports = []
    for proc in procs:
        out, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err
        reports.append(json.loads(out.strip().splitlines()[-1]))
    counts = fake_wechat.delivery_counts(TEMPLATE)
    duplicates = sum(c - 1 for c in counts.values() if c > 1)
    print(f"two senders on {backend}: sent {[r['sent'] for r in reports]}, "
          f"deliveries {len(counts)}, duplicates {duplicates}")
    assert duplicates == 0 and len(counts) == total
    assert sum(r["sent"] for r in reports) == total and states(db) == {"sent": total}
    assert all(r["sent"] > 0 for r in reports), "the two senders did not overlap"
    db.dispose()

"""Targeted push: matching with reasons, the outbox in the publishing transaction, the
sender's outcomes (retry, pause, permanent errors, dedupe), revocation, TEMPLATESENDJOBFINISH."""
import threading
import time
import types

import pytest
import sqlalchemy as sa

from bot.push import message, outbox
from bot.push.bulk import add_subscribers
from bot.push.outbox import client_msg_id, handle_template_job_finished, release_stats
from bot.push.sender import resume
from bot.push.service import Push
from bot.push.tables import outbox as outbox_table
from bot.subscribers import Subscribers
from bot.wechat_api import make_client
from tests.conftest import DRAFTER, REVIEWER, SIGNER, make_interpretation, make_policy

TEMPLATE = "/cgi-bin/message/template/send"
REGION = "江西省南昌市经开区"


def push_config(fake, **extra):
    return {"WECHAT_APPID": fake.appid, "WECHAT_APPSECRET": fake.secret, "WECHAT_API_BASE": fake.url,
            "WECHAT_TIMEOUT": "0.5,0.5", "PUSH_TEMPLATE_ID": "TPL-POLICY", "PUSH_RATES": {"template": 0},
            "PUSH_BACKOFF_BASE": 0.01, "PUSH_LEASE_SECONDS": 5, "PUBLIC_URL": "https://zw.example.gov.cn",
            "PUSH_SUBSCRIBE_TEMPLATE_ID": "SUB-TPL", **extra}


def make_env(db, releases, fake, **extra):
    config = push_config(fake, **extra)
    subs = Subscribers(db, secret="test-secret")
    push = Push(db, config, subs, lambda: make_client(config, db))
    push.register(releases.hooks)
    alerts = []
    return types.SimpleNamespace(db=db, releases=releases, fake=fake, subs=subs, push=push,
                                 config=config, alerts=alerts)


@pytest.fixture
def env(db, releases, fake_wechat):
    return make_env(db, releases, fake_wechat)


def publish(releases, policy, interpretations=()):
    release_id = releases.create(DRAFTER, policy, list(interpretations))
    releases.submit(DRAFTER, release_id)
    releases.review(REVIEWER, release_id, "无涉密及个人信息")
    releases.sign(SIGNER, release_id)
    return releases.publish(SIGNER, release_id).id


def openid(n: int) -> str:
    return f"oPUSH{n:023d}"


def people(n: int, tag="就业创业", source="topic", start=0):
    return [{"openid": openid(i), "tags": [(tag, source)]} for i in range(start, start + n)]


def sender(env, name=None):
    s = env.push.sender(name=name)
    s.alert = env.alerts.append
    return s


def drain(env, name=None, seconds=10.0):
    """Run one-shot senders until nothing is pending (retries become due after backoff)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        sender(env, name).run(once=True)
        if release_counts(env)["pending"] == 0:
            return
        time.sleep(0.02)
    raise AssertionError(f"still pending after {seconds} s: {release_counts(env)}")


def release_counts(env):
    with env.db.read() as conn:
        return dict(conn.execute(sa.select(outbox_table.c.state, sa.func.count())
                                 .group_by(outbox_table.c.state)).all()) | {"pending": conn.execute(
            sa.select(sa.func.count()).select_from(outbox_table)
            .where(outbox_table.c.state == "pending")).scalar()}


# -- matching -------------------------------------------------------------------------------

def test_matching_finds_the_concerned_subscribers_with_a_reason(env):
    subs = env.subs
    publish(env.releases, make_policy("seed", topics=["就业创业"], audience=["高校毕业生", "小微企业"]))
    subs.subscribe("oTopic", "就业创业")
    subs.update_profile("oGraduate", groups=["高校毕业生"], consent=True, region=REGION)
    subs.update_profile("oFirm", kind="enterprise", size_class="小微", consent=True)
    subs.update_profile("oNoConsent", groups=["高校毕业生"], consent=False)
    subs.update_profile("oElsewhere", groups=["高校毕业生"], consent=True, region="广东省广州市")
    subs.update_profile("oGeneric", groups=["个人"], consent=True)
    subs.update_profile("oVeteran", groups=["退役军人"], consent=True)
    release_id = publish(env.releases, make_policy(
        "p-jobs", topics=["就业创业"], audience=["个人", "高校毕业生", "小微企业"], region=REGION))
    reasons = {m.subscriber_id: m.reason for m in env.push.preview(release_id)}
    by_openid = {o: subs.subscriber_id(o) for o in ("oTopic", "oGraduate", "oFirm")}
    assert set(reasons) == set(by_openid.values())
    assert reasons[by_openid["oTopic"]] == "您订阅了「就业创业」"
    assert reasons[by_openid["oGraduate"]] == "适用人群：高校毕业生"
    assert reasons[by_openid["oFirm"]] == "适用对象：小微企业"
    assert release_stats(env.db, release_id)["matched"] == 3


def test_a_nationwide_policy_reaches_every_region_and_an_expired_one_nobody(env):
    env.subs.update_profile("oGz", groups=["高校毕业生"], consent=True, region="广东省广州市")
    nationwide = publish(env.releases, make_policy("p-nat", audience=["高校毕业生"], region="全国"))
    expired = publish(env.releases, make_policy("p-old", audience=["高校毕业生"], region="全国",
                                                status="expired"))
    assert len(env.push.preview(nationwide)) == 1 and env.push.preview(expired) == []


def test_a_policy_past_its_end_date_reaches_nobody_and_one_not_yet_in_force_says_so(env):
    """policies.status decides: dates count, not only the status field."""
    env.subs.update_profile("oGz", groups=["高校毕业生"], consent=True, region="广东省广州市")
    ran_out = publish(env.releases, make_policy("p-ran-out", audience=["高校毕业生"], region="全国",
                                                valid_until="2025-12-31"))
    soon = publish(env.releases, make_policy("p-soon", audience=["高校毕业生"], region="全国",
                                             valid_from="2099-01-01"))
    assert env.push.preview(ran_out) == []
    assert len(env.push.preview(soon)) == 1
    with env.db.read() as conn:
        summary = message.summary_of(conn, soon)
    assert summary.status == "尚未施行（2099-01-01起施行）"
    assert "尚未施行（2099-01-01起施行）" in message.render_text(summary, "适用人群：高校毕业生", "https://x")


# -- outbox --------------------------------------------------------------------------------

def test_the_outbox_is_written_in_the_publishing_transaction(env):
    add_subscribers(env.db, env.subs.cipher, people(20))

    def failing_hook(conn, info):
        raise RuntimeError("index down")
    env.releases.hooks.publishing.append(failing_hook)
    with pytest.raises(RuntimeError):
        publish(env.releases, make_policy("p1"))
    with env.db.read() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(outbox_table)).scalar() == 0
    env.releases.hooks.publishing.remove(failing_hook)
    release_id = env.releases.release_of("p1")
    env.releases.publish(SIGNER, release_id)
    stats = release_stats(env.db, release_id)
    assert stats["matched"] == stats["pending"] == 20
    with env.db.read() as conn:
        keys = conn.execute(sa.select(outbox_table.c.subscriber_id, outbox_table.c.client_msg_id)).all()
    assert all(key == client_msg_id(release_id, sid, "template") for sid, key in keys)
    assert len({k for _, k in keys}) == 20 and all(len(k) <= 64 for _, k in keys)


def test_sending_delivers_each_push_once_with_its_reason(env):
    add_subscribers(env.db, env.subs.cipher, people(30))
    release_id = publish(env.releases, make_policy("p1", doc_number="洪经管办发〔2026〕7号"))
    report = sender(env).run(once=True)
    assert report.sent == 30
    sender(env).run(once=True)  # nothing left: nothing sent again
    counts = env.fake.delivery_counts(TEMPLATE)
    assert len(counts) == 30 and max(counts.values()) == 1
    body = env.fake.delivered(TEMPLATE)[0].body
    assert body["data"]["first"]["value"] == "您订阅了「就业创业」"
    assert body["url"] == "https://zw.example.gov.cn/p/p1" and body["template_id"] == "TPL-POLICY"
    assert release_stats(env.db, release_id)["sent"] == 30


def test_withdrawing_cancels_pending_rows(env):
    add_subscribers(env.db, env.subs.cipher, people(10))
    release_id = publish(env.releases, make_policy("p1"))
    env.releases.withdraw(SIGNER, release_id, "内容有误")
    assert release_stats(env.db, release_id)["cancelled"] == 10
    assert sender(env).run(once=True).claimed == 0
    assert env.fake.delivered() == []


@pytest.fixture
def pg_env(pg_url, fake_wechat):
    from interpretations.workflow import Hooks, Releases
    from policies.db import Database
    database = Database(pg_url)
    database.upgrade()
    yield make_env(database, Releases(database, Hooks()), fake_wechat)
    database.dispose()


@pytest.mark.postgres
def test_revocation_mid_push_on_postgres(pg_env):
    test_revocation_mid_push_sends_nothing_afterwards(pg_env)


def test_settings_read_json_from_the_environment():
    from bot.push.sender import SenderSettings
    settings = SenderSettings.from_config({"PUSH_RATES": '{"template": 5}', "PUSH_BATCH": "7"})
    assert settings.rates == {"template": 5} and settings.batch == 7


def test_revocation_mid_push_sends_nothing_afterwards(env):
    add_subscribers(env.db, env.subs.cipher, people(400))
    release_id = publish(env.releases, make_policy("p1"))
    env.fake.slow(TEMPLATE, 0.005)
    worker = threading.Thread(target=lambda: sender(env).run(once=True))
    worker.start()
    while len(env.fake.delivered(TEMPLATE)) < 60:
        time.sleep(0.005)
    env.releases.withdraw(SIGNER, release_id, "撤回")
    at_revocation = len(env.fake.delivered(TEMPLATE))
    revoked_at = time.time()
    worker.join(30)
    after = [d for d in env.fake.delivered(TEMPLATE) if d.at > revoked_at]
    print(f"revocation mid-push: {at_revocation} sent before, {len(after)} after")
    assert not worker.is_alive() and after == []
    assert len(env.fake.delivered(TEMPLATE)) == at_revocation
    stats = release_stats(env.db, release_id)
    assert stats["sent"] == at_revocation and stats["pending"] == stats["sending"] == 0


def test_unfollow_and_forget_stop_pushes(env):
    add_subscribers(env.db, env.subs.cipher, people(3))
    publish(env.releases, make_policy("p1"))
    env.subs.on_unfollow(openid(0))
    env.subs.forget(openid(1))
    sender(env).run(once=True)
    assert [d.openid for d in env.fake.delivered()] == [openid(2)]


# -- errors ----------------------------------------------------------------------------------

def test_45009_pauses_alerts_and_never_clears_the_quota(env):
    add_subscribers(env.db, env.subs.cipher, people(10))
    release_id = publish(env.releases, make_policy("p1"))
    env.fake.fail(TEMPLATE, 45009, times=None)
    report = sender(env).run(once=True)
    assert report.paused == ["template"] and len(env.alerts) == 1 and "45009" in env.alerts[0]
    assert env.fake.calls[TEMPLATE] == 1  # the rest of the batch was not tried
    assert sender(env).run(once=True).claimed == 0  # paused: nothing claimed
    assert release_stats(env.db, release_id)["pending"] == 10
    assert env.fake.calls["/cgi-bin/clear_quota"] == 0
    with env.db.read() as conn:  # nothing was delivered: the dedupe window starts afresh later
        starts = set(conn.execute(sa.select(outbox_table.c.first_attempt_at)).scalars())
    assert starts == {None}
    env.fake.clear_faults()
    assert resume(env.db, "template")
    assert sender(env).run(once=True).sent == 10


def test_a_permanent_error_fails_the_row_and_marks_the_subscriber(env):
    add_subscribers(env.db, env.subs.cipher, people(3))
    release_id = publish(env.releases, make_policy("p1"))
    env.fake.fail(TEMPLATE, 43004, times=None, openid=openid(1))
    sender(env).run(once=True)
    stats = release_stats(env.db, release_id)
    assert (stats["sent"], stats["failed"]) == (2, 1)
    assert env.subs.profile(openid(1))["blocked_reason"] == "unfollowed (43004)"
    second = publish(env.releases, make_policy("p2"))
    assert release_stats(env.db, second)["matched"] == 2  # a blocked subscriber is not matched


def test_system_busy_is_retried_with_backoff(env):
    add_subscribers(env.db, env.subs.cipher, people(5))
    publish(env.releases, make_policy("p1"))
    env.fake.fail(TEMPLATE, -1, times=3)
    env.fake.fail(TEMPLATE, http_status=502, times=2)
    drain(env)
    counts = env.fake.delivery_counts(TEMPLATE)
    assert len(counts) == 5 and max(counts.values()) == 1


def test_a_timeout_is_resent_under_the_same_client_msg_id_and_delivered_once(env):
    add_subscribers(env.db, env.subs.cipher, people(3))
    publish(env.releases, make_policy("p1"))
    held = env.fake.hold(TEMPLATE, times=1)  # past the read timeout: WeChat delivered, we do not know
    drain(env)
    held.set()  # the first attempt completes on the server too
    env.fake.wait_idle()
    counts = env.fake.delivery_counts(TEMPLATE)
    assert len(counts) == 3 and max(counts.values()) == 1
    assert env.fake.calls[TEMPLATE] == 4


def test_a_timeout_without_an_idempotency_key_becomes_unknown(db, releases, fake_wechat):
    env = make_env(db, releases, fake_wechat, PUSH_CHANNEL="subscribe")
    add_subscribers(env.db, env.subs.cipher, people(2))
    release_id = publish(env.releases, make_policy("p1"))
    held = env.fake.hold("/cgi-bin/message/subscribe/bizsend", times=1)
    drain(env)
    held.set()
    stats = release_stats(env.db, release_id)
    assert (stats["unknown"], stats["sent"]) == (1, 1)
    rows = outbox.unknown_rows(env.db, release_id)
    outbox.decide_unknown(env.db, rows[0]["id"], "failed", "wang.reviewer")
    assert release_stats(env.db, release_id)["failed"] == 1


@pytest.mark.parametrize("fault", ["40001 forever", "black-holed TCP", "black-holed send"])
def test_bounded_token_fetches_and_no_hang(db, releases, fake_wechat, fault):
    extra = {"PUSH_MAX_ATTEMPTS": 3}
    if fault == "black-holed TCP":
        extra.update(WECHAT_API_BASE=fake_wechat.blackhole_url(), PUSH_MAX_ATTEMPTS=2)
    env = make_env(db, releases, fake_wechat, **extra)
    add_subscribers(env.db, env.subs.cipher, people(4))
    release_id = publish(env.releases, make_policy("p1"))
    if fault == "40001 forever":
        env.fake.fail(TEMPLATE, 40001, times=None)
    if fault == "black-holed send":
        env.push.settings.max_attempts = 2
        env.fake.blackhole(TEMPLATE)
    started = time.monotonic()
    drain(env, seconds=30)
    elapsed = time.monotonic() - started
    stats = release_stats(env.db, release_id)
    print(f"{fault}: {elapsed:.1f} s, token fetches {env.fake.token_fetches}, "
          f"calls {env.fake.calls[TEMPLATE]}, final {stats}")
    assert stats["sent"] == 0 and stats["failed"] + stats["unknown"] == 4
    if fault == "black-holed TCP":  # even the token fetch went nowhere: surely not delivered
        assert stats["failed"] == 4
    if fault == "black-holed send":  # WeChat may have delivered: a person decides
        assert stats["unknown"] == 4 and env.fake.token_fetches == 1
    assert env.fake.token_fetches <= 4 * 3  # at most one per send attempt
    assert env.fake.calls["/cgi-bin/clear_quota"] == 0


def test_template_job_finished_updates_the_row(env):
    add_subscribers(env.db, env.subs.cipher, people(2))
    release_id = publish(env.releases, make_policy("p1"))
    sender(env).run(once=True)
    first, second = env.fake.delivered(TEMPLATE)
    assert handle_template_job_finished(env.db, first.msgid, "success")
    assert handle_template_job_finished(env.db, second.msgid, "failed:user block")
    assert not handle_template_job_finished(env.db, 999999, "success")
    stats = release_stats(env.db, release_id)
    assert (stats["sent"], stats["failed"]) == (1, 1)
    assert env.subs.profile(second.openid)["blocked_reason"] == "user block"


# -- crash recovery without a subprocess ---------------------------------------------------------

def test_rows_left_sending_by_a_dead_sender_are_resent_once_or_listed_unknown(env):
    add_subscribers(env.db, env.subs.cipher, people(6))
    release_id = publish(env.releases, make_policy("p1"))
    dead = sender(env, name="s1")
    dead.settings.batch = 3
    rows = dead.claim()
    for row in rows[:2]:  # it sent two, then died before recording anything
        dead._send(row, dead._summary(env.db.engine.connect(), release_id), env.subs.openid_of(
            _enc(env, row["subscriber_id"])))
    with env.db.write() as conn:  # the third was claimed 20 minutes ago: past the window
        conn.execute(outbox_table.update().where(outbox_table.c.id == rows[2]["id"]).values(
            first_attempt_at=outbox.utcnow() - __import__("datetime").timedelta(minutes=20)))
    sender(env, name="s1").run(once=True)  # the restart recovers its own claims at once
    stats = release_stats(env.db, release_id)
    counts = env.fake.delivery_counts(TEMPLATE)
    assert max(counts.values()) == 1 and len(counts) == 5
    assert stats["unknown"] == 1 and stats["sent"] == 5


def _enc(env, sid):
    from bot.push.tables import subscribers
    with env.db.read() as conn:
        return conn.execute(sa.select(subscribers.c.openid_enc).where(subscribers.c.id == sid)).scalar()


def test_supplementary_release_of_interpretations_is_pushed_too(env):
    publish(env.releases, make_policy("p1", topics=["社会保险"]))
    env.subs.subscribe("oReader", "社会保险")
    rid = env.releases.create(DRAFTER, None, [make_interpretation("i9", "p1", topics=["社会保险"])])
    env.releases.submit(DRAFTER, rid)
    env.releases.review(REVIEWER, rid, "ok")
    env.releases.sign(SIGNER, rid)
    env.releases.publish(SIGNER, rid)
    assert [m.reason for m in env.push.preview(rid)] == ["您订阅了「社会保险」"]


def test_the_customer_service_channel_needs_an_open_window(db, releases, fake_wechat):
    env = make_env(db, releases, fake_wechat, PUSH_CHANNEL="custom", PUSH_RATES={"custom": 0})
    publish(env.releases, make_policy("p0", topics=["就业创业"]))  # the topic exists now
    assert env.subs.subscribe(openid(1), "就业创业").ok and env.subs.subscribe(openid(2), "就业创业").ok
    env.subs.touch(openid(1))  # only this one wrote to us in the last 48 hours
    release_id = publish(env.releases, make_policy("p1", topics=["就业创业"]))
    sender(env).run(once=True)
    delivered = env.fake.delivered("/cgi-bin/message/custom/send")
    assert [d.openid for d in delivered] == [openid(1)]
    assert "您订阅了「就业创业」" in delivered[0].body["text"]["content"]
    stats = release_stats(env.db, release_id)
    assert (stats["sent"], stats["failed"]) == (1, 1)


def test_preview_works_before_publication_and_sends_nothing(env):
    add_subscribers(env.db, env.subs.cipher, people(4))
    release_id = env.releases.create(DRAFTER, make_policy("p-draft"))
    env.releases.submit(DRAFTER, release_id)
    env.releases.review(REVIEWER, release_id, "ok")
    env.releases.sign(SIGNER, release_id)
    assert [m.reason for m in env.push.preview(release_id)] == ["您订阅了「就业创业」"] * 4
    assert release_stats(env.db, release_id)["matched"] == 0
    assert sender(env).run(once=True).claimed == 0 and env.fake.delivered() == []

"""The 4-second budget: a slow retrieval never delays the passive reply past 4.5 s; the
answer follows as exactly one customer-service message (certified 服务号) or is kept for the
user's next message (uncertified)."""
from __future__ import annotations

import re
import threading
import time

import pytest
from fake_wechat import FakeWeChat
from test_bot_fakes import FakeSearch, bot_config, create_bot_app, late_deliveries, world_hits

from bot import replies
from bot.callback_client import WeChatSender, text_xml
from bot.web.queueing import queued_seconds

CS_PATH = "/cgi-bin/message/custom/send"


def _wire_push(app):
    """The subscribers and the WeChat client, when the push feature is not registered in FEATURES."""
    svc = app.extensions["policybot"]
    if svc.subscribers is None:
        from bot.subscribers import Subscribers

        svc.subscribers = Subscribers(svc.db)
    if svc.wechat is None:
        from bot.wechat_api import make_client

        svc.wechat = lambda: make_client(app.config, svc.db)


def test_a_retrieval_past_the_budget_replies_success_at_once_and_follows_up_once(tmp_path, fake_wechat):
    """The retrieval is held (a gate, not a sleep) until the passive reply and WeChat's two
    retries are back: the reply cannot have waited for it."""
    from server import start

    gate = threading.Event()
    search = FakeSearch(world_hits(), gate=gate)
    app = start(create_bot_app(tmp_path, search, WECHAT_ACCOUNT="service-certified",
                               BOT_TIME_BUDGET=0.2, WECHAT_APPID=fake_wechat.appid,
                               WECHAT_APPSECRET=fake_wechat.secret,
                               WECHAT_API_BASE=fake_wechat.url))
    _wire_push(app)
    bot = app.extensions["policybot"].bot
    delivered = late_deliveries(bot)
    sender, client = WeChatSender.from_app(app), app.test_client()
    args, body = sender.signed_request(text_xml("o_slow", "失业保险金怎么申领", msg_id=42))
    started = time.monotonic()
    first = client.post("/wechat", query_string=args, data=body)
    elapsed = time.monotonic() - started
    retries = [client.post("/wechat", query_string=args, data=body) for _ in range(2)]  # WeChat's retries
    still_held = not gate.is_set() and not fake_wechat.delivered(CS_PATH)
    gate.set()
    assert delivered.acquire(timeout=30)
    bot.budget.shutdown()  # every retrieval and late delivery has finished: nothing extra can come
    sent = fake_wechat.delivered(CS_PATH)
    print(
        f"slow path: passive reply after {elapsed:.2f} s (budget 0.2 s, {first.data.decode()!r}), "
        f"retries {[r.data.decode() for r in retries]}, follow-up messages {len(sent)}, "
        f"retrievals {search.calls}"
    )
    assert first.status_code == 200 and first.data == b"success" and still_held
    assert all(r.data == b"success" for r in retries)
    assert len(sent) == 1 and sent[0].openid == "o_slow" and search.calls == 1
    assert "失业保险金" in sent[0].body["text"]["content"]


def test_uncertified_account_keeps_the_late_answer_for_the_next_message(tmp_path):
    from server import start

    gate = threading.Event()
    search = FakeSearch(world_hits(), gate=gate)
    app = start(create_bot_app(tmp_path, search, BOT_TIME_BUDGET=0.2))
    delivered = late_deliveries(app.extensions["policybot"].bot)
    sender, client = WeChatSender.from_app(app), app.test_client()
    first = sender.post(client, text_xml("o_sub_acct", "失业保险金怎么申领", msg_id=1))
    assert first.data == b"success" and not gate.is_set()
    gate.set()
    assert delivered.acquire(timeout=30)
    later = sender.reply_text(sender.post(client, text_xml("o_sub_acct", "目录", msg_id=2)))
    assert (
        later.startswith("您上一个问题的答复：\n") and "失业保险金" in later and "现行有效政策目录" in later
    )
    again = sender.reply_text(sender.post(client, text_xml("o_sub_acct", "目录", msg_id=3)))
    assert "您上一个问题的答复" not in again  # delivered once


def test_certified_account_over_quota_keeps_the_answer_without_retrying(tmp_path, fake_wechat):
    from server import start

    gate = threading.Event()
    search = FakeSearch(world_hits(), gate=gate)
    app = start(create_bot_app(tmp_path, search, BOT_TIME_BUDGET=0.2,
                               WECHAT_ACCOUNT="service-certified", WECHAT_APPID=fake_wechat.appid,
                               WECHAT_APPSECRET=fake_wechat.secret,
                               WECHAT_API_BASE=fake_wechat.url))
    _wire_push(app)
    delivered = late_deliveries(app.extensions["policybot"].bot)
    fake_wechat.fail(CS_PATH, 45015, times=None)
    sender, client = WeChatSender.from_app(app), app.test_client()
    assert sender.post(client, text_xml("o_quota", "失业保险金怎么申领", msg_id=1)).data == b"success"
    gate.set()
    assert delivered.acquire(timeout=30)  # the one attempt failed with 45015: kept, not retried
    attempts = fake_wechat.calls[CS_PATH] if isinstance(fake_wechat.calls, dict) else None
    later = sender.reply_text(sender.post(client, text_xml("o_quota", "目录", msg_id=2)))
    print(f"45015 on follow-up: customer-service attempts {attempts}, kept for next message: "
          f"{later.startswith('您上一个问题的答复')}")
    assert attempts == 1 and later.startswith("您上一个问题的答复：\n")


def test_a_late_answer_finishing_while_the_process_exits_is_still_kept(tmp_path):
    from server import create_app, start

    gate = threading.Event()
    search = FakeSearch(world_hits(), gate=gate)
    config = bot_config(tmp_path, BOT_TIME_BUDGET=0.2)
    app = start(create_app(config, bot_search=search))
    bot, sender = app.extensions["policybot"].bot, WeChatSender.from_app(app)
    first = sender.post(app.test_client(), text_xml("o_exiting", "失业保险金怎么申领", msg_id=1))
    assert first.data == b"success"
    bot.after_reply.shutdown()  # as interpreter exit does, while the answer is still being worked on
    gate.set()
    bot.budget.shutdown()       # ... and then waits for that answer
    restarted = start(create_app(config, bot_search=search)).test_client()  # the next process, same instance
    later = sender.reply_text(sender.post(restarted, text_xml("o_exiting", "目录", msg_id=2)))
    assert later.startswith("您上一个问题的答复：\n") and "失业保险金" in later


def _queued_app(tmp_path):
    from server import start

    search = FakeSearch(world_hits())
    app = start(create_bot_app(tmp_path, search, BOT_TIME_BUDGET=4))
    return app, search, WeChatSender.from_app(app), app.test_client()


def test_a_question_that_waited_out_its_budget_in_the_queues_is_not_searched(tmp_path):
    """Stamped by the front proxy 3.8 s before the app began it (a burst's queue): with 0.2 s
    of its 4 s left the question is not searched; the user is asked to send it again, WeChat's
    retry gets the same reply, nothing is logged as an unanswered question, /metrics counts it."""
    app, search, sender, client = _queued_app(tmp_path)
    args, body = sender.signed_request(text_xml("o_queued", "失业保险金怎么申领", msg_id=7))
    stamp = {"X-Request-Start": f"t={time.time() - 3.8:.3f}"}
    first = sender.reply_text(client.post("/wechat", query_string=args, data=body, headers=stamp))
    retry = sender.reply_text(client.post("/wechat", query_string=args, data=body))
    assert first == retry == replies.CROWDED and search.calls == 0
    svc = app.extensions["policybot"]
    svc.bot.flush()
    assert svc.questions.latest_for("o_queued", within_seconds=600) is None
    assert re.search(r"^policybot_callback_shed_total\{pid=\"\d+\"\} 1\.0$",
                     client.get("/metrics").get_data(as_text=True), re.M)
    # the user sends it again, now without a queue: answered
    args, body = sender.signed_request(text_xml("o_queued", "失业保险金怎么申领", msg_id=8))
    assert "失业保险金" in sender.reply_text(client.post("/wechat", query_string=args, data=body))
    assert search.calls == 1


@pytest.mark.parametrize("stamp", [
    lambda now: f"t={now - 1:.3f}",                 # nginx's ${msec}: 1 s in the queue
    lambda now: str(int((now - 1) * 1000)),          # milliseconds
    lambda now: str(int((now - 1) * 1_000_000)),     # microseconds
    lambda now: f"t={now - 3600:.3f}",               # an hour: the proxy's clock is off
    lambda now: f"t={now + 5:.3f}",                  # the future: the same
    lambda now: "soon", lambda now: "t=inf", lambda now: "t=nan", lambda now: ""])
def test_a_question_with_time_left_or_an_unbelievable_stamp_is_answered(tmp_path, stamp):
    app, search, sender, client = _queued_app(tmp_path)
    args, body = sender.signed_request(text_xml("o_stamped", "失业保险金怎么申领", msg_id=9))
    reply = sender.reply_text(client.post("/wechat", query_string=args, data=body,
                                          headers={"X-Request-Start": stamp(time.time())}))
    assert reply != replies.CROWDED and "失业保险金" in reply and search.calls == 1


NOW = 1_764_000_000.25  # 2025-11-24, a realistic Unix time: the units are told apart by size


@pytest.mark.parametrize(("header", "waited"), [
    (f"t={NOW - 1.75:.3f}", 1.75), (str(int((NOW - 1.75) * 1000)), 1.75),
    (str(int((NOW - 1.75) * 1_000_000)), 1.75), (f" t={NOW - 0.5:.3f} ", 0.5),
    (f"t={NOW + 0.5:.3f}", 0.0), (f"t={NOW - 70:.3f}", 0.0),
    (None, 0.0), ("t=", 0.0), ("t=1e400", 0.0), ("today", 0.0)])
def test_the_proxy_stamp_is_read_in_seconds_milliseconds_or_microseconds(header, waited):
    assert queued_seconds(header, NOW) == pytest.approx(waited, abs=1e-3)


def test_metrics_show_the_bookkeeping_still_to_write_after_the_replies(tmp_path):
    """The question log and the customer-service window are written after the reply, on one
    thread: while it is held, what waits shows in /metrics (what a kill would lose), then 0."""
    app, _, sender, client = _queued_app(tmp_path)
    bot = app.extensions["policybot"].bot
    hold = threading.Event()
    bot._later(lambda: hold.wait(30))  # the bookkeeping thread is busy
    args, body = sender.signed_request(text_xml("o_backlog", "失业保险金怎么申领", msg_id=11))
    assert "失业保险金" in sender.reply_text(client.post("/wechat", query_string=args, data=body))

    def backlog() -> float:
        found = re.search(r"^policybot_bot_bookkeeping_backlog\{pid=\"\d+\"\} ([0-9.]+)$",
                          client.get("/metrics").get_data(as_text=True), re.M)
        assert found
        return float(found.group(1))
    waiting = backlog()
    hold.set()
    bot.flush()
    assert waiting == 2 and backlog() == 0  # the question's log row and its sender's window
    assert app.extensions["policybot"].questions.latest_for("o_backlog", within_seconds=600)


def test_each_app_sends_its_late_answers_through_its_own_wechat_client(tmp_path):
    """Two apps in one process (tests, a CLI beside a server): the customer-service client is
    cached per app and thread, so the second app's message does not go out with the first app's
    client (to the first account's API)."""
    from server import start

    fakes = [FakeWeChat().start(), FakeWeChat().start()]
    try:
        for n, fake in enumerate(fakes):
            app = start(create_bot_app(tmp_path / f"app{n}", FakeSearch(world_hits()),
                                       WECHAT_ACCOUNT="service-certified", WECHAT_APPID=fake.appid,
                                       WECHAT_APPSECRET=fake.secret, WECHAT_API_BASE=fake.url))
            _wire_push(app)
            svc = app.extensions["policybot"]
            svc.subscribers.touch("o_two_apps")  # a message opened the 48-hour window
            assert svc.bot.send_customer_message("o_two_apps", f"第{n}个公众号的答复")
        assert [len(fake.delivered(CS_PATH)) for fake in fakes] == [1, 1]
    finally:
        for fake in fakes:
            fake.stop()

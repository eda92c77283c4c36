"""The 4-second budget: a slow retrieval never delays the passive reply past 4.5 s; the
answer follows as exactly one customer-service message (certified 服务号) or is kept for the
user's next message (uncertified)."""
from __future__ import annotations

import threading
import time

from test_bot_fakes import FakeSearch, bot_config, late_deliveries, world_hits

from bot.callback_client import WeChatSender, text_xml

CS_PATH = "/cgi-bin/message/custom/send"


def _wire_push(app):
    """The subscribers and the WeChat client, when the push feature is not registered in FEATURES."""
    svc = app.extensions["policybot"]
    if getattr(svc, "subscribers", None) is None:
        from bot.subscribers import Subscribers

        svc.subscribers = Subscribers(svc.db)
    if getattr(svc, "wechat", None) is None:
        from bot.wechat_api import make_client

        svc.wechat = lambda: make_client(app.config, svc.db)


def test_a_retrieval_past_the_budget_replies_success_at_once_and_follows_up_once(tmp_path, fake_wechat):
    """The retrieval is held (a gate, not a sleep) until the passive reply and WeChat's two
    retries are back: the reply cannot have waited for it."""
    from server import create_app

    gate = threading.Event()
    search = FakeSearch(world_hits(), gate=gate)
    app = create_app(bot_config(tmp_path, search, WECHAT_ACCOUNT="service-certified", BOT_TIME_BUDGET=0.2,
                                WECHAT_APPID=fake_wechat.appid, WECHAT_APPSECRET=fake_wechat.secret,
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
    from server import create_app

    gate = threading.Event()
    search = FakeSearch(world_hits(), gate=gate)
    app = create_app(bot_config(tmp_path, search, BOT_TIME_BUDGET=0.2))
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
    from server import create_app

    gate = threading.Event()
    search = FakeSearch(world_hits(), gate=gate)
    app = create_app(bot_config(tmp_path, search, BOT_TIME_BUDGET=0.2, WECHAT_ACCOUNT="service-certified",
                                WECHAT_APPID=fake_wechat.appid, WECHAT_APPSECRET=fake_wechat.secret,
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
    from server import create_app

    gate = threading.Event()
    search = FakeSearch(world_hits(), gate=gate)
    config = bot_config(tmp_path, search, BOT_TIME_BUDGET=0.2)
    app = create_app(config)
    bot, sender = app.extensions["policybot"].bot, WeChatSender.from_app(app)
    first = sender.post(app.test_client(), text_xml("o_exiting", "失业保险金怎么申领", msg_id=1))
    assert first.data == b"success"
    bot.after_reply.shutdown()  # as interpreter exit does, while the answer is still being worked on
    gate.set()
    bot.budget.shutdown()       # ... and then waits for that answer
    restarted = create_app(config).test_client()  # the next process, same instance
    later = sender.reply_text(sender.post(restarted, text_xml("o_exiting", "目录", msg_id=2)))
    assert later.startswith("您上一个问题的答复：\n") and "失业保险金" in later

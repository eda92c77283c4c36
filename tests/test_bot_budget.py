"""The 4-second budget: a slow retrieval never delays the passive reply past 4.5 s; the
answer follows as exactly one customer-service message (certified 服务号) or is kept for the
user's next message (uncertified)."""
from __future__ import annotations

import time

import pytest
from test_bot_fakes import FakeSearch, bot_config, world_hits

from bot.sender import WeChatSender, text_xml

CS_PATH = "/cgi-bin/message/custom/send"


def _wire_push(app):
    """helper D's subscribers and client, when its feature is not registered in FEATURES."""
    svc = app.extensions["policybot"]
    if getattr(svc, "subscribers", None) is None:
        from bot.subscribers import Subscribers

        svc.subscribers = Subscribers(svc.db)
    if getattr(svc, "wechat", None) is None:
        from bot.wechat_api import make_client

        svc.wechat = lambda: make_client(app.config, svc.db)


@pytest.mark.slow
def test_eight_second_retrieval_replies_within_4_5_s_and_follows_up_once(tmp_path, fake_wechat):
    from server import create_app

    search = FakeSearch(world_hits(), delay=8.0)
    app = create_app(bot_config(tmp_path, search, WECHAT_ACCOUNT="service-certified",
                                WECHAT_APPID=fake_wechat.appid, WECHAT_APPSECRET=fake_wechat.secret,
                                WECHAT_API_BASE=fake_wechat.url))
    _wire_push(app)
    sender, client = WeChatSender.from_app(app), app.test_client()
    args, body = sender.signed_request(text_xml("o_slow", "失业保险金怎么申领", msg_id=42))
    started = time.monotonic()
    first = client.post("/wechat", query_string=args, data=body)
    elapsed = time.monotonic() - started
    retries = [client.post("/wechat", query_string=args, data=body) for _ in range(2)]  # WeChat's retries
    deadline = time.monotonic() + 12
    while not fake_wechat.delivered(CS_PATH) and time.monotonic() < deadline:
        time.sleep(0.1)
    time.sleep(1.0)  # anything extra would show up now
    sent = fake_wechat.delivered(CS_PATH)
    print(f"slow path: passive reply after {elapsed:.2f} s ({first.data.decode()!r}), "
          f"retries {[r.data.decode() for r in retries]}, follow-up messages {len(sent)}, retrievals {search.calls}")
    assert first.status_code == 200 and first.data == b"success" and elapsed < 4.5
    assert all(r.data == b"success" for r in retries)
    assert len(sent) == 1 and sent[0].openid == "o_slow" and search.calls == 1
    assert "失业保险金" in sent[0].body["text"]["content"]


def test_uncertified_account_keeps_the_late_answer_for_the_next_message(tmp_path):
    from server import create_app

    search = FakeSearch(world_hits(), delay=1.0)
    app = create_app(bot_config(tmp_path, search, BOT_TIME_BUDGET=0.3))
    sender, client = WeChatSender.from_app(app), app.test_client()
    started = time.monotonic()
    first = sender.post(client, text_xml("o_sub_acct", "失业保险金怎么申领", msg_id=1))
    assert first.data == b"success" and time.monotonic() - started < 1.0
    time.sleep(1.2)
    search.delay = 0.0
    later = sender.reply_text(sender.post(client, text_xml("o_sub_acct", "目录", msg_id=2)))
    assert later.startswith("您上一个问题的答复：\n") and "失业保险金" in later and "现行有效政策目录" in later
    again = sender.reply_text(sender.post(client, text_xml("o_sub_acct", "目录", msg_id=3)))
    assert "您上一个问题的答复" not in again  # delivered once


def test_certified_account_over_quota_keeps_the_answer_without_retrying(tmp_path, fake_wechat):
    from server import create_app

    search = FakeSearch(world_hits(), delay=1.0)
    app = create_app(bot_config(tmp_path, search, BOT_TIME_BUDGET=0.3, WECHAT_ACCOUNT="service-certified",
                                WECHAT_APPID=fake_wechat.appid, WECHAT_APPSECRET=fake_wechat.secret,
                                WECHAT_API_BASE=fake_wechat.url))
    _wire_push(app)
    fake_wechat.fail(CS_PATH, 45015, times=None)
    sender, client = WeChatSender.from_app(app), app.test_client()
    assert sender.post(client, text_xml("o_quota", "失业保险金怎么申领", msg_id=1)).data == b"success"
    time.sleep(1.5)
    attempts = fake_wechat.calls[CS_PATH] if isinstance(fake_wechat.calls, dict) else None
    search.delay = 0.0
    later = sender.reply_text(sender.post(client, text_xml("o_quota", "目录", msg_id=2)))
    print(f"45015 on follow-up: customer-service attempts {attempts}, kept for next message: "
          f"{later.startswith('您上一个问题的答复')}")
    assert attempts == 1 and later.startswith("您上一个问题的答复：\n")


def test_a_late_answer_finishing_while_the_process_exits_is_still_kept(tmp_path):
    from server import create_app

    search = FakeSearch(world_hits(), delay=1.0)
    config = bot_config(tmp_path, search, BOT_TIME_BUDGET=0.3)
    app = create_app(config)
    bot, sender = app.extensions["policybot"].bot, WeChatSender.from_app(app)
    first = sender.post(app.test_client(), text_xml("o_exiting", "失业保险金怎么申领", msg_id=1))
    assert first.data == b"success"
    bot.after_reply.shutdown()  # as interpreter exit does, while the answer is still being worked on
    bot.budget.shutdown()       # ... and then waits for that answer
    search.delay = 0.0
    restarted = create_app(config).test_client()  # the next process, same instance
    later = sender.reply_text(sender.post(restarted, text_xml("o_exiting", "目录", msg_id=2)))
    assert later.startswith("您上一个问题的答复：\n") and "失业保险金" in later

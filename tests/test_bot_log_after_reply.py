"""A message's question is logged once its reply is the message's own (bot.dedupe `finish`),
never before: a worker killed in between would have its message taken over by WeChat's retry,
computed and logged a second time (bench_cluster's "processed twice")."""
from __future__ import annotations

import threading

from test_bot_fakes import FakeSearch, create_bot_app, late_deliveries, world_hits

from bot.callback_client import WeChatSender, text_xml


def _logged(svc, openid: str) -> bool:
    svc.bot.flush()  # whatever was queued for the log is written
    return svc.questions.latest_for(openid, within_seconds=600) is not None


def test_the_question_is_not_logged_before_its_reply_is_stored(tmp_path):
    from server import start

    app = start(create_bot_app(tmp_path, FakeSearch(world_hits())))
    svc = app.extensions["policybot"]
    deliveries = svc.callback.deliveries
    finish, seen_at_finish = deliveries.finish, []

    def observed(key, reply):  # the moment the reply becomes the message's own
        seen_at_finish.append(_logged(svc, "o_order"))
        finish(key, reply)
    deliveries.finish = observed
    sender, client = WeChatSender.from_app(app), app.test_client()
    reply = sender.reply_text(sender.post(client, text_xml("o_order", "失业保险金怎么申领", msg_id=7)))
    assert "失业保险金" in reply
    assert seen_at_finish == [False]  # not yet when the reply was stored
    assert _logged(svc, "o_order")  # and right after


def test_an_answer_late_for_the_reply_is_still_logged(tmp_path):
    from server import start

    gate = threading.Event()
    app = start(create_bot_app(tmp_path, FakeSearch(world_hits(), gate=gate), BOT_TIME_BUDGET=0.2))
    svc = app.extensions["policybot"]
    delivered = late_deliveries(svc.bot)
    sender, client = WeChatSender.from_app(app), app.test_client()
    first = sender.post(client, text_xml("o_late_log", "失业保险金怎么申领", msg_id=8))
    assert first.data == b"success"
    assert not _logged(svc, "o_late_log")  # still being answered
    gate.set()
    assert delivered.acquire(timeout=30)
    assert _logged(svc, "o_late_log")

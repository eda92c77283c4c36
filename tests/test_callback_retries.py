"""Once-only processing of WeChat's retries: three deliveries of one message, sequential,
concurrent (threads), across processes, and on Redis — one computation, identical replies."""
from __future__ import annotations

import concurrent.futures
import multiprocessing
import os

import pytest
from test_bot_fakes import FakeSearch, bot_config, world_hits

from bot.callback_client import WeChatSender, event_xml, text_xml

QUESTION = "失业保险金怎么申领"


def make_app(data_dir, delay=0.0, **extra):
    from server import create_app, start

    search = FakeSearch(world_hits(), delay=delay)
    config = bot_config(data_dir, **extra)
    config["DATA_DIR"] = str(data_dir)
    return start(create_app(config, bot_search=search)), search


@pytest.fixture
def app_and_search(tmp_path):
    app, search = make_app(tmp_path / "instance", delay=0.2)
    yield app, search
    app.extensions["policybot"].db.dispose()


def test_three_sequential_deliveries_are_processed_once(app_and_search):
    app, search = app_and_search
    sender, client = WeChatSender.from_app(app), app.test_client()
    args, body = sender.signed_request(text_xml("o_retry", QUESTION, msg_id=1))
    replies = [sender.reply_text(client.post("/wechat", query_string=args, data=body)) for _ in range(3)]
    # WeChat's retries may also come with a new timestamp/nonce: same message, same reply.
    resigned = sender.post(client, text_xml("o_retry", QUESTION, msg_id=1))
    replies.append(sender.reply_text(resigned))
    print(f"sequential deliveries: processed {search.calls}, identical replies {replies.count(replies[0])}/4")
    assert search.calls == 1 and len(set(replies)) == 1 and "失业保险金" in replies[0]


def test_three_concurrent_deliveries_are_processed_once(app_and_search):
    app, search = app_and_search
    sender = WeChatSender.from_app(app)
    args, body = sender.signed_request(text_xml("o_retry2", QUESTION, msg_id=2))

    def deliver(_):
        return sender.reply_text(app.test_client().post("/wechat", query_string=args, data=body))
    with concurrent.futures.ThreadPoolExecutor(3) as pool:
        replies = list(pool.map(deliver, range(3)))
    print(
        f"concurrent deliveries (threads): processed {search.calls}, identical {replies.count(replies[0])}/3"
    )
    assert search.calls == 1 and len(set(replies)) == 1 and replies[0]


def test_same_msgid_from_another_user_is_not_lost(app_and_search):
    app, search = app_and_search
    sender, client = WeChatSender.from_app(app), app.test_client()
    first = sender.reply_fields(sender.post(client, text_xml("o_alice", QUESTION, msg_id=77)))
    second = sender.reply_fields(sender.post(client, text_xml("o_bob", QUESTION, msg_id=77)))
    events = [
        sender.post(client, event_xml(user, "subscribe", create_time=1700000000))
        for user in ("o_alice", "o_bob")
    ]
    print(f"dedupe-key collisions (same MsgId, other user): lost {2 - search.calls}")
    assert search.calls == 2 and first["ToUserName"] == "o_alice" and second["ToUserName"] == "o_bob"
    assert all("感谢关注" in sender.reply_text(e) for e in events)


def _deliver_in_process(data_dir, args, body, barrier, queue):
    app, search = make_app(data_dir, delay=0.2)
    client = app.test_client()
    barrier.wait(timeout=120)  # all three deliver at the same moment
    response = client.post("/wechat", query_string=args, data=body)
    queue.put((os.getpid(), response.status_code, response.get_data(as_text=True), search.calls))


def test_three_deliveries_across_processes_are_processed_once(tmp_path):
    data_dir = tmp_path / "instance"
    app, _ = make_app(data_dir)  # migrations run once, before the workers start
    sender = WeChatSender.from_app(app)
    args, body = sender.signed_request(text_xml("o_multi", QUESTION, msg_id=3))
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    barrier = context.Barrier(3)
    workers = [context.Process(target=_deliver_in_process, args=(data_dir, args, body, barrier, queue))
               for _ in range(3)]
    for worker in workers:
        worker.start()
    results = [queue.get(timeout=90) for _ in workers]
    for worker in workers:
        worker.join(timeout=30)
    replies = {sender.reply_text(raw) for _, status, raw, _ in results}
    processed = sum(calls for *_, calls in results)
    print(f"deliveries across 3 processes: statuses {[r[1] for r in results]}, processed {processed}, "
          f"distinct replies {len(replies)}")
    assert [r[1] for r in results] == [200, 200, 200] and processed == 1 and len(replies) == 1
    assert "失业保险金" in replies.pop()


@pytest.mark.redis
def test_concurrent_deliveries_with_the_redis_store(tmp_path):
    from conftest import REDIS_URL, redis_or_skip
    redis_or_skip()
    app, search = make_app(tmp_path / "instance", delay=0.2, REDIS_URL=REDIS_URL)
    sender = WeChatSender.from_app(app)
    args, body = sender.signed_request(text_xml("o_redis", QUESTION, msg_id=4))
    with concurrent.futures.ThreadPoolExecutor(3) as pool:
        replies = list(pool.map(lambda _: sender.reply_text(
            app.test_client().post("/wechat", query_string=args, data=body)), range(3)))
    print(
        f"concurrent deliveries (Redis store): processed {search.calls}, "
        f"identical {replies.count(replies[0])}/3"
    )
    assert search.calls == 1 and len(set(replies)) == 1 and replies[0]

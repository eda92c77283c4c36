"""Several instances ("machines": own data directories) on one PostgreSQL and Redis: WeChat's
retries are processed once whichever instance they reach, and a message whose first worker
died is taken over by the retry (issue 15)."""
from __future__ import annotations

import concurrent.futures
import os
import time

import pytest
from test_bot_fakes import FakeSearch, bot_config, world_hits

from bot.callback_client import WeChatSender, text_xml
from bot.dedupe import Deliveries, delivery_key
from bot.xmlsafe import parse_flat_xml
from tests.conftest import REDIS_URL

QUESTION = "失业保险金怎么申领"


def _redis_or_skip():
    import redis

    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2).flushdb()
    except redis.ConnectionError:
        if os.environ.get("CI"):
            pytest.fail(f"Redis is not reachable at {REDIS_URL} (CI must provide it)")
        pytest.skip(f"Redis is not reachable at {REDIS_URL}")


def _instance(tmp_path, name, **extra):
    from server import create_app, start

    search = FakeSearch(world_hits(), delay=0.2)
    config = bot_config(tmp_path / name, **extra)
    return start(create_app(config, bot_search=search)), search


@pytest.mark.parametrize("stores", ["postgres", "postgres+redis"])
def test_retries_reaching_two_machines_are_processed_once(tmp_path, pg_url, stores):
    extra = {"DATABASE_URL": pg_url}
    if stores.endswith("redis"):
        _redis_or_skip()
        extra["REDIS_URL"] = REDIS_URL
    (a, search_a), (b, search_b) = _instance(tmp_path, "a", **extra), _instance(tmp_path, "b", **extra)
    sender = WeChatSender.from_app(a)
    processed, replies = 0, set()
    for msg_id in range(10, 16):
        args, body = sender.signed_request(text_xml("o_cluster", QUESTION, msg_id=msg_id))
        targets = [a, b, a, b][: 2 + msg_id % 2]  # two or three deliveries, alternating machines
        def deliver(app, args=args, body=body):
            return sender.reply_text(app.test_client().post("/wechat", query_string=args, data=body))
        with concurrent.futures.ThreadPoolExecutor(len(targets)) as pool:
            got = list(pool.map(deliver, targets))
        replies.add(len(set(got)))
    processed = search_a.calls + search_b.calls
    print(f"6 messages, 2-3 deliveries each across 2 machines ({stores}): processed {processed}")
    assert processed == 6 and replies == {1}
    for app in (a, b):
        app.extensions["policybot"].db.dispose()


def test_a_claim_left_by_a_dead_worker_is_taken_over_by_the_retry(tmp_path):
    app, search = _instance(tmp_path, "a", BOT_CLAIM_SECONDS=1.0)
    sender, client = WeChatSender.from_app(app), app.test_client()
    xml = text_xml("o_dead", QUESTION, msg_id=42)
    # A worker received the message, claimed it and was killed before it replied.
    deliveries = Deliveries(app.extensions["policybot"].bot_state, claim_seconds=1.0)
    assert deliveries.claim(delivery_key(parse_flat_xml(xml.encode("utf-8"))))
    started = time.monotonic()
    reply = sender.reply_text(sender.post(client, xml))
    took = time.monotonic() - started
    print(f"retry after a dead worker's claim: answered in {took:.2f} s, processed {search.calls}")
    assert "失业保险金" in reply and search.calls == 1 and took < 4.0
    again = sender.reply_text(sender.post(client, xml))  # and later retries get the same reply
    assert again == reply and search.calls == 1
    app.extensions["policybot"].db.dispose()

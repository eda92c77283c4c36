"""The shared bot state store (dedupe, replay cache, conversations) on SQLite and PostgreSQL:
add-if-absent has exactly one winner among concurrent writers; expiry is honoured."""
from __future__ import annotations

import concurrent.futures

from bot.kvstore import DatabaseStore
from policies.db import Database


def test_store_contract_and_single_winner(any_db_url):
    db = Database(any_db_url)
    db.upgrade()
    now = [1000.0]
    store = DatabaseStore(db, clock=lambda: now[0])
    assert store.add("k", "v1", 10) and not store.add("k", "v2", 10) and store.get("k") == "v1"
    store.set("k", "v3", 10)
    assert store.get("k") == "v3"
    now[0] += 11  # expired: invisible, and a new add wins
    assert store.get("k") is None and store.add("k", "v4", 10) and store.get("k") == "v4"
    store.delete("k")
    assert store.get("k") is None
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        winners = sum(pool.map(lambda i: store.add("race", f"w{i}", 60), range(24)))
    print(f"concurrent add on {db.engine.dialect.name}: winners {winners}/24 attempts")
    assert winners == 1
    db.dispose()


def test_get_many_reads_the_present_keys_in_one_call(any_db_url):
    db = Database(any_db_url)
    db.upgrade()
    now = [1000.0]
    store = DatabaseStore(db, clock=lambda: now[0])
    store.set("a", "1", 10)
    store.set("b", "2", 100)
    assert store.get_many([]) == {}
    assert store.get_many(["a", "b", "missing"]) == {"a": "1", "b": "2"}
    now[0] += 11  # "a" expired
    assert store.get_many(["a", "b"]) == {"b": "2"}
    db.dispose()


def test_get_many_on_redis():
    import pytest
    import redis

    from bot.kvstore import RedisStore
    from tests.conftest import REDIS_URL
    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2).flushdb()
    except redis.exceptions.ConnectionError:
        pytest.skip(f"Redis is not reachable at {REDIS_URL}")
    store = RedisStore(REDIS_URL, prefix="test:get-many:")
    store.set("a", "满意 2026-12-01T10:00:00+00:00", 10)
    store.set("b", "2", 10)
    assert store.get_many([]) == {}
    assert store.get_many(["a", "missing", "b"]) == {"a": "满意 2026-12-01T10:00:00+00:00", "b": "2"}

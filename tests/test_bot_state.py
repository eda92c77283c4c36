"""The shared bot state store (dedupe, replay cache, conversations) on SQLite and PostgreSQL:
add-if-absent has exactly one winner among concurrent writers; expiry is honoured."""
from __future__ import annotations

import concurrent.futures

from bot.kvstore import DatabaseStore, RedisStore
from policies.db import Database
from tests.conftest import REDIS_URL, redis_or_skip


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


def redis_store(prefix: str) -> RedisStore:
    """A store on the test Redis, emptied first; skipped without one (failed in CI)."""
    redis_or_skip()
    return RedisStore(REDIS_URL, prefix=prefix)


def test_get_many_on_redis():
    store = redis_store("test:get-many:")
    store.set("a", "满意 2026-12-01T10:00:00+00:00", 10)
    store.set("b", "2", 10)
    assert store.get_many([]) == {}
    assert store.get_many(["a", "missing", "b"]) == {"a": "满意 2026-12-01T10:00:00+00:00", "b": "2"}


def test_extend_only_while_the_key_holds_the_value(any_db_url):
    """The claims' lease (bot.dedupe): renewed by its holder only, never over a reply."""
    db = Database(any_db_url)
    db.upgrade()
    now = [1000.0]
    store = DatabaseStore(db, clock=lambda: now[0])
    assert store.add("k", "claim-1", 3)
    now[0] += 2
    assert store.extend("k", "claim-1", 3)  # expires at 1005 now, not 1003
    now[0] += 2
    assert store.get("k") == "claim-1"
    assert not store.extend("k", "claim-2", 3)  # another's claim: untouched
    store.set("k", "the reply", 100)
    assert not store.extend("k", "claim-1", 3)  # finished meanwhile: the reply keeps its 100 s
    now[0] += 50
    assert store.get("k") == "the reply"
    assert store.add("gone", "claim-3", 3)
    now[0] += 4
    assert not store.extend("gone", "claim-3", 3)  # lapsed: a retry may claim it
    assert store.add("gone", "claim-4", 3)
    db.dispose()


def test_extend_on_redis():
    store = redis_store("test:extend:")

    def ttl(key: str) -> int:  # milliseconds left (-2: no such key)
        return store.redis.pttl(store.prefix + key)
    assert store.add("k", "claim-1", 0.5) and ttl("k") <= 500
    assert store.extend("k", "claim-1", 60) and ttl("k") > 50_000
    assert not store.extend("k", "claim-2", 0.1) and ttl("k") > 50_000  # another's claim
    store.set("k", "the reply", 60)
    assert not store.extend("k", "claim-1", 0.1) and ttl("k") > 50_000  # finished: untouched
    assert store.get("k") == "the reply"
    assert not store.extend("missing", "claim-1", 60) and ttl("missing") == -2


def test_a_claim_is_renewed_by_its_holder_until_finished(any_db_url):
    from bot.dedupe import HOLD_LIMIT_SECONDS, Deliveries

    db = Database(any_db_url)
    db.upgrade()
    now = [1000.0]
    store = DatabaseStore(db, clock=lambda: now[0])
    first, other = (Deliveries(store, clock=lambda: now[0], claim_seconds=3) for _ in range(2))
    assert first.claim("m1")
    now[0] += 2
    assert first.renew() == 1
    now[0] += 2  # 4 s after the claim: held still
    assert not other.claim("m1") and other.wait_reply("m1", 0) is None
    first.finish("m1", "the reply")
    assert first.renew() == 0 and other.wait_reply("m1", 0) == "the reply"
    # A holder that stopped renewing (killed): its claim lapses and the retry takes it over; the
    # old holder's renewals, should it come back, leave the new claim alone.
    assert first.claim("m2")
    now[0] += 4
    assert other.claim("m2") and first.renew() == 0
    # Stuck on one message: renewed every second, but not held for ever.
    renewed = 0
    while renewed <= HOLD_LIMIT_SECONDS + 1 and other.renew():
        renewed += 1
        now[0] += 1
        assert not first.claim("m2")
    assert HOLD_LIMIT_SECONDS - 1 <= renewed <= HOLD_LIMIT_SECONDS + 1
    now[0] += 3
    assert first.claim("m2")
    db.dispose()

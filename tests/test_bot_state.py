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

"""Adding many subscribers at once (imports from another system, benchmarks, tests)."""
from __future__ import annotations

import sqlalchemy as sa

from bot.push.tables import subscriber_tags, subscribers
from bot.subscribers import utcnow

CHUNK = 2000


def add_subscribers(db, cipher, people: list[dict]) -> list[int]:
    """`people`: dicts with openid, and optionally kind, region, size_class, consent and
    tags [(tag, source)]. Returns the new ids in order. One transaction."""
    now = utcnow()
    ids: list[int] = []
    with db.write() as conn:
        for start in range(0, len(people), CHUNK):
            chunk = people[start:start + CHUNK]
            ids += _insert_chunk(conn, cipher, chunk, now)
    return ids


def _insert_chunk(conn, cipher, chunk: list[dict], now) -> list[int]:
    rows = [{"openid_key": cipher.key(p["openid"]), "openid_enc": cipher.encrypt(p["openid"]),
             "kind": p.get("kind", "resident"), "region": p.get("region"),
             "size_class": p.get("size_class"), "consent": p.get("consent", True), "active": True,
             "cs_used": 0, "created_at": now, "updated_at": now} for p in chunk]
    conn.execute(subscribers.insert(), rows)
    keys = [r["openid_key"] for r in rows]
    id_of = dict(conn.execute(sa.select(subscribers.c.openid_key, subscribers.c.id)
                              .where(subscribers.c.openid_key.in_(keys))).all())
    ids = [id_of[k] for k in keys]
    tags = [{"subscriber_id": sid, "tag": tag, "source": source}
            for sid, person in zip(ids, chunk, strict=True) for tag, source in person.get("tags", ())]
    if tags:
        conn.execute(subscriber_tags.insert(), tags)
    return ids

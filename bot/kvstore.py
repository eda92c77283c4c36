"""A small shared key-value store with expiry: the database by default, Redis by REDIS_URL.

Both implementations give the one atomic step dedupe needs: `add` stores a value only when
the key is absent (or expired) and tells the caller whether it won. Values are strings.
"""
from __future__ import annotations

import pathlib
import random
import threading
import time
from typing import Protocol

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.exc import IntegrityError
from sqlalchemy.schema import CreateIndex, CreateTable

from bot.tables import bot_state
from policies.db import Database, sqlite_url


class KeyValueStore(Protocol):
    def add(self, key: str, value: str, ttl: float) -> bool: ...
    def get(self, key: str) -> str | None: ...
    def get_many(self, keys: list[str]) -> dict[str, str]: ...  # the keys present, one round trip
    def set(self, key: str, value: str, ttl: float) -> None: ...
    def delete(self, key: str) -> None: ...
    def extend(self, key: str, value: str, ttl: float) -> bool: ...  # only while it holds `value`


# Built once: building a statement cost about as much as running it on SQLite
# (bench/bench_message_cost.py: a message reads or writes this store six to eight times).
# (Parameters named apart from the columns: SQLAlchemy keeps the columns' names for itself.)
_KEY, _VALUE, _NOW, _EXPIRES = (sa.bindparam(name, type_=column.type) for name, column in (
    ("p_key", bot_state.c.key), ("p_value", bot_state.c.value), ("p_now", bot_state.c.expires_at),
    ("p_expires", bot_state.c.expires_at)))
_DELETE_EXPIRED_KEY = bot_state.delete().where(bot_state.c.key == _KEY, bot_state.c.expires_at < _NOW)
_INSERT = bot_state.insert().values(key=_KEY, value=_VALUE, expires_at=_EXPIRES)
_GET = sa.select(bot_state.c.value).where(bot_state.c.key == _KEY, bot_state.c.expires_at >= _NOW)
_UPDATE = bot_state.update().where(bot_state.c.key == _KEY).values(value=_VALUE, expires_at=_EXPIRES)
_DELETE = bot_state.delete().where(bot_state.c.key == _KEY)
_EXTEND = bot_state.update().where(bot_state.c.key == _KEY, bot_state.c.value == _VALUE,
                                   bot_state.c.expires_at >= _NOW).values(expires_at=_EXPIRES)
_GET_MANY = sa.select(bot_state.c.key, bot_state.c.value).where(
    bot_state.c.key.in_(sa.bindparam("p_keys", expanding=True)), bot_state.c.expires_at >= _NOW)


class DatabaseStore:
    """Rows of `bot_state`; expired rows are ignored and purged now and then.

    On SQLite the store lives in a sidecar file next to the main database (`…-botstate`,
    shared by every worker of the instance like the main file) with synchronous=NORMAL: this
    state lives minutes (WAL + NORMAL survives a crash of the process; a power cut may lose
    the last rows, i.e. at worst one message answered twice). In the main file every write
    would queue behind the fsyncs of the audit log, push outbox and question log (FULL), and
    SQLite's busy handler sleeps in steps of up to 100 ms: measured p99 3.5 s at 8 clients.
    Writes of one process also queue on a lock, a faster hand-over than the busy handler.
    On PostgreSQL the table `bot_state` of the main database is used.
    """

    PURGE_EVERY = 200

    def __init__(self, db: Database, clock=time.time):
        self._main = db
        self._db: Database | None = None
        self.clock = clock
        self._writing = threading.Lock()
        self._opening = threading.Lock()

    def open(self) -> Database:
        """Where the rows live, opened (on SQLite: the sidecar's table created) when the app
        starts (commands.bot) or at first use, not while the app is built. Once."""
        if self._db is None:
            with self._opening:
                if self._db is None:
                    self._db = _state_database(self._main)
        return self._db

    @property
    def db(self) -> Database:
        return self.open()

    def add(self, key: str, value: str, ttl: float) -> bool:
        now = self.clock()
        try:
            with self._writing, self.db.write() as conn:
                conn.execute(_DELETE_EXPIRED_KEY, {"p_key": key, "p_now": now})
                conn.execute(_INSERT, {"p_key": key, "p_value": value, "p_expires": now + ttl})
        except IntegrityError:
            return False  # another worker holds the key
        self._maybe_purge(now)
        return True

    def get(self, key: str) -> str | None:
        with self.db.read() as conn:
            return conn.execute(_GET, {"p_key": key, "p_now": self.clock()}).scalar_one_or_none()

    def get_many(self, keys: list[str]) -> dict[str, str]:
        """The values of the keys present (not expired), in one query."""
        if not keys:
            return {}
        with self.db.read() as conn:
            rows = conn.execute(_GET_MANY, {"p_keys": list(keys), "p_now": self.clock()}).all()
        return {key: value for key, value in rows}

    def set(self, key: str, value: str, ttl: float) -> None:
        expires = self.clock() + ttl
        with self._writing, self.db.write() as conn:
            updated = conn.execute(_UPDATE, {"p_key": key, "p_value": value, "p_expires": expires}).rowcount
            if not updated:
                conn.execute(_INSERT, {"p_key": key, "p_value": value, "p_expires": expires})

    def delete(self, key: str) -> None:
        with self._writing, self.db.write() as conn:
            conn.execute(_DELETE, {"p_key": key})

    def extend(self, key: str, value: str, ttl: float) -> bool:
        """Expire `ttl` from now, if the key still holds `value` (and has not expired)."""
        now = self.clock()
        with self._writing, self.db.write() as conn:
            return conn.execute(_EXTEND, {"p_key": key, "p_value": value, "p_now": now,
                                          "p_expires": now + ttl}).rowcount == 1

    def _maybe_purge(self, now: float) -> None:
        if random.randrange(self.PURGE_EVERY) == 0:
            with self._writing, self.db.write() as conn:
                conn.execute(bot_state.delete().where(bot_state.c.expires_at < now))


# Compare and expire in one step: the value may be replaced between a GET and a PEXPIRE.
_EXTEND_SCRIPT = ("if redis.call('GET', KEYS[1]) == ARGV[1] then "
                  "return redis.call('PEXPIRE', KEYS[1], ARGV[2]) else return 0 end")


class RedisStore:
    """The same contract on Redis (SET NX PX), for several machines."""

    def __init__(self, url: str, prefix: str = "policybot:bot:"):
        import redis

        self.redis = redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)
        self.prefix = prefix
        self._extend = self.redis.register_script(_EXTEND_SCRIPT)

    def add(self, key: str, value: str, ttl: float) -> bool:
        return bool(self.redis.set(self.prefix + key, value, nx=True, px=int(ttl * 1000)))

    def get(self, key: str) -> str | None:
        value = self.redis.get(self.prefix + key)
        return value.decode("utf-8") if isinstance(value, bytes) else value

    def get_many(self, keys: list[str]) -> dict[str, str]:
        """The values of the keys present, in one MGET."""
        if not keys:
            return {}
        values = self.redis.mget([self.prefix + key for key in keys])
        return {key: value.decode("utf-8") if isinstance(value, bytes) else value
                for key, value in zip(keys, values, strict=True) if value is not None}

    def set(self, key: str, value: str, ttl: float) -> None:
        self.redis.set(self.prefix + key, value, px=int(ttl * 1000))

    def delete(self, key: str) -> None:
        self.redis.delete(self.prefix + key)

    def extend(self, key: str, value: str, ttl: float) -> bool:
        return bool(self._extend(keys=[self.prefix + key], args=[value, int(ttl * 1000)]))


def _state_database(db: Database) -> Database:
    if not db.is_sqlite:
        return db
    if not db.engine.url.database:  # an in-memory database: nothing to put beside it
        return db
    main = pathlib.Path(db.engine.url.database)
    own = Database(sqlite_url(main.with_name(main.name + "-botstate")))

    @event.listens_for(own.engine, "connect")
    def _normal_sync(dbapi_connection, _record):  # runs after the Database's own pragmas
        dbapi_connection.execute("PRAGMA synchronous=NORMAL")
    with own.engine.begin() as conn:  # IF NOT EXISTS: processes of a first start may race
        conn.execute(CreateTable(bot_state, if_not_exists=True))
        for index in bot_state.indexes:
            conn.execute(CreateIndex(index, if_not_exists=True))
    return own


def store_for(db: Database, redis_url: str | None) -> KeyValueStore:
    return RedisStore(redis_url) if redis_url else DatabaseStore(db)

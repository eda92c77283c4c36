"""Database access: one engine per process, SQLite by default, PostgreSQL by URL.

SQLite is configured for durability and concurrency (SECURITY.md item 13): WAL, foreign
keys, a busy timeout and synchronous=FULL (the audit log and the push outbox must survive a
power cut). pysqlite's own transaction handling is switched off so that SQLAlchemy's BEGIN
is the real one; `Database.write()` begins IMMEDIATE so that concurrent writers queue on the
lock instead of failing when a read transaction upgrades.

The schema is owned by Alembic (migrations/); `Database.upgrade()` brings a database to head.
"""
from __future__ import annotations

import contextlib
import os
import pathlib
from collections.abc import Iterator

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}
# Every package adds its tables to this one MetaData, so Alembic sees the whole schema.
metadata = sa.MetaData(naming_convention=NAMING)

MIGRATIONS_DIR = pathlib.Path(__file__).resolve().parent.parent / "migrations"


AFTER_COMMIT = "policybot.after_commit"
MIGRATION_LOCK = 15016  # pg_advisory_lock key held while migrating


def after_commit(conn: Connection, name: str, callback) -> None:
    """Run `callback()` once this `Database.write()` transaction has committed (never after a
    rollback); a later registration under the same name replaces the earlier one."""
    conn.info.setdefault(AFTER_COMMIT, {})[name] = callback


def private_file(path: pathlib.Path) -> None:
    """Create the database file readable by its owner only (it holds password hashes, the
    question log, keys), and tighten an existing one: SQLite gives its -wal and -shm files
    the database file's mode."""
    if path.parent.is_dir():
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600))
        if path.stat().st_mode & 0o077 and path.stat().st_uid == os.getuid():
            for member in (path, *path.parent.glob(path.name + "-*")):
                os.chmod(member, 0o600)


def sqlite_url(path: pathlib.Path | str) -> str:
    return f"sqlite:///{pathlib.Path(path).resolve()}"


class Database:
    """The engine of one instance plus the two ways to run a transaction."""

    def __init__(self, url: str, echo: bool = False):
        self.url = url
        self.engine = create_engine(url, echo=echo)
        if url.startswith("sqlite:///") and url != "sqlite:///:memory:":
            # At each new connection, just before SQLite would create the file with the umask's
            # mode, not when the Database is built (building an app writes nothing).
            path = pathlib.Path(url.removeprefix("sqlite:///"))
            sa.event.listen(self.engine, "do_connect", lambda *_: private_file(path))

    @property
    def is_sqlite(self) -> bool:
        return self.engine.dialect.name == "sqlite"

    @contextlib.contextmanager
    def write(self) -> Iterator[Connection]:
        """A read-write transaction, committed on success, rolled back on any exception.
        What `after_commit` registered on it runs once it is committed."""
        with self.engine.connect() as conn:
            conn = conn.execution_options(policybot_begin="BEGIN IMMEDIATE")
            conn.info.pop(AFTER_COMMIT, None)  # the DBAPI connection is pooled: start clean
            try:
                with conn.begin():
                    yield conn
            finally:
                callbacks = conn.info.pop(AFTER_COMMIT, {})
            for callback in callbacks.values():
                callback()

    @contextlib.contextmanager
    def read(self) -> Iterator[Connection]:
        """A read transaction (a consistent snapshot of the data)."""
        with self.engine.connect() as conn:
            with conn.begin():
                yield conn

    def upgrade(self) -> None:
        """Apply every Alembic migration not yet applied: "head", not "heads", so a second head
        (two migrations revising the same one) stops here instead of being applied unmerged. On
        PostgreSQL an advisory lock makes several processes starting at once (gunicorn workers,
        machines) migrate one after the other: the later ones find the schema at head."""
        from alembic import command

        if self.is_sqlite:
            command.upgrade(alembic_config(self.url), "head")
            return
        with self.engine.connect() as lock:
            lock.exec_driver_sql(f"SELECT pg_advisory_lock({MIGRATION_LOCK})")
            try:
                command.upgrade(alembic_config(self.url), "head")
            finally:
                lock.exec_driver_sql(f"SELECT pg_advisory_unlock({MIGRATION_LOCK})")
                lock.commit()

    def dispose(self) -> None:
        self.engine.dispose()


def alembic_config(url: str):
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def create_engine(url: str, echo: bool = False) -> Engine:
    if url.startswith("sqlite"):
        engine = sa.create_engine(url, echo=echo, connect_args={"timeout": 30})
        _configure_sqlite(engine)
        return engine
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://"):]
    return sa.create_engine(url, echo=echo, pool_pre_ping=True)


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record):
        dbapi_connection.isolation_level = None  # we issue BEGIN ourselves
        cursor = dbapi_connection.cursor()
        for pragma in ("journal_mode=WAL", "foreign_keys=ON", "busy_timeout=30000",
                       "synchronous=FULL"):
            cursor.execute(f"PRAGMA {pragma}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn):
        conn.exec_driver_sql(conn.get_execution_options().get("policybot_begin", "BEGIN"))

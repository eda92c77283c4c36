"""Publication as events (the outbox pattern): every transaction that makes a release public
or takes it back appends an event row in the same transaction, so an event exists exactly
when its change committed. Readers follow the events in order:

- each process's search index keeps its own position in memory (`latest_id`, `read_after`)
  and applies what another worker or machine published within a poll interval;
- durable consumers (`Consumer`: push, insights re-checks…) keep their position in
  `event_cursors`, with retries and the last error, and are run by whichever process holds
  the consumer's lease. A consumer that dies between handling an event and acknowledging it
  gets the event again once its lease runs out: delivery is at least once, in order, so
  handlers are idempotent.

Event ids are given in commit order: on PostgreSQL the appending transaction takes an
advisory lock held until it commits (two publishers could otherwise commit ids 6 then 5, and
a reader that saw 6 would skip 5); SQLite's writers are serialised anyway.
"""
from __future__ import annotations

import dataclasses
import json
import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from policies.db import Database, metadata

log = logging.getLogger("policybot.events")
APPEND_LOCK = 15015  # pg_advisory_xact_lock key serialising event appends

release_events = sa.Table(
    "release_events", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("kind", sa.String(20), nullable=False),      # published | removed
    sa.Column("release_id", sa.Integer, nullable=False, index=True),
    sa.Column("state", sa.String(20), nullable=False),     # the release's state after it
    sa.Column("policy_id", sa.String(200)),
    sa.Column("document_ids", sa.Text, nullable=False),   # JSON list
    sa.Column("created_at", sa.Float, nullable=False),     # Unix time
)

event_cursors = sa.Table(
    "event_cursors", metadata,
    sa.Column("consumer", sa.String(100), primary_key=True),
    sa.Column("position", sa.Integer, nullable=False),     # last event handled
    sa.Column("attempts", sa.Integer, nullable=False),     # failures of the next event so far
    sa.Column("failed_event", sa.Integer),
    sa.Column("last_error", sa.Text),
    sa.Column("retry_at", sa.Float),                       # Unix time; none: at once
    sa.Column("lease_owner", sa.String(200)),
    sa.Column("lease_until", sa.Float),
    sa.Column("updated_at", sa.Float, nullable=False),
)


@dataclasses.dataclass(frozen=True)
class Event:
    id: int
    kind: str
    release_id: int
    state: str
    policy_id: str | None
    document_ids: tuple[str, ...]
    created_at: float


# -- writing (inside the publishing transaction) -----------------------------------------------
def append(conn: Connection, kind: str, info) -> None:
    """Record that `info` (a workflow ReleaseInfo) was published or removed."""
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({APPEND_LOCK})")
    conn.execute(release_events.insert().values(
        kind=kind, release_id=info.id, state=info.state, policy_id=info.policy_id,
        document_ids=json.dumps(list(info.document_ids), ensure_ascii=False),
        created_at=time.time()))


# -- reading ------------------------------------------------------------------------------------
def latest_id(conn: Connection) -> int:
    return conn.execute(sa.select(sa.func.max(release_events.c.id))).scalar_one() or 0


def read_after(conn: Connection, position: int, limit: int = 100) -> list[Event]:
    c = release_events.c
    rows = conn.execute(sa.select(release_events).where(c.id > position).order_by(c.id).limit(limit))
    return [_event(row) for row in rows]


def _event(row) -> Event:
    return Event(row.id, row.kind, row.release_id, row.state, row.policy_id,
                 tuple(json.loads(row.document_ids)), row.created_at)


# -- durable consumers -------------------------------------------------------------------------
def backoff(attempts: int) -> float:
    """Seconds before the next try after `attempts` failures: 1, 2, 4 … up to 5 minutes."""
    return float(min(2 ** max(attempts - 1, 0), 300))


class Consumer:
    """A named reader of the events with its position in `event_cursors`.

    `run_once()` takes the consumer's lease (one process at a time), hands each event after
    its position to `handle` in order, and acknowledges each as it succeeds. A failure records
    the error and the attempt, and stops: the same event is retried after `backoff`, the
    later ones wait for it (order holds)."""

    def __init__(self, db: Database, name: str, handle: Callable[[Event], None], *,
                 lease_seconds: float = 30.0, batch: int = 20, clock=time.time,
                 owner: str | None = None, start_at_latest: bool = False):
        self.db, self.name, self.handle = db, name, handle
        self.lease_seconds, self.batch, self.clock = lease_seconds, batch, clock
        self.owner = owner or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.start_at_latest = start_at_latest  # a new consumer skips the history before it

    def run_once(self) -> int:
        """Handle what is pending; the number of events acknowledged."""
        if not self._anything_pending():
            return 0
        position = self._claim()
        if position is None:
            return 0
        done = 0
        try:
            with self.db.read() as conn:
                pending = read_after(conn, position, self.batch)
            for event in pending:
                if not self._deliver(event):
                    break
                done += 1
        finally:
            self._release()
        return done

    def _deliver(self, event: Event) -> bool:
        try:
            self.handle(event)
        except Exception as error:  # recorded, shown to staff, retried later
            log.exception("events: consumer %s failed on event %d", self.name, event.id)
            self._failed(event, error)
            return False
        return self._ack(event)

    def _anything_pending(self) -> bool:
        """A read, so that an idle consumer polled every half second writes nothing."""
        c = event_cursors.c
        with self.db.read() as conn:
            position = conn.execute(sa.select(c.position).where(c.consumer == self.name)).scalar_one_or_none()
            return position is None or latest_id(conn) > position

    def _claim(self) -> int | None:
        now = self.clock()
        c = event_cursors.c
        with self.db.write() as conn:
            self._ensure_row(conn, now)
            claimed = conn.execute(event_cursors.update().where(
                c.consumer == self.name,
                sa.or_(c.lease_until.is_(None), c.lease_until < now, c.lease_owner == self.owner),
                sa.or_(c.retry_at.is_(None), c.retry_at <= now),
            ).values(lease_owner=self.owner, lease_until=now + self.lease_seconds)).rowcount
            if not claimed:
                return None
            return conn.execute(sa.select(c.position).where(c.consumer == self.name)).scalar_one()

    def _ensure_row(self, conn: Connection, now: float) -> None:
        start = latest_id(conn) if self.start_at_latest else 0
        dialect = sqlite if conn.dialect.name == "sqlite" else postgresql
        conn.execute(dialect.insert(event_cursors).values(
            consumer=self.name, position=start, attempts=0, updated_at=now)
            .on_conflict_do_nothing(index_elements=["consumer"]))

    def _ack(self, event: Event) -> bool:
        """Advance past `event`; False when the lease was lost (another process took over)."""
        c = event_cursors.c
        with self.db.write() as conn:
            return bool(conn.execute(event_cursors.update().where(
                c.consumer == self.name, c.lease_owner == self.owner, c.position < event.id,
            ).values(position=event.id, attempts=0, failed_event=None, last_error=None,
                     retry_at=None, lease_until=self.clock() + self.lease_seconds,
                     updated_at=self.clock())).rowcount)

    def _failed(self, event: Event, error: Exception) -> None:
        c = event_cursors.c
        now = self.clock()
        with self.db.write() as conn:
            attempts = (conn.execute(sa.select(c.attempts).where(c.consumer == self.name))
                        .scalar_one()) + 1
            conn.execute(event_cursors.update().where(
                c.consumer == self.name, c.lease_owner == self.owner,
            ).values(attempts=attempts, failed_event=event.id,
                     last_error=f"{type(error).__name__}: {error}"[:1000],
                     retry_at=now + backoff(attempts), updated_at=now))

    def _release(self) -> None:
        c = event_cursors.c
        with self.db.write() as conn:
            conn.execute(event_cursors.update().where(
                c.consumer == self.name, c.lease_owner == self.owner).values(lease_until=None))

    def ensure_cursor(self) -> None:
        """Create the cursor now (at start), so that with `start_at_latest` a publication made
        before the first run is still handled."""
        with self.db.write() as conn:
            self._ensure_row(conn, self.clock())

    def retry_now(self) -> None:
        """A failed event is tried again at the next run instead of after its back-off."""
        c = event_cursors.c
        with self.db.write() as conn:
            conn.execute(event_cursors.update().where(c.consumer == self.name)
                         .values(retry_at=None, updated_at=self.clock()))


class ConsumerRunner:
    """Runs a consumer in a thread of its own: every `interval` seconds, and at once when
    `wake()` is called (this process published). Every process runs one; the lease lets one
    of them handle the events at a time."""

    def __init__(self, consumer: Consumer, interval: float):
        self.consumer, self.interval = consumer, interval
        self._wake, self._stop = threading.Event(), threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name=f"events-{self.consumer.name}", daemon=True)
        self._thread.start()

    def wake(self) -> None:
        self._wake.set()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.consumer.run_once()
            except Exception:  # the database may be away for a moment: the next round retries
                log.exception("events: running consumer %s failed", self.consumer.name)
            self._wake.wait(self.interval)
            self._wake.clear()


@dataclasses.dataclass(frozen=True)
class ConsumerState:
    consumer: str
    position: int
    attempts: int
    failed_event: int | None
    last_error: str | None
    retry_at: float | None


def consumer_states(conn: Connection) -> dict[str, ConsumerState]:
    c = event_cursors.c
    rows = conn.execute(sa.select(c.consumer, c.position, c.attempts, c.failed_event,
                                  c.last_error, c.retry_at))
    return {row.consumer: ConsumerState(*row) for row in rows}


def release_progress(conn: Connection, release_id: int) -> dict[str, str]:
    """Per consumer, what became of the latest event of a release: 'done', 'pending' or
    'failed: <reason>' (the release page shows it in Chinese)."""
    c = release_events.c
    last = conn.execute(sa.select(sa.func.max(c.id)).where(c.release_id == release_id)).scalar_one()
    if last is None:
        return {}
    out = {}
    for name, state in consumer_states(conn).items():
        if state.position >= last:
            out[name] = "done"
        elif state.failed_event is not None and state.failed_event <= last:
            out[name] = f"failed: {state.last_error}"
        else:
            out[name] = "pending"
    return out

"""The push outbox: one row per (release, subscriber), written in the publishing transaction.

States: pending → sending → sent | failed | unknown; pending → cancelled (release withdrawn or
retired, subscriber gone, unfollowed or without consent). `client_msg_id` is derived from
(release, subscriber, channel), so a resend after a crash carries the same idempotency key
(template messages: WeChat delivers one openid + client_msg_id once within 10 minutes).
"""
from __future__ import annotations

import datetime as dt
import hashlib
import logging
import time

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from bot.push.matching import Match, match_release
from bot.push.tables import outbox, subscribers

log = logging.getLogger(__name__)

CHANNELS = ("template", "subscribe", "custom")
COUNTED_STATES = ("pending", "sending", "sent", "failed", "unknown", "cancelled")
INSERT_CHUNK = 5000
JOB_FAILED_BLOCK = "failed:user block"


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def client_msg_id(release_id: int, subscriber_id: int, channel: str) -> str:
    """Deterministic idempotency key (≤ 64 bytes): same push, same key, in every process."""
    digest = hashlib.sha256(f"policybot-push:{release_id}:{subscriber_id}:{channel}".encode())
    return "pb" + digest.hexdigest()[:40]


def write_outbox(conn: Connection, release_id: int, channel: str,
                 matches: list[Match] | None = None) -> int:
    """Insert the rows of a release inside the caller's (publishing) transaction."""
    if channel not in CHANNELS:
        raise ValueError(f"push channel must be one of {', '.join(CHANNELS)}, not {channel!r}")
    matches = match_release(conn, release_id) if matches is None else matches
    now = utcnow()
    rows = [{"release_id": release_id, "subscriber_id": m.subscriber_id, "channel": channel,
             "client_msg_id": client_msg_id(release_id, m.subscriber_id, channel),
             "reason": m.reason, "state": "pending", "attempts": 0, "ambiguous": False,
             "next_attempt_at": now, "created_at": now, "updated_at": now} for m in matches]
    for start in range(0, len(rows), INSERT_CHUNK):
        conn.execute(outbox.insert(), rows[start:start + INSERT_CHUNK])
    return len(rows)


def cancel_release(db, release_id: int, why: str, drain_seconds: float = 0.0,
                   lease_seconds: float = 120.0) -> int:
    """Cancel the pending rows of a release; then wait (at most `drain_seconds`) until no live
    sender holds a claim on one of its rows, so that nothing is sent after this returns.
    Senders check the release before every send, so a live one lets go within one send."""
    with db.write() as conn:
        cancelled = conn.execute(outbox.update().where(
            outbox.c.release_id == release_id, outbox.c.state == "pending")
            .values(state="cancelled", error=why, updated_at=utcnow())).rowcount
    deadline = time.monotonic() + drain_seconds
    while _in_flight(db, release_id, lease_seconds):
        if time.monotonic() >= deadline:
            log.warning("release %s: rows still claimed after %.0f s (a stalled or dead sender; "
                        "it re-checks the release before any send)", release_id, drain_seconds)
            break
        time.sleep(0.02)
    return cancelled


def _in_flight(db, release_id: int, lease_seconds: float) -> int:
    """Rows of the release claimed by a sender whose claim is still fresh."""
    fresh = utcnow() - dt.timedelta(seconds=lease_seconds)
    with db.read() as conn:
        return conn.execute(sa.select(sa.func.count()).select_from(outbox).where(
            outbox.c.release_id == release_id, outbox.c.state == "sending",
            outbox.c.claimed_at > fresh)).scalar_one()


def handle_template_job_finished(db, msg_id, status: str) -> bool:
    """TEMPLATESENDJOBFINISH: WeChat reports the fate of a template message (MsgID, Status).
    success → sent (also settles an unknown row); "failed:user block" → failed and the
    subscriber is marked; other failures → failed. True when a row was updated."""
    status = (status or "").strip()
    with db.write() as conn:
        row = conn.execute(sa.select(outbox.c.id, outbox.c.subscriber_id).where(
            outbox.c.wechat_msg_id == str(msg_id))).first()
        if row is None:
            return False
        state = "sent" if status == "success" else "failed"
        conn.execute(outbox.update().where(outbox.c.id == row.id).values(
            state=state, confirmed=status[:40], updated_at=utcnow(),
            error=None if state == "sent" else f"TEMPLATESENDJOBFINISH {status}"))
        if status.replace(" ", "") == JOB_FAILED_BLOCK.replace(" ", ""):
            mark_subscriber(conn, row.subscriber_id, "user block")
    return True


def mark_subscriber(conn: Connection, subscriber_id: int, reason: str) -> None:
    """A permanent refusal: no more pushes to this subscriber until they follow again."""
    conn.execute(subscribers.update().where(subscribers.c.id == subscriber_id)
                 .values(blocked_reason=reason[:200], updated_at=utcnow()))
    conn.execute(outbox.update().where(outbox.c.subscriber_id == subscriber_id,
                                       outbox.c.state == "pending")
                 .values(state="cancelled", error=f"subscriber: {reason}", updated_at=utcnow()))


# -- staff view data -----------------------------------------------------------------------

def release_stats(db, release_id: int) -> dict:
    """matched / pending / sending / sent / failed / unknown / cancelled of one release."""
    with db.read() as conn:
        counts = dict(conn.execute(sa.select(outbox.c.state, sa.func.count())
                                   .where(outbox.c.release_id == release_id)
                                   .group_by(outbox.c.state)).all())
    stats = {state: counts.get(state, 0) for state in COUNTED_STATES}
    stats["matched"] = sum(counts.values())
    return stats


def all_release_stats(db) -> list[dict]:
    with db.read() as conn:
        rows = conn.execute(sa.select(outbox.c.release_id, outbox.c.state, sa.func.count())
                            .group_by(outbox.c.release_id, outbox.c.state)).all()
    by_release: dict[int, dict] = {}
    for release_id, state, count in rows:
        entry = by_release.setdefault(release_id, {"release_id": release_id, "matched": 0,
                                                   **{s: 0 for s in COUNTED_STATES}})
        entry[state] = count
        entry["matched"] += count
    return [by_release[k] for k in sorted(by_release, reverse=True)]


def release_of_row(conn: Connection, row_id: int) -> int | None:
    return conn.execute(sa.select(outbox.c.release_id)
                        .where(outbox.c.id == row_id)).scalar_one_or_none()


def depth_by_state(conn: Connection) -> dict[str, int]:
    """Outbox rows by state, every release together."""
    rows = conn.execute(sa.select(outbox.c.state, sa.func.count()).group_by(outbox.c.state))
    return {state: count for state, count in rows}


def unknown_rows(db, release_id: int | None = None, limit: int = 500) -> list[dict]:
    query = sa.select(outbox.c.id, outbox.c.release_id, outbox.c.subscriber_id, outbox.c.channel,
                      outbox.c.client_msg_id, outbox.c.attempts, outbox.c.error,
                      outbox.c.first_attempt_at).where(outbox.c.state == "unknown")
    if release_id is not None:
        query = query.where(outbox.c.release_id == release_id)
    with db.read() as conn:
        return [dict(r) for r in conn.execute(query.order_by(outbox.c.id).limit(limit)).mappings()]


DECISIONS = {"sent": "sent", "failed": "failed", "resend": "pending"}


def decide_unknown(db, row_id: int, decision: str, by: str) -> None:
    """A person settles an unknown row: it was sent, it failed, or send it again (risking a
    duplicate, which the person accepts)."""
    if decision not in DECISIONS:
        raise ValueError(f"decision must be one of {', '.join(DECISIONS)}")
    values = {"state": DECISIONS[decision], "decided_by": (by or "?")[:200], "updated_at": utcnow()}
    if decision == "resend":  # a fresh start: attempts, dedupe window and ambiguity reset
        values.update(next_attempt_at=utcnow(), attempts=0, ambiguous=False, first_attempt_at=None,
                      claim=None)
    with db.write() as conn:
        updated = conn.execute(outbox.update().where(outbox.c.id == row_id, outbox.c.state == "unknown")
                               .values(**values)).rowcount
    if not updated:
        raise ValueError(f"outbox row {row_id} is not unknown")


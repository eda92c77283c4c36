"""What staff see of targeted push: who a release reaches and why, and where the sending
stands — so nobody believes pushes went out that are still waiting.

The sender runs as its own process (`push run --continuous`) and keeps no heartbeat; its
state is read from the outbox itself: rows being sent or settled within the last few minutes
mean a sender is at work; rows due for more than a minute that nobody claimed mean none is.
"""
from __future__ import annotations

import dataclasses
import datetime as dt

import sqlalchemy as sa

from bot.push.outbox import utcnow
from bot.push.tables import outbox, push_control, subscribers

ACTIVE_WINDOW = dt.timedelta(minutes=3)  # a sender settles a row at least this often when busy
UNCLAIMED_GRACE = dt.timedelta(seconds=60)  # a running sender claims due rows within seconds


@dataclasses.dataclass(frozen=True)
class Recipient:
    subscriber_id: int
    kind: str  # resident | enterprise
    name: str | None  # an enterprise's name, when it gave one
    region: str | None
    reason: str  # the reason the subscriber is shown: 您订阅了「就业创业」
    channel: str | None = None  # None in a preview: nothing is queued yet
    state: str | None = None
    error: str | None = None


@dataclasses.dataclass(frozen=True)
class SenderState:
    code: str  # not_configured | paused | sending | stalled | queued | waiting | idle
    pending: int  # rows waiting to be sent (due or not)
    due: int  # of which due now
    oldest_due: dt.datetime | None
    settled_recently: int  # sent, failed or unknown within ACTIVE_WINDOW
    paused: dict  # api → paused until


def queued_recipients(db, release_id: int, limit: int = 200) -> list[Recipient]:
    """The outbox rows of a published release, with whom they reach and why."""
    query = (sa.select(outbox.c.subscriber_id, outbox.c.reason, outbox.c.channel, outbox.c.state,
                       outbox.c.error, subscribers.c.kind, subscribers.c.name, subscribers.c.region)
             .join(subscribers, subscribers.c.id == outbox.c.subscriber_id, isouter=True)
             .where(outbox.c.release_id == release_id).order_by(outbox.c.id).limit(limit))
    with db.read() as conn:
        return [Recipient(r.subscriber_id, r.kind or "resident", r.name, r.region, r.reason,
                          r.channel, r.state, r.error) for r in conn.execute(query)]


def previewed_recipients(db, matches, limit: int = 200) -> list[Recipient]:
    """Who the matches of a release not yet published would reach (nothing is written)."""
    shown = matches[:limit]
    ids = [m.subscriber_id for m in shown]
    with db.read() as conn:
        rows = {r.id: r for r in conn.execute(
            sa.select(subscribers.c.id, subscribers.c.kind, subscribers.c.name, subscribers.c.region)
            .where(subscribers.c.id.in_(ids)))} if ids else {}
    return [Recipient(m.subscriber_id, getattr(rows.get(m.subscriber_id), "kind", None) or "resident",
                      getattr(rows.get(m.subscriber_id), "name", None),
                      getattr(rows.get(m.subscriber_id), "region", None), m.reason) for m in shown]


# The sender records errors for operators (English, with WeChat's codes); staff read these.
ERROR_SUMMARIES = (
    ("sender died", "发送程序在发送途中中断，微信可能已经送达"),
    ("timed out", "请求微信超时，微信可能已经送达"), ("timeout", "请求微信超时，微信可能已经送达"),
    ("45009", "当日调用额度用尽（45009）"), ("43004", "用户已取消关注（43004）"),
    ("40003", "用户标识无效（40003）"), ("43101", "用户拒收消息（43101）"),
    ("43019", "用户已被拉黑（43019）"), ("window closed", "客服消息须在用户发消息后 48 小时内发送，已过期"),
    ("openid cannot be decrypted", "订阅者标识无法解密（检查 POLICYBOT_OPENID_KEY）"),
    ("release has no document", "发布中没有文件"), ("subscriber:", "订阅者已退订、取消关注或撤回同意"),
    ("release withdrawn", "发布已撤回"), ("release retired", "发布已停用"),
)


def error_summary(error: str | None, code: int | None = None) -> str:
    """What went wrong with one push, in words staff read; the raw text stays beside it."""
    if not error and code is None:
        return ""
    text = f"{error or ''} {code or ''}"
    for needle, words in ERROR_SUMMARIES:
        if needle in text:
            return words
    return f"微信返回错误{f'（{code}）' if code is not None else ''}"


def sender_state(db, configured: bool, now: dt.datetime | None = None) -> SenderState:
    now = now or utcnow()
    with db.read() as conn:
        pending, due, oldest = conn.execute(sa.select(
            sa.func.count(),
            sa.func.count().filter(outbox.c.next_attempt_at <= now),
            sa.func.min(outbox.c.next_attempt_at).filter(outbox.c.next_attempt_at <= now))
            .where(outbox.c.state == "pending")).one()
        sending, settled = conn.execute(sa.select(
            sa.func.count().filter(outbox.c.state == "sending"),
            sa.func.count().filter(outbox.c.state.in_(("sent", "failed", "unknown")),
                                   outbox.c.attempts > 0, outbox.c.updated_at >= now - ACTIVE_WINDOW))
        ).one()
        paused = {api: until for api, until in conn.execute(
            sa.select(push_control.c.api, push_control.c.paused_until)
            .where(push_control.c.paused_until > now))}
    oldest = _aware(oldest) if oldest else None
    code = _code(configured, paused, pending, due, oldest, sending, settled, now)
    return SenderState(code, pending, due, oldest, settled, paused)


def _code(configured, paused, pending, due, oldest, sending, settled, now) -> str:
    if not configured:
        return "not_configured"
    if paused:
        return "paused"
    if sending or (pending and settled):
        return "sending"
    if not pending:
        return "idle"
    if due and oldest is not None and oldest <= now - UNCLAIMED_GRACE:
        return "stalled"
    return "queued" if due else "waiting"


def _aware(moment: dt.datetime) -> dt.datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)

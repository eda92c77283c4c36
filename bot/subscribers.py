"""Subscribers: who wants which pushes, and the profile that targeted push matches against.

Used by the bot's message handlers (订阅/退订/我的订阅, follow and unfollow events), by the H5
profile form and by the push matcher. Openids are stored protected (bot/push/openids.py) and
can be deleted on request (`forget`); they are never logged in clear.

    subs = Subscribers(db)
    subs.subscribe(openid, "就业创业")   -> Result(ok=True, message="已订阅「就业创业」…")
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import threading
import unicodedata
from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from bot.push.matching import GENERIC_TERMS
from bot.push.openids import OpenidCipher, mask, stored_secret
from bot.push.tables import outbox, subscriber_tags, subscribers
from bot.simulated import is_simulated
from policies import store

log = logging.getLogger(__name__)

# Groups a resident can belong to (the list; the corpus adds its own audience terms).
STANDARD_GROUPS = ("高校毕业生", "退役军人", "老年人", "残疾人", "农民工", "就业困难人员")
QUALIFICATIONS = ("高新技术企业", "专精特新", "个体工商户", "科技型中小企业", "小微企业", "外资企业")
SIZE_CLASSES = ("小微", "中型", "大型")
KINDS = ("resident", "enterprise")
SUBSCRIPTION_SOURCES = ("topic", "audience")
PROFILE_TEXT_FIELDS = {"name": 200, "industry": 100, "region": 200}
# The profile form's words for its fields: a ProfileError names the field as the form does.
FIELD_LABELS = {"kind": "身份", "name": "企业名称", "industry": "行业", "size_class": "规模",
                "region": "所在地区",
                "consent": "同意推送", "groups": "所属人群", "qualifications": "资质"}
CS_WINDOW = dt.timedelta(hours=48)
# Every message touches its sender (after the reply, batched): built once, as building the
# statements cost more than running them (bench/bench_message_cost.py).
_KNOWN_KEYS = sa.select(subscribers.c.openid_key).where(
    subscribers.c.openid_key.in_(sa.bindparam("p_keys", expanding=True)))
_TOUCH = subscribers.update().where(subscribers.c.openid_key.in_(sa.bindparam("p_keys", expanding=True))) \
    .values(last_message_at=sa.bindparam("p_at", type_=subscribers.c.last_message_at.type), cs_used=0,
            active=True, updated_at=sa.bindparam("p_now", type_=subscribers.c.updated_at.type))
# New senders, by database: what another process added meanwhile is left alone (and touched).
_INSERT_NEW = {name: insert(subscribers).on_conflict_do_nothing(index_elements=["openid_key"])
               .returning(subscribers.c.openid_key)
               for name, insert in (("postgresql", postgresql.insert), ("sqlite", sqlite.insert))}
OFFERED_WITHOUT_CONFIG = 12  # topics listed when the account configured none: the most used


@dataclasses.dataclass(frozen=True)
class Result:
    """The outcome of a subscription command, with a message fit for the user."""
    ok: bool
    message: str
    name: str | None = None
    valid: tuple[str, ...] = ()


class ProfileError(ValueError):
    """A profile field with a value we cannot accept; the message says which and why."""


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def normalize_name(name: str) -> str:
    text = unicodedata.normalize("NFKC", name or "").strip()
    return text.strip("「」『』《》\"'“”‘’[]【】 ")


class Subscribers:
    def __init__(self, db, secret: str | bytes | None = None, *, open_now: bool = True):
        """`open_now=False` (the app, while it is built): the key is read when `open()` is
        called (commands.push registers it for right after the migrations)."""
        self.db = db
        self._secret = secret
        self._cipher: OpenidCipher | None = None
        self._cipher_lock = threading.Lock()
        if open_now:
            self.open()

    def open(self) -> OpenidCipher:
        """The openids' cipher, once. Its key, unless configured (OPENID_KEY), is the
        database's own, read (created the first time) in a transaction of its own: call it
        before any transaction that needs the cipher (on SQLite a write transaction held by
        the caller would wait on it)."""
        if self._cipher is None:
            with self._cipher_lock:
                if self._cipher is None:
                    self._cipher = OpenidCipher(self._secret or stored_secret(self.db))
        return self._cipher

    @property
    def cipher(self) -> OpenidCipher:
        return self.open()

    # -- vocabulary and subscriptions ----------------------------------------------------
    def vocabulary(self) -> dict:
        """Topics and audience groups one can subscribe to: those of public documents."""
        topics: set[str] = set()
        audience: set[str] = set(STANDARD_GROUPS)
        with self.db.read() as conn:
            for row_topics, row_audience in store.public_topics_and_audiences(conn):
                topics.update(row_topics)
                audience.update(row_audience)
        # Generic terms (个人, 企业) never make a match on their own: not worth subscribing to.
        return {"topics": sorted(topics - GENERIC_TERMS),
                "audience": sorted(audience - topics - GENERIC_TERMS)}

    def offered(self, configured=()) -> list[str]:
        """What the bot lists to subscribe to: the account's configured topics and groups that
        exist (SUBSCRIPTION_TOPICS, in that order), else the topics of the most public documents."""
        vocab = self.vocabulary()
        known = set(vocab["topics"]) | set(vocab["audience"])
        listed = [name for name in dict.fromkeys(configured) if name in known]
        return listed or self._most_used_topics(OFFERED_WITHOUT_CONFIG)

    def subscribe(self, openid: str, name: str, offered=None) -> Result:
        name = normalize_name(name)
        source = self._source_of(name)
        if source is None:
            offered = self.offered() if offered is None else offered
            vocab = self.vocabulary()
            close = [v for v in vocab["topics"] + vocab["audience"] if name and (name in v or v in name)]
            valid = tuple(close or offered)
            hint = f"您是不是要订阅：{'、'.join(close)}？" if close else "常用主题：" + "、".join(offered)
            return Result(False, f"没有「{name}」这个主题或人群。{hint}（回复「订阅 主题名」）", name, valid)
        with self.db.write() as conn:
            sid = self._ensure(conn, openid)
            conn.execute(subscribers.update().where(subscribers.c.id == sid)
                         .values(consent=True, updated_at=utcnow()))
            _add_tags(conn, sid, [name], source)
        log.info("subscribe %s to %s", mask(openid), name)
        return Result(True, f"已订阅「{name}」，相关政策发布时会推送给您。", name)

    def unsubscribe(self, openid: str, name: str) -> Result:
        name = normalize_name(name)
        with self.db.write() as conn:
            sid = self._id(conn, openid)
            removed = 0 if sid is None else conn.execute(subscriber_tags.delete().where(
                subscriber_tags.c.subscriber_id == sid, subscriber_tags.c.tag == name,
                subscriber_tags.c.source.in_(SUBSCRIPTION_SOURCES))).rowcount
        if not removed:
            return Result(False, f"您没有订阅「{name}」。", name)
        return Result(True, f"已退订「{name}」。", name)

    def unsubscribe_all(self, openid: str) -> Result:
        """「退订 全部」: every topic and group subscription, and the consent to profile-based
        pushes (pending pushes cancelled): nothing more is pushed to this user."""
        with self.db.write() as conn:
            sid = self._id(conn, openid)
            names = [] if sid is None else sorted(conn.execute(sa.select(subscriber_tags.c.tag).where(
                subscriber_tags.c.subscriber_id == sid,
                subscriber_tags.c.source.in_(SUBSCRIPTION_SOURCES))).scalars())
            if sid is not None:
                conn.execute(subscriber_tags.delete().where(subscriber_tags.c.subscriber_id == sid,
                                                            subscriber_tags.c.source.in_(SUBSCRIPTION_SOURCES)))
                conn.execute(subscribers.update().where(subscribers.c.id == sid)
                             .values(consent=False, updated_at=utcnow()))
                _cancel_pending(conn, sid, "unsubscribed from all")
        log.info("unsubscribe %s from all (%d)", mask(openid), len(names))
        if not names:
            return Result(True, "您没有订阅任何主题；已停止向您推送政策。需要时回复「订阅 主题名」重新订阅。")
        return Result(True, f"已退订全部{len(names)}个主题（{'、'.join(names)}），不再向您推送政策。"
                            "需要时回复「订阅 主题名」重新订阅。")

    def subscriptions(self, openid: str) -> list[str]:
        with self.db.read() as conn:
            sid = self._id(conn, openid)
            if sid is None:
                return []
            return sorted(conn.execute(sa.select(subscriber_tags.c.tag).where(
                subscriber_tags.c.subscriber_id == sid,
                subscriber_tags.c.source.in_(SUBSCRIPTION_SOURCES))).scalars())

    # -- follow events and the customer-service window -------------------------------------
    def on_follow(self, openid: str) -> int:
        with self.db.write() as conn:
            sid = self._ensure(conn, openid)
            conn.execute(subscribers.update().where(subscribers.c.id == sid)
                         .values(active=True, blocked_reason=None, updated_at=utcnow()))
        return sid

    def on_unfollow(self, openid: str) -> None:
        """No push after an unfollow: inactive, and its pending rows cancelled."""
        with self.db.write() as conn:
            sid = self._id(conn, openid)
            if sid is None:
                return
            conn.execute(subscribers.update().where(subscribers.c.id == sid)
                         .values(active=False, updated_at=utcnow()))
            _cancel_pending(conn, sid, "unfollowed")

    def touch(self, openid: str, at: dt.datetime | None = None) -> None:
        """A user message: opens a new 48-hour customer-service window (5 messages)."""
        self.touch_many([openid], at)

    def touch_many(self, openids: Sequence[str], at: dt.datetime | None = None) -> None:
        """Messages from these users, at `at` or later (the bot passes the earliest of a batch:
        a window is never taken to run longer than WeChat's), in one transaction."""
        at = at or utcnow()
        unique = list(dict.fromkeys(openids))
        for openid in unique:
            _check_openid(openid)
        if not unique:
            return
        keys = {openid: self.cipher.key(openid) for openid in unique}
        now = utcnow()
        with self.db.write() as conn:
            known = set(conn.execute(_KNOWN_KEYS, {"p_keys": list(keys.values())}).scalars())
            new = [o for o in unique if keys[o] not in known]
            # New senders (a burst of new followers: each message) in one statement, their window
            # opened as they are added; one another process added meanwhile is touched below.
            rows = [self._new_row(o, keys[o], now, last_message_at=at) for o in new]
            added = set(conn.execute(_INSERT_NEW[conn.dialect.name], rows).scalars()) if rows else set()
            touched = [key for key in keys.values() if key not in added]
            if touched:
                conn.execute(_TOUCH, {"p_keys": touched, "p_at": at, "p_now": now})

    # -- profile ---------------------------------------------------------------------------
    def profile(self, openid: str) -> dict | None:
        with self.db.read() as conn:
            sid = self._id(conn, openid)
            return None if sid is None else profile_of(conn, sid)

    def update_profile(self, openid: str, **fields) -> dict:
        """Set profile fields: kind, name, industry, size_class, region, consent, groups,
        qualifications. Unknown fields or values raise ProfileError."""
        values, tags = _checked_profile(fields)
        with self.db.write() as conn:
            return _update(conn, self._ensure(conn, openid), values, tags)

    def profile_by_id(self, subscriber_id: int) -> dict | None:
        """For the H5 form, whose signed link carries the id (never the openid)."""
        with self.db.read() as conn:
            exists = conn.execute(sa.select(subscribers.c.id)
                                  .where(subscribers.c.id == subscriber_id)).scalar_one_or_none()
            return profile_of(conn, subscriber_id) if exists else None

    def update_profile_by_id(self, subscriber_id: int, **fields) -> dict:
        values, tags = _checked_profile(fields)
        with self.db.write() as conn:
            found = conn.execute(sa.select(subscribers.c.id).where(subscribers.c.id == subscriber_id))
            if found.first() is None:
                raise ProfileError("该用户资料已删除")
            return _update(conn, subscriber_id, values, tags)

    def forget(self, openid: str) -> bool:
        """Delete everything we hold about this openid (the outbox keeps only an id)."""
        with self.db.write() as conn:
            sid = self._id(conn, openid)
            if sid is None:
                return False
            _cancel_pending(conn, sid, "subscriber deleted")
            conn.execute(subscriber_tags.delete().where(subscriber_tags.c.subscriber_id == sid))
            conn.execute(subscribers.delete().where(subscribers.c.id == sid))
        log.info("forgot subscriber %s", mask(openid))
        return True

    # -- for the push machinery --------------------------------------------------------------
    def subscriber_id(self, openid: str) -> int | None:
        with self.db.read() as conn:
            return self._id(conn, openid)

    def ensure(self, openid: str) -> int:
        with self.db.write() as conn:
            return self._ensure(conn, openid)

    def openid_of(self, encrypted: str) -> str:
        return self.cipher.decrypt(encrypted)

    # -- internals ---------------------------------------------------------------------------
    def _most_used_topics(self, limit: int) -> list[str]:
        counts: dict[str, int] = {}
        with self.db.read() as conn:
            for topics, _ in store.public_topics_and_audiences(conn):
                for topic in topics:
                    counts[topic] = counts.get(topic, 0) + 1
        ranked = sorted((t for t in counts if t not in GENERIC_TERMS), key=lambda t: (-counts[t], t))
        return ranked[:limit]

    def _source_of(self, name: str) -> str | None:
        vocab = self.vocabulary()
        if name in vocab["topics"]:
            return "topic"
        return "audience" if name in vocab["audience"] else None

    def _id(self, conn, openid: str) -> int | None:
        _check_openid(openid)
        return conn.execute(sa.select(subscribers.c.id).where(
            subscribers.c.openid_key == self.cipher.key(openid))).scalar_one_or_none()

    def _ensure(self, conn, openid: str) -> int:
        sid = self._id(conn, openid)
        if sid is not None:
            return sid
        row = self._new_row(openid, self.cipher.key(openid), utcnow())
        return conn.execute(subscribers.insert().values(row).returning(subscribers.c.id)).scalar_one()

    def _new_row(self, openid: str, key: str, now: dt.datetime,
                 last_message_at: dt.datetime | None = None) -> dict:
        """A subscriber as first seen (`key`: its openid's lookup key, computed once by the caller):
        a resident without consent to pushes."""
        return {"openid_key": key, "openid_enc": self.cipher.encrypt(openid),
                "kind": "resident", "consent": False, "active": True, "cs_used": 0,
                "simulated": is_simulated(openid), "last_message_at": last_message_at,
                "created_at": now, "updated_at": now}


def profile_of(conn, sid: int) -> dict:
    row = conn.execute(sa.select(subscribers).where(subscribers.c.id == sid)).mappings().one()
    tags = conn.execute(sa.select(subscriber_tags.c.tag, subscriber_tags.c.source)
                        .where(subscriber_tags.c.subscriber_id == sid)).all()
    by_source = lambda s: sorted(t for t, src in tags if src == s)  # noqa: E731
    return {"id": sid, "kind": row["kind"], "name": row["name"], "industry": row["industry"],
            "size_class": row["size_class"], "region": row["region"], "consent": row["consent"],
            "active": row["active"], "blocked_reason": row["blocked_reason"],
            "groups": by_source("group"), "qualifications": by_source("qualification"),
            "subscriptions": sorted(t for t, src in tags if src in SUBSCRIPTION_SOURCES)}


def _update(conn, sid: int, values: dict, tags: dict) -> dict:
    conn.execute(subscribers.update().where(subscribers.c.id == sid).values(**values, updated_at=utcnow()))
    for source, names in tags.items():
        conn.execute(subscriber_tags.delete().where(
            subscriber_tags.c.subscriber_id == sid, subscriber_tags.c.source == source))
        _add_tags(conn, sid, names, source)
    if values.get("consent") is False:
        _cancel_pending(conn, sid, "consent withdrawn")
    return profile_of(conn, sid)


def _checked_profile(fields: dict) -> tuple[dict, dict]:
    values, tags = {}, {}
    for name, value in fields.items():
        if name == "kind":
            values["kind"] = _choice(name, value, KINDS)
        elif name == "size_class":
            values["size_class"] = _choice(name, value, SIZE_CLASSES, optional=True)
        elif name in PROFILE_TEXT_FIELDS:
            values[name] = _text(name, value, PROFILE_TEXT_FIELDS[name])
        elif name == "consent":
            values["consent"] = bool(value)
        elif name == "groups":
            tags["group"] = _names(name, value)
        elif name == "qualifications":
            tags["qualification"] = [_choice(name, v, QUALIFICATIONS) for v in _names(name, value)]
        else:
            raise ProfileError(f"资料中没有「{name}」这一项")
    if "size_class" in values or "industry" in values:
        tags["size"] = [values["size_class"]] if values.get("size_class") else []
        tags["industry"] = [values["industry"]] if values.get("industry") else []
    return values, tags


def _choice(name: str, value, allowed: tuple, optional: bool = False):
    if optional and value in (None, ""):
        return None
    if value not in allowed:
        raise ProfileError(f"「{FIELD_LABELS.get(name, name)}」只能选：{'、'.join(allowed)}"
                           f"（收到的是「{value}」）")
    return value


def _text(name: str, value, limit: int) -> str | None:
    if value is None:
        return None
    text = normalize_name(str(value))
    if len(text) > limit:
        raise ProfileError(f"「{FIELD_LABELS.get(name, name)}」不能超过 {limit} 个字")
    return text or None


def _names(name: str, value) -> list[str]:
    if isinstance(value, str) or not hasattr(value, "__iter__"):
        raise ProfileError(f"「{FIELD_LABELS.get(name, name)}」应为一组选项")
    names = sorted({normalize_name(str(v)) for v in value} - {""})
    if any(len(n) > 100 for n in names):
        raise ProfileError(f"「{FIELD_LABELS.get(name, name)}」的每一项不能超过 100 个字")
    return names


def _add_tags(conn, sid: int, names, source: str) -> None:
    existing = set(conn.execute(sa.select(subscriber_tags.c.tag).where(
        subscriber_tags.c.subscriber_id == sid, subscriber_tags.c.source == source)).scalars())
    rows = [{"subscriber_id": sid, "tag": n, "source": source} for n in names if n not in existing]
    if rows:
        conn.execute(subscriber_tags.insert(), rows)


def _cancel_pending(conn, sid: int, why: str) -> None:
    conn.execute(outbox.update().where(outbox.c.subscriber_id == sid, outbox.c.state == "pending")
                 .values(state="cancelled", error=why, updated_at=utcnow()))


def _check_openid(openid) -> None:
    if not isinstance(openid, str) or not openid or len(openid) > 128:
        raise ValueError("an openid must be a non-empty string of at most 128 characters")

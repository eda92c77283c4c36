"""Which subscribers a release concerns, and why (the reason is shown in the message).

A subscriber matches when one of its tags meets a term of the release's documents:
a subscribed topic (您订阅了「就业创业」), a subscribed or profile audience group
(适用人群：高校毕业生), an enterprise qualification or size class (适用对象：小微企业).
Then the region must fit (全国 fits everyone; otherwise one region must contain the other),
and only active, consenting, unblocked subscribers are considered. A generic audience term
alone (个人, 企业) never makes a match: it would push everything to everyone. A release
whose policies are no longer in force on the day (run out, repealed, amended) is not pushed;
one not yet in force is (its message says 尚未施行): policies.status decides.
"""
from __future__ import annotations

import dataclasses
import datetime as dt

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from bot.push.tables import subscriber_tags, subscribers
from interpretations import listing
from policies import store
from policies.status import Validity
from policies.validity import local_today

GENERIC_TERMS = frozenset({"个人", "企业", "全体", "公众", "社会公众", "全体居民"})
NATIONWIDE = frozenset({"全国", "", None})
# Audience terms of documents that mean a size class of the enterprise profile.
SIZE_TERMS = {"小微企业": ("小微",), "小型微利企业": ("小微",), "中小企业": ("小微", "中型"),
              "中小微企业": ("小微", "中型"), "大型企业": ("大型",), "中型企业": ("中型",)}
REASON_ORDER = ("topic", "audience", "group", "qualification", "size", "industry")


@dataclasses.dataclass(frozen=True)
class Match:
    subscriber_id: int
    reason: str


@dataclasses.dataclass(frozen=True)
class Target:
    """What of a release matching looks at."""
    topics: frozenset
    audience: frozenset
    region: str | None
    current: bool  # every policy in force or not yet in force (worth telling subscribers)

    def terms(self) -> set[str]:
        sizes = {s for term in self.audience for s in SIZE_TERMS.get(term, ())}
        return (set(self.topics) | set(self.audience) | sizes) - GENERIC_TERMS


def target_of(conn: Connection, release_id: int, today: dt.date | None = None) -> Target:
    members = listing.member_ids(conn, [release_id]).get(release_id, [])
    rows = [store.require_document(conn, doc_id) for doc_id in members]
    topics = frozenset(t for r in rows for t in r.topics)
    audience = frozenset(a for r in rows for a in r.audience)
    policies = [r for r in rows if r.kind == "policy"] or rows
    region = policies[0].region if policies else None
    day = today or local_today()
    current = all(Validity.of(r).state(day) in ("in_force", "upcoming") for r in policies)
    return Target(topics, audience, region, current)


def match_release(conn: Connection, release_id: int, today: dt.date | None = None) -> list[Match]:
    target = target_of(conn, release_id, today)
    if not target.current or not target.terms():
        return []
    hits: dict[int, list[tuple[str, str]]] = {}
    for sid, tag, source, region in _candidates(conn, sorted(target.terms())):
        if region_fits(target.region, region):
            hits.setdefault(sid, []).append((source, tag))
    return [Match(sid, reason_text(tags, target)) for sid, tags in sorted(hits.items())]


def _candidates(conn: Connection, terms: list[str]):
    """(subscriber id, tag, source, region) of every eligible subscriber tag among `terms`."""
    query = (sa.select(subscriber_tags.c.subscriber_id, subscriber_tags.c.tag,
                       subscriber_tags.c.source, subscribers.c.region)
             .join(subscribers, subscribers.c.id == subscriber_tags.c.subscriber_id)
             .where(subscriber_tags.c.tag.in_(terms), subscribers.c.active.is_(True),
                    subscribers.c.consent.is_(True), subscribers.c.blocked_reason.is_(None),
                    subscribers.c.simulated.is_(False)))  # the staff simulator's users: never
    return conn.execute(query)


def region_fits(document_region: str | None, subscriber_region: str | None) -> bool:
    if document_region is None or document_region in NATIONWIDE or not subscriber_region:
        return True
    return subscriber_region.startswith(document_region) or document_region.startswith(subscriber_region)


def reason_text(tags: list[tuple[str, str]], target: Target) -> str:
    """The short reason shown to the subscriber: at most two, the strongest first."""
    parts = []
    for source, tag in sorted(set(tags), key=lambda st: (REASON_ORDER.index(st[0]), st[1])):
        parts.append(_phrase(source, tag, target))
    unique = list(dict.fromkeys(parts))
    return "；".join(unique[:2])


def _phrase(source: str, tag: str, target: Target) -> str:
    if source == "topic":
        return f"您订阅了「{tag}」"
    if source in ("audience", "group"):
        return f"适用人群：{tag}"
    if source == "size":
        size_term = next((t for t in sorted(target.audience) if tag in SIZE_TERMS.get(t, ())), tag)
        return f"适用对象：{size_term}"
    return f"适用对象：{tag}"

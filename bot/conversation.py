"""A user's conversation state: the topic of the last answer (for short follow-ups such as
「那需要什么材料？」) and the numbered related documents of that answer.

A follow-up is read by meaning, not by its cues: a short message soon after an answer
is first read by itself; when that settles nothing (no subject of its own the bot can
answer), it is read together with the question that opened the topic, and kept that
way when so it is answered. A short message that is answered by itself (「春节放几天假？」
after a question on 劳动仲裁) is a new question, unless read with the topic it is answered
from the topic's own release and more surely (topic_answers_better: 「多久能批下来？」 matched
elsewhere by its 多久 alone); so is one that names a subject of its own the topic's
release does not speak of, even when it is not sure enough to be answered by itself
(「新生儿还没上户口能先买医保吗」 after 积分入户: read with the topic, it would be answered from the
topic's words, see own_subject). A follow-up is always read with the topic's opening
question, never with an earlier merged reading: merges never chain. A message on the topic that
nothing answers (「要什么条件」 after 我想租公租房) leaves the topic as it was (on_topic).

Number rule (documented in the README): an answer ends with one numbered menu, as a phone
menu does. 1 rates the last answer 满意 and 2 不满意 (so do the words, bot.questionlog
parse_rating); the related documents are numbered from 3 (bot.answer.RELATED_FIRST_NUMBER),
and a bare number from 3 returns that document's key passage. A number is never ambiguous.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import re
import time

from bot.answer import RELATED_SHARE, Related
from bot.answerability import Candidate, Decision, says_what_is_asked
from bot.asking import asked_kinds, beyond_asking
from bot.kvstore import KeyValueStore
from index.query import with_opening

FOLLOW_UP_SECONDS = 5 * 60
KEEP_SECONDS = 30 * 60
FOLLOW_UP_MAX_CHARS = 24
TOPIC_SHOWN_CHARS = 40
# How much more of the message's own words (rarity-weighted share, index.signals) another
# release must say than the topic's release, for the message to have a subject of its own.
OWN_SUBJECT_LEAD = 0.3
# ...and it has words of its own beyond its asking words (bot.asking.beyond_asking): 「多久能批」
# shares only 多久 with 「失业保险金能领多久」; 「租房的个税每个月能扣多少」 names 租房 and 个税.
OWN_WORDS_CHARS = 4
# A message naming nothing the topic's release says, while that release says the kind of thing
# it asks (an amount, a place…), has a subject of its own when by itself it finds another release
# at this share of the operating point: 「残疾证二级 每个月能领多少钱」 (0.25) after 公租房怎么申请,
# whose rents are amounts; not 「给小孩办要带什么」 (0.03) after 社保卡怎么申请, whose list of 材料
# answers it. Measured 2026-12-05 (bench_follow_ups): such follow-ups 0.03–0.06, questions on
# another subject or everyday ones 0.08–0.36.
UNHEARD_SHARE = 0.2
# A message nothing answers stays on the topic when the topic's release says at least this share
# of what it names, or it names little and no other release says it (on_topic): 「要什么条件」 after
# 我想租公租房 (1.0); not 「子女不给赡养费怎么办」 after 老人优待卡 (0.0; 老年人权益保障法 says 赡养).
# Measured 2026-12-05 (bench_follow_ups): questions on the topic answered after one nothing
# answered 11 → 37 of 78 (24 with the share alone; 44 when a message naming a subject of its own
# that nothing says was kept too, which answered 「孩子读书怎么办」 → 「要什么条件」 from 积分入户),
# 「要带什么材料」 after a refused question on another subject read with the first topic 0 → 1 of 27.
ON_TOPIC_SHARE = 0.5
# 「公司不申请呢」, 「学生呢？」: what about X, asked in the frame of the last answer.
ELLIPTICAL_RE = re.compile(r"呢[？?。！!～~…\s]*$")
_WORDS_ONLY = re.compile(r"[\s\W_]+")


@dataclasses.dataclass
class Turn:
    question: str                  # as the user wrote it
    at: float
    related: list[Related]
    best_chunk: str | None = None  # what the last answer quoted: a follow-up wants something else
    answer_ref: str | None = None  # the last answer's reference: what 1 / 2 rate
    topic: str | None = None       # the question that opened this topic (follow-ups are read with it)
    release: str | None = None     # the release the last answer quoted (None: nothing was found),
    #                                or the topic's, kept through a message nothing answered (on_topic)


def may_follow(text: str, previous: Turn | None, now: float) -> bool:
    """Short, soon after the previous question: worth asking whether it follows. Also after
    a question that was not answered: what the resident adds (「申领要身份证吗」) may make the
    two together answerable. Not the topic's own question asked again (a resident who got no
    answer often sends it once more): read with itself it was answered from its doubled words
    and said 「您问的是：X——X」; asked again, it gets the reply it got."""
    return (previous is not None and now - previous.at <= FOLLOW_UP_SECONDS
            and len(text) <= FOLLOW_UP_MAX_CHARS and not _same_words(text, opening(previous)))


def _same_words(one: str, other: str) -> bool:
    """The same question but for spaces and punctuation (「失业金能领几个月？」, 「失业金能领几个月」)."""
    return _WORDS_ONLY.sub("", one) == _WORDS_ONLY.sub("", other)


def settled_alone(alone: Decision, previous: Turn) -> bool:
    """Whether the message by itself settles its reading: answered by itself, from the
    previous answer's release (the same topic, no merge needed) or from another one (a subject
    of its own: 「幼儿园能不能提前教小学的课」 after a question on 异地就医). Read with the
    topic's question, such a message would be answered from the topic's words instead of its
    own; a follow-up with no subject of its own (「要什么材料？」) is not answered by itself."""
    return alone.chosen is not None


def topic_answers_better(text: str, alone: Decision, merged: Decision, previous: Turn) -> bool:
    """A message answered by itself from another release still follows the topic when, read
    with the topic's question, it is answered from the topic's own release and more surely:
    「多久能批下来？」 after 失业金申领 matches 「失业保险金能领多久」 by its 多久 alone, but says
    nothing of its own that the 申领 rules do not answer better. Not when the release it was
    answered from says as much of its words as the topic's passages do or more, unless those are its
    asking words (says_asked): with any question, the topic's words make the topic's release
    probable (「幼儿园能不能提前教小学的课」 after 异地就医备案: 0.85 read with the topic). Its asking
    words do not keep it with the topic when it says more than them (OWN_WORDS_CHARS) and the
    other release says clearly more of it (「租房的个税每个月能扣多少」 after 长者饭堂补贴: both say
    an amount, the tax rules say 租房 and 个税)."""
    if merged.chosen is None or merged.chosen.doc_id != previous.release or \
            merged.probability <= alone.probability:
        return False
    if alone.chosen is None:
        return True
    if _names_own(alone.chosen, merged.chosen) and not is_elliptical(text):
        return False  # 「生育津贴能领多少」 after 失业金能领多久: the FAQ says 能领, not 生育津贴
    asking_only = says_asked(text, merged.chosen, previous) and \
        not (len(beyond_asking(text)) >= OWN_WORDS_CHARS and _says_clearly_more(alone.chosen, merged.chosen))
    return asking_only or _most(alone.chosen, "message_coverage") < _most(merged.chosen, "message_coverage")


def follows(text: str, alone: Decision, merged: Decision, previous: Turn, threshold: float) -> bool:
    """A message that did not settle by itself follows the previous answer when, read with
    the topic's question, it is answered (from that release, or from another the topic
    leads to: 「要收费吗？」 after 劳动仲裁网上申请 is the 仲裁法's), and better than alone, unless
    it has a subject of its own (`threshold`: the answer model's operating point)."""
    if merged.chosen is None:
        return False
    if own_subject(text, alone, merged, previous, threshold) and \
            (not says_asked(text, merged.chosen, previous) or _names_own(alone.ranked[0], merged.chosen)):
        return False
    return merged.chosen.doc_id == previous.release or alone.chosen is None or \
        merged.probability > alone.probability


def own_subject(text: str, alone: Decision, merged: Decision, previous: Turn, threshold: float) -> bool:
    """Whether the message asks about something the topic does not: by itself its best release
    is another one than the last answer's, probable enough to be offered, that the merged
    reading would not answer from, and its passages say clearly more of the message's own
    words than the passages the merged reading chose (「新生儿…买医保」 after 积分入户: 医保 is the
    医保 notice's word, not the 积分入户 rules'). Probable enough to be offered, or less when the
    topic's release says none of what the message names: then any, unless that release says
    the kind of thing the message asks (UNHEARD_SHARE). 「残疾证二级 每个月能领多少钱」 after
    产假多少天 was answered from the 女职工 rules, probable from the topic's words alone. An
    elliptical message (「公司不申请呢」) has no subject of its own, whatever words it repeats."""
    best = alone.ranked[0] if alone.ranked else None
    if best is None or merged.chosen is None or best.doc_id == previous.release or is_elliptical(text):
        return False
    unheard = _most(merged.chosen, "subject_coverage") == 0 and \
        (not says_asked(text, merged.chosen, previous) or best.probability >= threshold * UNHEARD_SHARE)
    if best.probability < threshold * RELATED_SHARE and not unheard:
        return False
    if any(c.doc_id == best.doc_id and c.probability >= threshold for c in merged.ranked):
        return False  # with its topic too it is answered from there: the topic only helps
    return _says_clearly_more(best, merged.chosen) or _names_own(best, merged.chosen)


def on_topic(text: str, alone: Decision, merged: Decision, previous: Turn) -> bool:
    """Whether a message that nothing answers leaves the topic as it was (bot.service): read with
    its topic, the topic's release is found and says most of what the message names
    (ON_TOPIC_SHARE of its subject words; all when it names none: 「要什么条件」 after 我想租公租房,
    whose rules say 条件), or the message names nothing beyond its asking words (not
    opens_topic: 「我是外地户口呢」 after 失业金去哪里领) and no other release it finds by itself says
    what it names either. Not when another release says what the message names and the topic's
    does not (「子女不给赡养费怎么办」 after 老人优待卡怎么办: 老年人权益保障法 says 赡养), nor when it
    names a subject of its own that nothing says (「孩子读书怎么办」 after 积分入户要多少分: the next
    「要什么条件」 asks about schooling). Kept, the topic is what the next message is read with:
    「租金多少」 after 要什么条件 still asks about 公租房."""
    topic = next((c for c in merged.ranked if c.doc_id == previous.release), None)
    if topic is None:
        return False
    if _most(topic, "subject_coverage") >= ON_TOPIC_SHARE:
        return True
    if opens_topic(text):
        return False
    best = alone.ranked[0] if alone.ranked else None
    return best is None or best.doc_id == previous.release or _most(best, "subject_coverage") < ON_TOPIC_SHARE


def says_asked(text: str, chosen: Candidate, previous: Turn) -> bool:
    """Read with its topic, the message is answered from the topic's own release, and one of
    its passages says the kind of thing the message asks for (bot.asking). Then the words that
    another release shares with the message are its asking words, not a subject of its own:
    「多久能批下来？」 after 异地就医备案怎么办理 shares 多久 with 「失业保险金能领多久」, and the
    备案 rules say 2个工作日内."""
    asks = asked_kinds(text)
    return chosen.doc_id == previous.release and bool(asks) and says_what_is_asked(chosen, asks)


def _says_clearly_more(other: Candidate, topic: Candidate) -> bool:
    """Another release says clearly more of the message's own words than the topic's release
    (OWN_SUBJECT_LEAD): they are a subject of its own, not only its asking words (「租房的个税每个月
    能扣多少」 after 长者饭堂补贴: both say an amount, but 租房 and 个税 are the tax rules' words)."""
    return _leads(other, topic, "message_coverage")


def _names_own(other: Candidate, topic: Candidate) -> bool:
    """Another release says clearly more of what the message names, its words but its asking
    words (Signals.subject_coverage), or says as the message does what the topic's release says
    only in other terms (_named_otherwise): the asking word it shares with the topic's release
    does not make it a follow-up (「养老金什么时候涨」 after 坐地铁要钱吗: the 优待 rules say a time,
    the pension rules say 养老金; 「多久能批下来」 names nothing the corpus knows but its 多久)."""
    return _leads(other, topic, "subject_coverage") or _named_otherwise(other, topic)


def _named_otherwise(other: Candidate, topic: Candidate) -> bool:
    """The topic's release says what the message names only in other terms (养老金 as the
    失业 FAQ's 养老保险费), while another release says it as the message does, clearly more, or
    is about it, its title saying it where the topic's does not (「退休金什么时候涨」: neither
    says 退休金; the 养老金申领详解 says 基本养老金, in its title too)."""
    if _most(topic, "subject_otherwise") < OWN_SUBJECT_LEAD:
        return False
    return _leads(other, topic, "subject_literal") or _leads(other, topic, "subject_title")


def _leads(other: Candidate, topic: Candidate, signal: str) -> bool:
    """`other`'s passages say clearly more by `signal` (a share, index.hits.Signals) than the
    topic's release's (OWN_SUBJECT_LEAD)."""
    return _most(other, signal) >= _most(topic, signal) + OWN_SUBJECT_LEAD


def _most(candidate: Candidate, signal: str) -> float:
    """The most any of the release's passages says by `signal` (index.hits.Signals)."""
    return max((getattr(h.signals, signal) for h in candidate.hits if h.signals is not None), default=0.0)


def opens_topic(text: str) -> bool:
    """A message answered by itself from the topic's own release opens a topic of its own when it
    names something besides its asking words (「工伤认定去哪里申请」 after 算工伤吗: a resident's
    「要多久」 next asks how long the 认定 takes), not when it is elliptical or asks only (「能领多久」
    after 失业金怎么领: 「在哪里领」 next is still about 失业金)."""
    return not is_elliptical(text) and len(beyond_asking(text)) >= OWN_WORDS_CHARS


def is_elliptical(text: str) -> bool:
    """「那六一呢」, 「公司不申请呢」: the subject is the topic's, the message names what differs."""
    return bool(ELLIPTICAL_RE.search(text))


def opening(previous: Turn) -> str:
    """The question that opened the topic of the previous answer."""
    return previous.topic or previous.question


def with_context(text: str, previous: Turn) -> str:
    """The follow-up read with the question that opened the topic (as the search reads it
    when given the opening question: index.query.read_follow_up)."""
    return with_opening(text, opening(previous))


def reading_note(text: str, previous: Turn) -> str:
    """The first line of a reply to a follow-up: how the bot read it, so it can be corrected."""
    topic = opening(previous)
    if len(topic) > TOPIC_SHOWN_CHARS:
        topic = topic[:TOPIC_SHOWN_CHARS] + "…"
    return f"您问的是：{topic}——{text}"


def menu_number(text: str) -> int | None:
    """A bare number 1–9 (half- or full-width) replied to the answer's menu, else None."""
    text = text.strip().translate(str.maketrans("０１２３４５６７８９", "0123456789"))
    return int(text) if re.fullmatch(r"[1-9]", text) else None


class Conversations:
    def __init__(self, store: KeyValueStore, clock=time.time):
        self.store = store
        self.clock = clock

    def last(self, openid: str) -> Turn | None:
        raw = self.store.get(_key(openid))
        if not raw:
            return None
        data = json.loads(raw)
        return Turn(data["question"], data["at"], [Related(**r) for r in data["related"]],
                    data.get("best_chunk"), data.get("answer_ref"), data.get("topic"),
                    data.get("release"))

    def remember(self, openid: str, question: str, related, best_chunk: str | None = None,
                 answer_ref: str | None = None, topic: str | None = None,
                 release: str | None = None) -> None:
        data = {"question": question, "at": self.clock(), "best_chunk": best_chunk,
                "answer_ref": answer_ref, "topic": topic, "release": release,
                "related": [dataclasses.asdict(r) for r in related]}
        self.store.set(_key(openid), json.dumps(data, ensure_ascii=False), KEEP_SECONDS)


def _key(openid: str) -> str:
    return "conv:" + hashlib.sha256(openid.encode("utf-8")).hexdigest()

"""The bot's decision core: the fields of an authenticated message in, an Outcome out.

No HTTP, no crypto here (the callback does that before). Collaborators are passed in:
`search` (index.service.SearchService.search or a fake), the Library (documents, successors),
the shared state stores, the subscribers and question log when present, and the
customer-service sender for late answers on a certified 服务号.
"""
from __future__ import annotations

import concurrent.futures
import contextlib
import contextvars
import dataclasses
import datetime as dt
import hashlib
import json
import logging
import re
import threading
import time
from collections.abc import Callable, Iterator

from bot import conversation as conv
from bot import replies
from bot.answer import (
    RELATED_FIRST_NUMBER,
    Answer,
    AnswerContext,
    answers_message,
    compose_answer,
    related_passage_text,
    topic_passage,
)
from bot.answerability import SEARCH_K, AnswerModel, Decision, decide, release_of
from bot.asking import asked_kinds
from bot.batched import Batched
from bot.budget import TimeBudget
from bot.kvstore import KeyValueStore
from bot.library import Library
from bot.links import catalogue_url, new_answer_ref
from bot.questionlog import Entry, parse_rating, utcnow
from bot.smalltalk import reply_to as smalltalk_reply
from bot.smalltalk import small_talk
from bot.textlimit import REPLY_LIMIT_BYTES, utf8_len
from bot.xmlsafe import clean_text
from index.fusion import reciprocal_rank_fusion
from index.hits import Hit
from index.query import asking_clauses
from policies.status import Validity
from policies.validity import DEFAULT_TIMEZONE, local_today

log = logging.getLogger("policybot.bot")
TRANSFER_WORDS = {"转人工", "人工", "人工客服", "转人工客服", "客服"}
CATALOGUE_WORDS = {"目录", "现行有效目录", "政策目录", "现行有效", "现行有效政策目录"}
HELP_WORDS = {"帮助", "help", "?", "？", "菜单", "怎么用", "使用说明"}
SUBSCRIPTION_RE = re.compile(r"^(订阅|退订|取消订阅)\s*(.*)$")
UNSUBSCRIBE_ALL_RE = re.compile(r"^(?:(?:退订|取消订阅|取消)\s*(?:全部|所有)(?:订阅|主题)?"
                                r"|(?:全部|所有)退订)$")
PROFILE_WORDS = {"完善资料", "我的资料", "填写资料", "修改资料", "个人资料", "企业资料", "资料", "推送设置"}
KEPT_SECONDS = 48 * 3600
PENDING_RATING_SECONDS = 3600
# A question reaching the bot with less than this share of its budget left (0.5 s of 4 s: it
# waited in the queues of a burst, bot.web.queueing) is not searched: the user is asked to send
# it again. Its answer could not make the passive reply, and searching would lengthen the queue.
MIN_BUDGET_SHARE = 0.125


@dataclasses.dataclass(frozen=True)
class Outcome:
    kind: str  # "text" | "transfer" | "success"
    text: str = ""

    @classmethod
    def reply(cls, text: str) -> Outcome:
        return cls("text", text)

    def to_json(self) -> str:
        return json.dumps({"kind": self.kind, "text": self.text}, ensure_ascii=False)

    @classmethod
    def from_json(cls, raw: str) -> Outcome:
        data = json.loads(raw)
        return cls(data["kind"], data["text"])


SUCCESS = Outcome("success")

# Reciprocal-rank constant of a follow-up's two searches (the passage ranks are few: a small
# constant lets the first ranks decide).
FOCUS_RRF_K = 1


@dataclasses.dataclass(frozen=True)
class Reading:
    """How a message was read: by itself, or as a follow-up with its topic's question."""
    text: str                   # what was searched
    hits: list                  # what the search found for it
    follow_up: bool = False     # read together with the question that opened the topic
    same_topic: bool = False    # by itself, but answered from the previous answer's release
    note: str = ""              # 您问的是：… (only for a follow-up)
    alone: Reading | None = None  # a follow-up's message read by itself (its fallback)
    topic_release: str | None = None  # a follow-up's: the release the previous answer quoted
    among: frozenset[str] | None = None  # a story's asking clauses: the releases the whole found
    on_topic: bool = False      # nothing answering it, it leaves the topic as it was (conversation.on_topic)

    @property
    def asks(self) -> frozenset[str]:
        """What the message itself asks for (bot.asking): a follow-up's own, not its topic's
        question's (「要去哪里申请？」 after 每月发多少 asks where, not how much)."""
        return asked_kinds(self.alone.text if self.alone is not None else self.text)

    @property
    def elliptical(self) -> bool:
        return self.alone is not None and conv.is_elliptical(self.alone.text)


@dataclasses.dataclass
class BotSettings:
    public_url: str
    model: AnswerModel  # the answer decision (bot.answerability), with its operating point
    timezone: str = DEFAULT_TIMEZONE
    certified: bool = False  # certified 服务号: late answers go out as customer-service messages
    menu_actions: dict[str, str] = dataclasses.field(default_factory=dict)  # CLICK key → typed text
    subscription_topics: tuple[str, ...] = ()  # offered first, in this order (SUBSCRIPTION_TOPICS)


class _Held:
    """One message's question-log entry, kept until its reply is the message's own
    (`BotService.replying`), then queued for the log."""

    def __init__(self, log: Batched[Entry]) -> None:
        self._log = log
        self._entries: list[Entry] = []
        self._open = True
        self._lock = threading.Lock()

    def keep(self, entry: Entry) -> bool:
        """False once released: a late answer's entry goes to the log at once."""
        with self._lock:
            if self._open:
                self._entries.append(entry)
            return self._open

    def release(self) -> None:
        with self._lock:
            self._open, entries, self._entries = False, self._entries, []
        for entry in entries:
            self._log.add(entry)


_HELD: contextvars.ContextVar[_Held | None] = contextvars.ContextVar("policybot_held", default=None)


class BotService:
    def __init__(self, *, search: Callable, library: Library, state: KeyValueStore,
                 budget: TimeBudget, settings: BotSettings, subscribers=None, questions=None,
                 send_customer_message: Callable[[str, str], bool] | None = None,
                 template_event_handler: Callable[[dict], None] | None = None,
                 profile_link: Callable[[str], str] | None = None, clock=time.time):
        self.search, self.library, self.state, self.budget = search, library, state, budget
        self.settings, self.subscribers, self.questions = settings, subscribers, questions
        self.send_customer_message = send_customer_message
        self.template_event_handler = template_event_handler
        self.profile_link = profile_link  # openid → the signed /h5/profile link
        self.conversations = conv.Conversations(state, clock)
        self.clock = clock
        self.shed = 0  # questions not searched: they came with too little budget left (/metrics)
        # Bookkeeping that need not delay the reply (question log, the customer-service window)
        # runs after it, in order, on one thread; `flush()` waits for it.
        self.after_reply = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="bot-after")
        # The two writes every message makes, batched (bot.batched): (openid, when) and log entries.
        self._touches: Batched[tuple[str, dt.datetime]] = Batched(self._write_touches, self._later)
        self._log_entries: Batched[Entry] = Batched(self._write_log, self._later)

    @contextlib.contextmanager
    def replying(self) -> Iterator[None]:
        """The question log row of the message answered inside is queued when it leaves: the
        callback leaves once the reply is the message's own (bot.callback, bot.dedupe
        `finish`). Queued at once, the row could be written before that, and a worker killed in
        between had its message taken over, computed and logged again (processed twice). An
        answer late for the reply is logged when it is done (the callback has left by then).
        The sender's window is not held: writing it twice changes nothing, and held it could
        follow an unsubscribe that came meanwhile and make the subscriber active again."""
        held = _Held(self._log_entries)
        token = _HELD.set(held)  # the answer's thread sees it too (bot.budget runs it in context)
        try:
            yield
        finally:
            _HELD.reset(token)
            held.release()

    def _log(self, entry: Entry) -> None:
        held = _HELD.get()
        if held is None or not held.keep(entry):
            self._log_entries.add(entry)

    def flush(self, timeout: float = 30.0) -> None:
        """Wait until the bookkeeping queued so far is done (tests, shutdown)."""
        self.after_reply.submit(lambda: None).result(timeout=timeout)

    def close(self) -> None:
        """When the app closes: answers being worked on finish (their late delivery and
        bookkeeping included), then the queued bookkeeping is written (a pool shut down runs
        what was queued; at interpreter exit Python's own hook has run it already)."""
        self.budget.shutdown()
        self.after_reply.shutdown(wait=True)

    def _later(self, work: Callable[[], None]) -> None:
        def guarded():
            try:
                work()
            except Exception:
                log.exception("after-reply bookkeeping failed")
        try:
            self.after_reply.submit(guarded)
        except RuntimeError:  # the process is exiting: a late answer finishing now still counts
            guarded()

    @property
    def backlog(self) -> int:
        """After-reply writes queued and not yet taken for writing (/metrics): what a kill of
        the process would lose."""
        return len(self._touches) + len(self._log_entries)

    # -- dispatch ---------------------------------------------------------------------------
    def handle(self, fields: dict[str, str], deadline: float | None = None) -> Outcome:
        kind = fields.get("MsgType", "").lower()
        openid = fields.get("FromUserName", "")
        if kind == "event":
            return self.on_event(openid, fields)
        self._touch(openid)
        if kind == "text":
            return self.on_text(openid, fields.get("Content", ""), deadline)
        if kind == "voice":
            recognised = (fields.get("Recognition") or "").strip()
            if recognised:
                return self.on_text(openid, recognised, deadline)
            return Outcome.reply(replies.VOICE_NOT_RECOGNISED)
        return Outcome.reply(replies.GUIDANCE.get(kind, replies.UNKNOWN_MESSAGE))

    def on_event(self, openid: str, fields: dict[str, str]) -> Outcome:
        event = fields.get("Event", "").lower()
        if event == "subscribe":
            if self.subscribers:
                self.subscribers.on_follow(openid)
            return Outcome.reply(replies.WELCOME)
        if event == "unsubscribe":
            self.flush()  # a queued `touch` must not re-activate the subscriber afterwards
            if self.subscribers:
                self.subscribers.on_unfollow(openid)
            return SUCCESS
        if event == "click":
            typed = self.settings.menu_actions.get(fields.get("EventKey", ""))
            return self.on_text(openid, typed, None) if typed else Outcome.reply(replies.HELP)
        if event == "templatesendjobfinish" and self.template_event_handler is not None:
            self.template_event_handler(fields)
        return SUCCESS

    def on_text(self, openid: str, content: str, deadline: float | None) -> Outcome:
        text = clean_text(content).strip()
        if not text:
            return Outcome.reply(replies.EMPTY_TEXT)
        command = self.command(openid, text)
        if command is not None:
            return command if command.kind != "text" else self._with_kept(openid, command)
        return self.question(openid, text, deadline)

    # -- commands ---------------------------------------------------------------------------
    def command(self, openid: str, text: str) -> Outcome | None:
        if text in TRANSFER_WORDS:
            return Outcome("transfer")
        if text in CATALOGUE_WORDS:
            return Outcome.reply(self.catalogue_text())
        if text.lower() in HELP_WORDS:
            return Outcome.reply(replies.HELP)
        rating = parse_rating(text)  # 满意 / 不满意, or 1 / 2 of the answer's menu
        if rating is not None:
            return Outcome.reply(self.feedback(openid, rating))
        if text == "我的订阅" or SUBSCRIPTION_RE.match(text) or UNSUBSCRIBE_ALL_RE.match(text):
            return Outcome.reply(self.subscription_command(openid, text))
        if text in PROFILE_WORDS:
            return Outcome.reply(self.profile_reply(openid))
        number = conv.menu_number(text)
        if number is not None:
            return Outcome.reply(self.related_passage(openid, number - RELATED_FIRST_NUMBER))
        return None

    def catalogue_text(self) -> str:
        today = local_today(self.settings.timezone)
        count = self.library.catalogue_size(today)
        return (f"现行有效政策目录（截至{today.isoformat()}，共{count}件），可按主题、适用对象、"
                f"发文机关筛选：\n{catalogue_url(self.settings.public_url)}")

    def feedback(self, openid: str, rating: str) -> str:
        """Rate the answer the user last saw: by its reference while the conversation keeps
        it (any worker may still be logging that answer), else the user's latest logged one."""
        if not self.questions:
            return replies.FEEDBACK_NOTHING
        turn = self.conversations.last(openid)
        if turn is not None and turn.answer_ref:
            self._rate_answer(turn.answer_ref, rating)
            return replies.FEEDBACK_THANKS[rating]
        self.flush()  # the question being rated may still be queued for the log
        if self.questions.feedback(openid, rating) is None:
            return replies.FEEDBACK_NOTHING
        return replies.FEEDBACK_THANKS[rating]

    def _rate_answer(self, ref: str, rating: str) -> None:
        """The answer's row may not be written yet (the log is written after the reply, maybe
        by another worker): then the rating waits in the shared state for `_record`. Rating
        again after leaving it closes the gap where `_record` looked just before. The rating
        keeps the moment it was given, so a waiting one never overwrites a later one."""
        at = utcnow()
        if self.questions.rate_answer(ref, rating, at) is not None:
            return
        self.state.set(_pending_rating_key(ref), f"{rating} {at.isoformat()}", PENDING_RATING_SECONDS)
        if self.questions.rate_answer(ref, rating, at) is not None:
            self.state.delete(_pending_rating_key(ref))

    def subscription_command(self, openid: str, text: str) -> str:
        if not self.subscribers:
            return replies.SUBSCRIPTIONS_OFF
        if text == "我的订阅":
            names = self.subscribers.subscriptions(openid)
            return ("您已订阅：" + "、".join(names)) if names else replies.NO_SUBSCRIPTIONS
        if UNSUBSCRIBE_ALL_RE.match(text):
            return self.subscribers.unsubscribe_all(openid).message
        command = SUBSCRIPTION_RE.match(text)
        offered = self.subscribers.offered(self.settings.subscription_topics)
        if command is None:  # dispatched here for 我的订阅 / 订阅 / 退订 only
            return replies.SUBSCRIBE_HOW + "、".join(offered) + replies.SUBSCRIBE_MORE
        verb, name = command.groups()
        if not name.strip():
            return replies.SUBSCRIBE_HOW + "、".join(offered) + replies.SUBSCRIBE_MORE
        if verb == "订阅":
            return self.subscribers.subscribe(openid, name, offered).message
        return self.subscribers.unsubscribe(openid, name).message

    def profile_reply(self, openid: str) -> str:
        """「完善资料」/「我的资料」: the signed link to the profile form (定向精准推送)."""
        if not (self.subscribers and self.profile_link):
            return replies.SUBSCRIPTIONS_OFF
        return replies.PROFILE_LINK.format(url=self.profile_link(openid))

    def related_passage(self, openid: str, position: int) -> str:
        """The related document at `position` (0-based) of the user's last answer."""
        turn = self.conversations.last(openid)
        if turn is None or not 0 <= position < len(turn.related):
            return replies.NO_RELATED
        related = turn.related[position]
        doc = self.library.public(related.doc_id)  # read again: it may be withdrawn since
        if doc is None:
            return replies.RELATED_WITHDRAWN
        policy = self.library.public(doc.interprets) if doc.interprets else None
        return related_passage_text(position, related, doc, self._context(), Validity.of(doc, policy))

    # -- questions --------------------------------------------------------------------------
    def question(self, openid: str, text: str, deadline: float | None) -> Outcome:
        kind = small_talk(text)
        if kind is not None:  # not a policy question: a polite word, not an unanswered question
            return Outcome.reply(smalltalk_reply(kind))
        deadline = deadline or self.budget.deadline()
        if deadline - self.budget.clock() < MIN_BUDGET_SHARE * self.budget.seconds:
            self.shed += 1
            return Outcome.reply(replies.CROWDED)
        previous = self.conversations.last(openid)
        try:
            answer = self.budget.run(lambda: self.answer(openid, text, previous),
                                     deadline,
                                     on_late=lambda late: self.deliver_late(openid, late))
        except Exception:  # the index failed (not loaded, refused): say so, do not go silent
            log.exception("answering failed")
            return Outcome.reply(replies.BUSY)
        if answer is None:
            return SUCCESS  # WeChat gets `success` now; the answer follows (deliver_late)
        return self._with_kept(openid, Outcome.reply(answer.text))

    def answer(self, openid: str, text: str, previous: conv.Turn | None = None) -> Answer:
        reading = self.read(text, previous)
        focus, avoid = None, None
        if reading.follow_up and previous is not None:
            # A follow-up asks for more than the passage just quoted: another one is quoted, the
            # one of the release that answers the message itself, on the topic. The one quoted
            # may be quoted again when it says the message's own words too (「那清明呢」 after
            # 春节放几天: the same list of holidays answers it) or the kind of thing it asks for
            # (「多久能批下来？」 after 异地就医备案怎么办理: the steps just quoted end with
            # 2个工作日内完成审批), not when only the topic's words reach it. It still counts for
            # the decision: it is why the release answers the topic.
            quoted = next((h for h in reading.hits if h.chunk_id == previous.best_chunk), None)
            avoid = None if quoted is not None and answers_message(quoted, asked_kinds(text)) \
                else previous.best_chunk
            focus = self._passages_for(text, conv.opening(previous), previous.best_chunk)
        answer = self._compose(reading, reading.hits, focus, avoid)
        if reading.alone is not None and not answer.answered:
            # Read with its topic, the message reached only the passage already quoted: it does
            # not follow that answer. Said as a follow-up (您问的是：…), "nothing found" would
            # read as if the bot had understood it; it is a question of its own.
            reading, focus, avoid = reading.alone, None, None
            answer = self._compose(reading, reading.hits)
        if not answer.answered and previous is not None:
            offered = self._topic_passage(text, previous, answer)
            if offered is not None:
                answer = self._compose(reading, reading.hits, focus, avoid, offered=(offered,))
        # A new topic opens with what was answered: a story's asking clauses, not the story
        # (read with a follow-up, its words would draw the search away again).
        # A question answered by itself from the topic's release keeps the topic, unless it names
        # a subject of its own (conversation.opens_topic).
        keeps = reading.follow_up or reading.same_topic and not conv.opens_topic(text)
        topic = previous.topic if previous and keeps else reading.text
        release = release_of(answer.best) if answer.best else None
        quoted = answer.best.chunk_id if answer.best else None
        if previous is not None and reading.on_topic and not answer.answered:  # the topic stays (on_topic)
            topic, release, quoted = conv.opening(previous), previous.release, previous.best_chunk
        self.conversations.remember(openid, text, answer.related, quoted, answer.ref,
                                    topic=topic, release=release)
        self._record(openid, text, reading, answer)
        return answer

    def read(self, text: str, previous: conv.Turn | None) -> Reading:
        """The message by itself, or with the question that opened the topic when it follows
        the previous answer (bot.conversation)."""
        own, alone = self.read_alone(text)
        if previous is None or not conv.may_follow(text, previous, self.clock()):
            return own
        settled = conv.settled_alone(alone, previous)
        same_topic = settled and alone.chosen is not None and alone.chosen.doc_id == previous.release
        if same_topic or (settled and previous.release is None):
            return dataclasses.replace(own, same_topic=same_topic)
        merged_text = conv.with_context(text, previous)
        merged_hits = self.search(text, k=SEARCH_K, include_expired=True, opening=conv.opening(previous),
                                  as_one=previous.release is None)
        merged = decide(merged_text, merged_hits, self.settings.model, previous.release,
                        asked_kinds(text))
        own = dataclasses.replace(own, on_topic=conv.on_topic(text, alone, merged, previous))
        if settled and not conv.topic_answers_better(text, alone, merged, previous):
            return own
        if not conv.follows(text, alone, merged, previous, self.settings.model.threshold):
            return own
        return Reading(merged_text, merged_hits, follow_up=True, note=conv.reading_note(text, previous),
                       alone=own, topic_release=previous.release, on_topic=own.on_topic)

    def read_alone(self, text: str) -> tuple[Reading, Decision]:
        """The message by itself, and what it would be answered from. A story told before the
        question may draw the search to the story's words (「原来的公司还欠我两个月工资」 to the
        工资支付 rules) so that nothing is sure enough; then the asking clauses are read by
        themselves, and they decide among the releases the whole message found (the story
        still says which subjects are in question)."""
        hits = self.search(text, k=SEARCH_K, include_expired=True)
        whole = decide(text, hits, self.settings.model, asks=asked_kinds(text))
        asking = asking_clauses(text) if whole.chosen is None else None
        if asking is None:
            return Reading(text, hits), whole
        asking_hits = self.search(asking, k=SEARCH_K, include_expired=True)
        found = frozenset(c.doc_id for c in whole.ranked)
        part = decide(asking, asking_hits, self.settings.model, asks=asked_kinds(asking), among=found)
        if part.chosen is None:
            return Reading(text, hits), whole
        return Reading(asking, asking_hits, among=found), part

    def _passages_for(self, message: str, opening: str, quoted: str | None) -> Callable[[str], list]:
        """release id → its passages on the topic that the message itself finds too: found for
        the message read with its topic's `opening` question and for the message alone (alone,
        「要去哪里申请？」 finds every 申请 of the release; with its topic, mostly the topic's
        passages), but the one just quoted. Ranked by both searches (reciprocal ranks): with its
        topic alone, the topic's words rank first every passage the topic's answer would
        (「老婆孩子能一起迁户口吗」 after 积分入户条件); alone, the message loses what the topic says
        it is about (「送餐上门的呢」 after 长者饭堂补贴 asks about the 送餐 subsidy). Their signals
        say how much of the message's own words each uses (message_coverage)."""
        def passages(release: str) -> list:
            on_topic = [h for h in self.search(message, k=SEARCH_K, include_expired=True,
                                               releases={release}, opening=opening)
                        if h.chunk_id != quoted]
            asked = [h.chunk_id for h in self.search(message, k=SEARCH_K, include_expired=True,
                                                     releases={release})]
            both = [h for h in on_topic if h.chunk_id in asked]
            if not both:
                return on_topic
            ids = [h.chunk_id for h in both]
            scores = reciprocal_rank_fusion([ids, [c for c in asked if c in ids]], [1.0, 1.0],
                                            k=FOCUS_RRF_K)
            return sorted((dataclasses.replace(h, score=scores[h.chunk_id]) for h in both),
                          key=lambda h: -h.score)
        return passages

    def _topic_passage(self, text: str, previous: conv.Turn, answer: Answer) -> Hit | None:
        """For a message nothing answered right after an answer: the passage of that answer's
        release that says the message's own words (bot.answer.topic_passage), unless it is
        offered already; None when there is none or the message does not come soon after."""
        release = previous.release
        if release is None or any(r.doc_id == release for r in answer.related) \
                or not conv.may_follow(text, previous, self.clock()):
            return None
        return topic_passage(self._passages_for(text, conv.opening(previous), previous.best_chunk)(release))

    def _compose(self, reading: Reading, hits, focus=None, avoid: str | None = None,
                 offered: tuple[Hit, ...] = ()) -> Answer:
        docs, successors = self.library.context_documents([*hits, *offered])
        ctx = dataclasses.replace(self._context(docs, successors), answer_ref=new_answer_ref(),
                                  topic_release=reading.topic_release,
                                  asks=reading.asks, elliptical=reading.elliptical,
                                  among=reading.among, offered=offered)
        if reading.note:  # the reply opens with how the message was read
            ctx = dataclasses.replace(ctx, limit_bytes=ctx.limit_bytes - utf8_len(reading.note) - 1)
        answer = compose_answer(reading.text, hits, ctx, focus, avoid)
        if not answer.answered and not answer.related:  # offered documents say it better
            topics = self.library.closest_topics(hits, local_today(self.settings.timezone))
            answer = compose_answer(reading.text, hits, dataclasses.replace(ctx, topics=topics))
        if reading.note:
            answer = dataclasses.replace(answer, text=f"{reading.note}\n{answer.text}")
        return answer

    def answering_documents(self, question: str) -> list[str]:
        """The documents the bot would answer `question` from (empty: it would say it found
        nothing): what insights re-checks after a publication."""
        chosen = self.read_alone(question)[1].chosen
        return [hit.doc_id for hit in chosen.hits] if chosen else []

    def deliver_late(self, openid: str, answer: Answer) -> None:
        """One customer-service message on a certified 服务号; else kept for the next message."""
        if self.settings.certified and self.send_customer_message is not None:
            if self.send_customer_message(openid, answer.text):
                return
        self.state.set(_kept_key(openid), answer.text, KEPT_SECONDS)

    # -- helpers ----------------------------------------------------------------------------
    def _context(self, docs=None, successors=None) -> AnswerContext:
        return AnswerContext(public_url=self.settings.public_url, model=self.settings.model,
                             documents=docs or {}, successors=successors or {},
                             today=local_today(self.settings.timezone))

    def _with_kept(self, openid: str, outcome: Outcome) -> Outcome:
        kept = self.state.get(_kept_key(openid))
        if not kept:
            return outcome
        self.state.delete(_kept_key(openid))
        combined = f"{replies.KEPT_PREFIX}{kept}\n——\n{outcome.text}"
        if utf8_len(combined) <= REPLY_LIMIT_BYTES:
            return Outcome.reply(combined)
        self.state.set(_kept_key(openid), outcome.text, KEPT_SECONDS)  # next time, not lost
        return Outcome.reply(replies.KEPT_PREFIX + kept if utf8_len(replies.KEPT_PREFIX + kept)
                             <= REPLY_LIMIT_BYTES else kept)

    def _touch(self, openid: str) -> None:
        if self.subscribers and openid:
            self._touches.add((openid, utcnow()))

    def _write_touches(self, touches: list[tuple[str, dt.datetime]]) -> None:
        """The batch's earliest message time for all: no window is taken to run past WeChat's."""
        self.subscribers.touch_many([openid for openid, _ in touches], min(at for _, at in touches))

    def _record(self, openid: str, question: str, reading: Reading, answer: Answer) -> None:
        """The question is logged as the user wrote it, with what was searched beside it when
        that differs (a follow-up's merged reading, a story's asking clauses), at the time it
        was answered, after the reply (batched)."""
        if not self.questions:
            return
        cited = [{"doc_id": h.doc_id, "chunk_id": h.chunk_id, "score": float(h.score),
                  "source": "faq" if h.source == "faq" else h.kind}
                 for h in ([answer.best] if answer.best else [])]
        cited += [{"doc_id": r.doc_id, "chunk_id": None, "score": None, "source": None}
                  for r in answer.related]
        entry = Entry(openid, "wechat", question, cited, float(answer.confidence), answer.answered,
                      utcnow(), answer.ref, reading.text if reading.text != question else None)
        self._log(entry)

    def _write_log(self, entries: list[Entry]) -> None:
        try:
            self.questions.record_many(entries)
        except ValueError:  # one malformed entry refuses the batch: the others still count
            for entry in entries:
                try:
                    self.questions.record_many([entry])
                except ValueError:
                    log.exception("question not logged")
        refs = [entry.answer_ref for entry in entries if entry.answer_ref]
        waiting = self.state.get_many([_pending_rating_key(ref) for ref in refs]) if refs else {}
        for ref in refs:  # the batch's waiting ratings read in one round trip, not one per entry
            if waiting.get(_pending_rating_key(ref)):
                self._apply_waiting_rating(ref, waiting[_pending_rating_key(ref)])

    def _apply_waiting_rating(self, ref: str, pending: str) -> None:
        """A rating given before its answer's row was written (bot.service._rate_answer)."""
        rating, _, given = pending.partition(" ")
        self.questions.rate_answer(ref, rating, dt.datetime.fromisoformat(given) if given else None)
        self.state.delete(_pending_rating_key(ref))


def _pending_rating_key(ref: str) -> str:
    return "rating:" + ref


def _kept_key(openid: str) -> str:
    return "kept:" + hashlib.sha256(openid.encode("utf-8")).hexdigest()

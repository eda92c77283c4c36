"""Hot topics of a period: questions counted by the topic of the document the bot cited,
grouped by similar meaning, and the rising topics and keywords (insights/rising.py)."""
from __future__ import annotations

import collections
import dataclasses
import datetime as dt
from collections.abc import Callable, Sequence

import numpy as np
from sqlalchemy.engine import Connection

from bot.questionlog import LoggedQuestion, logged_questions
from insights.documents import UNCLASSIFIED, DocInfo, document_infos
from insights.grouping import DEFAULT_COSINE, Group, Item, group_questions
from insights.keywords import keywords
from insights.periods import Period, previous_weeks, week_of
from insights.rising import HISTORY_WEEKS, Rising, rising_labels

MAX_EMBEDDED = 3000
# The index's query embedder: texts → an (n, d) array (SearchService.embed_queries).
Embed = Callable[[Sequence[str]], np.ndarray]


@dataclasses.dataclass
class TopicStat:
    label: str
    count: int
    examples: list[str]
    cited: list[tuple[str, int]]   # (doc id, questions citing it first)


@dataclasses.dataclass
class HotTopics:
    topics: list[TopicStat]
    groups: list[Group]
    rising_week: Period
    rising_topics: list[Rising]
    rising_keywords: list[Rising]


def topic_of(question: LoggedQuestion, infos: dict[str, DocInfo]) -> str:
    top = question.cited[0]["doc_id"] if question.cited else None
    return infos[top].topic if top in infos else UNCLASSIFIED


def to_items(questions: list[LoggedQuestion]) -> list[Item]:
    return [Item(q.id, q.question, tuple(keywords(q.question)),
                 tuple(c["doc_id"] for c in q.cited)) for q in questions]


def group(questions: list[LoggedQuestion], embed: Embed | None = None,
          cosine: float = DEFAULT_COSINE) -> list[Group]:
    """Similar-meaning groups; with the embedder when there is one (for at most
    MAX_EMBEDDED questions: a larger set is grouped by keywords alone, so that a quarter's
    report stays quick on a cold cache)."""
    items = to_items(questions)
    use_vectors = embed is not None and 0 < len(questions) <= MAX_EMBEDDED
    vectors = embed([q.question for q in questions]) if embed is not None and use_vectors else None
    return group_questions(items, vectors, cosine=cosine)


def hot_topics(conn: Connection, period: Period, embed: Embed | None = None,
               questions: list[LoggedQuestion] | None = None,
               cosine: float = DEFAULT_COSINE, today: dt.date | None = None,
               include_simulated: bool = False) -> HotTopics:
    questions = questions if questions is not None else logged_questions(
        conn, *period.utc_bounds(), include_simulated=include_simulated)
    infos = document_infos(conn, (c["doc_id"] for q in questions for c in q.cited[:1]))
    topics = _topic_stats(questions, infos)
    week = rising_week(period, today)
    rising_topics, rising_words = _rising(conn, week, period, questions, include_simulated)
    return HotTopics(topics, group(questions, embed, cosine), week, rising_topics, rising_words)


def rising_week(period: Period, today: dt.date | None = None) -> Period:
    """The rule is weekly: a month or quarter report shows what rose in its last week, or in
    the current week while the period is still running."""
    last_day = period.end - dt.timedelta(days=1)
    return week_of(min(last_day, today) if today else last_day, period.timezone)


def _rising(conn: Connection, last_week: Period, period: Period, questions: list[LoggedQuestion],
            include_simulated: bool = False):
    if last_week != period:
        questions = logged_questions(conn, *last_week.utc_bounds(), include_simulated=include_simulated)
    this_week = _counts(conn, questions)
    history = [_counts(conn, logged_questions(conn, *w.utc_bounds(), include_simulated=include_simulated))
               for w in previous_weeks(last_week, HISTORY_WEEKS)]
    this_week[0].pop(UNCLASSIFIED, None)  # not a topic: its keywords speak for it
    return (rising_labels(this_week[0], [h[0] for h in history]),
            rising_labels(this_week[1], [h[1] for h in history]))


def keyword_counts(questions: list[LoggedQuestion]) -> collections.Counter:
    """How many questions use each keyword (once per question)."""
    return collections.Counter(k for q in questions for k in set(keywords(q.question)))


def _topic_stats(questions: list[LoggedQuestion], infos: dict[str, DocInfo]) -> list[TopicStat]:
    by_topic: dict[str, list[LoggedQuestion]] = collections.defaultdict(list)
    for q in questions:
        by_topic[topic_of(q, infos)].append(q)
    stats = [TopicStat(label, len(qs), _examples(qs), _cited(qs)) for label, qs in by_topic.items()]
    return sorted(stats, key=lambda s: (-s.count, s.label))


def _counts(conn: Connection, questions: list[LoggedQuestion]):
    """(questions per topic, questions per keyword)."""
    infos = document_infos(conn, (c["doc_id"] for q in questions for c in q.cited[:1]))
    return collections.Counter(topic_of(q, infos) for q in questions), keyword_counts(questions)


def _examples(questions: list[LoggedQuestion], n: int = 3) -> list[str]:
    return list(dict.fromkeys(q.question for q in questions))[:n]


def _cited(questions: list[LoggedQuestion], n: int = 3) -> list[tuple[str, int]]:
    return collections.Counter(q.cited[0]["doc_id"] for q in questions if q.cited).most_common(n)

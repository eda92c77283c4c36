"""Insights units: periods, the rising rule, grouping, routing and tasks (with the re-check on
publication), the ledger, the report figures and the spreadsheet. A fake deterministic
embedder stands in for the index's query embedder."""
from __future__ import annotations

import collections
import datetime as dt
import io

import numpy as np
import pytest
from conftest import DRAFTER, REVIEWER, SIGNER, make_interpretation, make_policy
from openpyxl import load_workbook

from bot.questionlog import QuestionLog
from insights import tasks as task_ops
from insights.grouping import Item, group_questions
from insights.keywords import keywords
from insights.ledger import add_commitment, fulfil_commitment, ledger
from insights.periods import local_midnight_utc, period_of, previous_weeks
from insights.rising import is_rising, rising_labels
from insights.service import Insights
from insights.tasks import TaskPolicy
from insights.xlsx import safe
from interpretations import events
from interpretations.workflow import Hooks, Releases
from policies import store

WED = dt.date(2026, 11, 25)            # a Wednesday
NOON = local_midnight_utc(WED, "Asia/Shanghai") + dt.timedelta(hours=12)


def fake_embed(texts):
    """Deterministic 'meaning': questions that share a theme word get the same vector."""
    themes = ("电动车", "公积金", "失业", "落户", "创业")
    vectors = np.zeros((len(texts), len(themes) + 1), dtype=np.float32)
    for row, text in enumerate(texts):
        hits = [i for i, t in enumerate(themes) if t in text]
        vectors[row, hits[0] if hits else len(themes)] = 1.0
    return vectors


@pytest.fixture
def docs(db):
    """A policy owned by a department, its interpretation, and a policy with only an issuer."""
    with db.write() as conn:
        store.insert_document(conn, make_policy("p_unemp", title="失业保险金申领办法", topics=["社会保险"],
                                                importance="major"),
                              visibility="public", department="区人社局")
        store.insert_document(conn, make_interpretation("i_unemp", "p_unemp", topics=["社会保险"]),
                              visibility="public")
        store.insert_document(conn, make_policy("p_house", title="住房公积金提取办法", topics=["住房保障"],
                                                issuing_body="市住房公积金管理中心"), visibility="public")
    return db


@pytest.fixture
def qlog(docs):
    return QuestionLog(docs, "k")


def ask(qlog, text, cited=(), answered=True, rating=None, at=NOON, source="text", user="o1"):
    citations = [{"doc_id": d, "chunk_id": None, "score": 0.5, "source": source} for d in cited]
    log_id = qlog.record(user, "wechat", text, citations, 0.5 if answered else 0.1, answered, at=at)
    if rating:
        qlog.feedback(log_id, rating, at=at)
    return log_id


# -- periods and the rising rule -----------------------------------------------------------

def test_periods():
    bounds = {k: (period_of(k, WED).start, period_of(k, WED).end) for k in ("week", "month", "quarter")}
    assert bounds == {"week": (dt.date(2026, 11, 23), dt.date(2026, 11, 30)),
                      "month": (dt.date(2026, 11, 1), dt.date(2026, 12, 1)),
                      "quarter": (dt.date(2026, 10, 1), dt.date(2027, 1, 1))}
    assert period_of("week", WED).utc_bounds()[0] == dt.datetime(2026, 11, 22, 16, tzinfo=dt.UTC)
    assert [w.start.day for w in previous_weeks(period_of("week", WED), 4)] == [26, 2, 9, 16]
    with pytest.raises(ValueError):
        period_of("year", WED)


@pytest.mark.parametrize("count,previous,expected", [
    (5, [0, 0, 0, 0], True), (4, [0, 0, 0, 0], False), (10, [5, 5, 5, 5], True),
    (9, [5, 5, 5, 5], False), (6, [], True), (8, [4, 4, 4, 4], True)])
def test_the_rising_rule(count, previous, expected):
    assert is_rising(count, previous) is expected


def test_rising_labels_compare_each_label_with_its_own_history():
    history = [collections.Counter({"失业": 4, "落户": 0}) for _ in range(4)]
    found = rising_labels(collections.Counter({"失业": 7, "落户": 5, "社保": 2}), history)
    assert [(r.label, r.count, r.previous_mean) for r in found] == [("落户", 5, 0.0)]


# -- grouping --------------------------------------------------------------------------------

# The ways residents frame a question, written here (not taken from the stopword list): the
# frame adds no keyword, so two questions about one subject share their keywords whatever
# the framing, and questions about different subjects in the same frame share none.
FRAMES = ["{}怎么办理", "请问{}需要什么条件", "{}在哪里申请", "如何{}", "{}的流程是什么", "{}可以吗",
          "我想问一下{}要多久", "{}有哪些要求"]
SUBJECTS = ["公积金提取", "电动车挂牌", "失业保险金", "新生儿落户"]


@pytest.mark.parametrize("frame", FRAMES)
def test_keywords_of_a_framed_question_are_the_subject_words(frame):
    for subject in SUBJECTS:
        words = keywords(frame.format(subject))
        assert words and words == keywords(subject), (frame, subject, words)
        assert "".join(words) in subject  # nothing of the frame, nothing of the subject lost


def test_masked_personal_data_is_no_keyword():
    assert keywords("我的手机【手机号】，公积金提取要多久") == ["公积金", "提取"]
    assert keywords("身份证号【身份证号】电动车挂牌") == ["电动车", "挂牌"]


def test_grouping_by_embedding_and_by_keywords():
    items = [Item(1, "电动车怎么上牌", ("电动车", "上牌")), Item(2, "电动车挂牌去哪里", ("电动车", "挂牌")),
             Item(3, "公积金提取", ("公积金", "提取")), Item(4, "提取公积金需要什么", ("提取", "公积金"))]
    with_vectors = group_questions(items, fake_embed([i.question for i in items]))
    assert sorted(g.ids for g in with_vectors) == [[1, 2], [3, 4]]
    keywords_only = group_questions(items)
    assert sorted(g.ids for g in keywords_only) == [[1], [2], [3, 4]]
    with pytest.raises(ValueError):
        group_questions(items, np.zeros((2, 3)))


# -- tasks -----------------------------------------------------------------------------------

def test_unanswered_and_low_rated_groups_become_routed_tasks(qlog, docs):
    for text in ("电动车怎么上牌", "电动车上牌在哪", "电动车上牌要钱吗"):
        ask(qlog, text, answered=False)
    for text in ("失业金标准太低看不懂", "失业金到底领多久"):
        ask(qlog, text, cited=["i_unemp"], rating="unsatisfied")
    ask(qlog, "公积金一次提取", cited=["p_house"], answered=False)     # alone: below the minimum
    ask(qlog, "失业金怎么领", cited=["p_unemp"], rating="satisfied")     # fine: no task
    week = period_of("week", WED)
    ids = task_ops.raise_tasks(docs, week, fake_embed, TaskPolicy(), now=NOON)
    entries = {e.id: e for e in ledger_of(docs)}
    assert len(ids) == 2
    unanswered, low = entries[ids[0]], entries[ids[1]]
    assert (unanswered.kind, unanswered.department) == ("未答任务", "政务公开办公室")
    assert unanswered.detail == "3 个问题"
    assert (low.kind, low.department) == ("低评任务", "区人社局")   # the interpreted policy's owner
    assert unanswered.due == WED + dt.timedelta(days=7)
    # Raising again takes no question twice; a new question of the theme extends the task.
    assert task_ops.raise_tasks(docs, week, fake_embed, TaskPolicy(), now=NOON) == []
    ask(qlog, "电动车上牌要带什么", answered=False)
    ask(qlog, "电动车能不能不上牌", answered=False)
    assert task_ops.raise_tasks(docs, week, fake_embed, TaskPolicy(), now=NOON) == [ids[0]]
    assert {e.id: e for e in ledger_of(docs)}[ids[0]].detail == "5 个问题"
    report = Insights(docs).report("week", WED, today=WED)
    assert report.open_tasks == {"p_unemp": [low.title]}         # the policy's open groups


def test_a_task_routes_to_the_issuing_body_when_no_department_is_named(qlog, docs):
    ask(qlog, "公积金一次提取", cited=["p_house"], answered=False)
    ask(qlog, "公积金提取几次", cited=["p_house"], answered=False)
    task_id, = task_ops.raise_tasks(docs, period_of("week", WED), fake_embed, TaskPolicy(), now=NOON)
    assert ledger_of(docs)[0].department == "市住房公积金管理中心"
    assert ledger_of(docs)[0].id == task_id


def test_without_citations_the_search_names_the_closest_policy_if_it_agrees(qlog, docs):
    for text in ("公积金怎么取出来", "公积金取出来要多久", "公积金取出来交税吗"):
        ask(qlog, text, answered=False)
    for text in ("电动车怎么上牌", "电动车上牌在哪"):
        ask(qlog, text, answered=False)
    nearest = {"公积金怎么取出来": ["p_house"], "公积金取出来要多久": ["p_house", "p_unemp"],
               "公积金取出来交税吗": ["p_unemp"], "电动车怎么上牌": ["i_unemp"], "电动车上牌在哪": []}
    ids = task_ops.raise_tasks(docs, period_of("week", WED), fake_embed, TaskPolicy(), now=NOON,
                               nearest=lambda q: nearest[q])
    routed = {e.id: e.department for e in ledger_of(docs)}
    # 2 of 3 name the same policy; 1 of 2 is no majority.
    assert [routed[i] for i in ids] == ["市住房公积金管理中心", "政务公开办公室"]


def test_publication_of_the_linked_interpretation_rechecks_and_closes_the_task(qlog, docs):
    releases = Releases(docs, Hooks())
    asked = ["电动车怎么上牌", "电动车上牌在哪"]
    for text in asked:
        ask(qlog, text, answered=False)
    questions_searched = []

    def search(question):  # the search now finds the new interpretation for one of the two
        questions_searched.append(question)
        return ["i_ebike"] if question == asked[0] else ["p_unemp"]
    service = Insights(docs, embedder=lambda: fake_embed, answerer=lambda: search, nearest=lambda: search)
    consumer = events.Consumer(docs, "insights", service.handle_event, start_at_latest=True)
    consumer.ensure_cursor()
    releases.hooks.published.append(lambda infos: consumer.run_once())
    task_id, = service.raise_tasks(WED, now=NOON)
    release_id = releases.create(DRAFTER, None, [make_interpretation("i_ebike", "p_unemp")])
    service.link(task_id, "i_ebike")
    assert state_of(docs, task_id) == "linked"
    questions_searched.clear()                      # (raising the task asked the search too)
    for step in (lambda: releases.submit(DRAFTER, release_id),
                 lambda: releases.review(REVIEWER, release_id, "已审"),
                 lambda: releases.sign(SIGNER, release_id), lambda: releases.publish(SIGNER, release_id)):
        step()
    assert sorted(questions_searched) == sorted(asked)
    assert state_of(docs, task_id) == "closed"      # 1 of 2 ≥ the 50% share
    entry, = ledger_of(docs)
    assert entry.published == "i_ebike" and "1/2" in entry.detail and not entry.overdue


def test_a_recheck_that_still_fails_reopens_the_task(qlog, docs):
    for text in ("电动车怎么上牌", "电动车上牌在哪", "电动车上牌要钱吗"):
        ask(qlog, text, answered=False)
    task_id, = task_ops.raise_tasks(docs, period_of("week", WED), fake_embed, TaskPolicy(), now=NOON)
    task_ops.link(docs, task_id, "i_unemp")
    result = task_ops.recheck(docs, task_id, lambda q: ["p_unemp"], TaskPolicy())
    assert (result["answered"], result["total"]) == (0, 3)
    assert state_of(docs, task_id) == "reopened"
    with pytest.raises(ValueError):
        task_ops.link(docs, task_id, "no-such-document")


# -- ledger ----------------------------------------------------------------------------------

def test_the_ledger_highlights_overdue_items_first(docs):
    late = add_commitment(docs, "区人社局", "一周内发布失业保险解读", WED, WED + dt.timedelta(days=2),
                          owner="张三")
    done = add_commitment(docs, "区人社局", "补充问答", WED, WED + dt.timedelta(days=1))
    fulfil_commitment(docs, done, "i_unemp")
    future = add_commitment(docs, "区住建局", "说明公积金提取", WED, WED + dt.timedelta(days=30))
    entries = ledger_of(docs, today=WED + dt.timedelta(days=5))
    assert [(e.id, e.overdue) for e in entries] == [(late, True), (done, False), (future, False)]
    assert entries[1].published == "i_unemp" and entries[1].state == "done"
    with pytest.raises(ValueError):
        add_commitment(docs, "区人社局", "x", WED, WED - dt.timedelta(days=1))


# -- report ----------------------------------------------------------------------------------

def test_report_figures(qlog, docs):
    ask(qlog, "失业金怎么领", cited=["i_unemp"], rating="satisfied")
    ask(qlog, "失业金领多久", cited=["p_unemp"], rating="unsatisfied")
    ask(qlog, "失业金常见问题", cited=["p_unemp"], source="faq")
    ask(qlog, "公积金提取", cited=["p_house"])
    ask(qlog, "今天天气怎么样", answered=False)
    ask(qlog, "上个月的问题", at=NOON - dt.timedelta(days=30))           # not in this week
    for week in range(1, 5):                                               # history: 1 a week
        ask(qlog, "落户积分怎么算", at=NOON - dt.timedelta(days=7 * week))
    for n in range(5):                                                     # this week: 5 → rising
        ask(qlog, f"落户积分第{n}问", answered=False)
    service = Insights(docs, embedder=lambda: fake_embed)
    report = service.report("week", WED, today=WED)
    assert (report.questions, report.answered, report.rated, report.satisfied) == (10, 4, 2, 1)
    assert report.answer_rate == pytest.approx(0.4) and report.satisfaction == pytest.approx(0.5)
    topics = [(t.label, t.count) for t in report.top_topics]
    assert topics == [("未归类", 6), ("社会保险", 3), ("住房保障", 1)]
    assert [r.label for r in report.rising_keywords] == ["积分", "落户"]
    assert report.rising_topics == []          # 未归类 is not a topic; its keywords rose
    assert report.titles["i_unemp"] == "《p_unemp》政策解读"
    assert report.titles["p_house"] == "住房公积金提取办法"
    month = service.report("month", WED, today=WED)               # still running: this week
    assert month.rising_week.start == dt.date(2026, 11, 23)
    assert month.rising_keywords == report.rising_keywords
    later = service.report("month", WED, today=dt.date(2027, 1, 5))           # over: its last week
    assert later.rising_week.start == dt.date(2026, 11, 30)
    coverage = {p.policy_id: p for p in report.policy_coverage}
    assert (coverage["p_unemp"].answered, coverage["p_unemp"].from_interpretation) == (3, 2)
    assert coverage["p_unemp"].share == pytest.approx(2 / 3)
    rates = {d.department: (d.major, d.interpreted) for d in report.department_rates}
    assert rates == {"区人社局": (1, 1)}
    assert sum(g.size for g in report.unanswered_groups) == 6
    assert sum(total for _, total, _ in report.by_day) == 10 and len(report.by_day) == 7


def test_the_spreadsheet_holds_the_report_and_cannot_carry_formulas(qlog, docs):
    ask(qlog, "=HYPERLINK(\"http://x\")失业金", cited=["p_unemp"])
    ask(qlog, "+1 失业金", cited=["p_unemp"], answered=False)
    service = Insights(docs)
    report = service.report("month", WED, today=WED)
    book = load_workbook(io.BytesIO(service.workbook(report)))
    assert book.sheetnames == ["概况", "热点主题", "相似问题", "上升热点", "未答分组", "回应台账",
                               "解读率", "解读覆盖"]
    summary = {row[0].value: row[1].value for row in book["概况"].iter_rows(min_row=2)}
    assert (summary["问题数"], summary["已回答"], summary["回答率"]) == (2, 1, "50.0%")
    every_cell = [c.value for sheet in book for row in sheet.iter_rows() for c in row]
    assert not any(isinstance(v, str) and v.startswith(("=", "+")) for v in every_cell)
    assert safe("=1+1") == "'=1+1" and safe("失业") == "失业"


# -- helpers ---------------------------------------------------------------------------------

def ledger_of(db, today=WED):
    with db.read() as conn:
        return ledger(conn, today)


def state_of(db, task_id):
    import sqlalchemy as sa

    from insights.tables import tasks
    with db.read() as conn:
        return conn.execute(sa.select(tasks.c.state).where(tasks.c.id == task_id)).scalar_one()


def test_the_embedding_cache_embeds_each_text_once():
    from insights.embedcache import EmbedCache

    calls = []

    def embed(texts):
        calls.append(list(texts))
        return fake_embed(texts)
    cache = EmbedCache(max_items=3)
    cached = cache.wrap(embed, owner="a")
    first = cached(["失业金", "公积金", "失业金"])
    assert np.array_equal(first, fake_embed(["失业金", "公积金", "失业金"]))
    cached(["公积金", "落户"])
    assert calls == [["失业金", "公积金"], ["落户"]]
    cached(["电动车"])                                   # full: the oldest (失业金) goes
    cached(["失业金"])
    assert calls[-1] == ["失业金"]
    cache.wrap(embed, owner="b")(["落户"])                # another embedder: start afresh
    assert calls[-1] == ["落户"]


def test_warming_embeds_the_weeks_questions(qlog, docs):
    seen = []
    ask(qlog, "失业金怎么领", at=NOON)
    ask(qlog, "上周的问题", at=NOON - dt.timedelta(days=7))
    service = Insights(docs, embedder=lambda: lambda texts: seen.extend(texts) or fake_embed(texts))
    assert service.warm(WED) == 1 and seen == ["失业金怎么领"]
    assert Insights(docs).warm(WED) == 0                       # no embedder: nothing to do


def test_purged_questions_leave_their_tasks_with_the_masked_examples(qlog, docs):
    for text in ("电动车怎么上牌 13812345678", "电动车上牌在哪"):
        ask(qlog, text, answered=False)
    task_id, = task_ops.raise_tasks(docs, period_of("week", WED), fake_embed, TaskPolicy(), now=NOON)
    assert qlog.purge(older_than=NOON + dt.timedelta(days=1)) == 2
    with docs.read() as conn:
        assert task_ops.task_question_texts(conn, task_id) == []          # the links went with them
    asked = []
    task_ops.link(docs, task_id, "i_unemp")
    task_ops.recheck(docs, task_id, lambda q: asked.append(q) or [], TaskPolicy())
    assert asked == ["电动车怎么上牌 【手机号】", "电动车上牌在哪"]

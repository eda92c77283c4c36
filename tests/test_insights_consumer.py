"""Task re-checks as the durable consumer `insights` of the release events (issue 15): a
publication re-checks the tasks linked to its documents; a failing re-check leaves the
publication published, records its reason (shown on the release page in Chinese) and is
retried after its back-off; on SQLite and PostgreSQL."""
from __future__ import annotations

import datetime as dt

import numpy as np

from bot.questionlog import QuestionLog
from insights import tasks as task_ops
from insights.periods import local_midnight_utc, period_of
from insights.service import Insights
from insights.tasks import TaskPolicy
from interpretations import events
from interpretations.workflow import Hooks, Releases
from policies.db import Database
from portal import progress
from tests.conftest import DRAFTER, REVIEWER, SIGNER, make_interpretation, make_policy
from tests.test_index_support import publish

WED = dt.date(2026, 11, 25)
NOON = local_midnight_utc(WED, "Asia/Shanghai") + dt.timedelta(hours=12)
ASKED = ["电动车怎么上牌", "电动车上牌在哪"]


class Clock:
    def __init__(self):
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def linked_task(db: Database, releases: Releases) -> tuple[int, int]:
    """A task of two unanswered questions linked to the interpretation i_ebike, drafted in a
    release not yet published: (task id, release id)."""
    publish(releases, make_policy("p_car", title="电动自行车登记管理办法"))
    log = QuestionLog(db, "k")
    for text in ASKED:
        log.record("o1", "wechat", text, [], 0.1, False, at=NOON)
    task_id, = task_ops.raise_tasks(db, period_of("week", WED), lambda texts: _same(texts), TaskPolicy(),
                                    now=NOON)
    release_id = releases.create(DRAFTER, None, [make_interpretation("i_ebike", "p_car")])
    task_ops.link(db, task_id, "i_ebike")
    return task_id, release_id


def _same(texts):
    return np.ones((len(texts), 2), dtype=np.float32)  # one theme: one group


def publish_release(releases: Releases, release_id: int) -> None:
    releases.submit(DRAFTER, release_id)
    releases.review(REVIEWER, release_id, "已审")
    releases.sign(SIGNER, release_id)
    releases.publish(SIGNER, release_id)


def state_of(db: Database, task_id: int) -> str:
    import sqlalchemy as sa

    from insights.tables import tasks
    with db.read() as conn:
        return conn.execute(sa.select(tasks.c.state).where(tasks.c.id == task_id)).scalar_one()


def lines(db: Database, release_id: int, clock: Clock) -> list[tuple[str, str, str]]:
    with db.read() as conn:
        found = progress.release_progress(conn, release_id, clock(), lambda moment: moment.strftime("%H:%M"))
    return [(p.label, p.state, p.text) for p in found]


def test_a_publication_rechecks_its_linked_tasks_through_the_consumer(any_db):
    releases = Releases(any_db, Hooks())
    task_id, release_id = linked_task(any_db, releases)
    searched = []

    def answers(question):
        searched.append(question)
        return ["i_ebike"]
    service = Insights(any_db, answerer=lambda: answers)
    consumer = events.Consumer(any_db, "insights", service.handle_event, start_at_latest=True)
    consumer.ensure_cursor()  # at start: the publications after it are the consumer's
    publish_release(releases, release_id)
    assert state_of(any_db, task_id) == "linked" and searched == []  # nothing on the request
    assert consumer.run_once() == 1
    assert sorted(searched) == sorted(ASKED) and state_of(any_db, task_id) == "closed"
    clock = Clock()
    assert lines(any_db, release_id, clock) == [("关联任务复核", "done", "已完成")]
    assert consumer.run_once() == 0  # acknowledged: not re-checked again


def test_a_failing_recheck_is_shown_and_retried_and_the_publication_stands(any_db):
    releases = Releases(any_db, Hooks())
    task_id, release_id = linked_task(any_db, releases)
    clock = Clock()
    broken = [True]

    def answers(question):
        if broken[0]:
            raise TimeoutError("检索超时")
        return ["i_ebike"]
    service = Insights(any_db, answerer=lambda: answers)
    consumer = events.Consumer(any_db, "insights", service.handle_event, start_at_latest=True, clock=clock)
    consumer.ensure_cursor()
    publish_release(releases, release_id)
    assert consumer.run_once() == 0
    assert releases.get(release_id)["state"] == "published"
    assert state_of(any_db, task_id) == "linked"
    (label, state, text), = lines(any_db, release_id, clock)
    assert (label, state) == ("关联任务复核", "failed")
    assert text.startswith("失败：TimeoutError: 检索超时（已试 1 次），将于 ") and text.endswith(" 自动重试")

    broken[0] = False
    assert consumer.run_once() == 0           # its back-off (1 s) has not passed
    clock.now += events.backoff(1)
    assert consumer.run_once() == 1           # retried
    assert state_of(any_db, task_id) == "closed"
    assert lines(any_db, release_id, clock) == [("关联任务复核", "done", "已完成")]


def test_retry_now_skips_the_back_off(any_db):
    releases = Releases(any_db, Hooks())
    task_id, release_id = linked_task(any_db, releases)
    clock = Clock()
    calls = []

    def answers(question):
        calls.append(question)
        if len(calls) == 1:
            raise RuntimeError("模型未加载")
        return ["i_ebike"]
    service = Insights(any_db, answerer=lambda: answers)
    consumer = events.Consumer(any_db, "insights", service.handle_event, start_at_latest=True, clock=clock)
    consumer.ensure_cursor()
    publish_release(releases, release_id)
    consumer.run_once()
    consumer.retry_now()
    assert consumer.run_once() == 1 and state_of(any_db, task_id) == "closed"


def test_without_a_search_the_recheck_waits_as_a_failure(any_db):
    releases = Releases(any_db, Hooks())
    task_id, release_id = linked_task(any_db, releases)
    consumer = events.Consumer(any_db, "insights", Insights(any_db).handle_event, start_at_latest=True)
    consumer.ensure_cursor()
    publish_release(releases, release_id)
    assert consumer.run_once() == 0
    (_, state, text), = lines(any_db, release_id, Clock())
    assert state == "failed" and "检索服务未就绪" in text and state_of(any_db, task_id) == "linked"

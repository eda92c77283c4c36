"""The weekly / monthly / quarterly report (周反馈、月整改、季通报): every figure in one
dataclass, computed from the question log, the ledger and the documents. The HTML page
(portal/views_insights.py) and the spreadsheet (insights/xlsx.py) only render it."""
from __future__ import annotations

import collections
import dataclasses
import datetime as dt

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from bot.questionlog import LoggedQuestion, logged_questions
from insights.coverage import (
    DepartmentRate,
    PolicyCoverage,
    coverage_by_department,
    department_rates,
    policy_coverage,
)
from insights.documents import document_infos
from insights.grouping import DEFAULT_COSINE, Group
from insights.hot import Embed, TopicStat, group, hot_topics
from insights.periods import Period, local_date, local_midnight_utc
from insights.rising import Rising
from insights.tables import tasks

TOP_N = 10


@dataclasses.dataclass
class Report:
    period: Period
    today: dt.date
    questions: int
    answered: int
    rated: int
    satisfied: int
    by_channel: dict[str, int]
    by_day: list[tuple[dt.date, int, int]]        # (day, questions, answered)
    top_topics: list[TopicStat]
    groups: list[Group]
    rising_week: Period
    rising_topics: list[Rising]
    rising_keywords: list[Rising]
    unanswered_groups: list[Group]
    tasks_opened: int
    tasks_closed: int
    tasks_overdue: int
    department_rates: list[DepartmentRate]
    policy_coverage: list[PolicyCoverage]
    department_coverage: dict[str, tuple[int, int]]
    open_tasks: dict[str, list[str]]                 # policy id → titles of its open tasks
    titles: dict[str, str] = dataclasses.field(default_factory=dict)  # cited doc id → title

    @property
    def unanswered(self) -> int:
        return self.questions - self.answered

    @property
    def answer_rate(self) -> float | None:
        return self.answered / self.questions if self.questions else None

    @property
    def satisfaction(self) -> float | None:
        """Satisfied among the rated answers."""
        return self.satisfied / self.rated if self.rated else None


def build_report(conn: Connection, period: Period, today: dt.date, embed: Embed | None = None,
                 cosine: float = DEFAULT_COSINE, include_simulated: bool = False) -> Report:
    questions = logged_questions(conn, *period.utc_bounds(), include_simulated=include_simulated)
    hot = hot_topics(conn, period, embed, questions, cosine, today, include_simulated)
    coverage = policy_coverage(conn, questions)
    opened, closed, overdue = task_figures(conn, period, today)
    report = Report(
        period=period, today=today, questions=len(questions),
        answered=sum(q.answered for q in questions),
        rated=sum(q.rating is not None for q in questions),
        satisfied=sum(q.rating == "satisfied" for q in questions),
        by_channel=dict(collections.Counter(q.channel for q in questions).most_common()),
        by_day=_by_day(questions, period), top_topics=hot.topics[:TOP_N], groups=hot.groups[:TOP_N],
        rising_week=hot.rising_week, rising_topics=hot.rising_topics,
        rising_keywords=hot.rising_keywords[:TOP_N],
        unanswered_groups=group([q for q in questions if not q.answered], embed, cosine),
        tasks_opened=opened, tasks_closed=closed, tasks_overdue=overdue,
        department_rates=department_rates(conn, today), policy_coverage=coverage,
        department_coverage=coverage_by_department(coverage), open_tasks=open_task_titles(conn))
    report.titles = cited_titles(conn, report)
    return report


def cited_titles(conn: Connection, report: Report) -> dict[str, str]:
    """Titles of the documents the report names, so that staff read 《title》, not an id."""
    ids = [d for t in report.top_topics for d, _ in t.cited]
    ids += [d for g in report.groups + report.unanswered_groups for d, _ in g.cited_documents()]
    return {d: info.title for d, info in document_infos(conn, ids).items()}


def open_task_titles(conn: Connection) -> dict[str, list[str]]:
    """The unanswered / low-rated groups still open against each policy (its tasks)."""
    query = (sa.select(tasks.c.policy_id, tasks.c.title)
             .where(tasks.c.policy_id.is_not(None), tasks.c.state != "closed").order_by(tasks.c.id))
    titles: dict[str, list[str]] = collections.defaultdict(list)
    for policy_id, title in conn.execute(query):
        titles[policy_id].append(title)
    return dict(titles)


def task_figures(conn: Connection, period: Period, today: dt.date) -> tuple[int, int, int]:
    """Tasks opened and closed in the period; tasks overdue at the period's end (or today,
    if the period is not over): not closed by then and past their due date."""
    start, end = period.utc_bounds()
    count = lambda *where: conn.execute(  # noqa: E731 - a local shorthand
        sa.select(sa.func.count()).select_from(tasks).where(*where)).scalar_one()
    opened = count(tasks.c.opened_at >= start, tasks.c.opened_at < end)
    closed = count(tasks.c.closed_at >= start, tasks.c.closed_at < end)
    as_of = min(today, period.end - dt.timedelta(days=1))
    cutoff = local_midnight_utc(as_of + dt.timedelta(days=1), period.timezone)
    still_open = sa.or_(tasks.c.closed_at.is_(None), tasks.c.closed_at >= cutoff)
    overdue = count(tasks.c.opened_at < cutoff, tasks.c.due_date < as_of, still_open)
    return opened, closed, overdue


def _by_day(questions: list[LoggedQuestion], period: Period) -> list[tuple[dt.date, int, int]]:
    totals = collections.Counter(local_date(q.at, period.timezone) for q in questions)
    answered = collections.Counter(local_date(q.at, period.timezone) for q in questions if q.answered)
    days = []
    day = period.start
    while day < period.end:
        days.append((day, totals[day], answered[day]))
        day += dt.timedelta(days=1)
    return days

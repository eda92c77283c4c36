"""The listening service the views and commands use: reports, tasks, the ledger and the
publication hook, with the collaborators passed in (the question embedder and the search
that re-checks tasks may be absent: grouping then uses keywords only, and tasks wait)."""
from __future__ import annotations

import dataclasses
import datetime as dt
import logging
from collections.abc import Callable

from bot.questionlog import logged_questions
from insights import tasks as task_ops
from insights.hot import MAX_EMBEDDED, Embed
from insights.ledger import LedgerEntry, ledger
from insights.periods import period_of, week_of
from insights.report import Report, build_report
from insights.tasks import Answerer, TaskPolicy
from insights.xlsx import report_workbook
from policies.db import Database
from policies.validity import DEFAULT_TIMEZONE, local_today

log = logging.getLogger("policybot.insights")


@dataclasses.dataclass
class Insights:
    db: Database
    timezone: str = DEFAULT_TIMEZONE
    rules: TaskPolicy = TaskPolicy()
    embedder: Callable[[], Embed | None] = lambda: None      # looked up at use: the index may come later
    answerer: Callable[[], Answerer | None] = lambda: None   # what the bot would answer from
    nearest: Callable[[], Answerer | None] = lambda: None    # the search's top hits, no threshold

    def today(self) -> dt.date:
        return local_today(self.timezone)

    def report(self, kind: str, day: dt.date, today: dt.date | None = None,
               include_simulated: bool = False) -> Report:
        """The public's questions of the period (the staff simulator's too, when asked)."""
        period = period_of(kind, day, self.timezone)
        with self.db.read() as conn:
            return build_report(conn, period, today or self.today(), self.embedder(), self.rules.cosine,
                                include_simulated)

    def warm(self, day: dt.date | None = None) -> int:
        """Embed this week's questions now (into the embedder's cache), so that the next
        page is quick; returns how many were embedded."""
        embed = self.embedder()
        if embed is None:
            return 0
        with self.db.read() as conn:
            week = week_of(day or self.today(), self.timezone)
            texts = [q.question for q in logged_questions(conn, *week.utc_bounds())][:MAX_EMBEDDED]
        if texts:
            embed(texts)
        return len(texts)

    def workbook(self, report: Report) -> bytes:
        return report_workbook(report, self.ledger(report.today))

    def ledger(self, today: dt.date | None = None) -> list[LedgerEntry]:
        with self.db.read() as conn:
            return ledger(conn, today or self.today())

    def raise_tasks(self, day: dt.date, now: dt.datetime | None = None) -> list[int]:
        return task_ops.raise_tasks(self.db, week_of(day, self.timezone), self.embedder(),
                                    self.rules, now, nearest=self.nearest())

    def link(self, task_id: int, document_id: str) -> dict | None:
        """Link a document to a task; re-check at once if it is already public."""
        task_ops.link(self.db, task_id, document_id)
        if task_ops.is_public(self.db, document_id):
            return self.recheck(task_id)
        return None

    def recheck(self, task_id: int) -> dict | None:
        answers = self.answerer()
        if answers is None:
            log.warning("no search service: task %s waits for its re-check", task_id)
            return None
        return task_ops.recheck(self.db, task_id, answers, self.rules)

    def handle_event(self, event) -> None:
        """The durable consumer `insights` of the release events (interpretations/events.py):
        re-check the tasks waiting for the documents a publication made public. Raises when a
        re-check cannot be made: the consumer records the reason, the release page shows it,
        and the event is tried again (a re-check is idempotent)."""
        if event.kind != "published":
            return
        waiting = task_ops.linked_to(self.db, event.document_ids)
        if waiting and self.answerer() is None:
            raise RecheckUnavailable("检索服务未就绪，无法复核关联任务")
        for task_id in waiting:
            self.recheck(task_id)


class RecheckUnavailable(RuntimeError):
    """No search in this process to ask the task's questions again."""

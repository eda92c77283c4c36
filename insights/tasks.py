"""Unanswered and low-rated questions become tasks (整改任务) for the department that owns
the closest policy, or for the 政务公开 office when no policy is close.

- `raise_tasks` groups a week's unanswered questions (the bot found nothing) and low-rated
  ones (answered, rated 不满意) that no task holds yet; each group of at least
  `min_questions` becomes a task, due `due_days` after it is opened. A group on the theme of
  a task still open (same keywords, or similar meaning) adds its questions to that task.
- The closest policy is the one most often first among the group's cited candidates (an
  interpretation counts for its policy). When the bot cited nothing (it found nothing good
  enough), the search is asked for the group's questions (`nearest`, top hit only) and a
  policy that comes first for more than half of them is the closest. Its owner is
  documents.department, else the issuing body; with no closest policy, the 政务公开 office.
- `link` attaches a new or revised interpretation / FAQ (a document id) to a task;
  `recheck` runs when that document is published: the search is asked each question of the
  task again, and the task closes when at least `share` of them now find the linked
  document — otherwise it is reopened, with the figures in `recheck`.
"""
from __future__ import annotations

import collections
import dataclasses
import datetime as dt
from collections.abc import Callable

import numpy as np
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from bot.questionlog import LoggedQuestion, as_utc, logged_questions, question_log, utcnow
from insights.documents import document_infos
from insights.grouping import DEFAULT_COSINE, DEFAULT_OVERLAP, Group, keyword_overlap
from insights.hot import Embed, group
from insights.periods import Period, local_date
from insights.tables import task_questions, tasks
from policies import store
from policies.db import Database

DEFAULT_OFFICE = "政务公开办公室"
DEFAULT_DUE_DAYS = 7
DEFAULT_MIN_QUESTIONS = 2
DEFAULT_RECHECK_SHARE = 0.5
OPEN_STATES = ("open", "linked", "reopened")
MAX_NEAREST_ASKED = 10
# A question and the document ids the search now answers it with.
Answerer = Callable[[str], list[str]]


@dataclasses.dataclass(frozen=True)
class TaskPolicy:
    due_days: int = DEFAULT_DUE_DAYS
    min_questions: int = DEFAULT_MIN_QUESTIONS
    office: str = DEFAULT_OFFICE
    recheck_share: float = DEFAULT_RECHECK_SHARE
    cosine: float = DEFAULT_COSINE   # grouping threshold for the embedder in use


def kind_of(question: LoggedQuestion) -> str | None:
    if not question.answered:
        return "unanswered"
    return "low_rated" if question.rating == "unsatisfied" else None


def raise_tasks(db: Database, week: Period, embed: Embed | None = None,
                rules: TaskPolicy = TaskPolicy(), now: dt.datetime | None = None,
                nearest: Answerer | None = None) -> list[int]:
    """Open (or extend) tasks for the week's untasked problem questions; returns task ids."""
    now = as_utc(now or utcnow())
    with db.write() as conn:
        pending = _untasked(conn, week)
        touched = []
        for kind in ("unanswered", "low_rated"):
            questions = [q for q in pending if kind_of(q) == kind]
            for g in group(questions, embed, rules.cosine):
                task = _matching_task(conn, kind, g, embed, rules.cosine)
                if task is not None:
                    touched.append(_extend(conn, task, g))
                elif g.size >= rules.min_questions:
                    touched.append(_open(conn, kind, g, week, rules, now, nearest))
                else:
                    continue
                conn.execute(sa.insert(task_questions),
                             [{"task_id": touched[-1], "question_id": i} for i in g.ids])
    return touched


def link(db: Database, task_id: int, document_id: str, now: dt.datetime | None = None) -> None:
    """Attach the interpretation or FAQ that answers the task."""
    with db.write() as conn:
        if not store.existing_ids(conn, [document_id]):
            raise ValueError(f"没有编号为 {document_id} 的文件")
        task = _task(conn, task_id)
        if task["state"] == "closed":
            raise ValueError(f"任务 {task_id} 已办结")
        conn.execute(sa.update(tasks).where(tasks.c.id == task_id).values(
            linked_document_id=document_id, linked_at=as_utc(now or utcnow()), state="linked"))


def assign(db: Database, task_id: int, owner: str) -> None:
    """Name the person responsible for a task (责任人)."""
    owner = (owner or "").strip()
    if not owner or len(owner) > 200:
        raise ValueError("责任人须为 1–200 个字")
    with db.write() as conn:
        _task(conn, task_id)
        conn.execute(sa.update(tasks).where(tasks.c.id == task_id).values(owner=owner))


def linked_to(db: Database, document_ids) -> list[int]:
    """Open tasks waiting for one of these documents."""
    query = sa.select(tasks.c.id).where(tasks.c.linked_document_id.in_(list(document_ids)),
                                        tasks.c.state.in_(("linked", "reopened")))
    with db.read() as conn:
        return list(conn.execute(query.order_by(tasks.c.id)).scalars())


def recheck(db: Database, task_id: int, answers: Answerer, rules: TaskPolicy = TaskPolicy(),
            now: dt.datetime | None = None) -> dict:
    """Ask the search the task's questions again; close or reopen the task."""
    now = as_utc(now or utcnow())
    with db.read() as conn:
        task = _task(conn, task_id)
        questions = task_question_texts(conn, task_id) or list(task["examples"])
    # Only the linked document counts: the raw policy text was there before and did not do.
    answered = sum(1 for q in questions if task["linked_document_id"] in answers(q))
    result = {"at": now.isoformat(), "answered": answered, "total": len(questions)}
    closes = bool(questions) and answered >= rules.recheck_share * len(questions)
    with db.write() as conn:
        conn.execute(sa.update(tasks).where(tasks.c.id == task_id).values(
            recheck=result, published_at=now, state="closed" if closes else "reopened",
            closed_at=now if closes else None))
    return result


def task_question_texts(conn: Connection, task_id: int) -> list[str]:
    query = (sa.select(question_log.c.question).join(
        task_questions, task_questions.c.question_id == question_log.c.id)
        .where(task_questions.c.task_id == task_id).order_by(question_log.c.id))
    return list(conn.execute(query).scalars())


def _untasked(conn: Connection, week: Period) -> list[LoggedQuestion]:
    held = set(conn.execute(sa.select(task_questions.c.question_id)).scalars())
    return [q for q in logged_questions(conn, *week.utc_bounds()) if q.id not in held and kind_of(q)]


def _matching_task(conn: Connection, kind: str, g: Group, embed: Embed | None, cosine: float):
    """A task still open on the same theme (same rule as the grouping: keywords, or the
    embedding of its example questions), which the group's questions then join."""
    open_tasks = list(conn.execute(sa.select(tasks).where(
        tasks.c.kind == kind, tasks.c.state.in_(OPEN_STATES)).order_by(tasks.c.id)).mappings())
    for task in open_tasks:
        if task["group_key"] == g.key or _similar(task, g, embed, cosine):
            return task
    return None


def _similar(task, g: Group, embed: Embed | None, cosine: float) -> bool:
    if keyword_overlap(tuple(task["keywords"][:3]), tuple(g.top_keywords())) >= DEFAULT_OVERLAP:
        return True
    if embed is None or g.centroid is None:
        return False
    theirs = np.asarray(embed(list(task["examples"])), dtype=np.float32).mean(axis=0)
    norms = np.linalg.norm(theirs) * np.linalg.norm(g.centroid)
    return bool(norms) and float(theirs @ g.centroid / norms) >= cosine


def _open(conn: Connection, kind: str, g: Group, week: Period, rules: TaskPolicy,
          now: dt.datetime, nearest: Answerer | None) -> int:
    policy_id, department = _route(conn, g, rules.office, nearest)
    opened_local = local_date(now, week.timezone)
    values = dict(kind=kind, group_key=g.key, title=g.label, keywords=g.top_keywords(5),
                  examples=g.examples(), question_count=g.size, policy_id=policy_id,
                  department=department, state="open", week_start=week.start, opened_at=now,
                  due_date=opened_local + dt.timedelta(days=rules.due_days))
    return conn.execute(sa.insert(tasks).values(**values).returning(tasks.c.id)).scalar_one()


def _extend(conn: Connection, task, g: Group) -> int:
    examples = list(dict.fromkeys(list(task["examples"]) + g.examples()))[:5]
    conn.execute(sa.update(tasks).where(tasks.c.id == task["id"]).values(
        question_count=task["question_count"] + g.size, examples=examples))
    return task["id"]


def _route(conn: Connection, g: Group, office: str,
           nearest: Answerer | None) -> tuple[str | None, str]:
    """The closest policy and the department owning it (module docstring)."""
    firsts = [item.cited[0] for item in g.items if item.cited]
    policy_id = _most_common_policy(conn, firsts, need=1)
    if policy_id is None and nearest is not None:
        asked = g.items[:MAX_NEAREST_ASKED]
        found = [hits[0] for hits in (nearest(item.question) for item in asked) if hits]
        policy_id = _most_common_policy(conn, found, need=len(asked) // 2 + 1)
    if policy_id is None:
        return None, office
    owner = document_infos(conn, [policy_id]).get(policy_id)
    return policy_id, (owner.department if owner and owner.department else office)


def _most_common_policy(conn: Connection, doc_ids: list[str], need: int) -> str | None:
    infos = document_infos(conn, doc_ids)
    votes = collections.Counter(infos[d].policy_id for d in doc_ids if d in infos)
    if not votes:
        return None
    policy_id, count = votes.most_common(1)[0]
    return policy_id if count >= need else None


def _task(conn: Connection, task_id: int):
    task = conn.execute(sa.select(tasks).where(tasks.c.id == task_id)).mappings().first()
    if task is None:
        raise KeyError(f"没有第 {task_id} 号任务")
    return task


def is_public(db: Database, document_id: str) -> bool:
    with db.read() as conn:
        return store.get_visibility(conn, document_id) == "public"

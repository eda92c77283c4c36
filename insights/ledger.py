"""The response ledger (回应台账): every task and every commitment made in a response, with
status, owner, dates and what was published; items past their due date and not done are
overdue."""
from __future__ import annotations

import dataclasses
import datetime as dt

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from bot.questionlog import as_utc, utcnow
from insights.tables import commitments, tasks
from policies.db import Database

TASK_DONE = ("closed",)


@dataclasses.dataclass(frozen=True)
class LedgerEntry:
    kind: str               # 任务 | 承诺
    id: int
    title: str
    department: str
    owner: str | None
    state: str
    opened: dt.date
    due: dt.date
    done: dt.datetime | None
    published: str | None   # the linked / published document id
    overdue: bool
    detail: str             # for a task: questions and the re-check figures


def add_commitment(db: Database, department: str, text: str, made_on: dt.date, due_date: dt.date,
                   owner: str | None = None, task_id: int | None = None) -> int:
    if not department or not text:
        raise ValueError("回应承诺须填写部门和承诺内容")
    if due_date < made_on:
        raise ValueError("期限不能早于登记日期")
    with db.write() as conn:
        return conn.execute(sa.insert(commitments).values(
            task_id=task_id, department=department, owner=owner, text=text, made_on=made_on,
            due_date=due_date, state="open", created_at=utcnow()).returning(commitments.c.id)).scalar_one()


def fulfil_commitment(db: Database, commitment_id: int, published_document_id: str | None = None,
                      at: dt.datetime | None = None) -> None:
    with db.write() as conn:
        done = conn.execute(sa.update(commitments).where(commitments.c.id == commitment_id).values(
            state="done", done_at=as_utc(at or utcnow()),
            published_document_id=published_document_id)).rowcount
    if not done:
        raise KeyError(f"没有第 {commitment_id} 号回应承诺")


def department_of(db: Database, kind: str, item_id: int) -> str:
    """The department responsible for a task or a commitment (KeyError: none with this id)."""
    table = {"task": tasks, "commitment": commitments}[kind]
    with db.read() as conn:
        department = conn.execute(sa.select(table.c.department).where(table.c.id == item_id)).scalar()
    if department is None:
        raise KeyError(f"no {kind} {item_id}")
    return department


def ledger(conn: Connection, today: dt.date) -> list[LedgerEntry]:
    """Tasks and commitments, overdue first, then by due date."""
    entries = [_task_entry(r, today) for r in conn.execute(sa.select(tasks)).mappings()]
    entries += [_commitment_entry(r, today) for r in conn.execute(sa.select(commitments)).mappings()]
    return sorted(entries, key=lambda e: (not e.overdue, e.due, e.kind, e.id))


def _task_entry(row, today: dt.date) -> LedgerEntry:
    check = row["recheck"]
    detail = f"{row['question_count']} 个问题"
    if check:
        detail += f"；发布后复核 {check['answered']}/{check['total']} 可答"
    kind = "未答任务" if row["kind"] == "unanswered" else "低评任务"
    return LedgerEntry(kind, row["id"], row["title"], row["department"], row["owner"], row["state"],
                       row["week_start"], row["due_date"], row["closed_at"], row["linked_document_id"],
                       row["state"] not in TASK_DONE and row["due_date"] < today, detail)


def _commitment_entry(row, today: dt.date) -> LedgerEntry:
    detail = f"关联任务 {row['task_id']}" if row["task_id"] else ""
    return LedgerEntry("回应承诺", row["id"], row["text"], row["department"], row["owner"],
                       row["state"], row["made_on"], row["due_date"], row["done_at"],
                       row["published_document_id"], row["state"] != "done" and row["due_date"] < today,
                       detail)

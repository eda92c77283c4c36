"""Migration 0008_answer_ref on SQLite and PostgreSQL: the column and its unique index come
and go, and going back loses no other data (the tasks keep their questions)."""
from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa
from alembic import command

from bot.questionlog import QuestionLog
from insights.tables import task_questions, tasks
from policies.db import Database, alembic_config

T0 = dt.datetime(2026, 11, 23, 2, 0, tzinfo=dt.UTC)


def versions(database) -> set[str]:
    with database.read() as conn:
        return set(conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalars())


def columns(database) -> set[str]:
    return {c["name"] for c in sa.inspect(database.engine).get_columns("question_log")}


def add_task_with_question(database) -> int:
    log_id = QuestionLog(database, "k").record("o1", "wechat", "问题", [], 0.1, False, at=T0,
                                               answer_ref="AbCdEfGh1234")
    with database.write() as conn:
        task_id = conn.execute(sa.insert(tasks).values(
            kind="unanswered", group_key="g", title="t", keywords=[], examples=[], question_count=1,
            department="d", state="open", week_start=T0.date(), opened_at=T0, due_date=T0.date())
            .returning(tasks.c.id)).scalar_one()
        conn.execute(sa.insert(task_questions).values(task_id=task_id, question_id=log_id))
    return log_id


def test_answer_ref_up_down_and_up_again(any_db_url):
    database = Database(any_db_url)
    try:
        database.upgrade()
        assert "answer_ref" in columns(database)
        log_id = add_task_with_question(database)
        with pytest.raises(sa.exc.IntegrityError):  # the reference is unique
            QuestionLog(database, "k").record("o2", "wechat", "别的问题", [], 0.1, False,
                                              answer_ref="AbCdEfGh1234")
        command.downgrade(alembic_config(database.url), "0008_answer_ref-1")
        database.engine.dispose()
        assert "answer_ref" not in columns(database)
        # Only this branch went down (with 0013 built on 0008, and the merge 0014 and what
        # follows it); the other branches stay at their heads.
        assert versions(database) == {"0007_insights", "0004_bot", "0010_audit_keyed",
                                      "0011_must_change_password", "0012_simulated_subscribers"}
        with database.read() as conn:
            assert list(conn.execute(sa.select(task_questions.c.question_id)).scalars()) == [log_id]
        database.upgrade()
        assert "answer_ref" in columns(database)
    finally:
        database.dispose()

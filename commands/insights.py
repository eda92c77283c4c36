"""Wiring of the listening features: the question log service (`svc.questions`), the staff
pages under /staff/insights, the `flask insights ...` commands and the publication hook that
re-checks tasks."""
from __future__ import annotations

from flask import Flask

from bot.questionlog import DEFAULT_RETENTION_DAYS, QuestionLog


def init_app(app: Flask) -> None:
    svc = app.extensions["policybot"]
    retention = int(app.config.get("QUESTION_LOG_RETENTION_DAYS", DEFAULT_RETENTION_DAYS))
    svc.questions = QuestionLog(svc.db, app.config["SECRET_KEY"], retention_days=retention)

"""Tables of the response ledger (回应台账): tasks raised by unanswered or low-rated question
groups, the questions behind each task, and commitments made in responses."""
import sqlalchemy as sa

from policies.db import metadata

TASK_KINDS = ("unanswered", "low_rated")
# open: waiting for a response; linked: an interpretation/FAQ is linked, waiting for its
# publication; closed: published and the search now answers the questions; reopened: published
# but the questions are still not answered.
TASK_STATES = ("open", "linked", "closed", "reopened")
COMMITMENT_STATES = ("open", "done")

tasks = sa.Table(
    "insight_tasks", metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("kind", sa.String(20), nullable=False),
    sa.Column("group_key", sa.String(64), nullable=False, index=True),
    sa.Column("title", sa.Text, nullable=False),
    sa.Column("keywords", sa.JSON, nullable=False),
    sa.Column("examples", sa.JSON, nullable=False),  # masked questions, for the page
    sa.Column("question_count", sa.Integer, nullable=False),
    sa.Column("policy_id", sa.String(200)),  # the closest policy, if any
    sa.Column("department", sa.String(300), nullable=False),
    sa.Column("owner", sa.String(200)),
    sa.Column("state", sa.String(20), nullable=False, index=True),
    sa.Column("week_start", sa.Date, nullable=False),
    sa.Column("opened_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("due_date", sa.Date, nullable=False),
    sa.Column("linked_document_id", sa.String(200), index=True),
    sa.Column("linked_at", sa.DateTime(timezone=True)),
    sa.Column("published_at", sa.DateTime(timezone=True)),
    sa.Column("recheck", sa.JSON),  # {"at", "answered", "total"} after publication
    sa.Column("closed_at", sa.DateTime(timezone=True)),
    sa.Column("note", sa.Text),
)

task_questions = sa.Table(
    "insight_task_questions", metadata,
    sa.Column("task_id", sa.Integer, sa.ForeignKey("insight_tasks.id", ondelete="CASCADE"),
              primary_key=True),
    sa.Column("question_id", sa.Integer, sa.ForeignKey("question_log.id", ondelete="CASCADE"),
              primary_key=True),
)

commitments = sa.Table(
    "insight_commitments", metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("task_id", sa.Integer, sa.ForeignKey("insight_tasks.id", ondelete="SET NULL"),
              index=True),
    sa.Column("department", sa.String(300), nullable=False),
    sa.Column("owner", sa.String(200)),
    sa.Column("text", sa.Text, nullable=False),
    sa.Column("made_on", sa.Date, nullable=False),
    sa.Column("due_date", sa.Date, nullable=False),
    sa.Column("state", sa.String(20), nullable=False),
    sa.Column("done_at", sa.DateTime(timezone=True)),
    sa.Column("published_document_id", sa.String(200)),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
)

"""question_log.answer_ref: the reference an answer's link carries, to rate it on the H5 page

Revision ID: 0008_answer_ref
Revises: 0007_insights
Create Date: 2026-11-28
"""
import sqlalchemy as sa
from alembic import op

revision = '0008_answer_ref'
down_revision = '0007_insights'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Adding a nullable column and an index needs no table copy on SQLite either.
    with op.batch_alter_table('question_log', schema=None) as batch_op:
        batch_op.add_column(sa.Column('answer_ref', sa.String(length=32), nullable=True))
        batch_op.create_index(batch_op.f('ix_question_log_answer_ref'), ['answer_ref'], unique=True)


def downgrade() -> None:
    # recreate='never': SQLite (>= 3.35) drops the column in place. A copied table would be
    # dropped and renamed, and with foreign keys on, dropping question_log would cascade to
    # the tasks' question links (insight_task_questions).
    with op.batch_alter_table('question_log', schema=None, recreate='never') as batch_op:
        batch_op.drop_index(batch_op.f('ix_question_log_answer_ref'))
        batch_op.drop_column('answer_ref')

"""question_log.reading: how the bot read a follow-up (with the question that opened its
topic), kept beside the question as the resident wrote it

Revision ID: 0015_question_reading
Revises: 0014_merge_heads
Create Date: 2026-11-30
"""
import sqlalchemy as sa
from alembic import op

revision = '0015_question_reading'
down_revision = '0014_merge_heads'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('question_log', schema=None, recreate='never') as batch_op:
        batch_op.add_column(sa.Column('reading', sa.Text(), nullable=True))


def downgrade() -> None:
    # recreate='never': a copied question_log would cascade to the tasks' question links.
    with op.batch_alter_table('question_log', schema=None, recreate='never') as batch_op:
        batch_op.drop_column('reading')

"""question_log.simulated: the staff simulator's questions, left out of the public's statistics

Revision ID: 0013_simulated_questions
Revises: 0008_answer_ref
Create Date: 2026-11-30
"""
import sqlalchemy as sa
from alembic import op

revision = '0013_simulated_questions'
down_revision = '0008_answer_ref'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('question_log', schema=None, recreate='never') as batch_op:
        batch_op.add_column(sa.Column('simulated', sa.Boolean(), nullable=False, server_default=sa.false()))


def downgrade() -> None:
    # recreate='never': a copied question_log would cascade to the tasks' question links.
    with op.batch_alter_table('question_log', schema=None, recreate='never') as batch_op:
        batch_op.drop_column('simulated')

"""passage_vectors: passage embeddings shared by every worker and machine through the
database (issue 15), keyed by embedder passage space and text hash

Revision ID: 0016_passage_vectors
Revises: 0015_question_reading
Create Date: 2026-11-30
"""
import sqlalchemy as sa
from alembic import op

revision = '0016_passage_vectors'
down_revision = '0015_question_reading'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'passage_vectors',
        sa.Column('space', sa.String(length=200), nullable=False),
        sa.Column('text_hash', sa.String(length=64), nullable=False),
        sa.Column('dim', sa.Integer(), nullable=False),
        sa.Column('vector', sa.LargeBinary(), nullable=False),
        sa.Column('created_at', sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint('space', 'text_hash', name=op.f('pk_passage_vectors')),
    )


def downgrade() -> None:
    op.drop_table('passage_vectors')

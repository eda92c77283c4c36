"""bot: shared short-lived state (delivery dedupe, replay cache, conversations, kept answers)

Revision ID: 0004_bot
Revises: 0001_foundation
"""
import sqlalchemy as sa
from alembic import op

revision = '0004_bot'
down_revision = '0001_foundation'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('bot_state',
    sa.Column('key', sa.String(length=300), nullable=False),
    sa.Column('value', sa.Text(), nullable=False),
    sa.Column('expires_at', sa.Float(), nullable=False),
    sa.PrimaryKeyConstraint('key', name=op.f('pk_bot_state'))
    )
    op.create_index(op.f('ix_bot_state_expires_at'), 'bot_state', ['expires_at'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_bot_state_expires_at'), table_name='bot_state')
    op.drop_table('bot_state')

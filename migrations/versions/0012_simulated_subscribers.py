"""push_subscribers.simulated: the staff simulator's conversations, never pushed to

Revision ID: 0012_simulated_subscribers
Revises: 0006_push
Create Date: 2026-11-30
"""
import sqlalchemy as sa
from alembic import op

revision = '0012_simulated_subscribers'
down_revision = '0006_push'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('push_subscribers', schema=None) as batch_op:
        batch_op.add_column(sa.Column('simulated', sa.Boolean(), nullable=False, server_default=sa.false()))


def downgrade() -> None:
    with op.batch_alter_table('push_subscribers', schema=None, recreate='never') as batch_op:
        batch_op.drop_column('simulated')

"""staff_login_failures.device: failures of a trusted device are counted apart

Revision ID: 0009_login_devices
Revises: 0005_portal
Create Date: 2026-11-30
"""
import sqlalchemy as sa
from alembic import op

revision = '0009_login_devices'
down_revision = '0005_portal'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('staff_login_failures', schema=None) as batch_op:
        batch_op.add_column(sa.Column('device', sa.String(length=64), nullable=True))
        batch_op.create_index(batch_op.f('ix_staff_login_failures_device'), ['device'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('staff_login_failures', schema=None, recreate='never') as batch_op:
        batch_op.drop_index(batch_op.f('ix_staff_login_failures_device'))
        batch_op.drop_column('device')

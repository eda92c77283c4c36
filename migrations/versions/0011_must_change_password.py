"""staff_users.must_change_password: a password an admin set is changed at the next login

Revision ID: 0011_must_change_password
Revises: 0009_login_devices
Create Date: 2026-11-30
"""
import sqlalchemy as sa
from alembic import op

revision = '0011_must_change_password'
down_revision = '0009_login_devices'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('staff_users', schema=None) as batch_op:
        batch_op.add_column(sa.Column('must_change_password', sa.Boolean(), nullable=False,
                                      server_default=sa.false()))


def downgrade() -> None:
    with op.batch_alter_table('staff_users', schema=None, recreate='never') as batch_op:
        batch_op.drop_column('must_change_password')

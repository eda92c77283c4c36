"""audit_log.chain (which key seals an entry; NULL: the SHA-256 chain of before), and on
SQLite a trigger that refuses INSERT OR REPLACE over an existing entry

Revision ID: 0010_audit_keyed
Revises: 0001_foundation
Create Date: 2026-11-30
"""
import sqlalchemy as sa
from alembic import op

revision = '0010_audit_keyed'
down_revision = '0001_foundation'
branch_labels = None
depends_on = None

# As in interpretations/audit.py (SQLITE_NO_REPLACE), frozen here as migrations are.
SQLITE_NO_REPLACE = """CREATE TRIGGER audit_log_no_replace BEFORE INSERT ON audit_log
   WHEN EXISTS (SELECT 1 FROM audit_log WHERE seq = NEW.seq OR entry_hash = NEW.entry_hash)
   BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END"""


def upgrade() -> None:
    # ADD COLUMN: no table copy, so the append-only triggers stay as they are.
    with op.batch_alter_table('audit_log', schema=None, recreate='never') as batch_op:
        batch_op.add_column(sa.Column('chain', sa.String(length=60), nullable=True))
    if op.get_bind().dialect.name == "sqlite":
        op.execute(SQLITE_NO_REPLACE)


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute("DROP TRIGGER IF EXISTS audit_log_no_replace")
    with op.batch_alter_table('audit_log', schema=None, recreate='never') as batch_op:
        batch_op.drop_column('chain')

"""release_events and event_cursors: publication as events (the outbox), read in order by
each process's index and by durable consumers with their own cursor (issue 15)

Revision ID: 0017_release_events
Revises: 0016_passage_vectors
Create Date: 2026-11-30
"""
import sqlalchemy as sa
from alembic import op

revision = '0017_release_events'
down_revision = '0016_passage_vectors'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'release_events',
        sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
        sa.Column('kind', sa.String(length=20), nullable=False),
        sa.Column('release_id', sa.Integer(), nullable=False),
        sa.Column('state', sa.String(length=20), nullable=False),
        sa.Column('policy_id', sa.String(length=200), nullable=True),
        sa.Column('document_ids', sa.Text(), nullable=False),
        sa.Column('created_at', sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_release_events')),
    )
    op.create_index(op.f('ix_release_events_release_id'), 'release_events', ['release_id'])
    op.create_table(
        'event_cursors',
        sa.Column('consumer', sa.String(length=100), nullable=False),
        sa.Column('position', sa.Integer(), nullable=False),
        sa.Column('attempts', sa.Integer(), nullable=False),
        sa.Column('failed_event', sa.Integer(), nullable=True),
        sa.Column('last_error', sa.Text(), nullable=True),
        sa.Column('retry_at', sa.Float(), nullable=True),
        sa.Column('lease_owner', sa.String(length=200), nullable=True),
        sa.Column('lease_until', sa.Float(), nullable=True),
        sa.Column('updated_at', sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint('consumer', name=op.f('pk_event_cursors')),
    )


def downgrade() -> None:
    op.drop_table('event_cursors')
    op.drop_index(op.f('ix_release_events_release_id'), table_name='release_events')
    op.drop_table('release_events')

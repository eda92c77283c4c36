"""Merge the branches: every feature's migrations grew from 0001 on their own (bot, portal,
push, insights, audit); from here on the schema has one head.

Revision ID: 0014_merge_heads
Revises: 0004_bot, 0010_audit_keyed, 0011_must_change_password, 0012_simulated_subscribers,
         0013_simulated_questions
Create Date: 2026-11-30
"""

revision = '0014_merge_heads'
down_revision = ('0004_bot', '0010_audit_keyed', '0011_must_change_password',
                 '0012_simulated_subscribers', '0013_simulated_questions')
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass

"""The bot's shared short-lived state in the database (when Redis is not configured):
delivery dedupe, the signature replay cache, conversation context and kept answers.
One key-value table with an expiry, shared by every worker process."""
import sqlalchemy as sa

from policies.db import metadata

bot_state = sa.Table(
    "bot_state", metadata,
    sa.Column("key", sa.String(300), primary_key=True),
    sa.Column("value", sa.Text, nullable=False),
    sa.Column("expires_at", sa.Float, nullable=False, index=True),  # Unix time
)

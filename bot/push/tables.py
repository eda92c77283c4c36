"""Tables of subscribers and targeted push.

The openid is never stored in clear: `openid_key` is an HMAC of it (lookups) and
`openid_enc` its AES-GCM ciphertext (needed to send). Deleting a subscriber (`forget`) removes
both; outbox rows keep only the integer subscriber id.
"""
import sqlalchemy as sa

from policies.db import metadata

SUBSCRIBER_KINDS = ("resident", "enterprise")
# Where a tag of a subscriber comes from: chosen subscriptions, or the profile.
TAG_SOURCES = ("topic", "audience", "group", "qualification", "size", "industry")
OUTBOX_STATES = ("pending", "sending", "sent", "failed", "unknown", "cancelled")

subscribers = sa.Table(
    "push_subscribers", metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("openid_key", sa.String(64), nullable=False, unique=True),
    sa.Column("openid_enc", sa.Text, nullable=False),
    sa.Column("kind", sa.String(20), nullable=False, server_default="resident"),
    sa.Column("name", sa.String(200)),  # enterprise name, optional
    sa.Column("industry", sa.String(100)),
    sa.Column("size_class", sa.String(20)),  # 小微 / 中型 / 大型
    sa.Column("region", sa.String(200)),
    sa.Column("consent", sa.Boolean, nullable=False, server_default=sa.true()),
    sa.Column("active", sa.Boolean, nullable=False, server_default=sa.true()),  # follows us
    sa.Column("blocked_reason", sa.String(200)),  # a permanent send error (43004, 40003, …)
    sa.Column("last_message_at", sa.DateTime(timezone=True)),  # opens the 48-h window
    sa.Column("cs_used", sa.Integer, nullable=False, server_default="0"),  # in that window
    # The staff simulator's user (bot.simulated): never pushed to, not counted.
    sa.Column("simulated", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
)

subscriber_tags = sa.Table(
    "push_subscriber_tags", metadata,
    sa.Column("subscriber_id", sa.Integer, sa.ForeignKey("push_subscribers.id", ondelete="CASCADE"),
              primary_key=True),
    sa.Column("tag", sa.String(100), primary_key=True, index=True),
    sa.Column("source", sa.String(20), primary_key=True),
)

outbox = sa.Table(
    "push_outbox", metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("release_id", sa.Integer, nullable=False, index=True),
    sa.Column("subscriber_id", sa.Integer, nullable=False, index=True),
    sa.Column("channel", sa.String(20), nullable=False),
    sa.Column("client_msg_id", sa.String(64), nullable=False, unique=True),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("state", sa.String(20), nullable=False, index=True),
    sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    sa.Column("ambiguous", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("first_attempt_at", sa.DateTime(timezone=True)),
    sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("claim", sa.String(64)),
    sa.Column("claimed_at", sa.DateTime(timezone=True)),
    sa.Column("wechat_msg_id", sa.String(64), index=True),
    sa.Column("error_code", sa.Integer),
    sa.Column("error", sa.Text),
    sa.Column("confirmed", sa.String(40)),  # TEMPLATESENDJOBFINISH status
    sa.Column("decided_by", sa.String(200)),  # a person settled an unknown row
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    # One message per release and subscriber, whatever the channel.
    sa.UniqueConstraint("release_id", "subscriber_id", name="uq_push_outbox_release_subscriber"),
)

wechat_tokens = sa.Table(
    "wechat_tokens", metadata,
    sa.Column("appid", sa.String(64), primary_key=True),
    sa.Column("access_token", sa.Text),
    sa.Column("expires_at", sa.Float),
    sa.Column("lease_until", sa.Float),  # one refresher at a time
    sa.Column("lease_owner", sa.String(64)),
)

push_control = sa.Table(
    "push_control", metadata,
    sa.Column("api", sa.String(40), primary_key=True),
    sa.Column("paused_until", sa.DateTime(timezone=True)),
    sa.Column("reason", sa.Text),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
)

push_keys = sa.Table(
    "push_keys", metadata,
    sa.Column("name", sa.String(40), primary_key=True),
    sa.Column("value", sa.String(128), nullable=False),
)

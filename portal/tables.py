"""Tables of the staff portal: accounts, server-side sessions, failed logins, uploads."""
import sqlalchemy as sa

from policies.db import metadata

staff_users = sa.Table(
    "staff_users", metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("username", sa.String(100), nullable=False, unique=True),
    sa.Column("display_name", sa.String(200), nullable=False),
    sa.Column("role", sa.String(20), nullable=False),  # drafter | reviewer | signer | admin
    sa.Column("department", sa.String(200)),
    sa.Column("password_hash", sa.Text, nullable=False),
    sa.Column("active", sa.Boolean, nullable=False),
    # Set by an admin (portal or CLI): the user must choose their own at the next login.
    sa.Column("must_change_password", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
)

# One row per signed-in browser; the cookie holds a random token, the table its SHA-256.
# Logout deletes the row; disabling a user or changing a password deletes all of theirs.
staff_sessions = sa.Table(
    "staff_sessions", metadata,
    sa.Column("token_hash", sa.String(64), primary_key=True),
    sa.Column("user_id", sa.Integer, sa.ForeignKey("staff_users.id"), nullable=False, index=True),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
)

login_failures = sa.Table(
    "staff_login_failures", metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("username", sa.String(100), nullable=False, index=True),
    sa.Column("remote_addr", sa.String(64), nullable=False, index=True),
    sa.Column("device", sa.String(64), index=True),  # a trusted device's id (portal.devices)
    sa.Column("at", sa.DateTime(timezone=True), nullable=False, index=True),
)

uploads = sa.Table(
    "staff_uploads", metadata,
    sa.Column("id", sa.String(32), primary_key=True),  # generated; also the file's name on disk
    sa.Column("filename", sa.Text, nullable=False),  # the original (often Chinese) name
    sa.Column("file_type", sa.String(10), nullable=False),  # docx | pdf | html | txt | md
    sa.Column("size", sa.Integer, nullable=False),
    sa.Column("sha256", sa.String(64), nullable=False, index=True),
    sa.Column("uploaded_by", sa.String(100), nullable=False),
    sa.Column("department", sa.String(200)),
    sa.Column("text", sa.Text, nullable=False),  # extracted body, structure kept as lines
    sa.Column("hidden_parts", sa.JSON, nullable=False),  # comments, headers, metadata, ...
    sa.Column("suggested", sa.JSON, nullable=False),  # metadata for the drafter to confirm
    sa.Column("document_id", sa.String(200), index=True),  # the document made from it
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
)

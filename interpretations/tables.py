"""Tables of the release workflow: releases, their members, confidentiality findings, and
the append-only audit log."""
import sqlalchemy as sa

from policies.db import metadata

RELEASE_STATES = ("draft", "submitted", "reviewed", "signed", "published", "withdrawn", "retired")

releases = sa.Table(
    "releases", metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    # The policy version this release publishes; null for a supplementary release that adds
    # interpretations to a policy published earlier (e.g. an imported major policy 解读缺失).
    sa.Column("policy_id", sa.String(200), sa.ForeignKey("documents.id"), index=True),
    sa.Column("state", sa.String(20), nullable=False, index=True),
    sa.Column("provenance", sa.String(20), nullable=False),  # workflow | import
    sa.Column("department", sa.String(200)),
    sa.Column("drafted_by", sa.String(200), nullable=False),
    sa.Column("editors", sa.JSON, nullable=False),  # everyone who changed the content
    sa.Column("submitted_hash", sa.String(64)),
    sa.Column("reviewed_by", sa.String(200)),
    sa.Column("reviewed_hash", sa.String(64)),
    sa.Column("review_note", sa.Text),
    sa.Column("signed_by", sa.String(200)),
    sa.Column("signed_hash", sa.String(64)),
    sa.Column("published_at", sa.DateTime(timezone=True)),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
)

release_documents = sa.Table(
    "release_documents", metadata,
    sa.Column("release_id", sa.Integer, sa.ForeignKey("releases.id"), primary_key=True),
    sa.Column("document_id", sa.String(200), sa.ForeignKey("documents.id"), primary_key=True,
              unique=True),  # a document version belongs to exactly one release
)

findings = sa.Table(
    "confidentiality_findings", metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("release_id", sa.Integer, sa.ForeignKey("releases.id"), nullable=False, index=True),
    sa.Column("document_id", sa.String(200), nullable=False),
    sa.Column("content_hash", sa.String(64), nullable=False),  # the version that was scanned
    sa.Column("category", sa.String(40), nullable=False),
    sa.Column("part", sa.String(60), nullable=False),  # text, title, faq 3, section 政策背景, …
    sa.Column("start", sa.Integer, nullable=False),
    sa.Column("end", sa.Integer, nullable=False),
    sa.Column("masked", sa.Text, nullable=False),  # the finding, masked (never stored in clear)
    sa.Column("context", sa.Text, nullable=False),  # surrounding text, finding masked
    sa.Column("state", sa.String(20), nullable=False),  # open | resolved | overridden
    sa.Column("resolved_by", sa.String(200)),
    sa.Column("resolution", sa.Text),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
)

audit_log = sa.Table(
    "audit_log", metadata,
    sa.Column("seq", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("at", sa.String(40), nullable=False),  # ISO 8601 UTC, as hashed
    sa.Column("actor", sa.String(200), nullable=False),
    sa.Column("role", sa.String(40), nullable=False),
    sa.Column("action", sa.String(40), nullable=False),
    sa.Column("release_id", sa.Integer, index=True),
    sa.Column("from_state", sa.String(20)),
    sa.Column("to_state", sa.String(20)),
    sa.Column("content_hash", sa.String(64)),
    sa.Column("comment", sa.Text),
    sa.Column("prev_hash", sa.String(64), nullable=False),
    sa.Column("entry_hash", sa.String(64), nullable=False, unique=True),
    sa.Column("chain", sa.String(60)),  # hmac-sha256:<key id>; NULL: the SHA-256 chain of before
)

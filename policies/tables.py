"""The documents table: one row per document version, policy or interpretation.

`visibility` is set by the release workflow of interpretations/: `draft` until the release
is published, `public` from then on (also after retirement, when `status` tells why it is no
longer in force), `withdrawn` when a release is taken back. This layer never needs to know
what a release is in order to answer "what is public and in force today".
"""
import sqlalchemy as sa

from policies.db import metadata

VISIBILITIES = ("draft", "public", "withdrawn")

documents = sa.Table(
    "documents", metadata,
    sa.Column("id", sa.String(200), primary_key=True),
    sa.Column("kind", sa.String(20), nullable=False),
    sa.Column("title", sa.Text, nullable=False),
    sa.Column("text", sa.Text, nullable=False),
    sa.Column("doc_number", sa.String(200)),
    sa.Column("issuing_body", sa.String(300)),
    sa.Column("doc_type", sa.String(50)),
    sa.Column("publish_date", sa.Date),
    sa.Column("valid_from", sa.Date),
    sa.Column("valid_until", sa.Date),
    sa.Column("status", sa.String(20), nullable=False, server_default="effective"),
    sa.Column("importance", sa.String(20), nullable=False, server_default="normal"),
    sa.Column("topics", sa.JSON, nullable=False),
    sa.Column("audience", sa.JSON, nullable=False),
    sa.Column("region", sa.String(200)),
    sa.Column("source_url", sa.Text),
    sa.Column("interprets", sa.String(200), index=True),
    sa.Column("interpretation_form", sa.String(20)),
    sa.Column("faq", sa.JSON, nullable=False),
    sa.Column("supersedes", sa.String(200), index=True),
    sa.Column("provenance", sa.Text),
    sa.Column("sections", sa.JSON, nullable=False),
    sa.Column("media", sa.JSON, nullable=False),
    sa.Column("content_hash", sa.String(64), nullable=False),
    sa.Column("visibility", sa.String(20), nullable=False, server_default="draft", index=True),
    sa.Column("department", sa.String(200)),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
)

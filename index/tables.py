"""The index's one table: passage vectors shared through the database.

A vector is keyed by the embedder's passage space (index.cache.passage_space) and the sha256
of the passage text the embedder saw, so whichever worker or machine embedded a passage first,
every other one reuses it: a new instance with an empty data directory builds its FAISS and
BM25 from the database without embedding again. The on-disk index is a local cache of it."""
import sqlalchemy as sa

from policies.db import metadata

passage_vectors = sa.Table(
    "passage_vectors", metadata,
    sa.Column("space", sa.String(200), primary_key=True),      # embedder's passage space
    sa.Column("text_hash", sa.String(64), primary_key=True),   # sha256 of the passage text
    sa.Column("dim", sa.Integer, nullable=False),
    sa.Column("vector", sa.LargeBinary, nullable=False),       # float32, little-endian
    sa.Column("created_at", sa.Float, nullable=False),         # Unix time
)

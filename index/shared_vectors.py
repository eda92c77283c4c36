"""Passage vectors shared through the database (table `passage_vectors`, index/tables.py).

    shared = SharedVectors(db, passage_space(embedder), embedder.dim)
    found = shared.lookup(hashes)          # {text_hash: vector} for those any process stored
    shared.add(hashes, vectors)            # what this process embedded (or took from a file)

Whichever process embeds a passage first stores its vector; the others, on this machine or
another, take it from here instead of embedding again (~23 passages/s on these cores). A
conflicting insert is ignored: two processes that embed the same passage at once computed the
same vector."""
from __future__ import annotations

import time

import numpy as np
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from index.tables import passage_vectors
from policies.db import Database

BATCH = 500  # hashes per query (SQLite allows 32,766 variables; PostgreSQL far more)


class SharedVectors:
    def __init__(self, db: Database, space: str, dim: int):
        self.db, self.space, self.dim = db, space, dim

    def lookup(self, hashes: list[str]) -> dict[str, np.ndarray]:
        c = passage_vectors.c
        found: dict[str, np.ndarray] = {}
        wanted = sorted(set(hashes))
        with self.db.read() as conn:
            for start in range(0, len(wanted), BATCH):
                rows = conn.execute(sa.select(c.text_hash, c.vector).where(
                    c.space == self.space, c.dim == self.dim,
                    c.text_hash.in_(wanted[start:start + BATCH])))
                found.update((row.text_hash, _vector(row.vector, self.dim)) for row in rows)
        return found

    def add(self, hashes: list[str], vectors, replace: bool = False) -> None:
        """Store vectors not yet stored (all of them again with `replace`: a fresh reindex)."""
        vectors = np.asarray(vectors, dtype="<f4")
        now = time.time()
        rows = [{"space": self.space, "text_hash": h, "dim": self.dim,
                 "vector": v.tobytes(), "created_at": now}
                for h, v in dict(zip(hashes, vectors, strict=True)).items()]
        if not rows:
            return
        with self.db.write() as conn:
            for start in range(0, len(rows), BATCH):
                conn.execute(self._insert(replace), rows[start:start + BATCH])

    def _insert(self, replace: bool):
        dialect = sqlite if self.db.is_sqlite else postgresql
        insert = dialect.insert(passage_vectors)
        if replace:
            return insert.on_conflict_do_update(
                index_elements=["space", "text_hash"],
                set_={"dim": insert.excluded.dim, "vector": insert.excluded.vector,
                      "created_at": insert.excluded.created_at})
        return insert.on_conflict_do_nothing(index_elements=["space", "text_hash"])

    def count(self) -> int:
        c = passage_vectors.c
        with self.db.read() as conn:
            return conn.execute(sa.select(sa.func.count()).select_from(passage_vectors).where(
                c.space == self.space, c.dim == self.dim)).scalar_one()


def _vector(raw: bytes, dim: int) -> np.ndarray:
    vector = np.frombuffer(raw, dtype="<f4")
    if vector.shape != (dim,):
        raise ValueError(f"a stored vector has {vector.size} values, not {dim}")
    return vector.astype(np.float32)

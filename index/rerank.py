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
    """One row of FEATURES per candidate (rows in first-stage order)."""
    fused = np.array([found.scores[r] for r in rows])
    bm25 = np.array([found.bm25.get(r, 0.0) for r in rows])
    cosine = np.array([found.cosine.get(r, np.nan) for r in rows])
    chunks = [view.records[r].chunk for r in rows]
    docs = [c.doc_id for c in chunks]
    doc_rank = _first_seen_rank(docs)
    per_doc = {d: [i for i, x in enumerate(docs) if x == d] for d in set(docs)}
    bigrams = _bigrams(query)
    out = np.zeros((len(rows), len(FEATURES)))
    for i, chunk in enumerate(chunks):
        meta = view.docs[chunk.doc_id]
        own = per_doc[chunk.doc_id]
        total = len(view.rows_of.get(chunk.doc_id, ())) or 1
        out[i] = (
            fused[i], fused[i] / max(fused[0], 1e-9), math.log1p(i), bm25[i],
            bm25[i] / max(bm25.max(), 1e-9), cosine[i], cosine[i] - _nanmax(cosine),
            _rank_of(cosine, i), _rank_of(bm25, i), doc_rank[chunk.doc_id], len(own),
            _rank_of(cosine[own], own.index(i)), _rank_of(bm25[own], own.index(i)),
            _cover(bigrams, chunk.text), _cover(bigrams, " ".join(chunk.heading_path)),
            _cover(bigrams, meta.title), math.log1p(len(chunk.text)), chunk.ordinal / total,
            len(query), _SOURCES.get(chunk.source, 0), meta.kind == "interpretation",
            _nanmax(cosine[own]) - cosine[i], fused[own].max() - fused[i],
        )
    return out


def _nanmax(values: np.ndarray) -> float:
    """The largest known value; NaN when none is known yet (no vectors), without a warning."""
    known = values[~np.isnan(values)]
    return float(known.max()) if len(known) else float("nan")


def _first_seen_rank(docs: list[str]) -> dict[str, int]:
    ranks: dict[str, int] = {}
    for doc in docs:
        ranks.setdefault(doc, len(ranks))
    return ranks


def _rank_of(values: np.ndarray, i: int) -> float:
    """0 for the best; NaN values rank last."""
    value = values[i]
    if np.isnan(value):
        return float(len(values))
    return float(np.sum(values > value))


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

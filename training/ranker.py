"""Training the second stage (index/rerank.py) on STARD half A.

For each half-A question the project's search gives its first-stage candidates (hybrid, the
same embedder the ranker will serve with); the best RERANK_DEPTH get their features and a
label (is it a right article). A gradient-boosted tree ensemble (sklearn
HistGradientBoostingClassifier) learns them; its trees are exported as plain arrays, which
index/rerank.py evaluates with numpy (checked here to give sklearn's own decisions).
"""
from __future__ import annotations

import dataclasses
import pathlib
import time
from typing import Any

import numpy as np

from index.cache import EmbeddingCache, all_found, first_found
from index.corpus import text_hash
from index.evaluation import chunk_matches
from index.rerank import FEATURES, RERANK_DEPTH, Ranker, features, top_rows


@dataclasses.dataclass(frozen=True)
class RankerConfig:
    max_iter: int = 300
    learning_rate: float = 0.05
    max_leaf_nodes: int = 15
    min_samples_leaf: int = 40
    l2: float = 1.0
    seed: int = 12

    def as_dict(self) -> dict:
        return dataclasses.asdict(self)


def dense_texts(svc, questions: list[str]) -> list[str]:
    """What the search's dense encoder reads of each question (index.query.QueryReader)."""
    return svc.retrieval.dense_texts(questions)


def preload_queries(svc, embedder, texts: list[str], path: pathlib.Path | None,
                    known: EmbeddingCache | None = None,
                    kept: EmbeddingCache | None = None) -> dict[str, np.ndarray]:
    """Question vectors by `embedder` (keyed by the text the dense encoder reads: from `known`
    when it holds them, else from the cache at `path`, embedding what neither holds; those
    used copied into `kept`), put into the search's query cache; returned by question."""
    dense = dense_texts(svc, texts)
    cache = EmbeddingCache.load_or_new(path, embedder.name, embedder.dim) if path else \
        EmbeddingCache(embedder.name, embedder.dim)
    caches = [c for c in (known, cache) if c is not None]
    keys = [text_hash(d) for d in dense]
    todo = sorted({d for d, v in zip(dense, first_found(keys, caches), strict=True) if v is None})
    if todo:
        cache.add([text_hash(d) for d in todo], embedder.embed_queries(todo))
        if path:
            cache.save(path)
    vectors = all_found(keys, caches)
    if kept is not None:
        for source in caches:
            kept.copy(source, keys)
    svc.retrieval.queries.give(dense, vectors)
    return dict(zip(texts, vectors, strict=True))


def examples(svc, questions, depth: int = RERANK_DEPTH):
    """(features, labels, group sizes) of the first stage's best `depth` per question."""
    def right(view, question, row: int) -> bool:
        chunk = view.records[row].chunk
        return any(chunk_matches(chunk.doc_id, chunk.article, chunk.text, d, a) for d, a in question.relevant)
    return labelled_examples(svc, [(q.question, lambda view, r, q=q: right(view, q, r)) for q in questions],
                             depth)


def labelled_examples(svc, questions, depth: int = RERANK_DEPTH):
    """`examples` for (question text, is_right(view, row)) pairs: STARD's questions are right
    by article, residents' by the passages holding their labelled answer."""
    xs, ys, groups = [], [], []
    for text, is_right in questions:
        view, read, found = svc.retrieval.candidates(text)
        rows = top_rows(found, depth)
        if not rows:
            continue
        xs.append(features(view, read.normal, found, rows))
        ys.append(np.asarray([is_right(view, r) for r in rows], np.int8))
        groups.append(len(rows))
    return np.concatenate(xs), np.concatenate(ys), groups


def fit(x: np.ndarray, y: np.ndarray, config: RankerConfig = RankerConfig()):
    from sklearn.ensemble import HistGradientBoostingClassifier
    model = HistGradientBoostingClassifier(
        max_iter=config.max_iter, learning_rate=config.learning_rate,
        max_leaf_nodes=config.max_leaf_nodes, min_samples_leaf=config.min_samples_leaf,
        l2_regularization=config.l2, early_stopping=False, random_state=config.seed)
    model.fit(x, y)
    return model


def export(model) -> dict[str, np.ndarray]:
    """sklearn's trees as padded arrays [trees, nodes] for index.rerank.Ranker."""
    trees = [predictors[0].nodes for predictors in model._predictors]
    width = max(len(t) for t in trees)

    def pad(field, dtype):
        out = np.zeros((len(trees), width), dtype)
        for i, t in enumerate(trees):
            out[i, :len(t)] = t[field]
        return out
    return {"feature": pad("feature_idx", np.int32), "threshold": pad("num_threshold", np.float64),
            "left": pad("left", np.int32), "right": pad("right", np.int32),
            "missing_left": pad("missing_go_to_left", bool), "leaf": pad("is_leaf", bool),
            "value": pad("value", np.float64),
            "baseline": np.asarray(float(np.ravel(model._baseline_prediction)[0])),
            "depth": np.asarray(int(max(t["depth"].max() for t in trees)) + 1),
            "feature_names": np.asarray(FEATURES)}


def train_ranker(svc, half_a, out_path: pathlib.Path, config: RankerConfig = RankerConfig(),
                 log=print, extra=None) -> dict:
    """`extra`: more (features, labels, group sizes), e.g. residents' questions over the demo
    corpus (pipeline.colloquial_ranker_examples)."""
    started = time.monotonic()
    x, y, groups = examples(svc, half_a)
    if extra is not None:
        x, y, groups = np.vstack([x, extra[0]]), np.concatenate([y, extra[1]]), groups + extra[2]
    log(f"ranker: {len(groups)} questions, {len(y)} candidates, {int(y.sum())} right ones "
        f"({time.monotonic() - started:.0f} s)")
    model = fit(x, y, config)
    arrays: dict[str, Any] = export(model)  # Any: savez_compressed's **kwds would also fill allow_pickle
    ranker = Ranker(arrays)
    sample = x[:2000]
    gap = float(np.max(np.abs(ranker.decision(sample) - model.decision_function(sample))))
    if gap > 1e-6:
        raise AssertionError(f"exported trees disagree with sklearn by {gap}")
    out_path.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(out_path, **arrays)
    return {"questions": len(groups), "candidates": int(len(y)), "positives": int(y.sum()),
            "trees": int(arrays["feature"].shape[0]), "export_gap": gap,
            "config": config.as_dict(), "seconds": round(time.monotonic() - started)}

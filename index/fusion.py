"""Fusion of ranked lists and the boosts applied on top. Pure functions over row ids."""
from __future__ import annotations

from collections.abc import Hashable, Mapping
from typing import TypeVar

import numpy as np

RRF_K = 60
Id = TypeVar("Id", bound=Hashable)  # rows here; the bot fuses chunk ids too


def reciprocal_rank_fusion(ranked: list[list[Id]], weights: list[float],
                           k: int = RRF_K) -> dict[Id, float]:
    """Σ weight / (k + rank) over the lists a row appears in (rank from 1)."""
    fused: dict[Id, float] = {}
    for rows, weight in zip(ranked, weights, strict=False):
        for rank, row in enumerate(rows, start=1):
            fused[row] = fused.get(row, 0.0) + weight / (k + rank)
    return fused


def convex(semantic: np.ndarray, lexical: np.ndarray, dense_share: float) -> np.ndarray:
    """dense_share × minmax(cosine) + (1 − dense_share) × minmax(BM25), per candidate.

    A candidate whose cosine is NaN has no vector yet (published a moment ago, embedding in
    the background): it stands on its BM25 alone rather than on a cosine of 0, which would
    sink a new document below older, weaker matches until its vectors arrive."""
    lexical = _minmax(lexical)
    semantic = _minmax(semantic)
    semantic = np.where(np.isnan(semantic), lexical, semantic)
    return dense_share * semantic + (1.0 - dense_share) * lexical


def _minmax(values: np.ndarray) -> np.ndarray:
    """Scaled to 0..1 over the candidates that have a value; NaN (no value) stays NaN."""
    values = np.asarray(values, dtype=np.float64)
    known = values[~np.isnan(values)]
    low, high = (known.min(), known.max()) if len(known) else (0.0, 0.0)
    if high == low:
        return np.where(np.isnan(values), np.nan, 0.0)
    return (values - low) / (high - low)


def document_support(scores: dict[int, float], doc_of: Mapping[int, str], weight: float,
                     top_n: int) -> dict[int, float]:
    """Evidence pooled by document (`doc_of`: each scored row's): each chunk gains `weight` ×
    the sum of its document's `top_n` best chunk scores. Questions usually concern one law or
    policy; several of its articles ranking well say it is the right one."""
    if weight <= 0 or not scores:
        return scores
    by_doc: dict[str, list[float]] = {}
    for row, score in scores.items():
        by_doc.setdefault(doc_of[row], []).append(score)
    support = {d: sum(sorted(v, reverse=True)[:top_n]) for d, v in by_doc.items()}
    return {row: s + weight * support[doc_of[row]] for row, s in scores.items()}


def apply_preference(scores: dict[int, float], preferred: set[int], factor: float) -> dict[int, float]:
    """Interpretation and FAQ chunks, written for the public, win near-ties with raw text."""
    return {row: s * factor if row in preferred else s for row, s in scores.items()}


def apply_named(scores: dict[int, float], named_rows: set[int]) -> dict[int, float]:
    """A document named in the question (exact 文号 or title) goes first: its chunks are
    lifted above every other, keeping their order among themselves."""
    if not named_rows:
        return scores
    lift = 1.0 + max(scores.values(), default=0.0)
    return {row: s + lift if row in named_rows else s for row, s in scores.items()}


def top(scores: dict[int, float], k: int) -> list[tuple[int, float]]:
    return sorted(scores.items(), key=lambda item: (-item[1], item[0]))[:k]

"""Group questions by similar meaning: a greedy single pass (in time order) that puts each
question into the most similar existing group, or starts a new one.

Similarity is the cosine of the question's embedding with the group's centroid when the
index's query embedder is available (`embed_queries`), and in every case also the overlap
of jieba keywords with the group's first question (shared keywords / keywords of the shorter
of the two, so that a terse question joins a fuller one on the same theme); a question joins
a group when either is at or above its threshold. Pure: no I/O, the vectors are passed in.
"""
from __future__ import annotations

import collections
import dataclasses
import hashlib

import numpy as np

DEFAULT_COSINE = 0.88      # e5/bge-style embedders put paraphrases above ~0.88
DEFAULT_OVERLAP = 0.67      # 2 of 3 keywords, or every keyword of a one-keyword question
MAX_EXAMPLES = 3


@dataclasses.dataclass(frozen=True)
class Item:
    id: int
    question: str          # already masked
    keywords: tuple[str, ...]
    cited: tuple[str, ...] = ()   # doc ids, best first


@dataclasses.dataclass
class Group:
    items: list[Item]
    centroid: np.ndarray | None = None

    @property
    def size(self) -> int:
        return len(self.items)

    @property
    def ids(self) -> list[int]:
        return [item.id for item in self.items]

    def top_keywords(self, n: int = 3) -> list[str]:
        counts = collections.Counter(k for item in self.items for k in item.keywords)
        return [word for word, _ in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:n]]

    @property
    def label(self) -> str:
        return "、".join(self.top_keywords()) or self.items[0].question[:20]

    @property
    def key(self) -> str:
        """Stable across runs for the same theme: a hash of the sorted top keywords."""
        basis = "|".join(sorted(self.top_keywords())) or self.items[0].question
        return hashlib.sha1(basis.encode()).hexdigest()[:16]

    def examples(self, n: int = MAX_EXAMPLES) -> list[str]:
        seen: list[str] = []
        for item in self.items:
            if item.question not in seen:
                seen.append(item.question)
        return seen[:n]

    def cited_documents(self, n: int = 3) -> list[tuple[str, int]]:
        counts = collections.Counter(item.cited[0] for item in self.items if item.cited)
        return counts.most_common(n)


def group_questions(items: list[Item], vectors: np.ndarray | None = None,
                    cosine: float = DEFAULT_COSINE, overlap: float = DEFAULT_OVERLAP) -> list[Group]:
    """Groups, largest first (ties: earliest first)."""
    unit = _normalised(vectors) if vectors is not None else None
    if unit is not None and len(unit) != len(items):
        raise ValueError(f"{len(items)} questions but {len(unit)} vectors")
    groups: list[Group] = []
    for index, item in enumerate(items):
        vector = unit[index] if unit is not None else None
        best = _best_group(groups, item, vector, cosine, overlap)
        if best is None:
            groups.append(Group([item], None if vector is None else vector.copy()))
        else:
            _join(best, item, vector)
    return sorted(groups, key=lambda g: -g.size)


def keyword_overlap(a: tuple[str, ...], b: tuple[str, ...]) -> float:
    """The overlap coefficient: shared keywords over the keywords of the shorter side."""
    sa_, sb = set(a), set(b)
    return len(sa_ & sb) / min(len(sa_), len(sb)) if sa_ and sb else 0.0


def _best_group(groups, item, vector, cosine, overlap) -> Group | None:
    best, best_score = None, 0.0
    for group in groups:
        score = _similarity(group, item, vector, cosine, overlap)
        if score > best_score:
            best, best_score = group, score
    return best


def _similarity(group: Group, item: Item, vector, cosine: float, overlap: float) -> float:
    """A score > 0 only when a threshold is met; the better of the two, each scaled to its
    threshold so that they compare."""
    scores = [keyword_overlap(group.items[0].keywords, item.keywords) / overlap]
    if vector is not None and group.centroid is not None:
        norm = np.linalg.norm(group.centroid)
        scores.append(float(group.centroid @ vector / norm) / cosine if norm else 0.0)
    best = max(scores)
    return best if best >= 1.0 else 0.0


def _join(group: Group, item: Item, vector) -> None:
    group.items.append(item)
    if vector is not None and group.centroid is not None:
        group.centroid = group.centroid + vector


def _normalised(vectors) -> np.ndarray:
    array = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(array, axis=1, keepdims=True)
    return array / np.where(norms == 0, 1, norms)

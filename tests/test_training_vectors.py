"""The vectors a training run reads are kept beside its model and read back before anything is
embedded again (training/vectors.py): a rerun trains on the same numbers, bit for bit."""
import numpy as np
import pytest

from index.cache import EmbeddingCache
from index.embedders import HashEmbedder
from training import data
from training.ranker import dense_texts, preload_queries
from training.vectors import PARTS, TrainingVectors


class CountingEmbedder(HashEmbedder):
    """The test's embedder: HashEmbedder's vectors, and the texts it was asked to embed."""

    def __init__(self, dim=384):
        super().__init__(dim)
        self.asked: list[str] = []

    def embed_queries(self, texts):
        self.asked.extend(texts)
        return super().embed_queries(texts)


def cache_of(name, keys, seed):
    cache = EmbeddingCache(name, 384)
    cache.add(keys, np.random.default_rng(seed).normal(size=(len(keys), 384)).astype(np.float32))
    return cache


def test_kept_vectors_are_read_back_bit_for_bit_each_from_the_first_source_holding_it(tmp_path):
    shipped = cache_of("some-embedder", ["a", "b"], 1)
    work = cache_of("some-embedder", ["b", "c", "unused"], 2)
    work.set_probes(["a probe text"], ["c"])  # not kept: "a probe text" does not hash to "c"
    kept = TrainingVectors("some-embedder", 384)
    kept.keep("stard-passages", ["a", "b", "c", "a"], [shipped, work])
    kept.save(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(f"{part}.npz" for part in PARTS)
    back = EmbeddingCache.load(tmp_path / "stard-passages.npz")
    assert len(back) == 3
    expected = np.stack(shipped.lookup(["a", "b"]) + work.lookup(["c"]))
    assert np.array_equal(np.stack(back.lookup(["a", "b", "c"])), expected)  # b: the shipped one
    again = TrainingVectors("some-embedder", 384)
    again.keep("stard-passages", ["a", "b", "c"], [back])
    again.save(tmp_path / "twice")
    twice = EmbeddingCache.load(tmp_path / "twice" / "stard-passages.npz")
    assert np.array_equal(np.stack(twice.lookup(["a", "b", "c"])), expected)
    with pytest.raises(KeyError, match="stard-questions"):
        kept.keep("stard-questions", ["a", "nowhere"], [shipped, work])


def test_kept_passages_keep_their_probes_and_are_refused_for_another_model(tmp_path):
    from index.corpus import text_hash
    embedder = HashEmbedder(384)
    texts = ["第一条 为了规范管理，制定本办法。", "第二条 本办法适用于本市。"]
    source = EmbeddingCache(embedder.name, 384)
    source.add([text_hash(t) for t in texts], embedder.embed_passages(texts))
    source.set_probes(texts[:1], [text_hash(texts[0])])
    kept = TrainingVectors(embedder.name, 384)
    kept.keep("stard-passages", [text_hash(t) for t in texts], [source])
    kept.save(tmp_path)
    loaded = TrainingVectors.load(tmp_path, embedder)
    assert loaded["stard-passages"].probes == texts[:1]
    assert len(loaded["stard-passages"]) == 2
    tampered = EmbeddingCache(embedder.name, 384)
    tampered.add([text_hash(t) for t in texts], embedder.embed_passages(texts[::-1]))
    tampered.set_probes(texts[:1], [text_hash(texts[0])])
    tampered.save(tmp_path / "stard-passages.npz")
    with pytest.raises(ValueError, match="probes"):
        TrainingVectors.load(tmp_path, embedder)
    other = TrainingVectors.load(tmp_path, HashEmbedder(64))  # another model's files: none of them
    assert other.sizes() == dict.fromkeys(PARTS, 0)


def test_questions_are_taken_from_the_shipped_vectors_and_only_the_rest_embedded(tmp_path):
    embedder = CountingEmbedder()
    svc = data.searcher(data.build_corpus("demo"), embedder)
    questions = ["退休了养老金怎么领", "孩子上学要办什么证", "开个小店要交什么税"]
    dense = dense_texts(svc, questions)
    from index.corpus import text_hash
    shipped = cache_of(embedder.name, [text_hash(dense[0])], 3)  # not what this embedder gives
    cache_of(embedder.name, [text_hash(dense[0])], 4).save(tmp_path / "work.npz")  # the shipped one wins
    kept = EmbeddingCache(embedder.name, 384)
    found = preload_queries(svc, embedder, questions, tmp_path / "work.npz", known=shipped, kept=kept)
    assert embedder.asked == sorted(dense[1:])
    assert np.array_equal(found[questions[0]], shipped.lookup([text_hash(dense[0])])[0])
    assert len(EmbeddingCache.load(tmp_path / "work.npz")) == 3  # the work cache: and what was embedded
    assert len(kept) == 3
    for question, text in zip(questions, dense, strict=True):
        assert np.array_equal(kept.lookup([text_hash(text)])[0], found[question])
    embedder.asked.clear()
    preload_queries(svc, embedder, questions, tmp_path / "work.npz", known=shipped)
    assert embedder.asked == []  # a rerun: every vector cached


def test_a_cached_vector_looks_up_the_same_bits_whatever_blas_kernel_the_cpu_picks(tmp_path):
    """Another CPU makes OpenBLAS choose another kernel (here forced: OPENBLAS_CORETYPE): the
    vectors a run reads from the cache must not change with it."""
    import subprocess
    import sys
    vectors = np.random.default_rng(5).normal(size=(300, 384)).astype(np.float32)
    cache = EmbeddingCache("some-embedder", 384)
    cache.add([f"h{i}" for i in range(len(vectors))], vectors)
    cache.save(tmp_path / "c.npz")
    script = ("import sys, hashlib, numpy as np; from index.cache import EmbeddingCache; "
              "c = EmbeddingCache.load(sys.argv[1]); "
              "print(hashlib.sha256(c.stacked([f'h{i}' for i in range(300)]).tobytes()).hexdigest())")
    seen = set()
    for kernel in ("Haswell", "Nehalem", "Prescott"):
        env = {**__import__("os").environ, "OPENBLAS_CORETYPE": kernel}
        out = subprocess.run([sys.executable, "-c", script, str(tmp_path / "c.npz")], env=env, check=True,
                             capture_output=True, text=True, cwd=str(data.ROOT))
        seen.add(out.stdout.strip())
    assert len(seen) == 1


def test_the_shipped_model_was_trained_on_the_vectors_shipped_beside_it(tmp_path):
    """A run from a clean checkout, given the synonym and dialect tables the shipped model was
    trained with,
    reads every vector it was trained on from data/models/training-vectors (nothing embedded
    again), and they are those the shipped manifest names."""
    import json
    import types

    from index.tuned import MANIFEST_FILE, MODEL_DIR
    from training.pipeline import DIALECT_FILE, SYNONYMS_FILE, RunConfig, training_pairs, training_vectors
    manifest = json.loads((MODEL_DIR / MANIFEST_FILE).read_text(encoding="utf-8"))
    # the synonym and dialect tables it was trained with, kept beside it: the project's grow
    assert data.file_sha256(MODEL_DIR / SYNONYMS_FILE) == manifest["data"]["synonyms_sha256"]
    config = RunConfig(vectors_dir=tmp_path / "kept", synonyms=MODEL_DIR / SYNONYMS_FILE,
                       dialect=MODEL_DIR / DIALECT_FILE)
    pairs, _ = training_pairs(config, log=lambda line: None)
    half_a, half_b = data.stard_halves(data.load_questions("stard-train"), config.split_seed)
    no_model = types.SimpleNamespace(model=None, tokenizer=None)  # fails if asked to embed a passage
    vectors, extra = training_vectors(no_model, data.build_corpus("stard"), half_a + half_b, pairs,
                                      tmp_path / "out", tmp_path / "work", config, lambda line: None)
    embedded_here = [EmbeddingCache.load(path) for path in (tmp_path / "work").glob("*queries*.npz")]
    assert [len(cache) for cache in embedded_here] == [0] * len(embedded_here)
    assert extra is not None
    assert vectors.sha256() == manifest["data"]["vectors_sha256"]
    assert extra.sha256() == manifest["data"]["colloquial_vectors_sha256"]


def test_the_shipped_model_was_trained_as_models_train_trains_by_default():
    """`models train` with no options reproduces the shipped model only if its defaults are
    the schedules the shipped adapter and lens were trained with (a default changed without
    retraining, or a model retrained with options, fails here). A manifest written before a
    setting existed does not name it: what it names must match."""
    import dataclasses
    import json

    from index.tuned import MANIFEST_FILE, MODEL_DIR
    from training.pipeline import RunConfig
    training = json.loads((MODEL_DIR / MANIFEST_FILE).read_text(encoding="utf-8"))["training"]
    config = RunConfig()
    ranking = dataclasses.replace(config.adapter, l2=config.ranking_l2).as_dict()
    assert {"steps", "lr", "l2", "loss", "negatives", "precision"} <= set(training["config"])
    assert training["config"] == {key: ranking[key] for key in training["config"]}
    lens = dataclasses.replace(config.lens_adapter, loss=config.lens_loss, negatives=config.adapter.negatives,
                               l2=config.lens_l2).as_dict()
    named = {"loss": training["lens"]["loss"], "l2": training["lens"]["l2"]}
    recorded = training["lens"].get("config", named)
    assert recorded == {key: lens[key] for key in recorded}
    assert training["shrink"] == config.adapter_shrink
    assert training["colloquial_weight"] == config.colloquial_weight

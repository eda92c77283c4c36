"""The second stage: exported trees decide as sklearn does, a ranker file of other features is
refused, reranking re-orders the first stage's best passages (and only those) and exposes its
probability on the hits."""
import numpy as np
import pytest

from index.embedders import HashEmbedder
from index.rerank import FEATURES, Candidates, Ranker, features, top_rows
from tests.conftest import make_policy
from tests.test_index_support import make_index, publish

LAW = ("第一条 为了保障退休人员基本生活，制定本条例。\n"
       "第二条 职工达到法定退休年龄且累计缴费满十五年的，按月领取基本养老金。\n"
       "第三条 用人单位拖欠劳动者工资的，劳动者可以向劳动保障监察机构投诉。\n"
       "第四条 女职工生育享受九十八天产假。\n")


def fitted(x, y, **options):
    from training.ranker import RankerConfig, export, fit
    model = fit(x, y, RankerConfig(max_iter=20, min_samples_leaf=5, **options))
    return model, Ranker(export(model))


def synthetic(n=600, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, len(FEATURES)))
    x[rng.random(n) < 0.1, 5] = np.nan  # missing cosines take the learned side
    y = ((np.nan_to_num(x[:, 5]) + 0.5 * x[:, 13] + rng.normal(scale=0.3, size=n)) > 0.8)
    return x, y.astype(np.int8)


def test_exported_trees_decide_as_sklearn():
    x, y = synthetic()
    model, ranker = fitted(x, y)
    assert np.allclose(ranker.decision(x), model.decision_function(x), atol=1e-9)
    p = ranker.probability(x)
    assert ((0 < p) & (p < 1)).all()


def test_the_shipped_ranker_decides_as_its_trees_walked_one_by_one():
    """The walk of all trees at once (flat arrays, stopping when every tree is at a leaf) is
    the plain walk of each tree for each candidate, missing values included, to the bit."""
    ranker = Ranker.load()
    rng = np.random.default_rng(3)
    x = rng.normal(size=(40, len(FEATURES))) * rng.choice([0.1, 1.0, 10.0, 100.0], size=len(FEATURES))
    x[rng.random(x.shape) < 0.15] = np.nan

    def walk(tree: int, row: np.ndarray) -> float:
        node = 0
        while not ranker.leaf[tree, node]:
            value = row[ranker.feature[tree, node]]
            missing, threshold = ranker.missing_left[tree, node], ranker.threshold[tree, node]
            left = missing if np.isnan(value) else value <= threshold
            node = ranker.left[tree, node] if left else ranker.right[tree, node]
        return ranker.value[tree, node]

    expected = [ranker.baseline + sum(walk(t, row) for t in range(ranker.feature.shape[0])) for row in x]
    assert ranker.decision(x).tolist() == expected


def test_a_ranker_of_other_features_is_refused(tmp_path):
    from training.ranker import export
    x, y = synthetic()
    model, _ = fitted(x, y)
    arrays = export(model)
    arrays["feature_names"] = np.asarray(FEATURES[:-1] + ("something_else",))
    np.savez(tmp_path / "r.npz", **arrays)
    with pytest.raises(ValueError, match="retrain"):
        Ranker.load(tmp_path / "r.npz")


class PreferShort:
    """A stand-in ranker with a rule the first stage does not have: shorter passage wins."""

    def rerank(self, view, query, found):
        real = Ranker.__new__(Ranker)
        real.probability = lambda x: 1.0 / (1.0 + x[:, FEATURES.index("length")])
        return Ranker.rerank(real, view, query, found)


def test_reranking_reorders_the_best_candidates_and_exposes_its_score(db, releases):
    svc = make_index(db, releases, embedder=HashEmbedder(64))
    publish(releases, make_policy("law", title="职工权益保障条例", text=LAW))
    before = svc.search.search("退休 养老金 工资 产假", k=4)
    assert all(h.rerank_score is None for h in before)
    svc.search.retrieval.ranker = PreferShort()
    after = svc.search.search("退休 养老金 工资 产假", k=4)
    assert sorted(h.chunk_id for h in after) == sorted(h.chunk_id for h in before)
    lengths = [len(h.text) for h in after]
    assert lengths == sorted(lengths)
    assert [h.score for h in after] == sorted((h.score for h in after), reverse=True)
    assert all(0 < h.rerank_score < 1 for h in after)
    assert svc.search.search("退休 养老金", k=2, mode="bm25")[0].rerank_score is None  # hybrid only


def test_features_are_finite_where_the_first_stage_has_signals(db, releases):
    svc = make_index(db, releases, embedder=HashEmbedder(64))
    publish(releases, make_policy("law", title="职工权益保障条例", text=LAW))
    view, read, found = svc.search.retrieval.candidates("公司拖欠工资怎么办")
    assert isinstance(found, Candidates) and found.bm25 and found.cosine
    rows = top_rows(found)
    x = features(view, read.normal, found, rows)
    assert x.shape == (len(rows), len(FEATURES)) and np.isfinite(x).all()
    best = x[:, FEATURES.index("cover_text")].argmax()
    assert "工资" in view.records[rows[best]].chunk.text

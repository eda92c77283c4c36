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


def test_features_rank_each_candidate_among_all_and_within_its_document():
    """Four candidates, three of law A and one of law B, one cosine unknown (no vector yet):
    each feature as a reader would work it out by hand."""
    from types import SimpleNamespace as NS
    chunk = {1: ("A", "第一条 工资按月支付。"), 2: ("B", "第五条 产假九十八天。"),
             3: ("A", "第二条 加班工资。"), 4: ("A", "第三条 年休假。")}
    view = NS(records={r: NS(chunk=NS(doc_id=d, text=t, heading_path=("第一章",), ordinal=r, source="text"))
                       for r, (d, t) in chunk.items()},
              docs={"A": NS(title="工资支付条例", kind="policy"),
                    "B": NS(title="女职工劳动保护规定", kind="policy")},
              rows_of={"A": (1, 3, 4, 9), "B": (2,)})
    found = Candidates(scores={1: 0.9, 2: 0.8, 3: 0.7, 4: 0.6}, bm25={1: 2.0, 2: 5.0, 3: 1.0},
                       cosine={1: 0.5, 2: 0.7, 3: float("nan"), 4: 0.6})
    x = features(view, "加班工资怎么算", found, [1, 2, 3, 4])
    column = {name: x[:, i] for i, name in enumerate(FEATURES)}
    nan = float("nan")
    expected = {
        "fused_rel": [1.0, 0.8 / 0.9, 0.7 / 0.9, 0.6 / 0.9], "bm25": [2.0, 5.0, 1.0, 0.0],
        "bm25_rel": [0.4, 1.0, 0.2, 0.0],
        "cosine_rank": [2, 0, 4, 1],          # the unknown cosine ranks after all four
        "bm25_rank": [1, 0, 2, 3],
        "doc_rank": [0, 1, 0, 0], "doc_candidates": [3, 1, 3, 3],
        "rank_in_doc_cosine": [1, 0, 3, 0],   # within A: 0.6 beats 0.5; unknown last of three
        "rank_in_doc_bm25": [0, 0, 1, 2],
        "cosine_gap": [-0.2, 0.0, nan, -0.1],
        "doc_cosine_gap": [0.1, 0.0, nan, 0.0],
        "doc_fused_gap": [0.0, 0.0, 0.2, 0.3],
        "position": [1 / 4, 2 / 1, 3 / 4, 4 / 4], "query_length": [7] * 4,
    }
    for name, values in expected.items():
        np.testing.assert_allclose(column[name], values, atol=1e-12, err_msg=name)
    assert column["cover_text"][2] == max(column["cover_text"])  # 加班工资 is its text
    assert column["fused_rank"][0] == 0.0 and list(column["fused_rank"]) == sorted(column["fused_rank"])
    assert features(view, "工资", found, []).shape == (0, len(FEATURES))



def explained_view():
    """Two articles of a policy, an FAQ entry of its interpretation nearly as good, and the
    interpretation's text: first-stage scores 1.0, 0.95, 0.9, 0.5."""
    from types import SimpleNamespace as NS
    chunk = {1: ("law", "text", "第一条 养老金按月发放。"), 2: ("law", "text", "第二条 养老金不得拖欠。"),
             3: ("law-jd", "faq", "问：养老金什么时候发？答：按月发放。"), 4: ("law-jd", "text", "一、说明")}
    view = NS(records={r: NS(chunk=NS(doc_id=d, text=t, heading_path=(), ordinal=r, source=src))
                       for r, (d, src, t) in chunk.items()},
              docs={"law": NS(title="职工权益保障条例", kind="policy"),
                    "law-jd": NS(title="《职工权益保障条例》政策解读", kind="interpretation")},
              rows_of={"law": (1, 2), "law-jd": (3, 4)})
    found = Candidates(scores={1: 1.0, 2: 0.95, 3: 0.9, 4: 0.5}, bm25={1: 3.0, 2: 2.5, 3: 2.0, 4: 0.1},
                       cosine={1: 0.8, 2: 0.78, 3: 0.77, 4: 0.5})
    return view, found


class Rates:
    """A stand-in ranker: the real rescaling, over the first stage's best `depth`, with a
    probability given per passage source (FAQ or text)."""

    def __init__(self, depth: int, faq: float, text: float):
        self.depth, self.faq, self.text = depth, faq, text

    def rerank(self, view, query, found):
        real = Ranker.__new__(Ranker)
        faq = FEATURES.index("source")
        real.probability = lambda x: np.where(x[:, faq] > 0, self.faq, self.text)
        return Ranker.rerank(real, view, query, found, depth=self.depth)


def order(scores):
    return [row for row, _ in sorted(scores.items(), key=lambda item: -item[1])]


def test_faq_and_interpretation_passages_win_near_ties_in_the_first_stage_alone():
    """Without the second stage an FAQ entry nearly as good as the policy's articles goes first;
    with it, its order stands (it weighs FAQ and interpretation passages itself), and a passage
    it did not see stays below every one it saw, however low it rated them."""
    from index.retrieval import PREFERRED_FACTOR, second_stage
    view, found = explained_view()
    scores, reranked = second_stage(None, view, "养老金什么时候发", found)
    assert order(scores) == [3, 1, 2, 4] and reranked == {}
    assert scores[3] == pytest.approx(0.9 * PREFERRED_FACTOR)
    scores, reranked = second_stage(Rates(depth=2, faq=0.5, text=0.01), view, "养老金什么时候发", found)
    assert set(reranked) == {1, 2} and order(scores)[2:] == [3, 4]
    scores, reranked = second_stage(Rates(depth=4, faq=0.3, text=0.6), view, "养老金什么时候发", found)
    assert order(scores)[-1] == 3 and reranked[3] == pytest.approx(0.3)

"""What a search keeps between searches (index.memo) is served only for the index it was
computed from: a publication, a retirement or a withdrawal is never answered from it."""
import numpy as np

from index.memo import Memo
from index.retrieval import _best
from tests.conftest import SIGNER, make_policy
from tests.test_index_search import svc  # noqa: F401  (the fixture)
from tests.test_index_support import publish


def test_a_value_is_kept_for_its_sources_only():
    memo: Memo[str] = Memo(size=8)
    docs, computed = {"a": 1}, []

    def compute(value: str):
        return lambda: computed.append(value) or value
    assert memo.get((docs,), "k", compute("first")) == "first"
    assert memo.get((docs,), "k", compute("again")) == "first"  # kept
    equal_but_new = {"a": 1}  # a new document map with the same content is another source
    assert memo.get((equal_but_new,), "k", compute("new map")) == "new map"
    assert len(memo) == 1  # what was kept for the old map went with it
    assert memo.get((docs,), "k", compute("old map again")) == "old map again"
    assert computed == ["first", "new map", "old map again"]
    memo.clear()  # QueryReader.forget: a benchmark's questions read again
    assert memo.get((docs,), "k", compute("after clear")) == "after clear"


def test_a_memo_keeps_at_most_its_size_oldest_first():
    memo: Memo[int] = Memo(size=3)
    sources = (object(),)
    for key in range(5):
        memo.get(sources, key, lambda key=key: key)
    assert len(memo) == 3
    assert memo.get(sources, 0, lambda: -1) == -1  # evicted: computed again
    assert memo.get(sources, 4, lambda: -1) == 4


def test_the_same_question_after_a_withdrawal_and_a_retirement(svc, releases):  # noqa: F811
    first = publish(releases, make_policy("w", title="临时通知", text="一、事项\n暂停办理居住证业务。\n"))
    second = publish(releases, make_policy("k", title="居住证办理指南",
                                            text="一、办理\n居住证在派出所办理。\n"))
    question = "居住证在哪里办理"
    assert {h.doc_id for h in svc.search.search(question, k=5)} == {"w", "k"}
    releases.withdraw(SIGNER, first, "内容有误")
    assert {h.doc_id for h in svc.search.search(question, k=5)} == {"k"}
    (kept,) = svc.search.search(question, k=5, include_expired=True)
    assert kept.doc_id == "k" and kept.in_force
    releases.retire(SIGNER, second, "expired", "到期")
    assert svc.search.search(question, k=5) == []


def test_the_best_scores_are_those_of_a_full_stable_sort():
    """Only the n best are sorted: the same rows in the same order as sorting every score,
    ties in row order, non-positive scores left out."""
    rng = np.random.default_rng(7)
    rows = np.arange(0, 3000, 3)
    for _ in range(200):
        scores = rng.choice([-1.0, 0.0, 0.5, 1.0, 1.5, 2.0, 3.25], size=len(rows)).astype(np.float32)
        scores[rng.random(len(rows)) < 0.3] = rng.random() * 4  # ties at random values too
        n = int(rng.integers(1, 150))
        order = np.argsort(-scores, kind="stable")[:n]
        expected = {int(rows[i]): float(scores[i]) for i in order if scores[i] > 0}
        found = _best(rows, scores, n)
        assert list(found.items()) == list(expected.items())
    assert _best(rows[:0], scores[:0], 5) == {}


def test_a_filter_admits_the_rows_of_the_index_as_it_is_now():
    """The admitted documents' rows (the dense side) and BM25's mask of them are kept for the
    rows and the BM25 index they were computed from: after a document's text changed (its
    chunks are new rows) and another one came (BM25 has more rows), the same filtered search,
    with the same documents admitted, finds the new text by words and by meaning."""
    import datetime as dt

    from index.corpus import CorpusIndex
    from index.embedders import HashEmbedder
    from index.retrieval import Retriever
    from index.tokenizer import PolicyTokenizer

    embedder, corpus = HashEmbedder(), CorpusIndex(PolicyTokenizer(), dim=HashEmbedder().dim)

    def upsert(*docs) -> None:
        rows = corpus.upsert(list(docs))
        corpus.add_vectors(rows, embedder.embed_passages([corpus.passage(r) for r in rows]))
    upsert(make_policy("k", title="居住证办理指南", text="一、办理\n居住证在派出所办理。\n", topics=["户籍"]),
           make_policy("h", title="公积金提取办法", text="一、提取\n购房可以提取公积金。\n", topics=["住房"]))
    retriever = Retriever(embedder, lambda: corpus, lambda: dt.date(2026, 6, 1))

    def found(mode: str) -> list[str]:
        return [h.text.split("\n")[-1] for h in retriever.search("居住证在哪里办理", k=5, topic="户籍",
                                                                   mode=mode)]
    assert found("bm25") == found("dense") == ["居住证在派出所办理。"]
    upsert(make_policy("k", title="居住证办理指南", text="一、办理\n居住证在社区服务中心办理。\n",
                       topics=["户籍"]),
           make_policy("j", title="就业补贴申领指南", text="一、申领\n失业人员可以申领就业补贴。\n",
                       topics=["就业创业"]))
    assert found("bm25") == found("dense") == ["居住证在社区服务中心办理。"]

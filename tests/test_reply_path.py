"""The work a reply does besides searching: what it skips when there is nothing to do, and
what it does in one round trip for a batch (bench_cluster's throughput, issue 15)."""
from __future__ import annotations

import contextlib

from bot.library import Library
from index.hits import Hit


def _hit(doc_id: str, *, interprets: str | None = None, in_force: bool = True) -> Hit:
    return Hit(doc_id=doc_id, title=doc_id, doc_number=None,
               kind="interpretation" if interprets else "policy", interprets=interprets,
               article=None, heading_path=(), text="申请条件", score=0.9,
               status="effective" if in_force else "expired", in_force=in_force,
               issuing_body=None, publish_date=None, valid_from=None, valid_until=None,
               chunk_id=f"{doc_id}#0", start=0, end=4, source="text")


class CountingDatabase:
    """Counts the transactions opened; each reads nothing."""

    def __init__(self):
        self.transactions = 0

    @contextlib.contextmanager
    def read(self):
        self.transactions += 1
        yield NothingStored()


class NothingStored:
    def execute(self, *args, **kwargs):
        return self

    def first(self):
        return None

    def scalar_one_or_none(self):
        return None

    def mappings(self):
        return self


def test_hits_of_policies_in_force_need_no_database_transaction():
    db = CountingDatabase()
    library = Library(db)  # type: ignore[arg-type]
    assert library.context_documents([_hit("a"), _hit("b")]) == ({}, {})
    assert db.transactions == 0


def test_an_interpretation_or_content_no_longer_in_force_is_looked_up():
    db = CountingDatabase()
    library = Library(db)  # type: ignore[arg-type]
    library.context_documents([_hit("jd", interprets="policy")])
    library.context_documents([_hit("old", in_force=False)])
    assert db.transactions == 2


def test_a_passage_is_normalised_once_for_every_search_that_ranks_it():
    from index import signals

    forms = {"公积金": (2.0, ("公积金",)), "abc": (1.0, ("abc",))}
    passage = "住房公积金提取条件（ＡＢＣ）" + "。" * 17  # full-width letters: NFKC, then lower case
    before = signals._normalised.cache_info()
    searches = [signals._Said(forms) for _ in range(2)]  # two searches ranking the passage
    first, again = (said.share(forms, said.in_text(passage)) for said in searches)
    after = signals._normalised.cache_info()
    assert first == again == 1.0
    assert after.misses - before.misses <= 1 and after.hits - before.hits >= 1


def test_the_coverages_counted_once_per_form_are_the_shares_the_passage_says():
    """A hit's coverages look each word form up once (index.signals._Said): the same shares as
    looking each word's forms up in the text, and a form can be said across the title and the
    passage only in the two joined."""
    import unicodedata

    from index import signals

    def share(forms, text):  # the definition: the weighted share of the words the text says
        said = unicodedata.normalize("NFKC", text).lower()
        total = sum(weight for weight, _ in forms.values())
        return sum(weight for weight, alts in forms.values() if any(a in said for a in alts)) / total

    forms = {"公积金": (2.0, ("公积金", "住房公积金")), "提取": (1.5, ("提取", "支取")),
             "租房": (1.0, ("租房", "租赁住房")), "abc": (0.5, ("abc",))}
    title, passage = "住房公积金管理条例", "第二十四条 职工租赁住房的，可以支取（ＡＢＣ）"
    said = signals._Said(forms)
    for text in (title, passage):
        assert said.share(forms, said.in_text(text)) == share(forms, text)
    joined = said.in_joined(title, passage, said.in_text(title), said.in_text(passage))
    assert said.share(forms, joined) == share(forms, f"{title} {passage}") == 1.0
    across = {"条例 第二十四条": (1.0, ("条例 第二十四条",))}  # a form with a space, across the two
    said = signals._Said(across)
    assert said.share(across, said.in_text(title)) == said.share(across, said.in_text(passage)) == 0.0
    joined = said.in_joined(title, passage, said.in_text(title), said.in_text(passage))
    assert said.share(across, joined) == share(across, f"{title} {passage}") == 1.0


def test_a_document_named_by_its_number_is_found_with_its_number_normalised_once():
    from index import naming
    from index.records import DocMeta

    fields = {name: None for name in DocMeta.__dataclass_fields__}
    doc = DocMeta(**{**fields, "id": "d1", "title": "关于印发政务公开工作要点的通知",
                     "doc_number": "洪经开办字 [2024] 12 号"})
    before = naming._number_of.cache_info()
    for question in ("洪经开办字〔2024〕12号讲了什么", "请问洪经开办字〔2024〕12号"):
        assert naming.named_documents(question, {"d1": doc}) == {"d1"}
    assert naming.named_documents("政务公开要点", {"d1": doc}) == set()
    assert naming._number_of.cache_info().misses - before.misses <= 1


def test_bm25_scores_are_the_same_asked_again_and_after_a_change():
    import numpy as np

    from index.sparse import SparseIndex

    tokens = [("公积金", "提取", "条件"), ("公积金", "贷款"), ("养老", "保险", "缴费"), ("医保", "报销")]
    index = SparseIndex.build([0, 1, 2, 3], tokens, ["a", "a", "b", "c"])
    first = index.scores(["公积金", "提取", "公积金"])
    assert np.array_equal(index.scores(["公积金", "提取", "公积金"]), first)  # asked again
    changed = index.changed([(4, ("公积金", "提取", "提取"), "d")], [(1, ("公积金", "贷款"))])
    fresh = SparseIndex.build([0, 2, 3, 4], [tokens[0], tokens[2], tokens[3], ("公积金", "提取", "提取")],
                              ["a", "b", "c", "d"])
    assert np.array_equal(changed.scores(["公积金", "提取"]), fresh.scores(["公积金", "提取"]))
    assert np.array_equal(index.scores(["公积金", "提取", "公积金"]), first)  # the old one unchanged

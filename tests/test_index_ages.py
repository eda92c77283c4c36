"""A person's age read as the category the documents use (index.ages): 「我今年七十了」 is a
question about 老年人."""
from __future__ import annotations

import pytest
from test_index_support import make_index, publish

from index.ages import age_terms, ages
from tests.conftest import make_policy


@pytest.mark.parametrize(("question", "expected"), [
    ("我今年七十了，坐公交车要不要钱", [70]),
    ("我爸67岁，中风后偏瘫", [67]),
    ("八十多岁的老人能领什么补贴", [80]),
    ("年满60周岁不满65周岁的老年人", [60, 65]),
    ("孩子十三岁读初一", [13]),
    ("两岁半的孩子能上幼儿园吗", [2]),
    ("社保交了十五年能领多少", []),   # years of contributions, not an age
    ("失业保险金怎么申领", []),
])
def test_ages_stated_in_everyday_words(question, expected):
    assert ages(question) == expected


def test_sixty_or_more_is_an_elder_younger_is_not():
    assert age_terms("我今年七十了，坐公交车要不要钱") == ["老年人"]
    assert age_terms("我妈六十岁") == ["老年人"]
    assert age_terms("我今年38岁，失业了") == []


def test_an_elder_telling_their_age_reaches_the_document_for_elders(db, releases):
    svc = make_index(db, releases)
    publish(releases, make_policy("elder", title="优待办法",
                                  text="第六条 老年人持优待凭证免费游览公园。\n"))
    publish(releases, make_policy("pupil", title="学生优惠办法",
                                  text="第三条 今年起中小学生持学生证免费游览公园。\n"))
    hits = svc.search.search("我今年七十了，去公园要门票吗", k=2, mode="bm25")
    assert hits[0].doc_id == "elder"

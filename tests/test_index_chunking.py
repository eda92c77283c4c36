"""Chunking follows the document's structure (laws, notices, FAQ pages, task tables)."""
import json

import pytest

from index.chunking import LIST_CHARS, LIST_ITEMS, MAX_CHARS, chunk_document, enclosing_list
from policies.model import Document
from tests.conftest import DEMO, make_policy


def demo_doc(doc_id: str) -> Document:
    with open(DEMO, encoding="utf-8") as f:
        for line in f:
            record = json.loads(line)
            if record["id"] == doc_id:
                return Document.from_record(record)
    raise KeyError(doc_id)


def test_law_one_chunk_per_article_with_chapter_path():
    law = make_policy("law", text="第一章 总则\n第一条 为了规范社会保险关系，制定本法。\n"
                                  "第二条 国家建立下列制度：\n（一）基本养老保险；\n（二）基本医疗保险。\n"
                                  "第二章 基本养老保险\n第十条 职工应当参加基本养老保险。\n")
    chunks = chunk_document(law)
    assert [c.article for c in chunks] == ["第一条", "第二条", "第十条"]
    assert chunks[0].heading_path == ("第一章 总则",)
    assert chunks[2].heading_path == ("第二章 基本养老保险",)
    # the （一）（二） items of an article stay in it: they are not notice headings in a law
    assert "（二）基本医疗保险。" in chunks[1].text
    for c in chunks:
        assert law.text[c.start:c.end].startswith(c.article)


def test_real_law_from_the_demo_corpus_keeps_offsets_and_articles():
    law = demo_doc("社会保险法@2018-12-29")
    chunks = chunk_document(law)
    articles = [c.article for c in chunks if c.article]
    assert articles[:3] == ["第一条", "第二条", "第三条"]
    assert len(set(articles)) == law.text.count("\n第") + (1 if law.text.startswith("第") else 0) \
        - sum(1 for line in law.text.splitlines() if line.startswith("第") and "章" in line.split()[0])
    for c in chunks:
        assert len(c.text) <= MAX_CHARS + 80
        assert law.text[c.start:c.end].replace("\n", "") == c.text.replace("\n", "")


def test_notice_outline_builds_heading_path():
    notice = make_policy("n", text="为做好工作，现通知如下。\n一、总体要求\n（一）明确目标。到年底完成。\n"
                                   "（二）压实责任\n各部门按职责分工负责。\n二、保障措施\n1.加强领导。\n2.强化督查。\n")
    chunks = chunk_document(notice)
    paths = [c.heading_path for c in chunks]
    assert paths[0] == ()
    assert ("一、总体要求", "（一）明确目标") in paths
    assert ("一、总体要求", "（二）压实责任") in paths
    assert ("二、保障措施", "1.加强领导") in paths
    assert "（一）明确目标。到年底完成。" in [c.text for c in chunks]  # a short heading with text
    assert not any(c.text == "一、总体要求" for c in chunks)  # a bare heading lives in the path
    duty = next(c for c in chunks if c.heading_path[-1:] == ("（二）压实责任",))
    assert duty.text == "（二）压实责任\n各部门按职责分工负责。"
    assert all(c.article is None for c in chunks)


def test_long_section_split_at_sentence_ends_with_overlap():
    sentence = "各部门要认真落实政务公开工作要点的各项要求并按时报送。"  # 27 characters
    notice = make_policy("long", text="一、工作要求\n" + sentence * 40 + "\n")
    chunks = chunk_document(notice)
    assert len(chunks) > 2
    for c in chunks:
        assert len(c.text) <= MAX_CHARS
        assert c.text.endswith("。")  # never cut mid-sentence
    assert chunks[1].text.startswith(sentence)  # one sentence of overlap
    assert chunks[0].end > chunks[1].start


def test_faq_page_one_chunk_per_question_and_answer():
    page = demo_doc("gz_15")  # 创业担保贷款常见问题
    faq_chunks = [c for c in chunk_document(page) if c.source == "faq"]
    questions = [c.text.split("\n答：")[0] for c in faq_chunks]
    assert list(dict.fromkeys(questions)) == ["问：" + p["q"].strip() for p in page.faq]
    assert all(len(c.text) <= MAX_CHARS for c in faq_chunks)  # a long answer: several pieces
    first = faq_chunks[0]
    assert first.text.startswith("问：" + page.faq[0]["q"].strip())
    assert "\n答：" in first.text
    assert page.text[first.start:first.start + 8] == page.faq[0]["q"].strip()[:8]


def test_nanchang_task_table_one_row_per_chunk():
    doc = demo_doc("ncjkq_2024_zwgk_yaodian")
    rows = [c for c in chunk_document(doc) if c.source == "table"]
    assert len(rows) == 45
    assert all(c.text.startswith(f"序号：{n}；") for n, c in enumerate(rows, 1))
    assert rows[-1].heading_path == ("四、聚焦监督保障，持续提升政务公开工作质量与成效",)
    assert "责任单位：蛟桥街道" in rows[43].text
    for c in rows:
        assert doc.text[c.start:c.end] == c.text


def test_interpretation_sections_are_chunks():
    doc = make_policy("p", sections=[{"name": "政策背景", "text": "为落实国家部署。"},
                                     {"name": "执行标准", "text": "每人每月补贴500元。"}])
    sections = [c for c in chunk_document(doc) if c.source == "section"]
    assert [c.heading_path for c in sections] == [("政策背景",), ("执行标准",)]
    assert sections[1].text == "每人每月补贴500元。"


@pytest.mark.parametrize("doc_id", ["ncjkq_2024_zwgk_yaodian", "gz_15", "社会保险法@2018-12-29"])
def test_chunk_ids_unique_and_texts_short(doc_id):
    chunks = chunk_document(demo_doc(doc_id))
    assert len({c.chunk_id for c in chunks}) == len(chunks)
    assert max(len(c.text) for c in chunks) <= MAX_CHARS + 80


def list_of(chunks, ordinal):
    return enclosing_list(lambda n: chunks[n] if 0 <= n < len(chunks) else None, ordinal)


def test_an_item_of_a_short_list_is_quoted_with_its_lead_and_every_other_item():
    chunks = chunk_document(demo_doc("gz_06"))  # 居民医保缴费通告: 二、缴费标准 （一）学生 （二）其他人员
    students = next(c for c in chunks if c.text.startswith("（一）在校学生"))
    others = next(c for c in chunks if c.text.startswith("（二）其他参保人员"))
    whole = list_of(chunks, students.ordinal)
    assert whole is not None and whole.startswith("二、缴费标准\n（一）在校学生")
    assert "每人413元" in whole and "每人549元" in whole
    assert list_of(chunks, others.ordinal) == whole
    # 「…下列人员：」 introduces its items: quoted alone it says nothing
    lead = next(c for c in chunks if c.text.startswith("一、参保范围"))
    scope = list_of(chunks, lead.ordinal)
    assert scope is not None and scope.startswith(lead.text) and "（六）出生180天内" in scope
    assert list_of(chunks, lead.ordinal + 1) == scope


def test_sections_articles_and_long_lists_are_quoted_alone():
    # 「（一）租金标准」 heads text of its own: its neighbours are other sections
    flats = chunk_document(demo_doc("gz_12"))
    rent = next(c for c in flats if c.text.startswith("（一）租金标准"))
    assert list_of(flats, rent.ordinal) is None
    law = chunk_document(demo_doc("社会保险法@2018-12-29"))
    assert all(list_of(law, c.ordinal) is None for c in law)  # an article holds its items itself
    many = "".join(f"（{n}）第{n}类人员；\n" for n in "一二三四五六七八九")  # short, but more than LIST_ITEMS
    clause = "符合本市规定条件的申请人按照程序提出申请并提交材料，" * 4
    long = "".join(f"（{n}）{clause}；\n" for n in "一二三")
    for items in (many, long):
        notice = make_policy("list", text=f"一、适用范围\n{items}二、其他\n本通知自发布之日起施行。\n")
        chunks = chunk_document(notice)
        assert sum(c.text.startswith("（") for c in chunks) == items.count("\n")
        assert all(list_of(chunks, c.ordinal) is None for c in chunks)
    assert many.count("\n") > LIST_ITEMS and len(many) < LIST_CHARS < len(long)
    three = many.split("（四）")[0]
    short = chunk_document(make_policy("list", text=f"一、适用范围\n{three}二、其他\n施行。\n"))
    assert list_of(short, 1) == "一、适用范围\n（一）第一类人员；\n（二）第二类人员；\n（三）第三类人员；"

"""Reading an upload's own metadata and structure (policies/reading.py): the 发布日期 from the
signature, not from the attachment's last date; 施行 and 有效期 from their sentences; an
interpretation's headings and 问/答 blocks split into sections and Q&A with nothing stored
twice; titles normalised and quoted with nested 书名号."""
from __future__ import annotations

import pytest
from upload_samples import (
    INTERPRETATION_FAQ,
    INTERPRETATION_SECTIONS,
    NOTICE_EXPECTED,
    NOTICE_LINES,
    html_bytes,
    interpretation_lines,
    pdf_bytes,
)

from policies import uploads
from policies.reading import split_interpretation, suggest_metadata
from policies.titles import book_title, normalise_title


def suggest(lines: list[str]) -> dict:
    return suggest_metadata("\n".join(lines))


def test_a_printing_notice_is_dated_by_its_signature_not_by_its_attachment():
    suggested = suggest(NOTICE_LINES)
    assert {k: suggested[k] for k in NOTICE_EXPECTED} == NOTICE_EXPECTED
    reason = suggested["reasons"]["publish_date"]
    assert "落款" in reason and "2026年11月20日" in reason
    assert "有效期至2027年12月31日" in suggested["reasons"]["valid_until"]


@pytest.mark.parametrize("signature, expected", [
    (["广州市民政局 广州市财政局", "2025年5月30日"], "2025-05-30"),
    (["广州市民政局", "广州市财政局", "2025年5月30日"], "2025-05-30"),  # one body a line
    (["南昌经济技术开发区管理委员会办公室 2026年11月20日"], "2026-11-20"),  # one line (a PDF)
    (["南昌经济技术开发区管理委员会", "二〇二六年十一月二十日"], "2026-11-20"),  # Chinese numerals
    (["市长：温国辉", "2021年1月29日"], "2021-01-29"),  # a 政府令 signed by the mayor
])
def test_signature_forms(signature, expected):
    lines = ["关于印发《某办法》的通知", "现印发给你们，请认真贯彻执行。", *signature,
             "某办法", "第一条 本办法自2027年1月1日起施行，有效期至2029年12月31日。"]
    suggested = suggest(lines)
    assert suggested["publish_date"] == expected, suggested["reasons"]
    assert (suggested["valid_from"], suggested["valid_until"]) == ("2027-01-01", "2029-12-31")


def test_without_a_signature_the_printing_line_then_nothing():
    printed = suggest(["某办法", "第一条 内容。", "某某区人民政府办公室2026年3月2日印发"])
    assert printed["publish_date"] == "2026-03-02" and "版记" in printed["reasons"]["publish_date"]
    nothing = suggest(["某办法", "第一条 2025年1月1日以后毕业的，适用本办法。",
                       "第二条 有效期至2027年12月31日。"])
    assert nothing["publish_date"] is None and "请按原件填写" in nothing["reasons"]["publish_date"]
    assert nothing["valid_until"] == "2027-12-31"


def test_a_web_page_states_its_publication_date():
    lines = ["关于某事项的通知", "发布日期：2026-11-25", "正文。", "某某局", "2026年11月20日"]
    assert suggest(lines)["publish_date"] == "2026-11-25"


def test_validity_sentences():
    base = ["关于印发某办法的通知", "某某区人民政府办公厅", "2024年7月26日", "某办法"]
    on_issue = suggest(base + ["第九条 本办法自印发之日起施行，有效期5年。",
                               "某某区人民政府办公厅秘书处 2024年7月29日印发"])
    assert (on_issue["valid_from"], on_issue["valid_until"]) == ("2024-07-29", "2029-07-28")
    ranged = suggest(base + ["第九条 本办法有效期自2025年1月1日至2027年12月31日。"])
    assert (ranged["valid_from"], ranged["valid_until"]) == ("2025-01-01", "2027-12-31")
    years = suggest(base + ["第九条 本办法自2024年3月4日起施行，有效期三年。"])
    assert (years["valid_from"], years["valid_until"]) == ("2024-03-04", "2027-03-03")
    # a certificate's validity is not the document's
    other = suggest(base + ["第五条 星级评定结果有效期三年。"])
    assert other["valid_until"] is None


def test_an_interpretation_is_split_into_its_sections_and_questions():
    lines = interpretation_lines()
    parts = split_interpretation("\n".join(lines))
    assert parts.sections == INTERPRETATION_SECTIONS
    assert parts.faq == INTERPRETATION_FAQ
    # nothing twice: no section or answer text remains in the body
    for text in [*INTERPRETATION_SECTIONS.values(), *(p["a"] for p in INTERPRETATION_FAQ)]:
        assert text.split("\n")[0] not in parts.body
    assert "现解读如下" in parts.body and "2026年11月20日" in parts.body
    suggested = suggest(lines)
    assert suggested["kind"] == "interpretation" and suggested["faq"] == INTERPRETATION_FAQ


def test_heading_variants_and_question_forms():
    text = "\n".join([
        "关于《某办法》的解读", "一、起草背景和依据", "背景。", "二、主要变化", "提高了标准。",
        "三、下一步工作", "加强宣传。", "四、热点问答", "1.谁可以申请？", "答：本区居民。",
        "Q：去哪里办？", "A：政务服务中心。", "问题3：要多久？", "十个工作日。",
        "4." + "参保人在甲公司就业，同时在乙公司参保，" * 4 + "能申请吗？", "答：不能。"])
    parts = split_interpretation(text)
    assert parts.sections == {"政策背景": "起草背景和依据\n背景。", "新旧政策差异": "提高了标准。",
                              "后续工作考虑": "加强宣传。"}
    assert parts.faq == [{"q": "谁可以申请？", "a": "本区居民。"}, {"q": "去哪里办？", "a": "政务服务中心。"},
                         {"q": "要多久？", "a": "十个工作日。"},
                         {"q": "参保人在甲公司就业，同时在乙公司参保，" * 4 + "能申请吗？", "a": "不能。"}]


@pytest.mark.parametrize("raw, stored, quoted", [
    ("《《某办法》政策解读》", "《某办法》政策解读", "《〈某办法〉政策解读》"),
    ("《某办法》政策解读", "《某办法》政策解读", "《〈某办法〉政策解读》"),
    ("《某办法》", "某办法", "《某办法》"),
    ("关于印发 《某 办法》\n的通知。", "关于印发《某办法》的通知", "《关于印发〈某办法〉的通知》"),
    ("《甲》和《乙》的解读", "《甲》和《乙》的解读", "《〈甲〉和〈乙〉的解读》"),
])
def test_titles(raw, stored, quoted):
    assert normalise_title(raw) == stored
    assert book_title(raw) == quoted


@pytest.mark.browser
def test_a_printed_pdf_reads_like_its_word_file(browser):
    """Chromium prints the notice and the interpretation to PDF: their lines wrap, and the
    parser joins each paragraph back before reading dates, sections and questions."""
    lines = interpretation_lines()
    lines[3] = lines[3] * 4  # a paragraph of several printed lines
    for source, check in ((NOTICE_LINES, "notice"), (lines, "interpretation")):
        data = pdf_bytes(html_bytes(source), browser)
        extracted = uploads.extract(uploads.check_upload("样本.pdf", data), data)
        assert set(source[1:]) <= set(extracted.text.splitlines()), extracted.text  # the title may wrap
        suggested = suggest_metadata(extracted.text, extracted.title_hint)
        if check == "notice":
            assert {k: suggested[k] for k in NOTICE_EXPECTED} == NOTICE_EXPECTED
        else:
            assert suggested["sections"]["政策背景"] == lines[3] and suggested["faq"] == INTERPRETATION_FAQ

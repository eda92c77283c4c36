"""The answer composer (pure): quotation with its source, validity said plainly, byte limit,
honest "not found"."""
from __future__ import annotations

import dataclasses
import re

from hypothesis import given, settings
from hypothesis import strategies as st
from test_bot_fakes import NEW_HUKOU, OLD_HUKOU, UNEMPLOYMENT, coverage_model, doc, hit_of, world_hits

from bot.answer import AnswerContext, compose_answer, quoted_text, related_passage_text, suggested_documents
from bot.answerability import Candidate, Decision
from bot.textlimit import URL, cut_to_bytes, utf8_len
from policies.status import Validity

PUBLIC = "https://zc.example.gov.cn"


def ctx(**kw) -> AnswerContext:
    return AnswerContext(public_url=PUBLIC, model=coverage_model(), **kw)


def search(question, include_expired=True):
    return found(question, world_hits(), include_expired)


def found(question, hits, include_expired=True):
    """`hits` as the fake retriever returns them for `question` (with their signals)."""
    from test_bot_fakes import FakeSearch

    return FakeSearch(hits)(question, k=10, include_expired=include_expired)


def test_answer_quotes_interpretation_first_with_header_and_link():
    answer = compose_answer("失业保险金怎么申领", search("失业保险金怎么申领"),
                            ctx(documents={UNEMPLOYMENT.id: UNEMPLOYMENT}))
    assert answer.answered and answer.best.kind == "interpretation"
    assert "《失业保险金申领热点问答》" in answer.text
    assert "（解读《广州市失业保险金申领办法》，穗府办规〔2025〕8号）" in answer.text
    assert "可通过广东政务服务网在线申领失业保险金" in answer.text  # quoted, not invented
    assert f"{PUBLIC}/p/gz_unemp#jd-gz_unemp_jd" in answer.text
    assert "3.《广州市失业保险金申领办法》" in answer.text and answer.related[0].doc_id == "gz_unemp"
    assert "现行有效" in answer.text and "**" not in answer.text and "#" not in answer.text.split("http")[0]


def test_a_title_holding_a_title_is_quoted_with_single_inner_book_marks():
    interpretation = doc("gz_unemp_jd2", kind="interpretation", interprets="gz_unemp", doc_number=None,
                         title="《广州市失业保险金申领办法》政策解读", interpretation_form="faq",
                         text="问：失业保险金怎么申领？\n答：可通过广东政务服务网在线申领失业保险金。\n")
    hits = found("失业保险金怎么申领", [hit_of(interpretation, interpretation.text.strip(), source="faq")])
    answer = compose_answer("失业保险金怎么申领", hits, ctx(documents={UNEMPLOYMENT.id: UNEMPLOYMENT}))
    assert "《〈广州市失业保险金申领办法〉政策解读》" in answer.text and "《《" not in answer.text


def test_the_answer_ends_with_one_menu_feedback_first_then_related_documents():
    answer = compose_answer("失业保险金怎么申领", search("失业保险金怎么申领"),
                            ctx(documents={UNEMPLOYMENT.id: UNEMPLOYMENT}))
    tail = answer.text.splitlines()[-4:]
    # Written out: the numbers residents type (1, 2 rate; 3 and up open a related document).
    assert tail == ["评价本次答复：回复 1 满意，2 不满意", "相关文件（回复序号查看要点）：",
                    "3.《广州市失业保险金申领办法》", "回复「转人工」联系工作人员。"]
    assert answer.text.count("评价本次答复") == 1


def test_only_the_main_link_carries_the_answer_reference():
    hits = [hit_of(UNEMPLOYMENT, "第五条 失业保险金申领需要提交身份证和失业登记证明。", article="第五条"),
            hit_of(NEW_HUKOU, "失业保险金申领 积分制入户", ordinal=2)]
    answer = compose_answer("失业保险金申领需要什么证明", found("失业保险金申领需要什么证明", hits),
                            ctx(answer_ref="AbCdEfGh1234"))
    assert answer.ref == "AbCdEfGh1234" and answer.related
    assert f"全文：{PUBLIC}/p/gz_unemp?r=AbCdEfGh1234#a-%E7%AC%AC%E4%BA%94%E6%9D%A1" in answer.text
    assert answer.text.count("r=AbCdEfGh1234") == 1
    passage = related_passage_text(0, answer.related[0], NEW_HUKOU, ctx(answer_ref="AbCdEfGh1234"),
                                   Validity.of(NEW_HUKOU))
    assert passage.startswith("3.《广州市积分制入户管理办法》") and "?r=" not in passage
    expired = compose_answer("积分制入户的申请条件", search("积分制入户的申请条件"),
                             ctx(successors={OLD_HUKOU.id: NEW_HUKOU}, answer_ref="AbCdEfGh1234"))
    assert f"{PUBLIC}/p/gz_hukou_2025 " in expired.text or f"{PUBLIC}/p/gz_hukou_2025\n" in expired.text
    assert expired.text.count("?r=") == 1  # the successor's link is not the answer's


def test_a_not_found_reply_has_no_link_but_keeps_its_reference_for_rating():
    answer = compose_answer("离婚后孩子抚养权归谁", search("离婚后孩子抚养权归谁"),
                            ctx(answer_ref="AbCdEfGh1234"))
    assert not answer.answered and answer.ref == "AbCdEfGh1234" and "?r=" not in answer.text


def test_policy_article_header_names_number_body_date_status():
    hits = [hit_of(UNEMPLOYMENT, "第五条 失业保险金申领需要提交身份证和失业登记证明。", article="第五条")]
    answer = compose_answer("失业保险金申领需要什么证明", found("失业保险金申领需要什么证明", hits), ctx())
    first_lines = answer.text.splitlines()[:2]
    assert first_lines == [
        "《广州市失业保险金申领办法》",
        "穗府办规〔2025〕8号｜广州市人民政府办公厅｜2025-06-01发布｜现行有效",
    ]
    assert "\n第五条 失业保险金申领需要提交身份证和失业登记证明。\n" in answer.text
    assert f"{PUBLIC}/p/gz_unemp#a-%E7%AC%AC%E4%BA%94%E6%9D%A1" in answer.text


def test_expired_policy_is_presented_as_expired_with_its_successor():
    answer = compose_answer("积分制入户的申请条件", search("积分制入户的申请条件"),
                            ctx(successors={OLD_HUKOU.id: NEW_HUKOU}))
    print("expired answer:\n" + answer.text)
    assert answer.answered and not answer.best.in_force
    assert answer.text.startswith("注意：该文件已失效（有效期至2024-06-30），以下内容不代表现行政策")
    assert "现行有效" not in answer.text.split("现行文件")[0]
    assert "现行文件：《广州市积分制入户管理办法》" in answer.text
    assert f"{PUBLIC}/p/gz_hukou_2025" in answer.text


def test_expired_without_successor_says_so():
    answer = compose_answer("见习补贴的标准", search("见习补贴的标准"), ctx())
    assert "已失效" in answer.text and "暂未查到替代它的现行文件" in answer.text


def test_in_force_content_wins_over_expired_content():
    current = hit_of(
        NEW_HUKOU, "第六条 积分制入户的申请条件是在本市合法稳定就业并缴纳社会保险。", article="第六条"
    )
    expired = hit_of(OLD_HUKOU, "第六条 积分制入户的申请条件是在本市合法稳定就业并缴纳社会保险满4年。",
                     article="第六条", in_force=False)
    answer = compose_answer("积分制入户申请条件", found("积分制入户申请条件", [expired, current]), ctx())
    assert answer.best.doc_id == NEW_HUKOU.id and not answer.text.startswith("注意")


def test_nothing_relevant_is_said_honestly_with_topics_and_human():
    answer = compose_answer("离婚后孩子抚养权归谁", search("离婚后孩子抚养权归谁"),
                            ctx(topics=["社会保险", "就业创业"]))
    assert not answer.answered and answer.best is None
    assert "没有找到" in answer.text and "转人工" in answer.text and "社会保险、就业创业" in answer.text


def test_a_document_short_of_the_operating_point_is_offered_not_answered():
    """Below the operating point but at least half of it probable: offered under the related
    documents' numbers, said plainly not to be the answer; the topics line gives way to it."""
    cautious = AnswerContext(public_url=PUBLIC, model=coverage_model(threshold=1.0),
                             topics=["社会保险", "就业创业"])
    answer = compose_answer("失业保险金怎么申领", search("失业保险金怎么申领"), cautious)
    assert not answer.answered and answer.best is None
    assert answer.text.startswith("抱歉，在已公开的政策文件和解读中没有找到能回答这个问题的内容")
    lines = answer.text.splitlines()
    heading = lines.index("以下文件可能与您的问题有关，但不一定能回答（回复序号查看要点）：")
    # The release's passage an answer would quote: its interpretation's.
    assert lines[heading + 1] == "3.《失业保险金申领热点问答》"
    assert answer.related[0].doc_id == "gz_unemp_jd" and "可通过广东政务服务网" in answer.related[0].passage
    assert "社会保险、就业创业" not in answer.text and "转人工" in answer.text
    assert "/p/" not in answer.text  # no link presents it as the answer


def test_a_bare_topic_is_asked_back_with_the_documents_on_it_not_refused():
    """「失业保险金」 alone asks nothing a passage answers: the reply asks which part of it and
    offers the releases found for it that say it, under numbers; no link presents one as the
    answer. A question on the same subject that is not answered is refused as before."""
    cautious = AnswerContext(public_url=PUBLIC, model=coverage_model(threshold=1.0),
                             topics=["社会保险", "就业创业"])
    answer = compose_answer("失业保险金", search("失业保险金"), cautious)
    assert not answer.answered and answer.best is None
    lines = answer.text.splitlines()
    assert lines[0].startswith("您想了解「失业保险金」的哪方面？")
    assert lines[1] == "以下文件与「失业保险金」有关（回复序号查看要点）："
    assert lines[2].startswith("3.《") and answer.related and len(answer.related) <= 3
    assert len({r.doc_id for r in answer.related}) == len(answer.related)
    assert "没有找到" not in answer.text and "/p/" not in answer.text and "转人工" in answer.text
    asked = compose_answer("失业保险金的政策有哪些？", search("失业保险金的政策有哪些？"), cautious)
    assert asked.text.startswith("抱歉，在已公开的政策文件和解读中没有找到能回答这个问题的内容")


def test_a_bare_topic_is_offered_only_the_documents_that_say_it():
    """Dense search finds something for any word: of the releases found for 「彩票」, only one
    whose passage says it (TOPIC_COVERAGE) is offered; when none does, nothing is, and the reply
    is the plain "not found"."""
    from bot.answer import topic_documents
    context = AnswerContext(public_url=PUBLIC, model=coverage_model(threshold=1.0))
    says = doc("d_sport", title="体育竞赛表演产业指导意见", text="鼓励发展体育彩票。\n")
    other = doc("d_charity", title="慈善法", text="第一条 为了发展慈善事业。\n")

    def candidate(document, covered, score):
        return Candidate(document.id, (_scored(hit_of(document, document.text.strip()), score, covered),),
                         {}, 0.01)
    mixed = Decision(None, (candidate(other, 0.0, 0.9), candidate(says, 1.0, 0.5)))
    assert [r.doc_id for r in topic_documents(mixed, context)] == ["d_sport"]
    assert topic_documents(Decision(None, (candidate(other, 0.0, 0.9),)), context) == ()


def test_a_follow_up_nothing_answers_is_offered_the_conversations_release_first():
    """「要带什么材料」 right after an answer from the 备案 guide: when nothing answers it, the
    guide's passage that says its words is offered first (topic_passage), under the first
    number, before what the message found by itself; a passage that does not say them (「猫」
    after a bus answer) is not offered."""
    import dataclasses

    from bot.answer import topic_passage
    guide = doc("d_guide", title="房屋租赁登记备案指南", text="办理备案需提交租赁双方身份证明。\n")
    other = doc("d_other", title="物业管理条例", text="第一条 为了规范物业管理活动。\n")
    saying = _scored(hit_of(guide, guide.text.strip()), 0.9, 0.6)
    silent = _scored(hit_of(guide, "备案后可在网上查询。"), 0.95, 0.0)
    assert topic_passage([silent, saying]) is saying
    assert topic_passage([silent]) is None
    # 「养老金什么时候涨」: a passage saying 养老金 only as 养老保险费 says it in other terms
    otherwise = dataclasses.replace(saying, signals=dataclasses.replace(
        saying.signals, subject_coverage=1.0, subject_literal=0.0, subject_otherwise=1.0))
    assert topic_passage([otherwise]) is None
    as_said = dataclasses.replace(otherwise, signals=dataclasses.replace(
        otherwise.signals, subject_literal=1.0, subject_otherwise=0.0))
    assert topic_passage([as_said]) is as_said
    # 「医保怎么交」 after 公租房: the rules' passage says 交, not 医保, what the message names
    unnamed = dataclasses.replace(saying, signals=dataclasses.replace(saying.signals, subject_coverage=0.0))
    assert topic_passage([unnamed]) is None
    context = AnswerContext(public_url=PUBLIC, model=coverage_model(threshold=1.0))
    plain = compose_answer("要带什么材料", [hit_of(other, other.text.strip())], context)
    offered = compose_answer("要带什么材料", [hit_of(other, other.text.strip())],
                             dataclasses.replace(context, offered=(saying,)))
    assert not plain.answered and not offered.answered
    assert [r.doc_id for r in offered.related][0] == "d_guide"
    assert "3.《房屋租赁登记备案指南》" in offered.text.splitlines()
    assert "房屋租赁登记备案指南" not in plain.text


def test_an_offered_document_not_in_force_says_so_on_its_numbered_line():
    """A resident choosing among the offered numbers sees which document no longer applies
    before opening it; one in force keeps its plain line."""
    cautious = AnswerContext(public_url=PUBLIC, model=coverage_model(threshold=1.0))
    answer = compose_answer("见习补贴的标准", search("见习补贴的标准"), cautious)
    assert not answer.answered
    assert "3.《广州市见习补贴办法》｜已失效（有效期至2024-10-15）" in answer.text.splitlines()
    offered = compose_answer("失业保险金怎么申领", search("失业保险金怎么申领"), cautious)
    assert "3.《失业保险金申领热点问答》" in offered.text.splitlines()


def test_long_answer_stays_within_2000_bytes_and_keeps_links_whole():
    long_text = "第九条 " + "失业保险金申领材料包括身份证、失业登记证明和银行账户。" * 200
    long_doc = doc("long_one", title="很长的失业保险办法" * 5)
    hits = [hit_of(long_doc, long_text, article="第九条"),
            hit_of(UNEMPLOYMENT, "失业保险金申领" * 50, ordinal=2),
            hit_of(doc("other", title="另一个失业保险金申领文件" * 4), "失业保险金申领" * 50, ordinal=3)]
    answer = compose_answer(
        "失业保险金申领材料", found("失业保险金申领材料", hits), ctx(answer_ref="AbCdEfGh1234")
    )
    size = utf8_len(answer.text)
    print(f"long answer: {size} bytes (limit 2000)")
    assert size <= 2000
    quoted = answer.text.splitlines()[2]  # the cut passage: whole characters of the source, then …
    assert quoted.endswith("…") and long_text.startswith(quoted[:-1]) and "\ufffd" not in answer.text
    assert f"{PUBLIC}/p/long_one?r=AbCdEfGh1234#a-%E7%AC%AC%E4%B9%9D%E6%9D%A1\n" in answer.text
    assert "…" in answer.text
    assert "评价本次答复：回复 1 满意，2 不满意" in answer.text  # the menu survives the cut
    for url in URL.findall(answer.text):
        assert url.startswith(PUBLIC + "/")


def test_the_list_a_passage_is_an_item_of_is_quoted_only_when_it_fits_whole():
    item = "（一）在校学生：个人缴费标准为每人413元。"
    listed = "二、缴费标准\n" + item + "\n（二）其他参保人员：个人缴费标准为每人549元。"
    hit = dataclasses.replace(hit_of(UNEMPLOYMENT, item), list_text=listed)
    assert quoted_text(hit, utf8_len(listed)) == listed
    assert quoted_text(hit, utf8_len(listed) - 1) == item  # never a list cut short
    assert quoted_text(hit_of(UNEMPLOYMENT, item), 2000) == item
    answer = compose_answer("失业保险金怎么申领", [dataclasses.replace(h, list_text=listed)
                                          for h in search("失业保险金怎么申领")], ctx())
    assert answer.answered and listed in answer.text and utf8_len(answer.text) <= 2000
    # a related document's key passage, shown when its number is replied, is the list as well
    assert answer.related and answer.related[0].passage == listed
    shown = related_passage_text(0, answer.related[0], UNEMPLOYMENT, ctx(), Validity.of(UNEMPLOYMENT))
    assert listed in shown


@settings(max_examples=300, deadline=None)
@given(st.text(min_size=0, max_size=400), st.integers(min_value=1, max_value=600))
def test_cut_never_splits_a_character_or_a_url(prefix, limit):
    text = prefix + " https://zc.example.gov.cn/p/%E7%AC%AC#a-1 " + prefix
    cut = cut_to_bytes(text, limit)
    assert utf8_len(cut) <= limit
    urls = re.findall(r"https?://\S*", cut)
    assert all(u.startswith("https://zc.example.gov.cn/p/%E7%AC%AC#a-1") for u in urls if "zc.example" in u)


def _weak(document, probability: float) -> Candidate:
    return Candidate(document.id, (hit_of(document, document.text.splitlines()[0]),), {}, probability)


def test_releases_each_too_weak_are_offered_when_together_they_are_not():
    """「失业金怎么领」: an FAQ, a regulation and a law each answer part of it, so each is short
    even of half the operating point (0.65 → 0.325). Together (1 − Π(1 − p) = 0.50) they are
    offered, each at least a quarter of the operating point probable (0.1625); one weak release
    alone, or several that together stay short, are not."""
    model = coverage_model(threshold=0.65)
    context = AnswerContext(public_url=PUBLIC, model=model)
    faq = doc("d_faq", title="失业保险常见问题", text="问：怎么领取失业保险金？\n")
    rules = doc("d_rules", title="失业保险条例", text="第十四条 符合条件的失业人员可以领取失业保险金。\n")
    law = doc("d_law", title="社会保险法", text="第四十五条 失业人员领取失业保险金的条件。\n")
    together = Decision(None, (_weak(faq, 0.27), _weak(rules, 0.21), _weak(law, 0.13)))
    assert [r.doc_id for r in suggested_documents(together, context)] == ["d_faq", "d_rules"]
    assert suggested_documents(Decision(None, (_weak(faq, 0.3),)), context) == ()
    short = Decision(None, (_weak(faq, 0.15), _weak(rules, 0.1), _weak(law, 0.05)))
    assert suggested_documents(short, context) == ()
    strong = Decision(None, (_weak(faq, 0.4), _weak(rules, 0.2)))  # one alone is enough: as before
    assert [r.doc_id for r in suggested_documents(strong, context)] == ["d_faq"]


def _scored(hit, score: float, covered: float, cosine: float = 0.85):
    import dataclasses

    from index.hits import Signals

    signals = Signals(cosine=cosine, bm25=1.0, bm25_best=1.0, bm25_z=0.0, cosine_z=0.0, coverage=covered,
                      passage_coverage=covered, message_coverage=covered, title_coverage=0.0,
                      unknown_share=0.0,
                      lexical_rank=0, dense_rank=0, named=False)
    return dataclasses.replace(hit, score=score, signals=signals)


def test_the_quoted_passage_is_the_one_the_search_ranks_first_unless_another_says_much_more():
    """Words alone chose long passages that mention everything (公园 and 白云山 for a question
    on the metro); the search's own ranking of the release's passages counts too."""
    from bot.answer import choose_passage

    elders = doc("gz_elder", title="广州市老年人优待办法")
    transit = hit_of(elders, "第六条 65周岁以上老年人免费乘坐城市轨道交通。", article="第六条", ordinal=6)
    parks = hit_of(elders, "第九条 65周岁以上老年人免费进入公园、文化场馆，年满65周岁的享受优待。",
                   article="第九条", ordinal=9)
    release = Candidate("gz_elder", (_scored(transit, 1.0, 0.5), _scored(parks, 0.45, 0.7)), {})
    assert choose_passage(release).article == "第六条"
    # A passage the search ranks nearly as high and that says far more of the question is quoted.
    close = Candidate("gz_elder", (_scored(transit, 1.0, 0.2), _scored(parks, 0.95, 0.7)), {})
    assert choose_passage(close).article == "第九条"


def test_of_passages_the_search_ranks_alike_the_one_the_decision_reads_closer_is_quoted():
    """The search ranks with an adapter trained on its fused score, which tells documents
    apart better than the passages of one; the cosine the decision reads (through the lens,
    trained on cosines) breaks what the search leaves near a tie, and only that: 0.05 less
    weighs less than the search's own clear preference."""
    from bot.answer import choose_passage

    elders = doc("gz_elder", title="广州市老年人优待办法")
    transit = hit_of(elders, "第六条 65周岁以上老年人免费乘坐城市轨道交通。", article="第六条", ordinal=6)
    parks = hit_of(elders, "第九条 65周岁以上老年人免费进入公园、文化场馆。", article="第九条", ordinal=9)
    near = Candidate("gz_elder", (_scored(parks, 1.0, 0.5, cosine=0.20),
                                  _scored(transit, 0.97, 0.5, cosine=0.30)), {})
    assert choose_passage(near).article == "第六条"
    clear = Candidate("gz_elder", (_scored(parks, 1.0, 0.5, cosine=0.25),
                                   _scored(transit, 0.6, 0.5, cosine=0.30)), {})
    assert choose_passage(clear).article == "第九条"


def test_an_faq_answer_to_another_kind_of_question_is_not_quoted_over_one_that_fits():
    """An FAQ entry answers its own question: 「失业金怎么领」 asks no amount, so 「能领到多少钱？」
    is not its answer although the search ranks it a little higher; asked for an amount, it is.
    「能领多久」 asks a period, not an amount (领多 is an amount only before neither 久 nor 长)."""
    from bot.answer import choose_passage
    from bot.asking import asked_kinds

    faq = doc("gz_faq", title="失业保险常见问题解答")
    amount = hit_of(faq, "问：失业保险金能领到多少钱？\n答：按最低工资标准的百分之九十按月计发。",
                    source="faq", ordinal=1)
    conditions = hit_of(faq, "问：领取失业保险金需要符合什么条件？\n答：缴费满一年，非因本人意愿中断就业。",
                        source="faq", ordinal=2)
    release = Candidate("gz_faq", (_scored(amount, 1.0, 1.0), _scored(conditions, 0.95, 1.0)), {})
    assert choose_passage(release, asks=asked_kinds("失业金怎么领")).chunk_id == "gz_faq#2"
    assert choose_passage(release, asks=asked_kinds("失业金能领多少")).chunk_id == "gz_faq#1"
    assert asked_kinds("失业保险金能领多久？") == {"time"}
    assert asked_kinds("能领多长时间") == {"time"}
    assert "amount" in asked_kinds("每月能领多少")

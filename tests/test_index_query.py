"""How a resident's question is read before it is searched: dialect spellings, pinyin typos,
and the clauses of a long letter that the dense encoder reads."""
from __future__ import annotations

import pytest

from index.corpus import CorpusIndex
from index.dialect import Dialect
from index.query import QueryReader, focus
from index.tokenizer import PolicyTokenizer
from tests.conftest import make_policy

TEXT = ("第一条 来穗人员在本市居住登记满半年，可以申领居住证。\n"
        "第二条 申领居住证应当提交居民身份证、居住登记凭证。\n"
        "第三条 残疾人辅助器具适配补贴按照规定申请，轮椅适配由区残联组织。\n"
        "第四条 失业人员可以在参保地办理失业登记，申领失业保险金。\n")


@pytest.fixture(scope="module")
def view():
    corpus = CorpusIndex(PolicyTokenizer(), dim=8)
    corpus.upsert([make_policy("p1", title="广州市居住证办理办法", text=TEXT),
                   make_policy("p2", title="关于公开办事指南的通知",
                               text="一、总则\n我市各部门公开办事指南，方便群众查询。\n")])
    return corpus.view()


def test_cantonese_spellings_read_as_mandarin():
    dialect = Dialect.default()
    assert dialect.to_mandarin("我哋唔係广州户口，每年有几多钱㗎？") == "我们不是广州户口，每年有多少钱？"
    assert dialect.to_mandarin("喺边度办？使唔使预约？") == "在哪里办？是否需要预约？"
    # Longer spellings first: 唔係 is 不是, not 不是 via 唔 + 係 by chance; Mandarin is untouched.
    assert dialect.to_mandarin("劳动仲裁转人工") == "劳动仲裁转人工"


def test_northern_colloquial_spellings_read_as_mandarin():
    """As older residents in the north type: 咋办, 啥, 俺 are not the documents' Mandarin."""
    from bot.asking import asked_kinds
    dialect = Dialect.default()
    assert dialect.to_mandarin("医保卡丢了咋办") == "医保卡丢了怎么办"
    assert dialect.to_mandarin("俺娘七十多了，要啥证件？咋样办？") == "我娘七十多了，要什么证件？怎么样办？"
    assert asked_kinds("要带啥资料") == {"materials"}


def test_gan_xiang_and_southwest_spellings_read_as_mandarin():
    """Nanchang's and Hunan's 么子 / 冇得 / 伢 / 崽 and Sichuan's 啥子 / 啷个, as migrants type them;
    Mandarin that contains the same characters (什么样, 要得到, 怎么个) is left as it is."""
    dialect = Dialect.default()
    assert dialect.to_mandarin("办执照有冇么子照顾咯？") == "办执照有没有什么照顾？"
    assert dialect.to_mandarin("伢明年要上小学，晓得在哪里看冇？") == "孩子明年要上小学，知道在哪里看没有？"
    assert dialect.to_mandarin("我们这些冇得田的农民") == "我们这些没有田的农民"
    assert dialect.to_mandarin("社保卡丢了啷个办，啥子时候能补好") == "社保卡丢了怎么办，什么时候能补好"
    for mandarin in ("需要什么样的材料", "要得到批准才能办", "怎么个办法"):
        assert dialect.to_mandarin(mandarin) == mandarin


def test_a_dialect_table_line_without_a_tab_is_refused(tmp_path):
    path = tmp_path / "dialect.tsv"
    path.write_text("几多 多少\n", encoding="utf-8")
    with pytest.raises(ValueError, match="dialect.tsv:1"):
        Dialect.load(path)


def test_sound_alike_typos_become_the_corpus_words(view):
    reader = QueryReader()
    read = reader.read("刚来广州3个月 可以办居住正了吗", view)
    assert "居住证" in read.normal and ("居住正", "居住证") in read.fixes
    assert "失业登记" in reader.read("能在这边办失业登计吗", view).normal


@pytest.mark.parametrize("question", [
    "我是外地户口也能领吗",          # 我是 sounds like 我市, a word of the corpus: common words stay
    "我干了2年零4个月",               # numerals are never "corrected" (年零 is not 年龄)
    "居住证怎么办理",                  # already right
])
def test_ordinary_text_is_left_alone(view, question):
    assert QueryReader().read(question, view).normal == question


def test_a_long_letter_keeps_its_asking_clause_and_the_clause_naming_its_subject(view):
    letter = ("我爸今年67岁，前年中风后留下偏瘫，住在荔湾，平时我们几个子女轮流照顾，"
              "今年年初区残联给他适配了一辆轮椅，" + "家里条件一般，" * 6 + "请问还能再申请补贴吗？")
    read = QueryReader().read(letter, view)
    assert "请问还能再申请补贴吗？" in read.dense
    assert "轮椅" in read.dense           # the story's clause that names the subject stays
    assert "家里条件一般" not in read.dense and len(read.dense) <= 48


def test_long_message_focuses_on_its_asking_sentences():
    from index.query import FOCUS_CHARS
    assert focus("失业了能领多少钱？") == "失业了能领多少钱？"
    story = "我在广州工作了五年，" * 30 + "去年公司裁员我被辞退了。请问我能领失业保险金吗？能领多久？"
    assert focus(story) == "请问我能领失业保险金吗？能领多久？"
    assert len(focus("没有问句的长文本。" * 40)) == FOCUS_CHARS


@pytest.mark.parametrize("message, asking", [
    ("离职快10个月了，原来的公司还欠我两个月工资没给，现在去申请劳动仲裁还来得及吗？能在手机上申请吗？",
     "现在去申请劳动仲裁还来得及吗？能在手机上申请吗？"),
    ("俺家在农村 想问新农合怎么交", "想问新农合怎么交"),
    ("老板拖欠工资三个月，能申请劳动仲裁吗？", "能申请劳动仲裁吗？"),  # the asker's boss, without 我的
    ("用人单位未签书面合同的，劳动者能要求二倍工资吗？", None),  # the law's 单位: a condition
    # a condition of the question, not a story about the asker: the message is the question
    ("建设工程施工合同解除后，承包人能否主张工程款？", None),
    ("我能领失业保险金吗？", None),                 # one clause
    ("我失业了，能领多久？还要交什么材料？", "能领多久？还要交什么材料？"),
    ("我失业了，公司也倒闭了。", None),             # nothing asked
])
def test_the_asking_clauses_of_a_story_told_by_the_asker(message, asking):
    from index.query import asking_clauses
    assert asking_clauses(message) == asking


def test_a_space_between_chinese_clauses_is_read_as_the_comma_it_stands_for():
    """The encoder reads 「公司拖欠我三个月工资了 我该去哪里投诉」 as written Chinese would put it;
    a space beside Latin letters, digits or punctuation stays."""
    from index.retrieval import punctuated

    assert punctuated("公司拖欠我三个月工资了 我该去哪里投诉") == "公司拖欠我三个月工资了，我该去哪里投诉"
    assert punctuated("我今年72了  坐公交还要钱吗") == "我今年72了，坐公交还要钱吗"
    assert punctuated("我今年72 坐公交还要钱吗") == "我今年72 坐公交还要钱吗"
    assert punctuated("孩子 户口 上学") == "孩子，户口，上学"
    assert punctuated("用 APP 申请吗") == "用 APP 申请吗"
    assert punctuated("失业金能领多久？ 要什么材料") == "失业金能领多久？ 要什么材料"


def test_a_message_completing_an_opening_nothing_answered_is_read_as_one_question(view):
    """After an answer the dense side adds the follow-up's vector to its topic's (the topic's
    words would draw one text to the passage just quoted); a message completing an opening that
    found nothing (「失业了」, then 「去哪里登记」) is one question sent in two messages: read as
    one text."""
    reader = QueryReader()
    after_answer = reader.read_follow_up("去哪里登记", "失业了", view)
    assert after_answer.dense == "去哪里登记" and after_answer.opening_dense == "失业了"
    completing = reader.read_follow_up("去哪里登记", "失业了", view, as_one=True)
    assert completing.dense == "失业了 去哪里登记" and completing.opening_dense is None
    assert completing.normal == after_answer.normal and completing.own == after_answer.own


@pytest.mark.parametrize(("question", "normal", "not_read"), [
    ("能不能在参保地领失业金", "是否能在参保地领失业金", "不能"),
    ("这算不算工伤", "这是否算工伤", "不算"),
    ("碰上周末补不补", "碰上周末是否补", "补不补"),
    ("居住证够不够条件办", "居住证是否够条件办", "不够"),
    ("有没有失业登记", "是否有失业登记", "没有"),
])
def test_a_verb_asked_both_ways_is_read_as_the_corpus_asks_it(view, question, normal, not_read):
    """「能不能」, 「算不算」 cut as typed gave BM25 and the signals the law's negation (不能, 不算)
    or a word no passage has (补不补); read with 是否 (a stopword, as in the Cantonese 使唔使 →
    是否需要), the verb is what they match. The dense encoder reads the question as typed."""
    read = QueryReader().read(question, view)
    assert read.normal == normal
    assert not_read not in view.tokenizer.content_words(read.normal)
    assert read.dense == question

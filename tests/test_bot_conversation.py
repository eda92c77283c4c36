"""Conversations as residents have them, through the signed and encrypted callback: a short
new question is not swallowed by the previous topic, a follow-up is read with the question
that opened its topic (never a chain of merges) and the reply says how it was read, small
talk gets a polite word and stays out of the question log, and a numbered related document
is checked again before it is sent."""
from __future__ import annotations

import dataclasses
import itertools

import pytest
from test_bot_fakes import FakeSearch, coverage_model, create_bot_app, doc, hit_of, publish

from bot import replies
from bot.callback_client import WeChatSender, text_xml
from policies import store

ELDER = doc("gz_elder", title="广州市老年人优待办法",
            text="第五条 65周岁以上老年人持优待凭证免费乘坐本市公共汽车、地铁。\n"
                 "第八条 老年人免费游览公园。\n")
EXPANSION = doc("gz_kuogang", title="小微企业扩岗补贴办法",
                text="第三条 小微企业招用高校毕业生，按每人1500元标准发放一次性扩岗补贴。\n")
HOLIDAYS = doc("holidays", title="全国年节及纪念日放假办法", text="第二条 春节放假4天。\n")
LABOUR = doc("labour", title="劳动法",
             text="第四十条 用人单位在元旦、春节、国庆节期间应当依法安排劳动者休假。\n")
UNEMPLOYMENT = doc("gz_unemp", title="失业保险金申领办法",
                   text="第五条 申领失业保险金需要提交身份证等材料。\n第六条 失业保险金按月发放。\n")
UNEMPLOYMENT_FAQ = doc("gz_unemp_jd", kind="interpretation", interprets="gz_unemp", doc_number=None,
                       title="失业保险金热点问答", interpretation_form="faq",
                       text="问：失业保险金怎么申领？\n答：可在广东政务服务网申领。\n")
CERTIFICATES = doc("certs", title="证明事项告知承诺制办法",
                   text="第二条 申请人可以书面承诺代替提交证明材料。\n")
DOCUMENTS = [ELDER, EXPANSION, HOLIDAYS, LABOUR, UNEMPLOYMENT, UNEMPLOYMENT_FAQ, CERTIFICATES]


def world() -> list:
    """Every document's passages as hits. The certificates rule comes first: a bare 「材料」
    matches it as well as the unemployment rules, and the search lists it first."""
    def passages(document, ordinal=0):
        for n, line in enumerate(document.text.splitlines()):
            article = line.split()[0] if line.startswith("第") else None
            source = "faq" if document.kind == "interpretation" else "text"
            yield hit_of(document, line, article=article, source=source, ordinal=ordinal + n)
    hits = list(passages(CERTIFICATES, ordinal=9))
    for document in DOCUMENTS[:-1]:
        if document is UNEMPLOYMENT_FAQ:
            hits.append(hit_of(document, document.text.strip(), source="faq"))
        else:
            hits += passages(document, ordinal=1 if document is UNEMPLOYMENT else 0)
    return hits


def gentle_model_file(directory) -> str:
    """An answer model as unsure as the real one: a gentle logistic on coverage (at most
    0.77; answers from coverage one half on)."""
    model = coverage_model()
    path = directory / "gentle-model.json"
    type(model)({**model.weights, "coverage": 2.4}, model.means, model.scales, 0.0, 0.5).save(path)
    return str(path)


@pytest.fixture(params=["steep", "gentle"])
def env(request, tmp_path):
    from server import start

    search = FakeSearch(world())
    extra = {"BOT_ANSWER_MODEL": gentle_model_file(tmp_path)} if request.param == "gentle" else {}
    app = start(create_bot_app(tmp_path, search, **extra))
    svc = app.extensions["policybot"]
    publish(svc.db, *DOCUMENTS)
    sender, client, ids = WeChatSender.from_app(app), app.test_client(), itertools.count(1)

    def chat(text: str, openid: str = "o_elder") -> str:
        response = sender.post(client, text_xml(openid, text, msg_id=next(ids)))
        assert response.status_code == 200
        return sender.reply_text(response)
    yield request.param, chat, search, svc
    svc.db.dispose()


def logged(svc, openid: str, column: str = "question") -> list[str]:
    svc.bot.flush()
    with svc.db.read() as conn:
        from bot.questionlog import question_log

        rows = conn.execute(question_log.select().order_by(question_log.c.id)).mappings().all()
    user = svc.questions.user_hash(openid)
    return [row[column] for row in rows if row["user_hash"] == user]


def test_a_short_question_with_its_own_subject_is_a_new_question(env):
    _, chat, _, svc = env
    assert "公共汽车" in chat("老年人乘坐公共汽车有优惠吗")
    second = chat("小微企业扩岗补贴每人多少钱")  # ≤ 14 characters and ends in 多少钱: once swallowed
    assert "1500元" in second and "您问的是" not in second
    assert logged(svc, "o_elder") == ["老年人乘坐公共汽车有优惠吗", "小微企业扩岗补贴每人多少钱"]


def test_a_short_question_answered_by_itself_is_a_new_question(env):
    _, chat, _, _ = env
    assert "劳动者休假" in chat("元旦国庆节春节期间用人单位安排劳动者休假吗", openid="o_worker")
    # 劳动法's own article names 春节, but the holiday rules answer the question by themselves.
    assert "春节放假4天" in chat("春节放假几天", openid="o_worker")


def test_a_follow_up_is_read_with_the_topic_and_the_reply_says_so(env):
    model, chat, search, svc = env
    if model == "steep":
        pytest.skip("with a sure model, 材料 alone goes to the first release that has the word")
    chat("失业保险金怎么申领", openid="o_jobless")
    search.queries.clear()
    reply = chat("材料要交到哪", openid="o_jobless")  # by itself: a quarter covered anywhere
    assert "失业保险金怎么申领 材料要交到哪" in search.queries  # read with the topic's question
    assert reply.startswith("您问的是：失业保险金怎么申领——材料要交到哪\n")
    assert "身份证等材料" in reply  # the quoted passage answers the follow-up
    assert logged(svc, "o_jobless") == ["失业保险金怎么申领", "材料要交到哪"]  # as written,
    assert logged(svc, "o_jobless", "reading") == [None, "失业保险金怎么申领 材料要交到哪"]  # read so


def test_a_follow_up_to_a_question_not_answered_is_read_with_it(env):
    """Neither message is answered by itself; read together they are, and the reply says so."""
    _, chat, _, svc = env
    assert "没有找到" in chat("我想问一下失业保险金", openid="o_unsure")
    reply = chat("我想问一下申领需要身份证", openid="o_unsure")
    assert reply.startswith("您问的是：我想问一下失业保险金——我想问一下申领需要身份证\n")
    assert "身份证等材料" in reply
    assert logged(svc, "o_unsure", "answered") == [False, True]


def test_a_question_asked_again_is_not_read_as_its_own_follow_up(env):
    """A resident who got no answer sends the same question again: it is read by itself, as the
    first time, not with itself (「您问的是：X——X」, its words doubled)."""
    _, chat, search, _ = env
    first = chat("我想问一下失业保险金", openid="o_again")
    assert "没有找到" in first
    search.queries.clear()
    again = chat("我想问一下失业保险金？", openid="o_again")
    assert not again.startswith("您问的是") and again == first
    assert search.queries and not any("失业保险金 我想问一下" in q for q in search.queries)


def test_a_follow_up_asked_again_is_still_read_with_its_topic(env):
    model, chat, _, _ = env
    if model == "steep":
        pytest.skip("needs a follow-up that is merged: the gentle model")
    chat("失业保险金怎么申领", openid="o_again_follow")
    for _ in range(2):
        reply = chat("材料要交到哪", openid="o_again_follow")
        assert reply.startswith("您问的是：失业保险金怎么申领——材料要交到哪\n")


def test_merges_never_chain(env):
    model, chat, search, _ = env
    if model == "steep":
        pytest.skip("needs a follow-up that is merged: the gentle model")
    chat("失业保险金怎么申领", openid="o_chain")
    chat("材料要交到哪", openid="o_chain")
    search.queries.clear()
    chat("要交给谁", openid="o_chain")
    assert "失业保险金怎么申领 要交给谁" in search.queries  # the topic's question,
    assert not any("材料要交到哪 要交给谁" in q for q in search.queries)  # not the merge


def test_a_short_message_the_previous_release_does_not_cover_is_not_glued_to_it(env):
    _, chat, _, _ = env
    chat("老年人乘坐公共汽车有优惠吗", openid="o_rain")
    reply = chat("我家猫不吃东西怎么办", openid="o_rain")
    assert "没有找到" in reply and "公共汽车" not in reply


def test_a_message_the_topic_answers_only_with_the_passage_already_quoted_is_read_alone(env):
    """Read with its topic, 「退休金涨了吗」 reaches the park passage just quoted, and nothing
    else of that release: it is not a follow-up, and the reply must not say it was read as one
    (您问的是：…) and then find nothing. It is read, answered (here: not) and logged alone."""
    _, chat, _, svc = env
    assert "第八条" in chat("老年人免费游览公园吗", openid="o_pension")
    reply = chat("退休金涨了吗", openid="o_pension")
    assert not reply.startswith("您问的是") and "没有找到" in reply and "公园" not in reply
    svc.bot.flush()
    assert logged(svc, "o_pension", "reading") == [None, None]


@pytest.mark.parametrize("text", ["谢谢", "好的谢谢你哈 辛苦啦", "你是真人还是机器人？", "早上好呀",
                                  "好嘅明白晒，多谢晒", "👍", "好嘅，唔该晒", "得啦，唔該",
                                  "冇问题喇 多謝", "你多大了？"])
def test_small_talk_gets_a_polite_word_and_is_not_logged(env, text):
    _, chat, search, svc = env
    search.queries.clear()
    reply = chat(text, openid="o_polite")
    assert "没有找到" not in reply and reply and not search.queries
    assert logged(svc, "o_polite") == []


def test_a_numbered_document_withdrawn_since_the_answer_is_not_sent(env):
    _, chat, _, svc = env
    reply = chat("失业保险金怎么申领", openid="o_number")
    assert "3.《失业保险金申领办法》" in reply
    with svc.db.write() as conn:
        store.set_visibility(conn, ["gz_unemp"], "withdrawn")
    assert chat("3", openid="o_number") == replies.RELATED_WITHDRAWN


def test_a_document_offered_when_nothing_is_answered_opens_by_its_number(tmp_path):
    """The decision answers nothing (an operating point no probability reaches), yet the
    resident is offered the probable release and reads its passage by replying its number;
    the question stays logged as unanswered."""
    from server import start

    cautious = tmp_path / "cautious-model.json"
    coverage_model(threshold=1.0).save(cautious)
    app = start(create_bot_app(tmp_path, FakeSearch(world()), BOT_ANSWER_MODEL=str(cautious)))
    svc = app.extensions["policybot"]
    publish(svc.db, *DOCUMENTS)
    sender, client, ids = WeChatSender.from_app(app), app.test_client(), itertools.count(1)

    def chat(text: str) -> str:
        return sender.reply_text(sender.post(client, text_xml("o_offer", text, msg_id=next(ids))))
    try:
        reply = chat("失业保险金怎么申领")
        assert "没有找到" in reply and "不一定能回答" in reply and "3.《失业保险金热点问答》" in reply
        opened = chat("3")
        assert opened.startswith("3.《失业保险金热点问答》") and "可在广东政务服务网申领" in opened
        assert "全文：" in opened and "/p/gz_unemp_jd" in opened
        svc.bot.flush()
        assert logged(svc, "o_offer") == ["失业保险金怎么申领"]
        assert logged(svc, "o_offer", "answered") == [False]
    finally:
        svc.db.dispose()


def gentle_conversation(tmp_path, hits, documents, messages) -> tuple[list[str], list]:
    """One resident's messages through the callback of a bot of its own (these `hits`, the
    gentle model, `documents` published): the replies, and the question log's readings."""
    from server import start

    app = start(create_bot_app(tmp_path, FakeSearch(hits),
                               BOT_ANSWER_MODEL=gentle_model_file(tmp_path)))
    svc = app.extensions["policybot"]
    publish(svc.db, *documents)
    sender, client = WeChatSender.from_app(app), app.test_client()
    try:
        replies_ = [sender.reply_text(sender.post(client, text_xml("o_resident", text, msg_id=n)))
                    for n, text in enumerate(messages, 1)]
        return replies_, logged(svc, "o_resident", "reading")
    finally:
        svc.db.dispose()


def articles(document) -> list:
    """Each line of `document` (「第N条 …」) as a hit of its own, with its article."""
    return [hit_of(document, line, article=line.split()[0], ordinal=n)
            for n, line in enumerate(document.text.splitlines())]


GUIDE = doc("gz_card", title="老年人优待卡办理指南",
            text="一、优待范围\n65周岁以上老年人凭优待卡免费乘坐公共汽车、地铁，免费游览公园。\n"
                 "二、所需材料\n申请人提供本人身份证原件和近期证件照。\n")
GUIDE_NEWS = doc("gz_card_jd", kind="interpretation", interprets="gz_card", doc_number=None,
                 title="老年人优待卡政策解读", interpretation_form="text",
                 text="65周岁以上老年人免费乘坐公共汽车、地铁和游览公园，优待卡让老年人出行更方便。\n")


def test_a_follow_up_quotes_the_passage_that_answers_it_not_the_topic_again(tmp_path):
    """Read with its topic, a follow-up's words are few among the topic's: the passage quoted
    is the one of the release found for the follow-up by itself."""
    hits = [hit_of(GUIDE, line, ordinal=n) for n, line in enumerate(GUIDE.text.splitlines())]
    hits.append(hit_of(GUIDE_NEWS, GUIDE_NEWS.text.strip(), ordinal=9))
    replies_, _ = gentle_conversation(tmp_path, hits, [GUIDE, GUIDE_NEWS],
                                      ["65周岁以上老年人坐公共汽车免费吗", "原件要带去哪里"])
    assert "免费乘坐公共汽车" in replies_[0]
    assert replies_[1].startswith("您问的是：")
    assert "身份证原件和近期证件照" in replies_[1]


HOLIDAY_LIST = doc("holiday_list", title="全国年节及纪念日放假办法",
                   text="第二条 全体公民放假的节日：春节放假4天；清明节放假1天。\n"
                        "第三条 部分公民放假的节日：妇女节，妇女放假半天。\n")


def test_a_follow_up_answered_by_the_passage_just_quoted_is_answered_from_it_again(tmp_path):
    """「清明呢，要上班吗」 after 春节放几天: the list of holidays just quoted answers it too. Read with
    its topic the message is answered from that passage, and the reply quotes it again rather
    than saying nothing was found (the follow-up once lost the quoted passage, and with it its
    answer)."""
    hits = articles(HOLIDAY_LIST)
    replies_, readings = gentle_conversation(tmp_path, hits, [HOLIDAY_LIST],
                                             ["全体公民春节放假几天", "清明呢，要上班吗"])
    assert "春节放假4天" in replies_[0]
    assert replies_[1].startswith("您问的是：全体公民春节放假几天——清明呢，要上班吗")
    assert "清明节放假1天" in replies_[1] and "没有找到" not in replies_[1]
    assert readings[1] is not None and "清明呢，要上班吗" in readings[1]


FUND = doc("gz_fund", title="住房公积金提取办法",
           text="第五条 职工退休的，可以提取本人住房公积金账户存储余额。\n"
                "第九条 住房公积金管理中心应当自受理申请之日起3日内作出准予提取或者不准提取的决定。\n")


def test_a_follow_up_less_sure_than_a_question_of_its_own_is_answered_from_its_topics_release(tmp_path):
    """「申请后几天批」 after 退休了公积金能提取吗: read with its topic, the release just quoted is
    less probable than a question asked by itself needs (the gentle model's 0.42 against 0.5),
    but it is the release the conversation is on (bot.answerability TOPIC_RELEASE_SHARE): the
    reply quotes its passage on how soon it is decided, not "nothing found"."""
    hits = articles(FUND)
    replies_, readings = gentle_conversation(tmp_path, hits, [FUND], ["退休了公积金能提取吗", "申请后几天批"])
    assert "可以提取本人住房公积金" in replies_[0]
    assert replies_[1].startswith("您问的是：退休了公积金能提取吗——申请后几天批")
    assert "3日内" in replies_[1] and "没有找到" not in replies_[1]
    assert readings[1] is not None and "申请后几天批" in readings[1]


CARD = doc("gz_card_rules", title="老年人优待办法",
           text="第六条 65周岁以上老年人乘坐地铁免费。\n第九条 优待卡在街道办事处办理。\n")


def test_a_follow_up_is_answered_from_the_release_its_quoted_passage_made_probable(tmp_path):
    """「那张卡去哪办理」 after 65周岁以上老年人坐地铁免费吗: read with its topic, the release is
    probable because of the passage just quoted, which is not quoted again; the reply quotes the
    passage on where the card is made. The quoted passage was once left out of the decision too,
    and without it the release fell below the operating point: "nothing found"."""
    hits = articles(CARD)
    replies_, _ = gentle_conversation(tmp_path, hits, [CARD],
                                      ["65周岁以上老年人坐地铁免费吗", "那张卡去哪办理"])
    assert "乘坐地铁免费" in replies_[0]
    assert replies_[1].startswith("您问的是：65周岁以上老年人坐地铁免费吗——那张卡去哪办理")
    assert "街道办事处" in replies_[1] and "乘坐地铁免费" not in replies_[1]


SOCIAL_CARD = doc("gz_social_card", title="社会保障卡申领指南",
                  text="一、申领方式\n社保卡可在银行网点申请办理。\n二、领卡\n社保卡即时领卡或者等待12个工作日领卡。\n")


def test_a_follow_up_is_answered_by_the_passage_saying_what_it_asks_without_its_words(tmp_path):
    """「几天能拿到」 after 社保卡怎么申请: no word of the message is in 「等待12个工作日领卡」, but it
    asks how long and that passage says a period (bot.asking), so it is quoted. It once read
    "nothing found": the release's other passage had just been quoted and no other used the
    message's words."""
    hits = [hit_of(SOCIAL_CARD, line, ordinal=n) for n, line in enumerate(SOCIAL_CARD.text.splitlines())]
    replies_, _ = gentle_conversation(tmp_path, hits, [SOCIAL_CARD], ["社保卡怎么申请", "几天能拿到"])
    assert "银行网点申请办理" in replies_[0]
    assert replies_[1].startswith("您问的是：社保卡怎么申请——几天能拿到")
    assert "12个工作日" in replies_[1] and "没有找到" not in replies_[1]


CARD_APPLICATION = doc("gz_card_application", title="社会保障卡申请指南",
                       text="一、申请方式\n社保卡可在银行网点申请办理。\n"
                            "二、申请条件\n参保人可申请社保卡，未参保的先参保再申请社保卡。\n")


def test_a_message_that_only_the_topics_words_answer_is_not_a_follow_up(tmp_path):
    """「推荐个餐厅吧」 right after 社保卡怎么申请: read with its topic it finds the card guide's
    other passage by the topic's words alone (社保卡, 申请), and that passage says no word of
    the message nor the kind of thing it asks for, so it is not answered as a follow-up
    (您问的是：社保卡怎么申请——推荐个餐厅吧 above the 申请条件) but read by itself, which finds
    nothing."""
    hits = [hit_of(CARD_APPLICATION, line, ordinal=n)
            for n, line in enumerate(CARD_APPLICATION.text.splitlines())]
    replies_, _ = gentle_conversation(tmp_path, hits, [CARD_APPLICATION], ["社保卡怎么申请", "推荐个餐厅吧"])
    assert "银行网点申请办理" in replies_[0]
    assert "您问的是" not in replies_[1] and "没有找到" in replies_[1]


HOLIDAY_ARTICLES = doc("holiday_articles", title="全国年节及纪念日放假办法",
                       text="第二条 全体公民放假的节日：元旦放假1天；春节放假4天。\n"
                            "第三条 部分公民放假的节日：儿童节（6月1日），不满14周岁的少年儿童放假1天。\n")


@pytest.mark.parametrize("elliptical", [True, False])
def test_only_an_elliptical_follow_up_is_answered_by_a_passage_without_its_words(elliptical):
    """compose_answer for 「那六一呢」 after 春节放假几天 (第二条 just quoted): no passage says 六一;
    elliptical, its subject is the topic's and 第三条 on 儿童节 answers it; the same reading
    of a message that is not elliptical is not answered as a follow-up."""
    from test_bot_answer import ctx

    from bot.answer import compose_answer
    from bot.conversation import with_opening

    question = with_opening("那六一呢", "春节放假几天")
    hits = FakeSearch(articles(HOLIDAY_ARTICLES))("那六一呢", k=12, opening="春节放假几天")
    context = dataclasses.replace(ctx(elliptical=elliptical), model=coverage_model(threshold=0.01),
                                  topic_release=HOLIDAY_ARTICLES.id)
    answer = compose_answer(question, hits, context, focus=lambda release: [],
                            avoid=f"{HOLIDAY_ARTICLES.id}#0")
    assert answer.answered is elliptical
    if elliptical:
        assert answer.best.chunk_id == f"{HOLIDAY_ARTICLES.id}#1"


FILING_STEPS = doc("gz_filing_steps", title="异地就医备案办理指引",
                   text="办理指引\n打开穗好办APP选择异地就医备案，提交后工作人员在2个工作日内完成审批。\n"
                        "温馨提示\n备案人员在备案地可享受医保结算待遇。\n")


def test_the_passage_just_quoted_is_quoted_again_when_it_says_what_the_follow_up_asks(tmp_path):
    """「多久能批下来？」 after 异地就医备案怎么办理: the guide's steps, just quoted, also say
    2个工作日内; quoting another passage of the guide (温馨提示) would not answer it."""
    hits = [hit_of(FILING_STEPS, line, ordinal=n) for n, line in enumerate(FILING_STEPS.text.splitlines())]
    replies_, _ = gentle_conversation(tmp_path, hits, [FILING_STEPS],
                                      ["异地就医备案怎么办理", "多久能批下来？"])
    assert "2个工作日内" in replies_[0]
    assert replies_[1].startswith("您问的是：异地就医备案怎么办理——多久能批下来")
    assert "2个工作日内" in replies_[1]


def _fund_hits(covered: float) -> tuple[str, list]:
    """「申请后几天批」 read with 退休了公积金能提取吗, found in the fund rules and in a copy of them
    (another release), each at coverage `covered`."""
    from test_bot_fakes import found_hit

    from bot.conversation import with_opening

    question = with_opening("申请后几天批", "退休了公积金能提取吗")
    other = doc("gz_fund_guide", title=FUND.title, text=FUND.text)
    return question, [found_hit(hit_of(d, d.text.splitlines()[1], ordinal=1), question, "申请后几天批",
                                covered, rank) for rank, d in enumerate([FUND, other])]


def test_a_follow_ups_topic_release_passes_lower_when_it_says_what_is_asked():
    """decide: read with its topic, the conversation's release is too improbable for the
    follow-up's bar (TOPIC_RELEASE_SHARE) but reaches the lower one (TOPIC_ASKED_SHARE) when
    one of its passages says the kind of thing the message asks for, and only then."""
    from bot.answerability import decide
    from bot.asking import asked_kinds

    question, hits = _fund_hits(0.25)
    model = coverage_model()
    steeper = type(model)({**model.weights, "coverage": 6.0}, model.means, model.scales, 0.0, 0.5)
    when, where = asked_kinds("申请后几天批"), asked_kinds("去哪里申请")
    assert decide(question, hits, steeper, topic_release="gz_fund").chosen is None
    assert decide(question, hits, steeper, "gz_fund", when).chosen.doc_id == "gz_fund"
    assert decide(question, hits, steeper, "gz_fund", where).chosen is None  # it names no place
    assert decide(question, hits, steeper, None, when).chosen is None


def test_a_follow_ups_topic_release_passes_lower_still_when_no_other_release_is_more_probable():
    """decide: 「交多少比例」 after 跑外卖的能自己交养老保险吗: read with its topic, the topic's
    release says what is asked (a 20% rate) and is the reading's most probable release, yet under
    even the lower bar (TOPIC_ASKED_SHARE); it passes at TOPIC_FIRST_ASKED_SHARE. Not when another
    release is more probable (the reason the lower bar is not lower for every reading)."""
    from bot.answerability import TOPIC_ASKED_SHARE, TOPIC_FIRST_ASKED_SHARE, candidates, decide, rank
    from bot.asking import asked_kinds

    question, hits = _fund_hits(0.15)
    model = coverage_model()
    steeper = type(model)({**model.weights, "coverage": 6.0}, model.means, model.scales, 0.0, 0.5)
    when, where = asked_kinds("申请后几天批"), asked_kinds("去哪里申请")
    fund = rank(candidates(question, hits), steeper)[0]
    assert fund.doc_id == "gz_fund"
    bar, lower_bar = steeper.threshold * TOPIC_ASKED_SHARE, steeper.threshold * TOPIC_FIRST_ASKED_SHARE
    assert lower_bar <= fund.probability < bar
    assert decide(question, hits, steeper, "gz_fund", when).chosen.doc_id == "gz_fund"
    assert decide(question, hits, steeper, "gz_fund", where).chosen is None  # it names no place
    assert decide(question, hits, steeper, "gz_fund").chosen is None  # it asks nothing
    surer = dataclasses.replace(hits[1].signals, coverage=0.18)
    ahead = [hits[0], dataclasses.replace(hits[1], signals=surer)]
    assert rank(candidates(question, ahead), steeper)[0].doc_id == "gz_fund_guide"
    assert decide(question, ahead, steeper, "gz_fund", when).chosen is None


def test_the_lower_bar_of_a_follow_up_is_its_topics_release_only():
    """decide: a release as probable as that is answered only when it is the conversation's."""
    from bot.answerability import decide

    question, hits = _fund_hits(0.36)
    model = coverage_model()
    gentle = type(model)({**model.weights, "coverage": 2.4}, model.means, model.scales, 0.0, 0.5)
    assert decide(question, hits, gentle).chosen is None
    assert decide(question, hits, gentle, topic_release="gz_fund").chosen.doc_id == "gz_fund"
    assert decide(question, hits, gentle, topic_release="gz_fund_guide").chosen.doc_id == "gz_fund_guide"
    far = [dataclasses.replace(h, signals=dataclasses.replace(h.signals, coverage=0.2)) for h in hits]
    assert decide(question, far, gentle, topic_release="gz_fund").chosen is None


def test_a_follow_ups_release_in_force_is_not_displaced_by_content_no_longer_in_force():
    """decide: 「年龄有没有限制」 after 人才公寓: expired measures say more of it, but the release
    the conversation is on is in force and passes its bar, so it answers. Asked without a
    topic, the expired one is answered (with its warning) as before."""
    from test_bot_fakes import found_hit

    from bot.answerability import decide
    from bot.conversation import with_opening

    question = with_opening("年龄有没有限制", "港澳青年能申请人才公寓吗")
    flats = doc("gz_flats", title="人才公寓申请公告", text="申请入住人年龄应在18周岁以上。")
    measures = doc("gz_hk_youth", title="港澳青年创新创业实施办法", text="港澳青年是指45周岁以下的居民。")
    hits = [found_hit(hit_of(measures, measures.text, in_force=False), question, "年龄有没有限制", 0.9, 0),
            found_hit(hit_of(flats, flats.text), question, "年龄有没有限制", 0.36, 1)]
    model = coverage_model()
    gentle = type(model)({**model.weights, "coverage": 2.4}, model.means, model.scales, 0.0, 0.5)
    assert decide(question, hits, gentle).chosen.doc_id == "gz_hk_youth"
    assert decide(question, hits, gentle, topic_release="gz_flats").chosen.doc_id == "gz_flats"


POINTS = doc("gz_points", title="积分制入户管理办法",
             text="第六条 积分入户要满足下列条件：在本市合法稳定就业，缴纳社会保险满4年。\n")
POINTS_FAQ = doc("gz_points_jd", kind="interpretation", interprets="gz_points", doc_number=None,
                 title="积分入户热点问答", interpretation_form="faq",
                 text="问：积分入户要满足什么条件？\n答：在本市合法稳定就业并缴纳社会保险满4年。\n")
NEWBORN = doc("gz_newborn", title="城乡居民基本医疗保险参保通告",
              text="第三条 新生儿出生后可参加城乡居民基本医疗保险，待遇从出生之日起享受。\n")


def _points_then(tmp_path, second: str) -> list[str]:
    """The replies to 「积分入户要满足什么条件」 and then `second`; the question log's readings
    of the two."""
    documents = [POINTS, POINTS_FAQ, NEWBORN]
    hits = [hit_of(d, d.text.strip(), source="faq" if d.kind == "interpretation" else "text")
            for d in documents]
    replies_, readings = gentle_conversation(tmp_path, hits, documents, ["积分入户要满足什么条件", second])
    assert "社会保险满4年" in replies_[0]
    return replies_ + readings


@pytest.mark.parametrize("second", ["新生儿买医保吗", "新生儿买医保吗？"])
def test_a_short_question_with_a_subject_the_topic_does_not_speak_of_is_not_read_with_it(tmp_path, second):
    """「新生儿买医保吗」 after 积分入户: by itself it is not sure enough to be answered, but what
    it asks about (新生儿, 医保) is another release's, offered to the resident; read with the
    topic's question it would be answered from the 积分入户 release's other passage, saying
    您问的是：积分入户…——新生儿买医保吗 and quoting 积分 rules that say nothing of it."""
    _, reply, *readings = _points_then(tmp_path, second)
    assert not reply.startswith("您问的是") and "社会保险满4年" not in reply
    assert "没有找到" in reply and "《城乡居民基本医疗保险参保通告》" in reply
    assert readings == [None, None]


@pytest.mark.parametrize("second", ["户口在外地的新生儿呢", "户口在外地的新生儿呢？"])
def test_an_elliptical_question_is_read_with_the_topic_whatever_words_it_repeats(tmp_path, second):
    """「…呢」 asks about something in the frame of the last answer: it follows, even when
    its words are another release's."""
    _, reply, *_ = _points_then(tmp_path, second)
    assert reply.startswith(f"您问的是：积分入户要满足什么条件——{second}")


ABROAD = doc("gz_abroad", title="异地就医备案办理指南",
             text="一、办理方式：在穗好办选择异地就医备案。\n二、审批时限：异地就医备案提交后2个工作日内批下来。\n")
JOBLESS_TERM = doc("gz_jobless_term", title="失业保险金答问", text="失业保险金多久能批？当月审核。\n")


def test_a_message_answered_elsewhere_by_one_word_follows_the_topic_that_answers_it_better(tmp_path):
    """「多久能批下来」 after 异地就医备案: by itself its 多久 matches a question on 失业保险金, sure
    enough to be answered; read with its topic it is answered from the topic's own release, and
    more surely: it follows, and the reply says how it was read."""
    documents = [ABROAD, JOBLESS_TERM]
    hits = [hit_of(d, line, ordinal=n) for d in documents for n, line in enumerate(d.text.splitlines())]
    replies_, readings = gentle_conversation(tmp_path, hits, documents,
                                             ["异地就医备案怎么办理", "多久能批下来"])
    assert "异地就医备案" in replies_[0]
    assert replies_[1].startswith("您问的是：异地就医备案怎么办理——多久能批下来")
    assert "2个工作日内批下来" in replies_[1] and "当月审核" not in replies_[1]
    assert readings == [None, "异地就医备案怎么办理 多久能批下来"]


FILING = doc("gz_filing", title="异地就医备案办理指南")


def _release(document, text: str, said: float, probability: float):
    """A release as the decision ranks it: one passage saying `said` of the message's words."""
    from test_bot_answer import _scored

    from bot.answerability import Candidate
    return Candidate(document.id, (_scored(hit_of(document, text), 1.0, said),), {}, probability)


def _after_filing():
    from bot.conversation import Turn
    return Turn("广州医保异地就医备案怎么办理？", at=0.0, related=[], release="gz_filing")


def test_asking_words_shared_with_another_release_are_not_a_subject_of_its_own():
    """「多久能批下来？」 after 异地就医备案怎么办理: by itself it is nearly answered from the 失业金
    FAQ, whose 「能领多久」 says its 多久; read with the topic it is answered from the 备案 guide,
    which says a period (2个工作日内) though none of the message's words. It follows the topic.
    Had the guide said no period, the FAQ's words would make it a subject of its own."""
    from bot.answerability import Decision
    from bot.conversation import follows

    unemployment = doc("gz_unemp", title="失业保险常见问题")
    alone = Decision(None, (_release(unemployment, "问：失业保险金能领多久？", 0.5, 0.46),))
    period = _release(FILING, "后台工作人员将在2个工作日内完成审批。", 0.0, 0.9)
    assert follows("多久能批下来？", alone, Decision(period, (period,)), _after_filing(), 0.5)
    vague = _release(FILING, "备案人员在异地普通门诊无须选点就医。", 0.0, 0.9)
    assert not follows("多久能批下来？", alone, Decision(vague, (vague,)), _after_filing(), 0.5)


def test_a_question_answered_by_itself_is_not_taken_over_by_the_topics_words():
    """「幼儿园能不能提前教小学的课」 after 异地就医备案: answered by itself from the 学前教育法
    (0.74); read with the topic, the 备案 guide is more probable (0.85) from the topic's words
    alone. The law says more of the message's words: a new question, not a follow-up. A release
    saying less of them than the topic's does not keep a message from the topic; one saying as
    much does."""
    from bot.answerability import Decision
    from bot.conversation import topic_answers_better

    law = doc("law_preschool", title="学前教育法")
    text = "幼儿园能不能提前教小学的课"
    lesson = _release(law, "幼儿园不得教授小学阶段的课程。", 0.52, 0.74)
    guide = _release(FILING, "备案人员在异地普通门诊无须选点就医。", 0.26, 0.85)
    merged = Decision(guide, (guide,))
    assert not topic_answers_better(text, Decision(lesson, (lesson,)), merged, _after_filing())
    weaker = dataclasses.replace(lesson, hits=(dataclasses.replace(
        lesson.hits[0], signals=dataclasses.replace(lesson.hits[0].signals, message_coverage=0.2)),))
    assert topic_answers_better(text, Decision(weaker, (weaker,)), merged, _after_filing())
    # as much of them as the topic's: answered by itself, it stays a question of its own
    # (「积分入学怎么算分」 after 女儿明年上小学要准备什么: the 积分入学 guide, not the 小学 rules)
    alike = dataclasses.replace(lesson, hits=(dataclasses.replace(
        lesson.hits[0], signals=dataclasses.replace(lesson.hits[0].signals, message_coverage=0.26)),))
    assert not topic_answers_better(text, Decision(alike, (alike,)), merged, _after_filing())


def test_a_question_with_a_subject_of_its_own_is_not_read_with_the_topic_for_its_asking_word():
    """「房租的个税每月能扣多少」 after 长者饭堂补贴: both releases say an amount (its asking word), but
    the tax rules say clearly more of its own words (房租, 个税): a new question, not read with
    the 长者饭堂 topic. 「多久能批」 has nothing besides its asking words (bot.asking.beyond_asking):
    the topic's release saying a period keeps it a follow-up, whatever else says 多久."""
    from bot.answerability import Decision
    from bot.asking import beyond_asking
    from bot.conversation import Turn, topic_answers_better

    meals = doc("gz_meals", title="老年人助餐配餐服务管理办法")
    tax = doc("gov_tax", title="个人所得税专项附加扣除暂行办法")
    after_meals = Turn("长者饭堂吃饭政府有补贴吗？", at=0.0, related=[], release="gz_meals")
    subsidy = _release(meals, "补贴标准为每人每次3元。", 0.28, 0.86)
    rent = _release(tax, "住房租金支出，扣除标准为每月1500元。", 0.61, 0.84)
    question = "房租的个税每月能扣多少"
    assert len(beyond_asking(question)) >= 4 and beyond_asking("多久能批") == "能批"
    on_meals = Decision(subsidy, (subsidy,))
    assert not topic_answers_better(question, Decision(rent, (rent,)), on_meals, after_meals)
    close = _release(tax, "住房租金支出，扣除标准为每月1500元。", 0.4, 0.84)  # not clearly more
    assert topic_answers_better(question, Decision(close, (close,)), on_meals, after_meals)
    period = _release(FILING, "后台工作人员将在2个工作日内完成审批。", 0.0, 0.9)
    unemployment = _release(doc("gz_unemp", title="失业保险常见问题"), "问：失业保险金能领多久？", 0.5, 0.46)
    assert topic_answers_better("多久能批", Decision(unemployment, (unemployment,)),
                                Decision(period, (period,)), _after_filing())


ARBITRATION_ONLINE = doc("gz_arbitration_online", title="劳动人事争议仲裁网上申请流程",
                         text="劳动仲裁可以在网上申请：打开粤省事小程序提交仲裁申请。\n")
WAGE_RULES = doc("wage_rules", title="保障农民工工资支付条例",
                 text="第十条 被拖欠工资的农民工有权依法投诉，或者申请劳动争议调解仲裁。\n")


@pytest.mark.parametrize("message, answered", [
    ("我在厂里干了三年，老板拖欠我工资不发，劳动仲裁能在网上申请吗", True),
    # an impersonal condition is part of the question: the whole message is not answered
    ("用人单位拖欠工资满三年后，劳动仲裁能在网上申请吗", False),
])
def test_a_story_told_before_the_question_does_not_drown_it(tmp_path, message, answered):
    """The story's words (拖欠, 工资) spread the message over the wage rules and dilute what it
    shares with the online guide: by itself, nothing is sure enough. Told by the asker (我, 老板),
    it is what happened to them: the asking clause, read by itself, is answered from the
    guide the whole message found too, and the log keeps the message as written with that
    reading beside it."""
    hits = articles(WAGE_RULES) + [hit_of(ARBITRATION_ONLINE, ARBITRATION_ONLINE.text.strip())]
    replies_, readings = gentle_conversation(tmp_path, hits, [WAGE_RULES, ARBITRATION_ONLINE], [message])
    assert ("粤省事小程序" in replies_[0]) is answered
    assert ("没有找到" in replies_[0]) is not answered
    assert readings == ["劳动仲裁能在网上申请吗" if answered else None]


def test_the_asking_clause_alone_does_not_answer_from_a_release_the_story_ruled_out(tmp_path):
    """When the whole message did not find the release its asking clause alone finds (four
    releases on the story's subject take the decision's places), the story named another
    subject: nothing is answered from the clause alone."""
    stories = [doc(f"wage_rules_{n}", title=f"工资支付规定（{n}）",
                   text="第一条 在厂里干了三年，老板拖欠工资不发的，依法处理。\n") for n in range(4)]
    hits = [hit for story in stories for hit in articles(story)]
    hits.append(hit_of(ARBITRATION_ONLINE, ARBITRATION_ONLINE.text.strip()))
    replies_, readings = gentle_conversation(tmp_path, hits, [*stories, ARBITRATION_ONLINE],
                                             ["我在厂里干了三年，老板拖欠我工资不发，劳动仲裁能在网上申请吗"])
    assert "没有找到" in replies_[0] and "粤省事小程序" not in replies_[0]
    assert readings == [None]


def test_a_topic_opened_by_a_story_is_the_question_it_asked(tmp_path):
    """A follow-up to a story answered by its asking clause is read with that clause, not with
    the story: the reply says 您问的是：劳动仲裁能在网上申请吗——… ."""
    guide = doc("gz_arbitration_guide", title="劳动人事争议仲裁网上申请流程",
                text="劳动仲裁可以在网上申请：打开粤省事小程序提交仲裁申请。\n申请仲裁不收费。\n")
    hits = articles(WAGE_RULES) + [hit_of(guide, line, ordinal=n)
                                   for n, line in enumerate(guide.text.splitlines())]
    replies_, readings = gentle_conversation(
        tmp_path, hits, [WAGE_RULES, guide],
        ["我在厂里干了三年，老板拖欠我工资不发，劳动仲裁能在网上申请吗", "要交钱吗"])
    assert "粤省事小程序" in replies_[0]
    assert replies_[1].startswith("您问的是：劳动仲裁能在网上申请吗——要交钱吗")
    assert "申请仲裁不收费" in replies_[1]
    assert readings[1] == "劳动仲裁能在网上申请吗 要交钱吗"


def test_a_storys_asking_clause_is_answered_from_the_releases_the_whole_message_found(tmp_path):
    """Read alone, the asking clause is surest of a guide the whole message did not find (three
    releases on the story's subject and a guide that also says 工资不发 took the decision's four
    places); it is answered from the surest release among those the whole message found."""
    from bot.answerability import MAX_CANDIDATES
    stories = [doc(f"rules_{n}", title=f"规定（{n}）",
                   text="第一条 在厂里干了三年，老板拖欠工资不发的，依法处理。\n")
               for n in range(MAX_CANDIDATES - 1)]
    found = doc("gz_found", title="欠薪指引", text="工资不发的，劳动仲裁可以在网上申请。\n")
    surest = doc("gz_surest", title="办事指南", text="劳动仲裁能在网上申请。\n")
    hits = [hit for document in [*stories, found, surest] for hit in articles(document)]
    replies_, readings = gentle_conversation(
        tmp_path, hits, [*stories, found, surest],
        ["我在厂里干了三年，老板拖欠我工资不发，劳动仲裁能在网上申请吗"])
    assert replies_[0].startswith("《欠薪指引》")
    assert readings == ["劳动仲裁能在网上申请吗"]


def _naming(candidate, subject: float, literal: float, title: float = 0.0):
    """`candidate` whose passage says `subject` of what the message names (its words but its
    asking words), `literal` of it as the message says it, the rest only in other terms, and
    whose title says `title` of it (index.signals; every word one the corpus uses)."""
    hit = candidate.hits[0]
    signals = dataclasses.replace(hit.signals, subject_coverage=subject, subject_literal=literal,
                                  subject_otherwise=subject - literal, subject_title=title)
    return dataclasses.replace(candidate, hits=(dataclasses.replace(hit, signals=signals),))


def test_a_message_naming_its_own_subject_is_not_read_with_the_topic_for_its_asking_word():
    """「养老金什么时候涨」 right after an answer: the topic's release says a time, its asking word,
    which kept it a follow-up (answered from the 优待 rules or the 失业 FAQ). It names 养老金:
    when another release says clearly more of that, or says 养老金 while the topic's release
    says it only in other terms (the FAQ's 养老保险费), it is a new question. 「多久能批下来」
    names nothing but its asking word: it still follows the 备案 guide that says a period."""
    from bot.answerability import Decision
    from bot.conversation import Turn, follows

    pension = doc("gz_pension", title="企业职工基本养老金申领详解")
    after_elders = Turn("我爸68岁坐地铁要钱吗", at=0.0, related=[], release="gz_elders")
    question = "养老金什么时候涨"
    other = _naming(_release(pension, "每年调整基本养老金。", 1.0, 0.32), 1.0, 1.0)
    alone = Decision(None, (other,))
    timely = _naming(_release(doc("gz_elders", title="老年人优待办法"), "自申请之日起15个工作日内办结。",
                              0.0, 0.56), 0.0, 0.0)
    assert not follows(question, alone, Decision(timely, (timely,)), after_elders, 0.53)
    after_benefit = Turn("失业金怎么领", at=0.0, related=[], release="gz_unemp")
    faq = _naming(_release(doc("gz_unemp", title="失业保险常见问题"),
                           "问：失业保险基金何时支付养老保险费？", 1.0, 0.66), 1.0, 0.0)
    assert not follows(question, alone, Decision(faq, (faq,)), after_benefit, 0.53)
    said_alike = _naming(faq, 1.0, 1.0)  # the FAQ says 养老金 too: the topic may answer it
    assert follows(question, alone, Decision(said_alike, (said_alike,)), after_benefit, 0.53)
    # 「退休金什么时候涨」: neither says 退休金; the pension guide says it as 基本养老金, in its
    # title too (a document about it), the FAQ only as 养老保险费 in a passage on something else
    guide = _naming(_release(pension, "按月领取基本养老金。", 1.0, 0.52), 1.0, 0.0, title=1.0)
    on_faq, retirement = Decision(faq, (faq,)), "退休金什么时候涨"
    assert not follows(retirement, Decision(None, (guide,)), on_faq, after_benefit, 0.53)
    untitled = _naming(guide, 1.0, 0.0, title=0.0)
    assert follows(retirement, Decision(None, (untitled,)), on_faq, after_benefit, 0.53)
    # it says 多久, the asking word; the message names nothing (index.signals: all of it said)
    unemployment = _release(doc("gz_unemp", title="失业保险常见问题"), "问：失业保险金能领多久？", 0.5, 0.46)
    period = _release(FILING, "后台工作人员将在2个工作日内完成审批。", 0.0, 0.9)
    assert follows("多久能批下来？", Decision(None, (unemployment,)), Decision(period, (period,)),
                   _after_filing(), 0.5)


def test_a_message_naming_nothing_the_topics_release_says_is_not_its_follow_up():
    """「残疾证二级 每个月能领多少钱」 right after 「产假多少天」: by itself its best release (the 残疾人
    补贴 rules, 0.25) is too unsure even to be offered, and read with the topic the 女职工 rules are
    probable from the topic's words alone (0.64): it was said as 您问的是：产假多少天——残疾证二级…
    above the list of work women may not do. The topic's release says none of what the message
    names (残疾证), another release does: a new question. A follow-up naming nothing the topic's
    release says but asking what it says (「孩子办的话要带什么」 after 社保卡怎么申请: the card guide
    lists 材料, not 孩子) still follows, unless by itself it finds another release (UNHEARD_SHARE)."""
    from bot.answerability import Decision
    from bot.conversation import Turn, follows

    after_leave = Turn("产假多少天", at=0.0, related=[], release="law_women")
    question = "残疾证二级 每个月能领多少钱"
    disability = _naming(_release(doc("gz_disability", title="残疾人两项补贴实施办法"),
                                  "持有残疾人证的重度残疾人可申请护理补贴。", 0.47, 0.25), 0.71, 0.71)
    women = _naming(_release(doc("law_women", title="女职工劳动保护特别规定"),
                             "女职工生育享受98天产假。", 0.0, 0.64), 0.0, 0.0)
    alone, on_leave = Decision(None, (disability,)), Decision(women, (women,))
    assert not follows(question, alone, on_leave, after_leave, 0.53)
    said = _naming(women, 0.3, 0.3)  # the topic's release says some of it: the topic may answer
    assert follows(question, alone, Decision(said, (said,)), after_leave, 0.53)
    after_card = Turn("社保卡怎么申请", at=0.0, related=[], release="gz_card")
    child = _naming(_release(doc("gz_school", title="义务教育招生细则"), "孩子入学需提供户口簿。", 1.0, 0.03),
                    1.0, 1.0)
    materials = _naming(_release(doc("gz_card", title="怎么申领社会保障卡"),
                                 "申领需提供本人有效身份证件原件。", 0.0, 0.43), 0.0, 0.0)
    assert follows("孩子办的话要带什么", Decision(None, (child,)), Decision(materials, (materials,)),
                   after_card, 0.53)
    # ...unless by itself it finds another release at UNHEARD_SHARE of the operating point: the
    # 公租房 rules say amounts (rents), not 残疾证, and the 残疾人 rules are found at 0.25
    after_housing = Turn("公租房怎么申请", at=0.0, related=[], release="gz_housing")
    rents = _naming(_release(doc("gz_housing", title="公共租赁住房管理办法"),
                             "公共租赁住房租金标准为每平方米每月10元。", 0.0, 0.67), 0.0, 0.0)
    assert not follows(question, alone, Decision(rents, (rents,)), after_housing, 0.53)


def test_a_question_answered_by_itself_that_names_its_own_subject_is_not_taken_by_the_topic():
    """「生育津贴能领多少」 right after 「失业金能领多久」: answered by itself from the 生育津贴 notice
    (0.80), read with the topic from the FAQ (0.95), whose 能领 says as much of the message's
    words as the notice's 生育津贴. What the message names is 生育津贴 (能领 is its asking, a modal
    and its verb: index.signals.names), which the FAQ does not say: a new question."""
    from bot.answerability import Decision
    from bot.conversation import Turn, topic_answers_better

    after_benefit = Turn("失业金能领多久", at=0.0, related=[], release="gz_unemp")
    notice = _naming(_release(doc("gz_maternity", title="生育津贴直接发放至个人"),
                              "职工生育津贴按月发放。", 0.47, 0.80), 1.0, 1.0)
    faq = _naming(_release(doc("gz_unemp", title="失业保险常见问题"), "问：失业保险金能领到多少钱？",
                           0.53, 0.95), 0.0, 0.0)
    question = "生育津贴能领多少"
    on_faq = Decision(faq, (faq,))
    assert not topic_answers_better(question, Decision(notice, (notice,)), on_faq, after_benefit)
    unnamed = _naming(notice, 0.0, 0.0)  # had the notice said nothing it names, the topic would win
    assert topic_answers_better(question, Decision(unnamed, (unnamed,)), on_faq, after_benefit)
    # 「生育津贴呢」 asks what about it in the frame of the last answer: the topic's subject is its
    assert topic_answers_better("那生育津贴呢", Decision(notice, (notice,)), on_faq, after_benefit)


def test_a_question_naming_a_subject_of_its_own_opens_a_topic_an_asking_one_does_not():
    """Answered by itself from the topic's release, 「工伤认定去哪里申请」 names what the next
    「要多久」 is about; 「能领多久」 (after 失业金怎么领) and 「那中秋呢」 do not: the topic stays."""
    from bot.conversation import opens_topic

    assert opens_topic("工伤认定去哪里申请")
    assert not opens_topic("能领多久")
    assert not opens_topic("那中秋呢")
    assert not opens_topic("要什么材料？")


def test_a_message_nothing_answers_on_the_topic_leaves_the_topic_as_it_was(env):
    """「还有别的要求吗」 after 失业保险金怎么申领 finds nothing sure enough, by itself or with its topic,
    whose release says what it names. The resident's next message still asks about 失业保险金: it
    is read with 失业保险金怎么申领, not with 「还有别的要求吗」 as the opening of a topic of its own."""
    model, chat, search, _ = env
    if model == "steep":
        pytest.skip("needs a follow-up that is merged: the gentle model")
    chat("失业保险金怎么申领", openid="o_kept")
    assert "没有找到" in chat("还有别的要求吗", openid="o_kept")
    search.queries.clear()
    reply = chat("材料要交到哪", openid="o_kept")
    assert "失业保险金怎么申领 材料要交到哪" in search.queries
    assert not any("还有别的要求吗 材料要交到哪" in q for q in search.queries)
    assert reply.startswith("您问的是：失业保险金怎么申领——材料要交到哪\n")


def test_a_message_is_on_its_topic_unless_another_release_says_what_the_topics_does_not():
    """conversation.on_topic: read with its topic, the topic's release says at least
    ON_TOPIC_SHARE of what the message names, or the message names nothing beyond its asking
    and nothing it finds by itself says it either; not when another release does and the
    topic's does not, nor when it names a subject of its own, nor when the reading did not find
    the topic's release."""
    from bot.answerability import Decision, candidates
    from bot.conversation import ON_TOPIC_SHARE, Turn, on_topic

    question, hits = _fund_hits(0.3)
    previous = Turn("退休了公积金能提取吗", 0.0, [], release="gz_fund")

    def reading(named: float, release: str | None = None) -> Decision:
        said = [dataclasses.replace(h, signals=dataclasses.replace(h.signals, subject_coverage=named))
                for h in hits if release is None or h.doc_id == release]
        return Decision(None, tuple(candidates(question, said)))
    elsewhere = reading(1.0, "gz_fund_guide")  # by itself: another release says what it names
    asking, naming = "多久能批", "提取要单位盖章吗"  # names nothing beyond asking / names 单位盖章
    assert on_topic(naming, elsewhere, reading(1.0), previous)
    assert on_topic(naming, elsewhere, reading(ON_TOPIC_SHARE), previous)
    assert not on_topic(asking, elsewhere, reading(0.2), previous)
    assert on_topic(asking, reading(0.2, "gz_fund_guide"), reading(0.2), previous)  # nothing else says it
    assert on_topic(asking, Decision(None, ()), reading(0.2), previous)
    assert not on_topic(naming, Decision(None, ()), reading(0.2), previous)  # a subject of its own
    assert not on_topic(naming, elsewhere, reading(1.0), dataclasses.replace(previous, release="gz_other"))

"""What a message asks for, and the passage quoted for it: among a release's passages the
search ranks alike, the one that says the kind of thing asked (a place, a period, an amount…)."""
from bot.answer import choose_passage
from bot.answerability import Candidate
from bot.asking import asked_kinds, says_kind, tells_only
from tests.test_bot_answer import _scored
from tests.test_bot_fakes import doc, hit_of


def test_the_kinds_asked_are_read_from_everyday_and_cantonese_wording():
    assert asked_kinds("要去哪里申请？") == {"place"}
    assert asked_kinds("多久能批下来？") == {"time"}
    assert asked_kinds("护理补贴每个月发多少？") == {"amount"}
    assert asked_kinds("要带什么材料") == {"materials"}
    assert asked_kinds("手机上能认证吗？") == {"online"}
    assert asked_kinds("年龄有没有限制？") == {"age"}
    assert asked_kinds("要收费吗？") == {"fee"}
    assert asked_kinds("租金有冇补贴㗎？一年几多？") == {"amount"}
    assert asked_kinds("去边度办？") == {"place"}
    assert asked_kinds("单身可以申请公租房吗？") == frozenset()   # whether: no kind of thing
    # who qualifies is not what to bring: 「要什么条件」 after 失业金能领多久 was kept with the
    # unemployment FAQ, which lists 材料, though the 小学 admission rules answered it by itself
    assert asked_kinds("在广州读小学要什么条件") == frozenset()
    assert asked_kinds("需要什么条件？") == frozenset()
    assert asked_kinds("需要什么证明") == {"materials"}


def test_a_passage_says_a_kind_by_what_answers_it_not_by_the_question_words():
    assert says_kind("申请人向户籍所在地街道办事处提出申请。", frozenset({"place"}))
    assert not says_kind("符合条件的家庭可以申请公共租赁住房。", frozenset({"place"}))
    assert says_kind("审核部门应当在15个工作日内作出决定。", frozenset({"time"}))
    assert not says_kind("2024年7月29日起施行。", frozenset({"time"}))   # a date is not a period
    assert says_kind("护理补贴标准为每人每月200元。", frozenset({"amount"}))
    assert says_kind("申请时提交身份证、户口簿原件。", frozenset({"materials"}))
    assert says_kind("可通过“穗好办”APP在线申请。", frozenset({"online"}))
    assert not says_kind("申请人提交材料。", frozenset({"online", "place"}))
    assert says_kind("凭身份证原件办理。", frozenset({"materials"}))
    assert not says_kind("老年人优待凭证仅限本人使用。", frozenset({"materials"}))  # 凭证: a noun


def test_of_passages_ranked_alike_the_one_saying_what_is_asked_is_quoted():
    """「要去哪里申请？」 after a question on who may rent: both passages say 申请 and the
    search ranks them alike; the one naming where is quoted. A clear preference of the
    search still wins over it."""
    housing = doc("gz_housing", title="广州市公共租赁住房管理办法")
    who = hit_of(housing, "第十条 本市户籍的单身居民可以申请公共租赁住房。", article="第十条", ordinal=10)
    where = hit_of(housing, "第十二条 申请人到户籍所在地街道办事处提出申请。", article="第十二条", ordinal=12)
    near = Candidate("gz_housing", (_scored(who, 1.0, 0.5), _scored(where, 0.95, 0.5)), {})
    assert choose_passage(near).article == "第十条"
    assert choose_passage(near, asks=asked_kinds("要去哪里申请？")).article == "第十二条"
    clear = Candidate("gz_housing", (_scored(who, 1.0, 0.5), _scored(where, 0.4, 0.5)), {})
    assert choose_passage(clear, asks=asked_kinds("要去哪里申请？")).article == "第十条"


def test_a_follow_up_asks_what_its_own_message_asks_not_its_topics_question():
    from bot.service import Reading
    alone = Reading("要去哪里申请？", [])
    merged = Reading("重度残疾人护理补贴每月发多少？要去哪里申请？", [], follow_up=True, alone=alone)
    assert merged.asks == {"place"}
    assert Reading("重度残疾人护理补贴每月发多少？", []).asks == {"amount"}


def test_a_follow_ups_passage_may_answer_it_by_the_kind_it_says_without_its_words():
    """「几天能拿到？」 after 社保卡怎么申请: of the release's passages found for the follow-up, none
    uses its words; the one saying a period answers it and is quoted, not the topic's passage
    that the search ranks first (the release's hits fall back to it when nothing answers)."""
    card = doc("gz_card", title="社会保障卡申领指南")
    how = _scored(hit_of(card, "社保卡可在银行网点申请办理。", ordinal=1), 1.0, 0.0)
    when = _scored(hit_of(card, "社保卡即时领卡或者等待12个工作日领卡。", ordinal=2), 0.6, 0.0)
    release = Candidate("gz_card", (how,), {})
    assert choose_passage(release, [how, when]).text == how.text   # nothing asked: the search's
    assert choose_passage(release, [how, when], asked_kinds("几天能拿到？")).text == when.text


def test_of_two_releases_nearly_as_probable_the_one_saying_what_is_asked_answers():
    """「护理补贴每个月发多少？」: the 实施办法 on who qualifies and the notice stating 每人每月290元
    are nearly as probable; the one stating an amount answers. A clear preference of the
    decision still wins, and without an asking point the most probable answers."""
    from test_bot_fakes import coverage_model, found_hit

    from bot.answerability import decide

    question = "重度残疾人护理补贴每个月发多少？"
    rules = doc("gz_rules", title="护理补贴实施办法")
    notice = doc("gz_notice", title="护理补贴发放标准")
    model = coverage_model()
    gentle = type(model)({**model.weights, "coverage": 2.4}, model.means, model.scales, 0.0, 0.5)

    def hits(notice_covered: float):
        return [found_hit(hit_of(rules, "一级、二级残疾人可以申请护理补贴。"), question, question, 0.9, 0),
                found_hit(hit_of(notice, "护理补贴标准为每人每月290元。"), question, question,
                          notice_covered, 1)]
    asks = asked_kinds(question)
    assert decide(question, hits(0.89), gentle).chosen.doc_id == "gz_rules"
    assert decide(question, hits(0.89), gentle, asks=asks).chosen.doc_id == "gz_notice"
    assert decide(question, hits(0.6), gentle, asks=asks).chosen.doc_id == "gz_rules"


def test_a_bare_topic_is_a_short_subject_asking_nothing():
    """「养老金」, 「公交卡？」: a subject and nothing else (punctuation and spaces aside); a
    question, a request or a sentence about it is not (bot.answer asks those no question back)."""
    from bot.asking import bare_topic
    assert bare_topic("养老金") == "养老金"
    assert bare_topic(" 公交卡？") == "公交卡"
    assert bare_topic("低保。") == "低保"
    for not_bare in ("养老金怎么领", "多少钱", "几多钱", "边度办", "我要投诉", "能退吗", "医保呢",
                     "保", "城乡居民基本养老保险", "ETC", "12345", ""):
        assert bare_topic(not_bare) is None, not_bare


def test_a_message_telling_what_happened_without_asking_anything_is_told_apart():
    """「公司拖欠我三个月工资了」 asks nothing yet; a question word, a verb asked both ways, a modal or
    a Cantonese 有冇 makes a message a question even without 吗 or a question mark."""
    for told in ("公司拖欠我三个月工资了", "我在广州开了个小店", "老板不给报医药费"):
        assert tells_only(told), told
    for asked in ("公司拖欠我工资怎么办", "你们几点下班", "保险公司赔不赔", "谁来担任监护人",
                  "是从离职那天算还是从哪天算", "我辞职了 能领失业金", "有冇补贴", "失业金领多久"):
        assert not tells_only(asked), asked

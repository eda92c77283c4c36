"""Every message type through the Flask app, signed and encrypted with wechatpy's crypto."""
from __future__ import annotations

import itertools
import threading

import pytest
from test_bot_fakes import bot_app, create_bot_app, publish, slot_fixtures, world_documents

from bot import replies
from bot.answer import RELATED_FIRST_NUMBER
from bot.callback_client import WeChatSender, event_xml, media_xml, text_xml, voice_xml
from bot.xmlsafe import parse_flat_xml

_MSG_IDS = itertools.count(10**6)  # unique per module: a repeated MsgId would be a retry


slot, search = slot_fixtures()  # search: each test's own retriever in the module's app


@pytest.fixture(scope="module")
def app(tmp_path_factory, slot):
    for app in bot_app(tmp_path_factory.mktemp("msgs"), slot):
        svc = app.extensions["policybot"]
        if svc.subscribers is None:  # the push feature not registered
            from bot.subscribers import Subscribers

            svc.subscribers = Subscribers(svc.db)
        publish(svc.db, *world_documents())
        yield app


@pytest.fixture
def chat(app):
    sender, client = WeChatSender.from_app(app), app.test_client()

    def send(xml_or_text, openid="o_resident1"):
        xml = (
            xml_or_text
            if xml_or_text.startswith("<xml>")
            else text_xml(openid, xml_or_text, msg_id=next(_MSG_IDS))
        )
        response = sender.post(client, xml)
        assert response.status_code == 200, response.data
        return sender.reply_fields(response)
    return send


def test_text_question_is_answered_with_a_quotation(chat):
    reply = chat("失业保险金怎么申领？")
    assert reply["MsgType"] == "text" and reply["ToUserName"] == "o_resident1"
    assert (
        "《失业保险金申领热点问答》" in reply["Content"]
        and "https://zc.example.gov.cn/p/gz_unemp" in reply["Content"]
    )


def test_expired_policy_is_presented_as_expired_through_the_app(chat):
    content = chat("积分制入户的申请条件是什么")["Content"]
    print("expired through the app:\n" + content)
    assert content.startswith("注意：该文件已失效（有效期至2024-06-30）")
    assert "现行文件：《广州市积分制入户管理办法》" in content


def test_voice_with_and_without_recognition(chat):
    assert "失业保险金" in chat(voice_xml("o_resident2", "失业保险金怎么申领", msg_id=11))["Content"]
    assert "请用文字输入" in chat(voice_xml("o_resident2", None, msg_id=12))["Content"]
    assert "请用文字输入" in chat(voice_xml("o_resident2", "", msg_id=13))["Content"]


@pytest.mark.parametrize(("kind", "received", "guidance"), [
    ("image", "收到您的图片", "请用文字"), ("video", "收到您的视频", "请用文字"),
    ("shortvideo", "收到您的视频", "请用文字"), ("location", "收到您的位置", "在哪里办理"),
    ("link", "收到您分享的链接", "请用文字")])
def test_media_messages_get_polite_guidance(chat, kind, received, guidance):
    content = chat(media_xml("o_resident3", kind, msg_id=next(_MSG_IDS)))["Content"]
    assert content.startswith(received) and guidance in content


def test_subscribe_event_welcomes_and_unsubscribe_marks_inactive(app, chat):
    welcome = chat(event_xml("o_follower", "subscribe", create_time=1700000001))
    assert "感谢关注" in welcome["Content"] and "订阅" in welcome["Content"]
    assert chat(event_xml("o_follower", "unsubscribe", create_time=1700000002)) == {}  # `success`
    assert app.extensions["policybot"].subscribers.profile("o_follower")["active"] is False


def test_menu_click_keys_act_as_typed_text(chat):
    assert (
        "现行有效政策目录"
        in chat(event_xml("o_menu", "CLICK", "CATALOGUE", create_time=1700000100))["Content"]
    )
    assert (
        "失业保险金"
        in chat(event_xml("o_menu", "CLICK", "TOPIC_UNEMPLOYMENT", create_time=1700000101))["Content"]
    )
    assert (
        "您可以直接提问"
        in chat(event_xml("o_menu", "CLICK", "NO_SUCH_KEY", create_time=1700000102))["Content"]
    )
    assert chat(event_xml("o_menu", "VIEW", "https://zc.example.gov.cn/search", create_time=1700000103)) == {}


def test_catalogue_keyword(chat):
    content = chat("目录")["Content"]
    assert "现行有效政策目录" in content and "https://zc.example.gov.cn/catalogue" in content


def test_subscriptions_by_message(chat):
    assert "已订阅「社会保险」" in chat("订阅 社会保险", openid="o_sub")["Content"]
    assert "社会保险" in chat("我的订阅", openid="o_sub")["Content"]
    unknown = chat("订阅 火星移民", openid="o_sub")["Content"]
    assert "没有「火星移民」" in unknown and "就业创业" in unknown
    assert "常用主题" in chat("订阅", openid="o_sub")["Content"]
    assert "已退订「社会保险」" in chat("退订 社会保险", openid="o_sub")["Content"]
    assert "还没有订阅" in chat("我的订阅", openid="o_sub")["Content"]


def test_transfer_to_a_human(chat):
    assert chat("转人工")["MsgType"] == "transfer_customer_service"


def test_words_rate_the_last_answer(app, chat):
    chat("失业保险金怎么申领", openid="o_words")
    assert "感谢您的评价" in chat("满意", openid="o_words")["Content"]
    assert "感谢反馈" in chat("不满意。", openid="o_words")["Content"]  # the last rating wins
    app.extensions["policybot"].bot.flush()  # the log (and a pending rating) is written after the reply
    latest = app.extensions["policybot"].questions.latest_for("o_words", within_seconds=600)
    assert latest.rating == "unsatisfied" and latest.answered and latest.cited[0]["doc_id"] == "gz_unemp_jd"


def test_a_rating_waiting_for_its_row_never_overwrites_a_later_one(app, chat, monkeypatch):
    """满意 arrives before the answer's row is written (it waits in the shared state); 不满意
    arrives, from another worker, just after the row is written and before the waiting
    rating is applied. The later rating stands."""
    bot, openid = app.extensions["policybot"].bot, "o_rating_race"
    # An earlier test's batch still queued would take this answer's row along when it runs,
    # before `hold`, so the row would be there before 满意: nothing waits then.
    bot.flush()
    hold = threading.Event()
    bot.after_reply.submit(hold.wait, 30)  # the log writer is busy: the answer's row waits
    chat("失业保险金怎么申领", openid=openid)
    assert "感谢您的评价" in chat("满意", openid=openid)["Content"]
    record_many = bot.questions.record_many

    def record_then_rated_elsewhere(*args, **kwargs):
        logged = record_many(*args, **kwargs)
        bot.feedback(openid, "unsatisfied")  # another worker, the row now there
        return logged

    monkeypatch.setattr(bot.questions, "record_many", record_then_rated_elsewhere)
    hold.set()
    bot.flush()
    latest = app.extensions["policybot"].questions.latest_for(openid, within_seconds=600)
    assert latest.rating == "unsatisfied"


@pytest.mark.parametrize(("digit", "rating", "thanks"), [
    ("1", "satisfied", "感谢您的评价"), ("2", "unsatisfied", "感谢反馈"),
    ("１", "satisfied", "感谢您的评价")])
def test_1_and_2_of_the_menu_rate_the_last_answer(app, chat, digit, rating, thanks):
    openid = f"o_digit_{ord(digit)}"
    answer = chat("失业保险金怎么申领", openid=openid)["Content"]
    assert "评价本次答复：回复 1 满意，2 不满意" in answer
    assert thanks in chat(digit, openid=openid)["Content"]
    app.extensions["policybot"].bot.flush()  # the log (and a pending rating) is written after the reply
    latest = app.extensions["policybot"].questions.latest_for(openid, within_seconds=600)
    assert latest.rating == rating and latest.question == "失业保险金怎么申领"


def test_numbers_from_3_return_related_passages(chat):
    answer = chat("失业保险金怎么申领", openid="o_conv")["Content"]
    assert f"{RELATED_FIRST_NUMBER}.《广州市失业保险金申领办法》" in answer
    assert f"{RELATED_FIRST_NUMBER + 1}.《" not in answer  # one related document here
    passage = chat(str(RELATED_FIRST_NUMBER), openid="o_conv")["Content"]
    assert passage.startswith(f"{RELATED_FIRST_NUMBER}.《广州市失业保险金申领办法》")
    assert "身份证和失业登记证明" in passage
    assert chat("３", openid="o_conv")["Content"] == passage  # full-width digits too
    for beyond in (str(RELATED_FIRST_NUMBER + 1), "9"):
        assert chat(beyond, openid="o_conv")["Content"] == replies.NO_RELATED
    assert chat(str(RELATED_FIRST_NUMBER), openid="o_nobody")["Content"] == replies.NO_RELATED


def test_a_rating_without_an_answer_says_there_is_nothing_to_rate(chat):
    assert chat("1", openid="o_fresh")["Content"] == replies.FEEDBACK_NOTHING
    assert chat("不满意", openid="o_fresh")["Content"] == replies.FEEDBACK_NOTHING


def test_a_short_follow_up_is_answered_from_the_same_release_with_another_passage(chat):
    """(Conversations in full: tests/test_bot_conversation.py.)"""
    first = chat("失业保险金怎么申领", openid="o_follow")["Content"]
    second = chat("那需要什么材料？", openid="o_follow")["Content"]
    assert first != second and "身份证和失业登记证明" in second  # not the same passage again
    third = chat("个人所得税专项附加扣除", openid="o_follow")["Content"]  # a new topic, unanswerable here:
    assert "没有找到" in third and "失业保险金" not in third            # not glued to the old one


def test_unanswered_question_is_logged_as_unanswered(app, chat):
    content = chat("离婚后孩子抚养权归谁", openid="o_unans")["Content"]
    assert "没有找到" in content and "转人工" in content
    app.extensions["policybot"].bot.flush()  # the log is written after the reply
    latest = app.extensions["policybot"].questions.latest_for("o_unans", within_seconds=600)
    assert latest is not None and not latest.answered
    assert "感谢反馈" in chat("2", openid="o_unans")["Content"]  # a "not found" can be rated too
    assert app.extensions["policybot"].questions.get(latest.id).rating == "unsatisfied"


def test_a_rating_that_arrives_before_the_answer_is_logged_waits_for_it(app, chat):
    """As when another worker process still writes the log: the row does not exist yet."""
    bot, questions = app.extensions["policybot"].bot, app.extensions["policybot"].questions
    bot.flush()  # no earlier batch still queued, which would take this answer's row along
    release = threading.Event()
    bot.after_reply.submit(release.wait)  # the log write queues behind this
    try:
        chat("失业保险金怎么申领", openid="o_early")
        assert "感谢反馈" in chat("2", openid="o_early")["Content"]
        assert questions.latest_for("o_early", within_seconds=600) is None  # not logged yet
    finally:
        release.set()
    bot.flush()
    latest = questions.latest_for("o_early", within_seconds=600)
    assert latest.question == "失业保险金怎么申领" and latest.rating == "unsatisfied"


def test_plaintext_mode_round_trip(tmp_path, search):
    from server import start

    app = start(create_bot_app(tmp_path, search, safe=False))
    sender = WeChatSender.from_app(app)
    response = sender.post(app.test_client(), text_xml("o_plain", "失业保险金怎么申领", msg_id=1))
    fields = parse_flat_xml(response.data)
    assert response.status_code == 200 and "失业保险金" in fields["Content"]


def test_user_text_that_looks_like_markup_is_an_ordinary_question(chat):
    content = chat('<!DOCTYPE x [<!ENTITY a "b">]> ]]> 失业保险金怎么申领 \x0b', openid="o_markup")["Content"]
    assert "失业保险金" in content


def test_template_send_job_finished_event_is_handed_to_the_push_outbox(chat):
    extra = "<MsgID>200163836</MsgID><Status><![CDATA[failed:user block]]></Status>"
    assert chat(event_xml("o_tmpl", "TEMPLATESENDJOBFINISH", create_time=1700000200, extra=extra)) == {}


def test_a_failing_retriever_gets_an_honest_busy_reply(tmp_path):
    from server import start

    def broken(query, **_):
        raise RuntimeError("index not loaded")
    app = start(create_bot_app(tmp_path, broken))
    sender = WeChatSender.from_app(app)
    reply = sender.reply_text(
        sender.post(app.test_client(), text_xml("o_busy", "失业保险金怎么申领", msg_id=1))
    )
    assert "系统繁忙" in reply and "转人工" in reply

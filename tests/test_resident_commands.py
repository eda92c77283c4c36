"""What a resident types to manage pushes, through the real callback (wechatpy crypto):
「完善资料」/「我的资料」 and the menu's 完善资料 send the signed profile link, which opens the
form; 「订阅」 lists the account's own topics (SUBSCRIPTION_TOPICS), not every tag of every
city's documents; 「退订 全部」 ends every subscription and the pushes."""
from __future__ import annotations

import itertools
import re

import pytest
from test_bot_fakes import FakeSearch, create_bot_app, doc, publish, world_documents, world_hits

from bot.callback_client import WeChatSender, event_xml, text_xml

_IDS = itertools.count(7 * 10**6)
# Sixty topics, among them another city's group: none of it may be dumped on a resident.
MANY_TOPICS = [f"专题{n:02d}" for n in range(60)]


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    from server import start

    app = start(create_bot_app(tmp_path_factory.mktemp("residents"), FakeSearch(world_hits()),
                               SUBSCRIPTION_TOPICS="社会保险、就业创业、没有文件的主题"))
    svc = app.extensions["policybot"]
    publish(svc.db, *world_documents(),
            doc("many_topics", topics=MANY_TOPICS, audience=["来穗人员", "高校毕业生"]))
    yield app
    svc.db.dispose()


@pytest.fixture
def chat(app):
    sender, client = WeChatSender.from_app(app), app.test_client()

    def send(text, openid="o_resident_profile", event_key=None):
        xml = (event_xml(openid, "CLICK", event_key) if event_key
               else text_xml(openid, text, msg_id=next(_IDS)))
        response = sender.post(client, xml)
        assert response.status_code == 200, response.data
        return sender.reply_fields(response)["Content"]
    return send


@pytest.mark.parametrize("typed", ["完善资料", "我的资料", None])
def test_the_profile_link_is_sent_and_opens_the_form(app, chat, typed):
    reply = chat(typed, event_key=None if typed else "MY_PROFILE")
    link = re.search(r"https://zc\.example\.gov\.cn(/h5/profile\?t=[\w.%-]+)", reply)
    assert link, reply
    assert "30分钟" in reply and "《" not in reply  # the link, not a quotation of some document
    page = app.test_client().get(link.group(1))
    assert page.status_code == 200 and "我的推送资料" in page.get_data(as_text=True)


def test_subscribe_lists_the_accounts_own_topics(chat):
    listing = chat("订阅", openid="o_lister")
    offered = listing.split("常用主题：", 1)[1].split("。", 1)[0].split("、")
    assert offered == ["社会保险", "就业创业"]  # configured, in order; a topic without documents left out
    assert "来穗人员" not in listing and "专题" not in listing and len(listing) < 200
    unknown = chat("订阅 炒股", openid="o_lister")
    assert "没有「炒股」" in unknown and "专题" not in unknown and "社会保险" in unknown
    close = chat("订阅 就业", openid="o_lister")
    assert "您是不是要订阅：就业创业" in close


def test_unsubscribe_all(app, chat):
    openid = "o_unsub_all"
    assert "已订阅「社会保险」" in chat("订阅 社会保险", openid)
    assert "已订阅「高校毕业生」" in chat("订阅 高校毕业生", openid)
    reply = chat("退订 全部", openid)
    assert "已退订全部2个主题" in reply and "社会保险" in reply and "高校毕业生" in reply
    assert "还没有订阅" in chat("我的订阅", openid)
    assert app.extensions["policybot"].subscribers.profile(openid)["consent"] is False
    assert "没有订阅任何主题" in chat("全部退订", openid)

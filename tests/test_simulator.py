"""The staff simulator: real signed (and in safe mode encrypted) XML through the callback,
with the account configured or not, staff only, no way around the callback's own checks, and
the account's menu."""
from __future__ import annotations

import pytest
from test_bot_fakes import FakeSearch, bot_config, create_bot_app, world_hits

from portal.testing import FAST_N, csrf, login_as, make_staff


@pytest.fixture
def app(tmp_path):
    from server import start

    app = start(create_bot_app(tmp_path, FakeSearch(world_hits()), STAFF_SCRYPT_N=FAST_N))
    yield app
    app.extensions["policybot"].db.dispose()


def _send(client, text, kind="text"):
    return client.post("/staff/simulator/send", json={"kind": kind, "text": text},
                       headers={"X-CSRF-Token": csrf(client)})


def test_simulator_sends_encrypted_signed_xml_through_the_callback(app):
    client = app.test_client()
    login_as(client, app, make_staff(app, "sim.user", "drafter", "区人社局"))
    page = client.get("/staff/simulator/")
    assert page.status_code == 200 and "已配置公众号（安全模式，消息加密）" in page.get_data(as_text=True)
    data = _send(client, "失业保险金怎么申领").get_json()
    assert data["status"] == 200 and data["encrypted"] and "失业保险金" in data["reply"]
    assert "<Encrypt>" in data["request_xml"] and "失业保险金" not in data["request_xml"]
    assert "<Encrypt>" in data["reply_xml"]
    assert _send(client, "", kind="subscribe").get_json()["reply"].startswith("感谢关注")
    assert _send(client, "x", kind="bogus").status_code == 400


def test_without_an_account_the_simulator_signs_with_its_own_secrets(tmp_path):
    """No WeChat settings: /wechat stays disabled, yet the simulator's messages are signed and
    encrypted with secrets made up for the process and meet the callback's checks."""
    from server import create_app, start

    config = bot_config(tmp_path, STAFF_SCRYPT_N=FAST_N)
    for key in ("WECHAT_TOKEN", "WECHAT_APPID", "WECHAT_APPSECRET", "WECHAT_AES_KEY"):
        config.pop(key)
    app = start(create_app(config, bot_search=FakeSearch(world_hits())))
    svc = app.extensions["policybot"]
    assert svc.callback is None and svc.simulator_callback.config.safe_mode
    client = app.test_client()
    assert client.post("/wechat", data="<xml/>").status_code == 503  # still disabled
    login_as(client, app, make_staff(app, "sim.user", "drafter", "区人社局"))
    assert "未配置公众号" in client.get("/staff/simulator/").get_data(as_text=True)
    data = _send(client, "失业保险金怎么申领").get_json()
    assert data["status"] == 200 and data["encrypted"] and "失业保险金" in data["reply"]
    assert "<Encrypt>" in data["request_xml"] and "失业保险金" not in data["request_xml"]
    # the same message again is WeChat's retry: the callback's replay and dedupe see it
    callback = svc.simulator_callback
    from bot.callback_client import WeChatSender, text_xml
    sender = WeChatSender(callback.config)
    args, body = sender.signed_request(text_xml("o_sim_retry", "失业保险金怎么申领", msg_id=7))
    first, again = callback.receive(args, body), callback.receive(args, body)
    assert first.status == again.status == 200
    assert sender.reply_text(first.body) == sender.reply_text(again.body)
    forged = dict(args, signature="0" * 40)
    assert callback.receive(forged, body).status == 403
    app.extensions["policybot"].db.dispose()


def test_the_simulator_shows_the_accounts_menu_and_a_click_sends_its_key(app):
    client = app.test_client()
    login_as(client, app, make_staff(app, "sim.menu", "drafter", "区人社局"))
    page = client.get("/staff/simulator/").get_data(as_text=True)
    assert 'data-key="CATALOGUE"' in page and "现行有效目录" in page
    assert 'href="https://zc.example.gov.cn/search"' in page  # a view button opens its page
    reply = _send(client, "MY_SUBSCRIPTIONS", kind="click").get_json()["reply"]
    assert "订阅" in reply  # the key acts as the text it maps to (我的订阅)


def test_simulator_is_staff_only_and_needs_the_csrf_token(app):
    client = app.test_client()
    assert client.get("/staff/simulator/").status_code == 302  # to the login page
    assert client.post("/staff/simulator/send", json={"text": "x"}).status_code in (400, 401)
    login_as(client, app, make_staff(app, "sim.user2", "drafter", "区人社局"))
    no_token = client.post("/staff/simulator/send", json={"kind": "text", "text": "x"})
    assert no_token.status_code == 400


def test_callback_checks_still_apply_to_what_looks_like_simulator_traffic(app):
    """The simulator signs on the server side only: an unsigned request to /wechat with the
    simulator's shape is refused like any other."""
    client = app.test_client()
    response = client.post("/wechat", data="<xml><Content>x</Content></xml>",
                           headers={"X-CSRF-Token": "whatever"}, query_string={"encrypt_type": "aes"})
    assert response.status_code == 403

"""The fake WeChat API behaves like the real one where our tests rely on it."""
import socket

import requests

TEMPLATE = "/cgi-bin/message/template/send"


def token(fake) -> str:
    params = {"grant_type": "client_credential", "appid": fake.appid, "secret": fake.secret}
    return requests.get(fake.url + "/cgi-bin/token", params=params).json()["access_token"]


def post(fake, path, body, access_token):
    return requests.post(fake.url + path, params={"access_token": access_token}, json=body, timeout=2).json()


def test_template_client_msg_id_is_deduplicated_for_ten_minutes(fake_wechat):
    now = [1_000_000.0]
    fake_wechat.clock = lambda: now[0]
    tok = token(fake_wechat)
    body = {"touser": "o1", "template_id": "T", "data": {}, "client_msg_id": "k1"}
    first = post(fake_wechat, TEMPLATE, body, tok)
    now[0] += 599
    assert post(fake_wechat, TEMPLATE, body, tok)["msgid"] == first["msgid"]
    now[0] += 2  # 601 s after the first: a new delivery
    assert post(fake_wechat, TEMPLATE, body, tok)["msgid"] != first["msgid"]
    assert fake_wechat.delivery_counts(TEMPLATE)[("o1", "k1")] == 2


def test_a_new_token_invalidates_the_old_one(fake_wechat):
    old = token(fake_wechat)
    new = token(fake_wechat)
    body = {"touser": "o1", "template_id": "T", "data": {}}
    assert post(fake_wechat, TEMPLATE, body, old)["errcode"] == 40001
    assert post(fake_wechat, TEMPLATE, body, new)["errcode"] == 0


def test_mass_send_refuses_a_repeated_clientmsgid(fake_wechat):
    tok = token(fake_wechat)
    body = {"touser": ["o1", "o2"], "msgtype": "text", "text": {"content": "x"}, "clientmsgid": "m1"}
    assert post(fake_wechat, "/cgi-bin/message/mass/send", body, tok)["errcode"] == 0
    assert post(fake_wechat, "/cgi-bin/message/mass/send", body, tok)["errcode"] == 45065


def test_menu_limits_are_checked(fake_wechat):
    tok = token(fake_wechat)
    too_long = {"button": [{"type": "click", "name": "一二三四五六", "key": "k"}]}  # 18 bytes
    assert post(fake_wechat, "/cgi-bin/menu/create", too_long, tok)["errcode"] == 40018
    four = {"button": [{"type": "click", "name": "a", "key": "k"}] * 4}
    assert post(fake_wechat, "/cgi-bin/menu/create", four, tok)["errcode"] == 40016


def test_injected_faults_are_counted_and_expire(fake_wechat):
    tok = token(fake_wechat)
    fake_wechat.fail(TEMPLATE, 45009, times=2)
    body = {"touser": "o1", "template_id": "T", "data": {}}
    codes = [post(fake_wechat, TEMPLATE, body, tok)["errcode"] for _ in range(3)]
    assert codes == [45009, 45009, 0]
    fake_wechat.fail(TEMPLATE, http_status=503)
    assert (
        requests.post(fake_wechat.url + TEMPLATE, params={"access_token": tok}, json=body).status_code == 503
    )


def test_a_black_hole_accepts_and_never_answers(fake_wechat):
    host, port = fake_wechat.blackhole_url().rsplit(":", 1)
    with socket.create_connection(("127.0.0.1", int(port)), timeout=1) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        sock.settimeout(0.3)
        try:
            data = sock.recv(10)
        except TimeoutError:
            data = None
    assert data is None

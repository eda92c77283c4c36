"""The staff simulator: real signed (and in safe mode encrypted) XML through /wechat, staff
only, and no way around the callback's own checks."""
from __future__ import annotations

import pytest
from test_bot_fakes import FakeSearch, bot_config, world_hits

from portal.testing import FAST_N, csrf, login_as, make_staff


@pytest.fixture
def app(tmp_path):
    from server import create_app

    app = create_app(bot_config(tmp_path, FakeSearch(world_hits()), STAFF_SCRYPT_N=FAST_N))
    yield app
    app.extensions["policybot"].db.dispose()


def _send(client, text, kind="text"):
    return client.post("/staff/simulator/send", json={"kind": kind, "text": text},
                       headers={"X-CSRF-Token": csrf(client)})


def test_simulator_sends_encrypted_signed_xml_through_the_callback(app):
    client = app.test_client()
    login_as(client, app, make_staff(app, "sim.user", "drafter", "区人社局"))
    page = client.get("/staff/simulator/")
    assert page.status_code == 200 and "安全模式（加密）" in page.get_data(as_text=True)
    data = _send(client, "失业保险金怎么申领").get_json()
    assert data["status"] == 200 and data["encrypted"] and "失业保险金" in data["reply"]
    assert "<Encrypt>" in data["request_xml"] and "失业保险金" not in data["request_xml"]
    assert "<Encrypt>" in data["reply_xml"]
    assert _send(client, "", kind="subscribe").get_json()["reply"].startswith("感谢关注")
    assert _send(client, "x", kind="bogus").status_code == 400


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


def test_without_the_portal_only_loopback_may_use_the_simulator(tmp_path):
    from server import create_app

    app = create_app(bot_config(tmp_path, FakeSearch(world_hits()), TESTING=False))
    app.extensions.pop("policybot.simulator_guard")  # as when no staff login is provided
    client = app.test_client()
    assert client.get("/staff/simulator/", environ_base={"REMOTE_ADDR": "10.1.2.3"}).status_code == 403
    assert client.get("/staff/simulator/", environ_base={"REMOTE_ADDR": "127.0.0.1"}).status_code == 200

"""The H5 profile form (signed, expiring link; no way to reach another user's profile) and
the staff push page's access control."""
import re
import time
from urllib.parse import parse_qs, urlsplit

import pytest
from itsdangerous import TimestampSigner, URLSafeTimedSerializer

from bot.push import links
from bot.push.links import profile_token, profile_url
from portal.testing import app_config, login_as, make_staff

A, B = "oUSERA000000000000000000000001", "oUSERB000000000000000000000002"


@pytest.fixture
def svc(app):
    return app.extensions["policybot"]


def link_token(app, openid):
    url = profile_url(app.config, app.extensions["policybot"].subscribers, openid)
    return parse_qs(urlsplit(url).query)["t"][0]


def test_the_link_opens_the_form_and_saves_the_profile(app, client, svc):
    token = link_token(app, A)
    page = client.get("/h5/profile", query_string={"t": token})
    assert page.status_code == 200 and "我的推送资料" in page.get_data(as_text=True)
    assert page.headers["Referrer-Policy"] == "no-referrer"
    saved = client.post("/h5/profile", data={"t": token, "kind": "enterprise", "size_class": "小微",
                                             "qualifications": ["高新技术企业"], "region": "江西省南昌市",
                                             "consent": "1"})
    assert saved.status_code == 200 and "已保存" in saved.get_data(as_text=True)
    profile = svc.subscribers.profile(A)
    assert (profile["kind"], profile["size_class"], profile["consent"]) == ("enterprise", "小微", True)
    assert profile["qualifications"] == ["高新技术企业"]


def test_a_forged_or_altered_link_is_refused(app, client, svc):
    token = link_token(app, A)
    other_id = svc.subscribers.ensure(B)
    forged = [token[:-2] + ("AA" if not token.endswith("AA") else "BB"), "", "garbage",
              profile_token("another-secret-key", other_id)]
    refused = 0
    for bad in forged:
        refused += client.get("/h5/profile", query_string={"t": bad}).status_code == 403
        refused += client.post("/h5/profile", data={"t": bad, "kind": "enterprise"}).status_code == 403
    print(f"forged links refused: {refused}/{2 * len(forged)}")
    assert refused == 2 * len(forged)
    assert svc.subscribers.profile(B)["kind"] == "resident"


def token_signed_ago(app, openid, seconds):
    """A profile link as `profile_url` made it `seconds` ago (its signer's clock set back)."""
    class SignerBack(TimestampSigner):
        def get_timestamp(self) -> int:
            return int(time.time()) - seconds
    serializer = URLSafeTimedSerializer(app.config["SECRET_KEY"], salt=links.SALT, signer=SignerBack)
    return serializer.dumps({"s": app.extensions["policybot"].subscribers.ensure(openid)})


def test_an_expired_link_is_refused(app, client, svc):
    app.config["PUSH_PROFILE_LINK_MAX_AGE"] = 600
    fresh = token_signed_ago(app, A, 590)
    assert client.get("/h5/profile", query_string={"t": fresh}).status_code == 200
    token = token_signed_ago(app, A, 610)
    assert client.get("/h5/profile", query_string={"t": token}).status_code == 403
    assert client.post("/h5/profile", data={"t": token, "kind": "enterprise"}).status_code == 403
    assert svc.subscribers.profile(A)["kind"] == "resident"


def test_a_form_cannot_change_another_users_profile(app, client, svc):
    token_a = link_token(app, A)
    b_id = svc.subscribers.ensure(B)
    response = client.post("/h5/profile", data={"t": token_a, "kind": "enterprise", "id": str(b_id),
                                                "subscriber_id": str(b_id), "openid": B})
    assert response.status_code == 200
    assert svc.subscribers.profile(A)["kind"] == "enterprise"
    assert svc.subscribers.profile(B)["kind"] == "resident"


def test_a_bad_value_is_a_clear_400(app, client, svc):
    token = link_token(app, A)
    response = client.post("/h5/profile", data={"t": token, "kind": "enterprise", "size_class": "巨型"})
    assert response.status_code == 400 and "size_class" in response.get_data(as_text=True)


def test_the_staff_push_page_needs_a_signed_in_member_of_staff(client):
    assert client.get("/staff/push").status_code in (302, 401, 403)
    assert client.post("/staff/push/rows/1/decide", data={"decision": "sent"}).status_code in (400, 401, 403)


def test_staff_see_counts_and_decide_an_unknown_row(app, client, svc):
    from bot.push.bulk import add_subscribers
    from bot.push.outbox import release_stats, write_outbox
    from bot.push.tables import outbox
    from portal.testing import csrf

    add_subscribers(svc.db, svc.subscribers.cipher, [{"openid": A, "tags": [("就业创业", "topic")]}])
    with svc.db.write() as conn:
        from policies import store
        from tests.conftest import make_policy
        store.insert_document(conn, make_policy("p1"), visibility="public")
        from interpretations.tables import releases
        release_id = conn.execute(releases.insert().values(
            policy_id="p1", state="published", provenance="import", drafted_by="x", editors=[],
            created_at=store.utcnow(), updated_at=store.utcnow()).returning(releases.c.id)).scalar_one()
        from interpretations.tables import release_documents
        conn.execute(release_documents.insert().values(release_id=release_id, document_id="p1"))
        write_outbox(conn, release_id, "template")
        conn.execute(outbox.update().values(state="unknown", error="sender died"))
    login_as(client, app, make_staff(app, "wang", "reviewer"))
    page = client.get(f"/staff/push/releases/{release_id}").get_data(as_text=True)
    assert "状态未知" in page and "sender died" in page
    from bot.push.outbox import unknown_rows
    row_id = unknown_rows(svc.db, release_id)[0]["id"]
    decided = client.post(f"/staff/push/rows/{row_id}/decide",
                          data={"decision": "sent", "csrf_token": csrf(client)})
    assert decided.status_code == 303
    assert release_stats(svc.db, release_id)["sent"] == 1


def test_the_sender_statement_names_what_is_missing_in_words(app, client, tmp_path):
    """A 签发 official reads why nothing goes out: the account is configured but the message
    template is not (only that is named), or no account at all (its two settings named)."""
    from server import create_app, start

    configured = start(create_app(app_config(tmp_path / "with-account")))
    for instance, named, not_named in (
            (configured, ["推送所用模板消息的模板编号（POLICYBOT_PUSH_TEMPLATE_ID）"], ["开发者编号"]),
            (app, ["公众号的开发者编号（POLICYBOT_WECHAT_APPID）",
                   "公众号的开发者密码（POLICYBOT_WECHAT_APPSECRET）"], [])):
        staff = instance.test_client()
        login_as(staff, instance, make_staff(instance, "zhao", "signer", "区管委会"))
        statement = staff.get("/staff/push").get_data(as_text=True).split('id="sender-state"')[1]
        statement = re.sub(r"<[^>]+>", "", statement.split("</div>")[0])
        assert "推送尚未设置好，不会发出" in statement and "请系统管理员在服务器上设置" in statement
        for words in named:
            assert words in statement, statement
        for words in not_named:
            assert words not in statement, statement
    configured.extensions["policybot"].db.dispose()

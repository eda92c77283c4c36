"""Subscribers: vocabulary, subscriptions, follow events, profile, forget."""
import logging

import pytest
import sqlalchemy as sa

from bot.push.tables import subscribers as subscribers_table
from bot.subscribers import ProfileError, Subscribers
from tests.conftest import DRAFTER, REVIEWER, SIGNER, make_policy

OPENID = "oABCDEFGHIJKLMNOPQRSTUVWXYZ1"


def publish(releases, policy, interpretations=()):
    """Through the whole workflow (the publishing hooks run)."""
    release_id = releases.create(DRAFTER, policy, list(interpretations))
    releases.submit(DRAFTER, release_id)
    releases.review(REVIEWER, release_id, "无涉密及个人信息")
    releases.sign(SIGNER, release_id)
    return releases.publish(SIGNER, release_id)


@pytest.fixture
def subs(db, releases):
    publish(releases, make_policy("p1", topics=["就业创业", "社会保险"], audience=["个人", "高校毕业生"]))
    publish(releases, make_policy("p2", topics=["税收优惠"], audience=["企业", "小微企业"]))
    return Subscribers(db, secret="test-secret")


def test_vocabulary_comes_from_public_documents(subs):
    vocab = subs.vocabulary()
    assert {"就业创业", "社会保险", "税收优惠"} <= set(vocab["topics"])
    assert {"高校毕业生", "小微企业", "退役军人"} <= set(vocab["audience"])
    assert "个人" not in vocab["audience"] and "企业" not in vocab["audience"]  # match nothing alone


def test_subscribe_unsubscribe_and_list(subs):
    assert subs.subscribe(OPENID, "「就业创业」").ok
    assert subs.subscribe(OPENID, "高校毕业生").ok
    assert subs.subscriptions(OPENID) == ["就业创业", "高校毕业生"]
    assert subs.unsubscribe(OPENID, "就业创业").ok
    assert not subs.unsubscribe(OPENID, "就业创业").ok
    assert subs.subscriptions(OPENID) == ["高校毕业生"]


def test_an_unknown_name_is_refused_with_the_valid_names(subs):
    result = subs.subscribe(OPENID, "炒股秘籍")
    assert not result.ok and "就业创业" in result.valid and "炒股秘籍" in result.message
    assert subs.subscriptions(OPENID) == []


def test_the_openid_is_stored_protected_and_never_logged(subs, db, caplog):
    caplog.set_level(logging.DEBUG)
    subs.subscribe(OPENID, "就业创业")
    subs.forget(OPENID) and subs.subscribe(OPENID, "就业创业")
    with db.read() as conn:
        row = conn.execute(sa.select(subscribers_table)).mappings().one()
    assert OPENID not in str(dict(row))
    assert subs.openid_of(row["openid_enc"]) == OPENID
    assert OPENID not in caplog.text


def test_forget_deletes_everything(subs, db):
    subs.subscribe(OPENID, "就业创业")
    subs.update_profile(OPENID, kind="enterprise", groups=["退役军人"])
    assert subs.forget(OPENID)
    assert subs.profile(OPENID) is None and subs.subscriptions(OPENID) == []
    with db.read() as conn:
        assert conn.execute(sa.text("select count(*) from push_subscriber_tags")).scalar() == 0
    assert not subs.forget(OPENID)


def test_follow_unfollow_and_touch(subs):
    subs.on_follow(OPENID)
    assert subs.profile(OPENID)["active"]
    subs.on_unfollow(OPENID)
    assert not subs.profile(OPENID)["active"]
    subs.touch(OPENID)
    assert subs.profile(OPENID)["active"]


def test_enterprise_profile_fields_are_checked(subs):
    profile = subs.update_profile(OPENID, kind="enterprise", name="某某科技", industry="软件",
                                  size_class="小微", region="江西省南昌市经开区",
                                  qualifications=["高新技术企业", "专精特新"], consent=True)
    assert profile["qualifications"] == ["专精特新", "高新技术企业"] and profile["size_class"] == "小微"
    for bad in ({"kind": "alien"}, {"size_class": "巨型"}, {"qualifications": ["伪资质"]},
                {"password": "x"}, {"groups": "高校毕业生"}):
        with pytest.raises(ProfileError):
            subs.update_profile(OPENID, **bad)

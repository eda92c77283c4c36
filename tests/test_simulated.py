"""Simulator conversations are kept apart (issue 13, design point): the staff simulator's
user is flagged as simulated — never a push target — and its questions are left out of the
public's statistics unless asked; a real user's messages through the same /wechat are not."""
from __future__ import annotations

import time

import pytest
import sqlalchemy as sa

from bot.callback_client import TEST_WECHAT_CONFIG, WeChatSender, text_xml
from bot.config import load_wechat_config
from bot.push.tables import outbox, subscribers
from bot.questionlog import question_log
from portal.testing import app_config, csrf, login_as, make_staff
from tests.conftest import DRAFTER, REVIEWER, SIGNER, make_interpretation, make_policy

REAL_OPENID = "o6_bmjrPTlm6_2sgVt7hMZOPfL2M"  # WeChat's form: 28 characters


@pytest.fixture
def app(tmp_path):
    from server import create_app, start

    app = start(create_app(app_config(tmp_path / "i")))
    yield app
    app.extensions["policybot"].db.dispose()


def _publish(app, policy, interpretation):
    releases = app.extensions["policybot"].releases
    rid = releases.create(DRAFTER, policy, [interpretation])
    releases.submit(DRAFTER, rid)
    releases.review(REVIEWER, rid, "无涉密内容")
    releases.sign(SIGNER, rid)
    releases.publish(SIGNER, rid)
    return rid


def _real_message(app, text: str, msg_id: int):
    sender = WeChatSender(load_wechat_config(TEST_WECHAT_CONFIG))
    args, body = sender.signed_request(text_xml(REAL_OPENID, text, msg_id=msg_id))
    reply = app.test_client().post("/wechat", query_string=args, data=body, content_type="text/xml")
    assert reply.status_code == 200


def _wait_for_log(db, count: int) -> None:
    """The bot writes its question log just after replying."""
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        with db.read() as conn:
            if conn.execute(sa.select(sa.func.count()).select_from(question_log)).scalar() >= count:
                return
        time.sleep(0.1)


def test_simulator_users_are_flagged_never_pushed_and_not_counted(app):
    svc = app.extensions["policybot"]
    _publish(app, make_policy("p1", title="失业保险金申领办法", text="第一条 失业人员可以申领失业保险金。\n"),
             make_interpretation("i1", "p1", text="一、政策背景\n失业保险金按月发放。\n"))
    staff = app.test_client()
    login_as(staff, app, make_staff(app, "sim.tester", "drafter", "区人社局"))
    for text in ("订阅 就业创业", "失业保险金怎么申领"):
        reply = staff.post("/staff/simulator/send", json={"kind": "text", "text": text},
                           headers={"X-CSRF-Token": csrf(staff)})
        assert reply.status_code == 200 and reply.get_json()["status"] == 200
    _real_message(app, "订阅 就业创业", 1001)
    _real_message(app, "失业保险金怎么领取", 1002)
    _wait_for_log(svc.db, 2)
    rid = _publish(app, make_policy("p2", title="就业补贴办法", text="第一条 补贴。\n"),
                   make_interpretation("i2", "p2"))
    with svc.db.read() as conn:
        flags = dict(conn.execute(sa.select(subscribers.c.simulated, sa.func.count())
                                  .group_by(subscribers.c.simulated)).all())
        targets = conn.execute(sa.select(subscribers.c.simulated)
                               .join(outbox, outbox.c.subscriber_id == subscribers.c.id)
                               .where(outbox.c.release_id == rid)).scalars().all()
        logged = dict(conn.execute(sa.select(question_log.c.simulated, sa.func.count())
                                   .group_by(question_log.c.simulated)).all())
    today = svc.insights.today()
    public = svc.insights.report("week", today).questions
    everything = svc.insights.report("week", today, include_simulated=True).questions
    print(f"\nsubscribers by simulated flag {flags}; push targets of the new release {len(targets)} "
          f"(simulated among them {sum(targets)}); logged questions by flag {logged}; week report "
          f"counts {public} (with the simulator's when asked: {everything})")
    assert flags == {False: 1, True: 1}
    assert len(targets) == 1 and not any(targets)
    assert logged == {False: 1, True: 1} and (public, everything) == (1, 2)
    page = app.test_client()
    login_as(page, app, make_staff(app, "rep.viewer", "reviewer", "区人社局"))
    assert page.get("/staff/insights/report?period=week&simulated=1").status_code == 200

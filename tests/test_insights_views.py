"""The staff pages' actions through the test client: staff only, CSRF, raising tasks, linking
an interpretation, registering and fulfilling a commitment, bad input refused; and tasks and
reports on SQLite and PostgreSQL."""
from __future__ import annotations

import datetime as dt

import pytest
from conftest import make_interpretation, make_policy

from bot.questionlog import QuestionLog
from insights.service import Insights
from policies import store
from policies.db import Database


@pytest.fixture
def staff_client(tmp_path):
    from portal.testing import app_config, login_as, make_staff
    from server import create_app, start

    app = start(create_app(app_config(tmp_path / "instance")))
    svc = app.extensions["policybot"]
    with svc.db.write() as conn:
        store.insert_document(conn, make_policy("p1", title="失业保险金申领办法"), visibility="public",
                              department="区人社局")
        store.insert_document(conn, make_interpretation("i1", "p1"), visibility="public")
    for text in ("电动车上牌怎么办", "电动车上牌在哪办"):
        svc.questions.record("oViewUser", "h5", text, [], 0.1, False)
    client = app.test_client()
    # an admin: the tasks go to the 政务公开 office and to 区人社局 (department rules: test_department_scope)
    login_as(client, app, make_staff(app, "liu", "admin", "区政务公开办"))
    yield app, client
    svc.db.dispose()


def form(client, **fields):
    from portal.testing import csrf

    return {**fields, "csrf_token": csrf(client)}


def test_anonymous_users_are_sent_to_the_login(tmp_path):
    from portal.testing import app_config
    from server import create_app, start

    app = start(create_app(app_config(tmp_path / "anon")))
    client = app.test_client()
    for url in ("/staff/insights/", "/staff/insights/report", "/staff/insights/report.xlsx"):
        response = client.get(url)
        assert response.status_code == 302 and "/staff/login" in response.headers["Location"]
    assert client.post("/staff/insights/tasks/raise").status_code in (400, 401)
    app.extensions["policybot"].db.dispose()


def test_raise_link_and_commit_through_the_pages(staff_client):
    app, client = staff_client
    assert client.post("/staff/insights/tasks/raise", data={}).status_code == 400     # no CSRF token
    response = client.post("/staff/insights/tasks/raise", data=form(client), follow_redirects=True)
    assert "已生成或更新 1 项任务" in response.get_data(as_text=True)
    response = client.post("/staff/insights/tasks/1/link", data=form(client, document_id="nope"),
                           follow_redirects=True)
    assert "未能关联" in response.get_data(as_text=True)
    response = client.post("/staff/insights/tasks/1/link", data=form(client, document_id="i1"),
                           follow_redirects=True)
    page = response.get_data(as_text=True)
    assert "任务 1 已关联 i1" in page and "复核 0/2 可答" in page    # public already: re-checked now
    client.post("/staff/insights/tasks/1/owner", data=form(client, owner="王五"))
    assert client.post("/staff/insights/tasks/9/owner", data=form(client, owner="x")).status_code == 404
    due = (dt.date.today() + dt.timedelta(days=5)).isoformat()
    client.post("/staff/insights/commitments", data=form(client, department="区人社局", text="补充解读",
                                                           due_date=due, task_id="1"))
    client.post("/staff/insights/commitments/1/done", data=form(client, document_id="i1"))
    page = client.get("/staff/insights/").get_data(as_text=True)
    assert "补充解读" in page and "已兑现" in page and "复核未通过" in page and "（王五）" in page
    assert client.post("/staff/insights/commitments/99/done", data=form(client)).status_code == 404
    assert client.get("/staff/insights/report?period=year").status_code == 400
    assert client.get("/staff/insights/report?date=2026-13-01").status_code == 400


def test_tasks_and_reports_on_both_databases(any_db_url):
    db = Database(any_db_url)
    db.upgrade()
    try:
        with db.write() as conn:
            store.insert_document(conn, make_policy("p1", importance="major"), visibility="public",
                                  department="区人社局")
        log = QuestionLog(db, "k")
        at = dt.datetime(2026, 11, 25, 4, tzinfo=dt.UTC)
        for text in ("失业金标准太低", "失业金的标准太低了"):
            log_id = log.record("o1", "wechat", text, [{"doc_id": "p1"}], 0.6, True, at=at)
            log.feedback(log_id, "unsatisfied")
        service = Insights(db)
        task_id, = service.raise_tasks(dt.date(2026, 11, 25), now=at)
        report = service.report("quarter", dt.date(2026, 11, 25), today=dt.date(2026, 12, 10))
        assert (report.questions, report.rated, report.satisfied) == (2, 2, 0)
        assert (report.tasks_opened, report.tasks_overdue) == (1, 1)    # due 12-02, not closed by 12-10
        assert service.ledger(dt.date(2026, 12, 10))[0].department == "区人社局"
    finally:
        db.dispose()


def test_a_monthly_report_speaks_of_its_month_and_quotes_questions_as_typed(staff_client):
    app, client = staff_client
    questions = app.extensions["policybot"].questions
    questions.record("oViewUser2", "wechat", "失业金怎么领？要带什么？", [], 0.1, False)
    page = client.get("/staff/insights/report?period=month").get_data(as_text=True)
    assert "月报" in page and "本周" not in page
    assert "失业金怎么领？要带什么？" in page and "失业金怎么领?" not in page

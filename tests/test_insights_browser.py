"""In a real browser (headless Chromium, Playwright): sign in, open the insights dashboard
and a month report, download the spreadsheet; the charts render under the strict CSP with no
console error, overdue ledger rows are highlighted, no openid or phone number shows, and a
question carrying markup stays text."""
from __future__ import annotations

import datetime as dt
import io
import threading

import pytest
from conftest import make_interpretation, make_policy, submit
from openpyxl import load_workbook
from werkzeug.serving import make_server

from insights.ledger import add_commitment
from policies import store

PHONE = "13987654321"
OPENID = "oBrowserUser0001XYZ"
pytestmark = pytest.mark.browser
NASTY = '电动车上牌要钱吗<img src=x onerror="alert(1)"><script>alert(2)</script>'


@pytest.fixture
def served(tmp_path):
    from portal.testing import TEST_PASSWORD, app_config, make_staff
    from server import create_app, start

    app = start(create_app(app_config(tmp_path / "instance")))
    seed(app)
    make_staff(app, "liu", "reviewer", "区政务公开办")
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield app, f"http://127.0.0.1:{server.server_port}", ("liu", TEST_PASSWORD)
    server.shutdown()
    app.extensions["policybot"].db.dispose()


def seed(app):
    svc = app.extensions["policybot"]
    with svc.db.write() as conn:
        policy = make_policy("p1", title="失业保险金申领办法", importance="major", topics=["社会保险"])
        store.insert_document(conn, policy, visibility="public", department="区人社局")
        store.insert_document(conn, make_interpretation("i1", "p1", topics=["社会保险"]), visibility="public")
    now = dt.datetime.now(dt.UTC)
    cite = [{"doc_id": "i1", "chunk_id": "i1#0", "score": 0.9, "source": "interpretation"}]
    for n in range(6):
        log_id = svc.questions.record(f"{OPENID}{n}", "wechat", f"失业保险金怎么领？电话{PHONE}", cite,
                                      0.9, True, at=now)
        svc.questions.feedback(log_id, "satisfied" if n % 2 else "unsatisfied", at=now)
    for text in ("电动车上牌怎么办", "电动车上牌在哪办", NASTY):
        svc.questions.record(OPENID, "h5", text, [], 0.1, False, at=now)
    today = svc.insights.today()
    svc.insights.raise_tasks(today)
    add_commitment(svc.db, "区人社局", "发布失业保险金申领图解", today - dt.timedelta(days=10),
                   today - dt.timedelta(days=3), owner="张三")


def test_dashboard_report_and_spreadsheet_in_chromium(served, browser, tmp_path):
    app, base, (username, password) = served
    errors = []
    context = browser.new_context(accept_downloads=True)
    try:
        page = context.new_page()
        page.on("console", lambda m: errors.append(m.text) if m.type == "error"
                and not m.location.get("url", "").endswith("/favicon.ico") else None)
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.on("dialog", lambda d: errors.append(f"script ran: {d.message}"))
        page.goto(f"{base}/staff/insights/")
        assert "/staff/login" in page.url                                   # staff only
        page.fill("input[name=username]", username)
        page.fill("input[name=password]", password)
        submit(page, "form button[type=submit]")
        assert page.url == f"{base}/staff/insights/"
        dashboard = page.content()
        assert page.inner_text("#fig-questions") == "9"
        assert page.inner_text("#fig-satisfaction") == "50.0%"
        assert page.locator("svg rect").count() > 5                         # the charts drew
        assert page.locator("#ledger tr.overdue").count() == 1
        assert "电动车" in page.inner_text("#ledger")
        assert "<script>alert(2)</script>" in page.inner_text("#unanswered")      # shown as text
        page.screenshot(path=str(tmp_path / "dashboard.png"), full_page=True)
        submit(page, "text=月报")
        report = page.content()
        page.screenshot(path=str(tmp_path / "report.png"), full_page=True)
        assert page.inner_text("#fig-answered") == "6"
        with page.expect_download() as download_info:
            page.click("#download")
        path = download_info.value.path()
        data = open(path, "rb").read()
    finally:
        context.close()
    book = load_workbook(io.BytesIO(data))
    summary = {row[0].value: row[1].value for row in book["概况"].iter_rows(min_row=2)}
    assert (summary["问题数"], summary["已回答"], summary["满意率"]) == (9, 6, "50.0%")
    cells = " ".join(str(c.value) for sheet in book for row in sheet.iter_rows() for c in row)
    for text in (dashboard, report, cells):
        assert OPENID not in text and PHONE not in text
    assert errors == []

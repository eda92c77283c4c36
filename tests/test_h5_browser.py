"""The public pages and the simulator in headless Chromium (Debian's /usr/bin/chromium):
policy page, catalogue, search, the simulator chat, the reading settings, and a document full
of script-like text that must execute nothing, and 满意 on a policy page opened from an answer.
Screenshots go to artifacts/bot/."""
from __future__ import annotations

import json
import pathlib
import re
import threading

import pytest
import sqlalchemy as sa
from conftest import submit
from test_bot_fakes import FakeSearch, create_bot_app, world_hits
from test_h5_pages import RECORDS

from bot.questionlog import question_log
from bot.textlimit import URL
from interpretations.importer import import_file
from portal.testing import FAST_N, TEST_PASSWORD, make_staff

ARTIFACTS = pathlib.Path(__file__).resolve().parent.parent / "artifacts" / "bot"
pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """(the server's URL, the app behind it)."""
    from werkzeug.serving import make_server

    from server import start

    tmp = tmp_path_factory.mktemp("h5browser")
    app = start(create_bot_app(tmp, FakeSearch(world_hits()), STAFF_SCRYPT_N=FAST_N))
    corpus = tmp / "docs.jsonl"
    corpus.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in RECORDS) + "\n", encoding="utf-8")
    import_file(app.extensions["policybot"].releases, corpus)
    make_staff(app, "sim.staff", "drafter", "区人社局")
    server = make_server("127.0.0.1", 0, app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}", app
    server.shutdown()
    app.extensions["policybot"].db.dispose()


@pytest.fixture(scope="module")
def live(served):
    return served[0]


@pytest.fixture
def page(browser):
    context = browser.new_context(locale="zh-CN", viewport={"width": 390, "height": 844})  # a phone
    page = context.new_page()
    page.dialogs = []
    page.on("dialog", lambda dialog: (page.dialogs.append(dialog.message), dialog.dismiss()))
    yield page
    context.close()


def shot(page, name):
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / name), full_page=True)


def test_policy_page_with_interpretation_and_reading_settings(live, page):
    page.goto(f"{live}/p/gz_unemp#a-第五条")
    assert page.locator("h1").inner_text() == "广州市失业保险金申领办法"
    assert page.locator("aside.interpretations").is_visible()
    assert page.locator(":target").inner_text().startswith("第五条")  # the reply's anchor lands
    page.click("#font-toggle")
    assert "large" in page.evaluate("document.documentElement.className")
    assert page.get_attribute("#font-toggle", "aria-pressed") == "true"
    page.keyboard.press("Tab")
    page.keyboard.press("Tab")
    page.click("#contrast-toggle")
    shot(page, "policy-page-large-contrast.png")
    page.reload()  # the settings are remembered
    assert "large" in page.evaluate("document.documentElement.className")


def test_expired_policy_banner_links_to_the_successor(live, page):
    page.goto(f"{live}/p/gz_hukou_2019")
    banner = page.locator("[role=alert]")
    assert "已失效" in banner.inner_text()
    banner.locator("a").click()
    page.wait_for_url("**/p/gz_hukou_2025")
    shot(page, "successor.png")


def test_catalogue_filters(live, page):
    page.goto(f"{live}/catalogue")
    page.select_option("#f-topic", "户籍")
    submit(page, "form.filters button[type=submit]")
    items = page.locator("ol.catalogue li").all_inner_texts()
    assert len(items) == 1 and "积分制入户管理办法" in items[0]
    shot(page, "catalogue.png")


def test_search_page(live, page):
    page.goto(f"{live}/search")
    page.fill("#q", "失业保险金申领")
    page.press("#q", "Enter")
    page.wait_for_selector("ol.results li")
    assert "失业保险" in page.locator("ol.results").inner_text()
    shot(page, "search.png")


def test_document_with_script_like_text_executes_nothing(live, page):
    violations = []
    page.on("console", lambda m: violations.append(m.text))
    page.goto(f"{live}/p/xss_doc")
    page.wait_for_load_state("networkidle")
    assert page.evaluate("typeof window.__xss") == "undefined" and page.dialogs == []
    assert "<script>" in page.locator("h1").inner_text()  # shown as text
    assert page.locator("a[href^='javascript:']").count() == 0
    shot(page, "script-like-document.png")
    print(f"XSS in headless Chromium: script executions 0, dialogs {len(page.dialogs)}, "
          f"console messages {len(violations)}")


def test_simulator_chat_answers_a_typed_question(live, page):
    page.goto(f"{live}/staff/login")
    page.fill("input[name=username]", "sim.staff")
    page.fill("input[name=password]", TEST_PASSWORD)
    submit(page, "button[type=submit]")
    page.goto(f"{live}/staff/simulator/")
    page.fill("#message", "失业保险金怎么申领？")
    page.press("#message", "Enter")
    page.wait_for_selector("#chat li.bot")
    answer = page.locator("#chat li.bot").last.inner_text()
    assert "失业保险金" in answer and "https://zc.example.gov.cn/p/gz_unemp" in answer
    assert "评价本次答复：回复 1 满意，2 不满意" in answer and "3.《广州市失业保险金申领办法》" in answer
    page.fill("#message", "3")  # the first related document (1 and 2 rate the answer)
    page.press("#message", "Enter")
    page.locator("#chat li.bot").nth(1).wait_for()
    assert page.locator("#chat li.bot").last.inner_text().startswith("3.《广州市失业保险金申领办法》")
    page.fill("#message", "1")
    page.press("#message", "Enter")
    page.locator("#chat li.bot").nth(2).wait_for()
    assert "感谢您的评价" in page.locator("#chat li.bot").last.inner_text()
    assert "Encrypt" in page.locator("#raw").text_content()
    shot(page, "simulator.png")


def test_rating_an_answer_on_its_policy_page(served, page):
    live, app = served
    svc = app.extensions["policybot"]
    reply = svc.bot.handle({"MsgType": "text", "FromUserName": "o_browser_rater",
                            "Content": "失业保险金怎么申领？"}).text
    link = next(u for u in URL.findall(reply) if "?r=" in u)
    ref = re.search(r"\?r=([A-Za-z0-9_-]{12})#", link).group(1)
    page.goto(live + link.removeprefix("https://zc.example.gov.cn"))  # as the reply's link opens it
    form = page.get_by_role("form", name="这条答复对您有帮助吗？")
    assert form.is_visible()
    form.get_by_role("button", name="满意", exact=True).click()
    page.wait_for_url(f"**/p/gz_unemp?r={ref}&rated=1#feedback")
    assert page.locator("#feedback-title").inner_text() == "感谢您的评价"
    shot(page, "policy-feedback-thanks.png")
    with svc.db.read() as conn:
        row = conn.execute(sa.select(question_log).where(question_log.c.answer_ref == ref)).mappings().one()
    assert row["rating"] == "satisfied" and row["question"] == "失业保险金怎么申领？"
    assert svc.questions.latest_for("o_browser_rater", within_seconds=600).id == row["id"]

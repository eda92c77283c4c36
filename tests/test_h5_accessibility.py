"""适老化 in headless Chromium on a phone-sized screen (375×812): every state of every public
page in 大字模式 + 高对比度 keeps its text ≥ 7:1 against its background (the thanks after a
rating was black on black), every control and stand-alone link is ≥ 44 px in both reading
modes, the two switches show when they are on, the sticky rating bar stays one short row in
大字模式, a reply's link to an article highlights the whole article, the policy page shows
有效期至, and every page names whose government it is. Screenshots go to artifacts/h5/."""
from __future__ import annotations

import json
import pathlib
import re
import threading

import pytest
from contrast import contrast_failures, set_reading_mode, small_tap_targets
from test_bot_fakes import FakeSearch, create_bot_app, world_hits
from test_h5_pages import RECORDS

from bot.push.links import profile_token
from bot.textlimit import URL
from interpretations.importer import import_file

ARTIFACTS = pathlib.Path(__file__).resolve().parent.parent / "artifacts" / "h5"
GOVERNMENT = "测试市人民政府"
pytestmark = pytest.mark.browser

EXTRA = [
    {"id": "gz_aid", "kind": "policy", "title": "广州市临时救助实施细则",
     "doc_number": "穗府办规〔2021〕23号",
     "issuing_body": "广州市人民政府办公厅", "publish_date": "2021-12-06", "valid_until": "2099-12-05",
     "topics": ["社会救助"], "audience": ["困难群众"],
     "text": "第一章 总则\n第一条 为规范临时救助工作，制定本细则。\n"
             "第五条 临时救助的对象包括：\n（一）急难型救助对象；\n（二）支出型救助对象。\n"
             "申请人应当如实提供家庭经济状况。\n第六条 临时救助标准由区民政部门确定。\n"},
    {"id": "gz_aid_jd", "kind": "interpretation", "interprets": "gz_aid",
     "title": "《广州市临时救助实施细则》政策解读",
     "topics": ["社会救助"], "text": "为便于理解《细则》，现解读如下。\n",
     "sections": [{"name": "政策背景", "text": "原细则已到期。"},
                  {"name": "主要内容", "text": "明确救助对象和标准。"}],
     "faq": [{"q": "谁可以申请临时救助？", "a": "遭遇急难或支出型困难的家庭。"}]},
    {"id": "gz_soon", "kind": "policy", "title": "广州市长者饭堂助餐补贴办法",
     "issuing_body": "广州市民政局", "publish_date": "2026-11-20", "valid_from": "2099-01-01",
     "topics": ["养老服务"], "audience": ["老年人"],
     "text": "第一条 为方便老年人就餐，制定本办法。\n第二条 本办法自2099年1月1日起施行。\n"},
]


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    from werkzeug.serving import make_server

    from server import start

    tmp = tmp_path_factory.mktemp("h5a11y")
    app = start(create_bot_app(tmp, FakeSearch(world_hits()), GOVERNMENT_NAME=GOVERNMENT))
    corpus = tmp / "docs.jsonl"
    lines = [json.dumps(r, ensure_ascii=False) for r in RECORDS + EXTRA]
    corpus.write_text("\n".join(lines) + "\n", encoding="utf-8")
    import_file(app.extensions["policybot"].releases, corpus)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}", app
    server.shutdown()
    app.extensions["policybot"].db.dispose()


@pytest.fixture
def page(browser):
    context = browser.new_context(locale="zh-CN", viewport={"width": 375, "height": 812})
    yield context.new_page()
    context.close()


def answer_link(app, openid: str) -> str:
    reply = app.extensions["policybot"].bot.handle({"MsgType": "text", "FromUserName": openid,
                                                    "Content": "失业保险金怎么申领？"}).text
    return next(u for u in URL.findall(reply) if "?r=" in u).removeprefix("https://zc.example.gov.cn")


def profile_path(app, openid: str) -> str:
    svc = app.extensions["policybot"]
    return f"/h5/profile?t={profile_token(app.config['SECRET_KEY'], svc.subscribers.ensure(openid))}"


def check(page, name: str, states: list) -> None:
    """Contrast (大字 + 高对比度) and tap targets (both reading modes) of the open page."""
    shot = ARTIFACTS / f"{name}.png"
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(shot), full_page=True)
    failures = contrast_failures(page, 7.0)
    small = small_tap_targets(page, 44)
    states.append((name, failures, small))


def visit(page, url: str) -> None:
    page.goto(url)
    page.wait_for_load_state("domcontentloaded")


def test_every_page_state_in_large_high_contrast_mode(served, page):
    live, app = served
    states: list = []
    visit(page, f"{live}/catalogue")
    set_reading_mode(page, large=True, contrast=True)
    for name, path in [("home", "/"), ("catalogue", "/catalogue"),
                       ("search-results", "/search?q=失业保险&all=1"),
                       ("search-empty", "/search"), ("search-nothing", "/search?q=zzzzqqqq"),
                       ("not-found", "/p/no_such_document"), ("expired-banner", "/p/gz_hukou_2019"),
                       ("article-target", "/p/gz_aid#a-第五条"), ("interpretation", "/p/gz_aid_jd"),
                       ("upcoming-banner", "/p/gz_soon"),
                       ("profile", profile_path(app, "o_a11y")), ("profile-refused", "/h5/profile?t=forged")]:
        visit(page, live + path)
        check(page, name, states)
    visit(page, live + answer_link(app, "o_a11y_rater"))
    check(page, "rating-asked", states)
    page.get_by_role("button", name="满意", exact=True).click()
    page.wait_for_url("**rated=1#feedback")
    assert page.locator("#feedback-title").inner_text() == "感谢您的评价"
    check(page, "rating-thanks", states)  # was black on black
    page.locator(".feedback summary").click()
    check(page, "rating-change", states)
    visit(page, live + profile_path(app, "o_a11y"))
    page.locator("form button[type=submit]").click()
    page.wait_for_selector("[role=status]")
    check(page, "profile-saved", states)
    visit(page, f"{live}/p/gz_unemp")
    page.evaluate("""() => { const f = document.createElement('form'); f.method = 'post';
        f.action = location.pathname + '/feedback'; document.body.append(f); f.submit(); }""")
    page.wait_for_selector(".feedback [role=alert]")
    check(page, "rating-refused", states)
    for name, failures, small in states:
        print(f"\n{name}: contrast failures {len(failures)}, tap targets under 44 px {len(small)}")
    assert [(n, f) for n, f, _ in states if f] == []
    assert [(n, s) for n, _, s in states if s] == []
    print(f"\nH5 states checked in 大字模式 + 高对比度: {len(states)}, all text ≥ 7:1, all targets ≥ 44 px")


def test_tap_targets_in_normal_reading_mode(served, page):
    live, app = served
    small = {}
    for path in ("/", "/catalogue", "/search?q=失业保险&all=1", "/p/gz_aid", profile_path(app, "o_a11y2")):
        visit(page, live + path)
        found = small_tap_targets(page, 44)
        if found:
            small[path] = found
    assert small == {}


def test_switches_show_their_state(served, page):
    live, _ = served
    visit(page, f"{live}/p/gz_aid")
    off = page.eval_on_selector("#contrast-toggle", "b => [getComputedStyle(b).backgroundColor, "
                                                   "getComputedStyle(b, '::before').content]")
    page.click("#contrast-toggle")
    on = page.eval_on_selector("#contrast-toggle", "b => [getComputedStyle(b).backgroundColor, "
                                                  "getComputedStyle(b, '::before').content]")
    assert page.get_attribute("#contrast-toggle", "aria-pressed") == "true"
    assert on[0] != off[0] and "✓" in on[1] and "✓" not in off[1], (off, on)


def test_rating_bar_stays_one_row_in_large_print(served, page):
    live, app = served
    visit(page, live + answer_link(app, "o_a11y_bar"))
    set_reading_mode(page, large=True, contrast=False)
    height = page.eval_on_selector(".feedback", "e => e.getBoundingClientRect().height")
    share = height / 812
    print(f"\nsticky rating bar in 大字模式 on 375×812: {height:.0f} px = {share:.1%} of the screen")
    assert share <= 0.08
    assert page.get_by_role("form", name="这条答复对您有帮助吗？").is_visible()


def test_the_whole_article_is_highlighted_and_validity_and_owner_shown(served, page):
    live, _ = served
    visit(page, f"{live}/p/gz_aid#a-第五条")
    article = page.locator("section.article:target")
    paragraphs = article.locator("p").all_inner_texts()
    assert len(paragraphs) == 4
    assert paragraphs[0].startswith("第五条") and paragraphs[-1].startswith("申请人应当")
    backgrounds = {p.evaluate("e => getComputedStyle(e.closest(':target')).backgroundColor")
                   for p in article.locator("p").all()}
    assert len(backgrounds) == 1 and backgrounds != {"rgba(0, 0, 0, 0)"}
    assert "第六条" not in article.inner_text()
    meta = page.locator("dl.meta").inner_text()
    assert re.search(r"有效期至\s*2099-12-05", meta)
    assert GOVERNMENT in page.locator("header.site").inner_text()
    assert GOVERNMENT in page.locator("footer.site").inner_text()
    # the interpretation comes after the whole policy on a phone: the top of the page says so
    visit(page, f"{live}/p/gz_aid")
    jump = page.locator(".jump a")
    assert jump.inner_text().startswith("先看政策解读") and 0 <= jump.bounding_box()["y"] < 812 - 44
    assert page.locator("#jd-title").bounding_box()["y"] > 812  # below the first screen
    jump.click()
    page.wait_for_function("location.hash === '#jd-title'")
    assert 0 <= page.locator("#jd-title").bounding_box()["y"] < 812  # on the screen
    visit(page, f"{live}/p/gz_aid_jd")
    assert page.locator(".jump").count() == 0  # an interpretation's own page has none
    assert page.locator("h1").inner_text() == "《广州市临时救助实施细则》政策解读"
    assert page.locator("section.part h2").all_inner_texts() == ["政策背景", "主要内容"]
    assert "〈广州市临时救助实施细则〉" not in page.content()  # quoted only where wrapped again

"""A government office's first day, in headless Chromium against `python server.py` as the
README starts it (demo corpus, the real embedder, the account's WeChat settings):

the framed block's one-time link creates the first administrator; the landing page leads to
the catalogue, search and the portal; the administrator opens every staff section from the
navigation and creates the drafter, reviewer and signer, each of whom must replace the
password the administrator chose at their first login; two residents subscribe through the
signed, encrypted callback; the drafter uploads a 「关于印发《…》的通知」 with its 办法 attached
(the 发布日期 is the date under the signature, not the 办法's last date) and an interpretation
.docx whose headings and 问/答 fill the form's sections and Q&A without anything twice; the
reviewer reads the files' hidden parts (a comment in each), settles the finding and approves;
the signer signs and publishes; the push page names the residents and why they are reached
and says that no sender runs; the simulator asks through the callback and its reply's link
opens the policy page, rated on a phone in 大字模式 + 高对比度 with every text ≥ 7:1.
Each step's screenshot goes to artifacts/journey/.
"""
from __future__ import annotations

import datetime as dt
import os
import queue
import re
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request
import zoneinfo

import pytest
from conftest import ROOT, submit
from contrast import contrast_failures, set_reading_mode, small_tap_targets
from test_browser_portal import Person
from test_first_run import RULE, _banner, _drain, _lines
from test_server import free_port, wait_healthy
from test_staff_navigation import SECTIONS
from upload_samples import (
    INTERPRETATION_FAQ,
    INTERPRETATION_SECTIONS,
    INTERPRETATION_TITLE,
    NOTICE_COMMENT,
    NOTICE_HEADINGS,
    NOTICE_LINES,
    NOTICE_TITLE,
    docx_bytes,
    interpretation_lines,
)

from bot.callback_client import TEST_WECHAT_CONFIG, WeChatSender, text_xml
from bot.config import load_wechat_config

ARTIFACTS = ROOT / "artifacts" / "journey"
pytestmark = [pytest.mark.browser, pytest.mark.slow]

ADMIN_PASSWORD = "Ganjiang-Tengwang-2026"
STAFF = {  # username: (role label, role, department, the admin's password, their own)
    "zhang": ("起草", "drafter", "区人社局", "Chushi-Mima-7391", "Bayi-Square-4827"),
    "wang": ("审核", "reviewer", "区党政办", "Chushi-Mima-5182", "Qiushui-Park-9364"),
    "zhao": ("签发", "signer", "区管委会", "Chushi-Mima-2670", "Meiling-Hills-1759"),
}
RESIDENTS = {"oJourneyResident000000000001": "就业创业", "oJourneyResident000000000002": "高校毕业生"}
RESIDENT_ASKING = "oJourneyResident000000000003"
QUESTION = "高校毕业生在经开区企业就业，就业补贴每人多少钱？"
# Logins hash at production strength (scrypt 2^17, niced below the callback): on a machine
# running several suites a login was seen to take longer than Playwright's 30 s default.
PATIENCE_MS = 180_000
INTERPRETATION_COMMENT = "请区财政局核对第二部分的补贴金额后再提交"


@pytest.fixture(scope="module")
def first_start(tmp_path_factory):
    """`python server.py` on a fresh data directory: (base URL, the framed block's lines)."""
    port = free_port()
    env = {**os.environ, "POLICYBOT_DATA_DIR": str(tmp_path_factory.mktemp("journey") / "inst"),
           "POLICYBOT_PORT": str(port), "OMP_NUM_THREADS": "1", "OMP_WAIT_POLICY": "PASSIVE",
           # the account's settings, with WeChat's API at an address where nothing listens
           **{f"POLICYBOT_{k}": v for k, v in TEST_WECHAT_CONFIG.items()},
           "POLICYBOT_WECHAT_API_BASE": f"http://127.0.0.1:{free_port()}"}
    proc = subprocess.Popen([sys.executable, "server.py"], cwd=ROOT, env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    out, err = queue.Queue(), queue.Queue()
    for stream, into in ((proc.stdout, out), (proc.stderr, err)):
        threading.Thread(target=_lines, args=(stream, into), daemon=True).start()
    base = f"http://127.0.0.1:{port}"
    try:
        healthy = wait_healthy(f"{base}/healthz", timeout=600)
        assert healthy == 200, "\n".join(_drain(err))
        yield base, _banner(out, timeout=120)
    finally:
        proc.terminate()
        proc.wait(timeout=60)


class Journey:
    """The screenshots, numbered in the order the steps were taken."""

    def __init__(self):
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        for old in ARTIFACTS.glob("*.png"):
            old.unlink()
        self.step = 0

    def shot(self, page, name: str) -> None:
        self.step += 1
        page.screenshot(path=str(ARTIFACTS / f"{self.step:02d}-{name}.png"), full_page=True)


def dated_notice(today: dt.date) -> tuple[bytes, dict]:
    """The sample 印发 notice (its comment with a mobile number included) with its dates moved
    next to today, so that the 办法 is about to take effect whatever day the test runs."""
    dates = {"signed": today - dt.timedelta(days=10), "met": today - dt.timedelta(days=12),
             "printed": today - dt.timedelta(days=9), "from": today + dt.timedelta(days=1),
             "until": today.replace(year=today.year + 1, month=12, day=31)}
    old = {"signed": "2026年11月20日", "met": "2026年11月18日", "printed": "2026年11月21日",
           "from": "2026年12月1日", "until": "2027年12月31日"}
    written = {k: f"{d.year}年{d.month}月{d.day}日" for k, d in dates.items()}
    new = {text: written[key] for key, text in old.items()}  # in one pass: a new date may be an old one
    moved = re.compile("|".join(map(re.escape, new)))
    lines = [moved.sub(lambda m: new[m.group(0)], line) for line in NOTICE_LINES]
    data = docx_bytes(lines, headings=NOTICE_HEADINGS, title=NOTICE_TITLE, comment=NOTICE_COMMENT)
    return data, {"publish_date": dates["signed"].isoformat(), "valid_from": dates["from"].isoformat(),
                  "valid_until": dates["until"].isoformat(), "signed_text": written["signed"]}


def callback(base: str, openid: str, text: str) -> str:
    """A resident's message as WeChat delivers it (signed, encrypted); the reply's text."""
    sender = WeChatSender(load_wechat_config({**TEST_WECHAT_CONFIG, "PUBLIC_URL": base}))
    args, body = sender.signed_request(text_xml(openid, text))
    request = urllib.request.Request(f"{base}/wechat?{urllib.parse.urlencode(args)}", data=body,
                                     headers={"Content-Type": "text/xml"})
    with urllib.request.urlopen(request, timeout=120) as response:
        return sender.reply_text(response.read())


def quoted_title(reply: str) -> str:
    """The 《title》 line of the document a reply quotes ("" for none: a related document's line
    begins with its number, a not-yet-in-force notice comes before it)."""
    return next((line for line in reply.split("\n") if line.startswith("《")), "")


def upload(person: Person, name: str, data: bytes):
    page = person.open("/staff/uploads")
    page.set_input_files("#file", {"name": name, "mimeType": "application/octet-stream", "buffer": data})
    submit(page, "#upload")
    assert re.search(r"/staff/uploads/[0-9a-f]{32}$", page.url), page.url
    return page


def flash(page) -> str:
    return " ".join(page.locator(".flash").all_inner_texts())


def test_a_government_office_first_day(first_start, browser):
    base, banner = first_start
    journey, problems = Journey(), []
    (ARTIFACTS / "00-first-start.txt").write_text("\n".join(banner) + "\n", encoding="utf-8")
    today = dt.datetime.now(zoneinfo.ZoneInfo("Asia/Shanghai")).date()

    # -- first start: the framed block's one-time link creates the first administrator ------
    assert banner[1] == RULE and any("已就绪" in line for line in banner)
    assert any("已配置" in line or "回调" in line for line in banner)
    link = next(line.strip() for line in banner if "/staff/setup/" in line)
    visitor = browser.new_context(locale="zh-CN").new_page()
    visitor.context.set_default_timeout(PATIENCE_MS)
    visitor.goto(link)
    visitor.fill("input[name=username]", "chief")
    visitor.fill("input[name=display_name]", "刘主任")
    visitor.fill("input[name=department]", "区政务公开办")
    visitor.fill("input[name=password]", ADMIN_PASSWORD)
    journey.shot(visitor, "setup-from-the-printed-link")
    submit(visitor, "button[type=submit]")
    assert "管理员 chief 已创建" in flash(visitor)
    assert visitor.goto(link).status == 404  # the link worked once
    visitor.on("console", lambda m: m.type == "error" and problems.append(f"{visitor.url}: {m.text}"))

    # -- the landing page -----------------------------------------------------------------------
    visitor.goto(base + "/")
    assert visitor.locator("h1").inner_text().endswith("政策解读助手")
    for target in ("/catalogue", "/search", "/staff/"):
        assert visitor.locator(f"a[href='{target}']").count() >= 1, target
    journey.shot(visitor, "landing-page")
    submit(visitor, "a[href='/staff/']")
    assert visitor.url.startswith(base + "/staff/login")

    # -- the administrator: every section from the navigation, then the accounts -------------
    admin = Person(browser, base, "chief", problems, password=ADMIN_PASSWORD, timeout_ms=PATIENCE_MS)
    page = admin.page
    for label in SECTIONS:
        submit(page, f"#staff-nav a:text-is('{label}')")
        assert page.url == base + SECTIONS[label], (label, page.url)
        assert page.locator("#staff-nav a[aria-current=page]").inner_text() == label
        assert page.locator("h1").count() == 1
        journey.shot(page, "section-" + (SECTIONS[label].strip("/").replace("/", "-") or "home"))
    for username, (_, role, department, initial, _) in STAFF.items():
        page = admin.open("/staff/users")
        form = "form[action='/staff/users']"
        page.fill(f"{form} input[name=username]", username)
        page.select_option(f"{form} select[name=role]", role)
        page.fill(f"{form} input[name=department]", department)
        page.fill(f"{form} input[name=password]", initial)
        submit(page, f"{form} button[type=submit]")
        assert "error" not in (page.locator(".flash").first.get_attribute("class") or ""), flash(page)
    journey.shot(page, "accounts-created")
    drafter, reviewer, signer = (
        Person(browser, base, name, problems, password=STAFF[name][3], new_password=STAFF[name][4],
               timeout_ms=PATIENCE_MS)
        for name in STAFF)
    for person, name in zip((drafter, reviewer, signer), STAFF, strict=True):
        assert STAFF[name][0] in person.page.locator("#whoami").inner_text()

    # -- residents subscribe through the callback ----------------------------------------------
    for openid, topic in RESIDENTS.items():
        assert f"已订阅「{topic}」" in callback(base, openid, f"订阅 {topic}")

    # -- the drafter uploads the 印发 notice: the date under the signature -------------------
    notice, expected = dated_notice(today)
    page = upload(drafter, "关于印发补贴办法的通知.docx", notice)
    for field in ("publish_date", "valid_from", "valid_until"):
        assert page.input_value(f"input[name={field}]") == expected[field], field
    assert page.input_value("input[name=title]") == NOTICE_TITLE
    reasons = page.locator("#date-reasons").inner_text()
    assert f"落款「南昌经济技术开发区管理委员会办公室」下的日期 {expected['signed_text']}" in reasons
    assert page.locator("textarea[name=faq]").count() == 0 and "作为解读时" not in page.content()
    page.select_option("select[name=importance]", "major")
    page.fill("input[name=topics]", "就业创业、高校毕业生")
    page.fill("input[name=audience]", "高校毕业生")
    journey.shot(page, "upload-notice-signature-date")
    submit(page, "#use")
    release_id = int(re.search(r"/staff/releases/(\d+)$", page.url).group(1))

    # -- the interpretation: sections and Q&A filled, nothing twice ----------------------------
    data = docx_bytes(interpretation_lines(), headings={INTERPRETATION_TITLE}, title=INTERPRETATION_TITLE,
                      comment=INTERPRETATION_COMMENT)
    page = upload(drafter, "补贴办法政策解读.docx", data)
    assert "识别为政策解读" in page.locator("#upload-kind").inner_text()
    for name, text in INTERPRETATION_SECTIONS.items():
        assert page.input_value(f"textarea[name='section_{name}']") == text, name
    faq = page.input_value("textarea[name=faq]")
    assert [q for q in re.findall(r"问：(.+)", faq)] == [p["q"] for p in INTERPRETATION_FAQ]
    body = page.input_value("textarea[name=text]")
    assert "问：" not in body and not any(t.split("\n")[0] in body for t in INTERPRETATION_SECTIONS.values())
    page.select_option("#target", str(release_id))
    journey.shot(page, "upload-interpretation-sections-and-qa")
    submit(page, "#use")
    assert page.url == f"{base}/staff/releases/{release_id}"
    article = page.locator("article.doc", has_text=INTERPRETATION_TITLE.strip("《》")).first
    text = article.inner_text()
    for pair in INTERPRETATION_FAQ:
        assert text.count(pair["q"]) == 1, pair["q"]
    for section in INTERPRETATION_SECTIONS.values():
        assert text.count(section.split("\n")[0]) == 1, section
    submit(page, "#submit")
    journey.shot(page, "submitted")

    # -- the reviewer: the push preview, the hidden parts, the finding, approval ----------------
    page = reviewer.open(f"/staff/releases/{release_id}")
    hidden = " ".join(page.locator("section.hidden-parts").all_inner_texts())
    assert INTERPRETATION_COMMENT in hidden  # the interpretation file's comment
    assert "请核对：经办人手机" in hidden and page.locator("section.hidden-parts mark").count() >= 1
    open_findings = page.locator("tr.finding.open")
    assert open_findings.count() == 1 and "批注" in open_findings.inner_text()
    journey.shot(page, "reviewer-reads-hidden-parts")
    submit(page, "#push-preview")
    for openid_topic in ("您订阅了「就业创业」", "适用人群：高校毕业生"):
        assert openid_topic in page.locator("#recipients").inner_text()
    journey.shot(page, "push-preview-before-publication")
    page = reviewer.open(f"/staff/releases/{release_id}")
    page.fill("tr.finding.open input[name=reason]", "批注只在原文件里，不随正文公开；已请起草人删除批注")
    submit(page, "tr.finding.open button[value=override]")
    page.fill("textarea[name=note]", "已逐份阅读通知、办法和解读全文及两个原文件的批注，正文无个人信息")
    page.check("#checked-all")
    submit(page, "#review")
    assert page.locator("#release-state").inner_text().startswith("已审核"), flash(page)

    # -- the signer signs and publishes ---------------------------------------------------------
    page = signer.open("/staff/")
    assert f"发布 #{release_id} " in page.locator("#waiting").inner_text()  # 待您处理
    journey.shot(page, "signer-dashboard-waiting")
    submit(page, f"#waiting a[href='/staff/releases/{release_id}']")
    journey.shot(page, "signer-reads-before-signing")
    submit(page, "#sign")
    submit(page, "#publish")
    assert page.locator("#release-state").inner_text() == "已发布", flash(page)
    assert "on_publish" not in page.content() and "已发布" in flash(page)
    journey.shot(page, "published")

    # -- the push page: who is reached and why, and that no sender runs ------------------------
    submit(page, "#staff-nav a:text-is('定向推送')")
    submit(page, f"a[href='/staff/push/releases/{release_id}']")
    rows = page.locator("#recipients tr").all_inner_texts()[1:]
    assert len(rows) == len(RESIDENTS), rows
    assert any("您订阅了「就业创业」" in row for row in rows)
    assert any("适用人群：高校毕业生" in row for row in rows)
    assert "2 位订阅者" in page.locator("#recipients-summary").inner_text()
    sender = page.locator("#sender-state").inner_text()
    # no message template is set: the page says the pushes wait, not that they went out
    assert "不会发出" in sender and "2 条待发会一直等待" in sender, sender
    journey.shot(page, "push-recipients-and-reasons")

    # -- the simulator asks through the callback; its link opens the policy page -------------
    # the new text is searchable by its words at once and by its meaning once embedded in the
    # background: a resident asks until the answer quotes it (seconds on an idle machine). Before
    # its vectors are in it may only be listed among the related documents, under another one's
    # quote, and the link below would open that one: the quoted document's 《title》 line counts.
    deadline = time.monotonic() + 300
    title = "南昌经开区高校毕业生就业创业补贴办法"
    while title not in quoted_title(callback(base, RESIDENT_ASKING, QUESTION)):
        assert time.monotonic() < deadline, "the published policy never reached the answers"
        time.sleep(0.2)
    page = drafter.page
    submit(page, "#staff-nav a:text-is('公众号模拟器')")
    assert "已配置公众号（安全模式，消息加密）" in page.locator("#sim-mode").inner_text()
    page.fill("#message", QUESTION)
    page.press("#message", "Enter")
    page.wait_for_selector("#chat li.bot", timeout=PATIENCE_MS)
    answer = page.locator("#chat li.bot").last
    assert "南昌经开区高校毕业生就业创业补贴办法" in answer.inner_text(), answer.inner_text()
    assert "Encrypt" in page.locator("#raw").text_content()  # it went signed and encrypted
    journey.shot(page, "simulator-answer")
    link = answer.locator("a[href*='?r=']").first
    with page.context.expect_page() as opened:
        link.click()
    phone = opened.value
    phone.set_viewport_size({"width": 390, "height": 844})
    phone.wait_for_load_state()
    assert "南昌经开区高校毕业生就业创业补贴办法" in phone.locator("h1").inner_text()
    day = dt.date.fromisoformat(expected["valid_from"])
    banner = phone.locator("#banner-title").inner_text()  # not yet in force: said so, in words
    assert banner == f"本文件将于{day.year}年{day.month}月{day.day}日起施行"

    # -- the H5 page on a phone, rated in 大字模式 + 高对比度 ----------------------------------------
    set_reading_mode(phone, large=True, contrast=True)
    form = phone.get_by_role("form", name="这条答复对您有帮助吗？")
    with phone.expect_navigation():
        form.get_by_role("button", name="满意", exact=True).click()
    assert "rated=1" in phone.url
    assert phone.locator("#feedback-title").inner_text() == "感谢您的评价"
    assert phone.get_attribute("#font-toggle", "aria-pressed") == "true"
    assert phone.get_attribute("#contrast-toggle", "aria-pressed") == "true"
    journey.shot(phone, "h5-rated-large-high-contrast")
    assert contrast_failures(phone, 7.0) == []
    assert small_tap_targets(phone, 44) == []
    assert problems == [], problems  # no console errors, no CSP violations
    shots = sorted(p.name for p in ARTIFACTS.glob("*.png"))
    print(f"\njourney: release {release_id} published, {len(RESIDENTS)} recipients with reasons, "
          f"{len(shots)} screenshots in {ARTIFACTS}")

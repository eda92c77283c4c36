"""The whole journey in headless Chromium: a drafter uploads a real .docx policy and a .docx
interpretation, the scan flags a planted ID number, the drafter removes it and the reviewer
confirms the fix, the reviewer approves, the signer signs and publishes; the policy is then
found by the bot's search and shown on its public page. Screenshots go to artifacts/."""
from __future__ import annotations

import io
import pathlib
import re
import threading

import docx
import pytest
from conftest import submit

from portal.testing import TEST_PASSWORD, app_config, make_staff
from tests.test_uploads import ID_NUMBER

ARTIFACTS = pathlib.Path(__file__).resolve().parent.parent / "artifacts" / "portal"

pytestmark = pytest.mark.browser


def policy_docx() -> bytes:
    document = docx.Document()
    document.add_heading("关于印发《经开区青年创业补贴办法》的通知", 1)
    document.add_paragraph("洪经管办发〔2026〕9号")
    document.add_paragraph("第一章 总则")
    document.add_paragraph("第一条 为支持青年创业，制定本办法。")
    document.add_paragraph(f"第二条 首次创业的青年可申领一次性创业补贴5000元。经办人身份证号{ID_NUMBER}。")
    document.add_paragraph("第三条 本办法自2026年1月1日起施行，有效期三年。")
    document.add_paragraph("南昌经济技术开发区管理委员会办公室")
    document.add_paragraph("2025年12月20日")
    return _saved(document)


def interpretation_docx() -> bytes:
    document = docx.Document()
    document.add_heading("《经开区青年创业补贴办法》政策解读", 1)
    document.add_paragraph("一、政策背景")
    document.add_paragraph("为落实稳就业部署，支持青年创业。")
    document.add_paragraph("二、主要内容")
    document.add_paragraph("首次创业的青年可申领一次性创业补贴5000元。")
    return _saved(document)


def _saved(document) -> bytes:
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    from werkzeug.serving import make_server

    from server import create_app, start

    app = start(create_app(app_config(tmp_path_factory.mktemp("browser"))))
    users = {role: make_staff(app, name, role, dept) for role, name, dept in (
        ("drafter", "zhang", "区人社局"), ("reviewer", "wang", "区党政办"), ("signer", "zhao", "区管委会"))}
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield app, users, f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    app.extensions["policybot"].db.dispose()


class Person:
    """One member of staff in a browser context of their own. With `new_password`, the
    password an admin set is replaced at the first login, as the portal requires."""

    def __init__(self, browser, base: str, username: str, problems: list, password: str = TEST_PASSWORD,
                 new_password: str | None = None, timeout_ms: float | None = None):
        self.page = browser.new_context(locale="zh-CN").new_page()
        if timeout_ms:  # a production-strength password hash, niced, on a crowded machine
            self.page.context.set_default_timeout(timeout_ms)
        self.base = base
        self.page.on("console", lambda m: m.type == "error" and problems.append(f"{self.page.url}: {m.text}"))
        self.login(username, password)
        if new_password:
            assert self.page.url.endswith("/staff/password")  # nothing else opens before it
            self.page.fill("input[name=current]", password)
            self.page.fill("input[name=new]", new_password)
            submit(self.page, "form:has(input[name=new]) button[type=submit]")  # not 退出's
            assert "密码已修改" in self.page.locator(".flash").inner_text()
            self.login(username, new_password)
        assert self.page.locator("#whoami").is_visible()

    def login(self, username: str, password: str) -> None:
        self.page.goto(f"{self.base}/staff/login")
        self.page.fill("input[name=username]", username)
        self.page.fill("input[name=password]", password)
        submit(self.page, "button[type=submit]")

    def open(self, path: str):
        self.page.goto(self.base + path)
        return self.page

    def shot(self, name: str):
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        self.page.screenshot(path=str(ARTIFACTS / name), full_page=True)


def _upload(person: Person, name: str, data: bytes):
    page = person.open("/staff/uploads")
    page.set_input_files("#file", {"name": name, "mimeType": "application/octet-stream", "buffer": data})
    page.click("#upload")
    page.wait_for_url(re.compile(r"/staff/uploads/[0-9a-f]{32}$"))
    return page


def _flash(page) -> str:
    return " ".join(page.locator(".flash").all_inner_texts())


def test_journey_from_upload_to_public_page(live, browser):
    app, users, base = live
    problems: list[str] = []
    drafter = Person(browser, base, "zhang", problems)
    reviewer = Person(browser, base, "wang", problems)
    signer = Person(browser, base, "zhao", problems)

    page = _upload(drafter, "经开区青年创业补贴办法.docx", policy_docx())
    assert page.input_value("input[name=title]") == "关于印发《经开区青年创业补贴办法》的通知"
    assert page.input_value("input[name=doc_number]") == "洪经管办发〔2026〕9号"
    assert page.input_value("input[name=valid_until]") == "2028-12-31"
    assert "身份证号" in page.locator("#upload-findings").inner_text()
    page.select_option("select[name=importance]", "major")
    page.fill("input[name=topics]", "就业创业")
    page.fill("input[name=audience]", "个人、高校毕业生")
    drafter.shot("01-upload-suggested-metadata.png")
    page.click("#use")
    page.wait_for_url(re.compile(r"/staff/releases/\d+$"))
    release_id = int(page.url.rsplit("/", 1)[-1])

    page = _upload(drafter, "青年创业补贴办法政策解读.docx", interpretation_docx())
    page.select_option("#target", str(release_id))
    page.select_option("select[name=interpretation_form]", "text")
    page.fill("textarea[name=section_政策背景]", "为落实稳就业部署。")
    page.fill("textarea[name=faq]", "问：补贴多少？\n答：一次性5000元。")
    page.click("#use")
    page.wait_for_url(f"{base}/staff/releases/{release_id}")
    submit(page, "#submit")
    assert "保密审查发现 1 处" in _flash(page)

    page = reviewer.open(f"/staff/releases/{release_id}")
    finding = page.locator("tr.finding.open")
    assert finding.count() == 1 and "身份证号" in finding.inner_text()
    assert page.locator("tr.finding.open mark").inner_text().startswith("110")
    assert page.locator(".text mark.finding-mark").count() == 1  # highlighted in the document too
    reviewer.shot("02-reviewer-sees-planted-id.png")
    page.fill("input[name=reason]", "请删除经办人身份证号")
    page.fill("textarea[name=note]", "见发现")
    submit(page, "#review")
    assert "待处理" in _flash(page)  # approval refused while the finding is open

    releases = app.extensions["policybot"].releases
    policy_id = releases.get(release_id)["policy_id"]
    page = drafter.open(f"/staff/releases/{release_id}/documents/{policy_id}/edit")
    text = page.input_value("textarea[name=text]")
    page.fill("textarea[name=text]", text.replace(f"经办人身份证号{ID_NUMBER}。", ""))
    submit(page, "#save")
    assert releases.get(release_id)["state"] == "draft"

    page = reviewer.open(f"/staff/releases/{release_id}")
    page.fill("tr.finding.open input[name=reason]", "起草人已删除身份证号，已核对")
    submit(page, "tr.finding.open button[value=resolved]")
    assert "已标记为已修改" in _flash(page)

    page = drafter.open(f"/staff/releases/{release_id}")
    submit(page, "#submit")
    assert "保密审查发现 0 处" in _flash(page)

    page = reviewer.open(f"/staff/releases/{release_id}")
    page.fill("textarea[name=note]", "保密审查：身份证号已删除，无其他敏感信息")
    submit(page, "#review")
    assert releases.get(release_id)["state"] == "reviewed"

    page = signer.open(f"/staff/releases/{release_id}")
    submit(page, "#sign")
    submit(page, "#publish")
    assert "已发布" in _flash(page)
    assert page.locator("#release-state").inner_text() == "已发布"
    signer.shot("03-signer-published.png")

    hits = app.extensions["policybot"].search.search("青年创业补贴", k=5)
    assert policy_id in {h.doc_id for h in hits}
    public = browser.new_context(locale="zh-CN").new_page()
    link = page.locator(f"#publication a[href$='{policy_id}']")  # the release page links the public page
    assert link.count() == 1
    public.goto(base + link.get_attribute("href"))
    assert "经开区青年创业补贴办法" in public.content()
    assert ID_NUMBER not in public.content()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    public.screenshot(path=str(ARTIFACTS / "04-public-page.png"), full_page=True)
    assert problems == [], problems  # no console errors, no CSP violations
    print(
        f"\nbrowser journey: release {release_id} published; search hit {policy_id}; "
        f"screenshots in {ARTIFACTS}"
    )


NASTY = ("<script>window.__xss=(window.__xss||0)+1</script>",
         "<img src=x onerror=\"window.__xss=(window.__xss||0)+1\">",
         "\"><svg onload=\"window.__xss=(window.__xss||0)+1\">",
         "javascript:window.__xss=1", "]]><!--", "{{ 7*7 }}{% raw %}")


def test_nasty_documents_execute_no_script(live, browser):
    """Every staff page that shows document content, fed strings that would run script."""
    from conftest import make_interpretation, make_policy

    app, users, base = live
    releases = app.extensions["policybot"].releases
    nasty = "\n".join(NASTY)
    old = make_policy("xss-old", title="旧版" + NASTY[0], text="第一条 " + NASTY[1] + "\n第二条 保留。")
    rid = releases.create(users["drafter"].actor, old, [])
    releases.submit(users["drafter"].actor, rid)
    releases.review(users["reviewer"].actor, rid, NASTY[2])
    releases.sign(users["signer"].actor, rid)
    releases.publish(users["signer"].actor, rid)
    new = make_policy(
        "xss-new",
        title=NASTY[0] + "新版",
        text="第一条 " + NASTY[2] + "\n" + nasty,
        supersedes="xss-old",
        issuing_body=NASTY[1],
        topics=[NASTY[0]],
    )
    interp = make_interpretation(
        "xss-i",
        "xss-new",
        title=NASTY[1],
        text=nasty,
        faq=[{"q": NASTY[0], "a": NASTY[1]}],
        sections=[{"name": "政策背景", "text": NASTY[2]}],
        media=[{"kind": "video", "url": "https://v.example/" + NASTY[3], "title": NASTY[0]}],
    )
    new_rid = releases.new_version(users["drafter"].actor, "xss-old", new, [interp])
    releases.submit(users["drafter"].actor, new_rid)
    dialogs = []
    problems: list[str] = []
    reviewer = Person(browser, base, "wang", problems)
    reviewer.page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    pages = [f"/staff/releases/{new_rid}", f"/staff/releases/{new_rid}/diff", f"/staff/releases/{rid}",
             "/staff/releases", "/staff/", f"/staff/audit?release={rid}"]
    executed = 0
    for path in pages:
        page = reviewer.open(path)
        executed += page.evaluate("window.__xss || 0")
        # escaped, not merely blocked by the CSP: no element was made from the strings
        assert page.locator("script:not([src]), img[onerror], svg[onload]").count() == 0, path
    reviewer.shot("05-nasty-document-diff.png")
    print(f"\nXSS over nasty documents: {len(pages)} staff pages × {len(NASTY)} strings, "
          f"script executions {executed}, dialogs {len(dialogs)}")
    assert executed == 0 and dialogs == []

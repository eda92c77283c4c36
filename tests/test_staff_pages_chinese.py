"""Every staff page, for every role, over a world with data in every state, reads in Chinese.

The world holds releases in every state (draft → submitted → reviewed → signed → published →
withdrawn / retired, superseded ones and a supplement), findings in every state (open,
resolved, overridden, stale; in the text, the Q&A and the hidden parts of an uploaded Word
file), an audit log with every action, push rows in every state and a paused channel,
accounts changed in every way, questions, tasks and commitments. Every GET route under
/staff is rendered for every role, and refused workflow steps are read from their flash.

What a person reads must hold no English word at all — so no state, role, action, finding
kind or channel code and no Python identifier (`Push.on_publishing`). Set aside as data:
user names, document ids, file names, web addresses, hashes and the values a file's own
properties hold; and what is meant to be typed or read as a program's output (<kbd>, <samp>).
"""
from __future__ import annotations

import datetime as dt
import html.parser
import io
import json
import re

import pytest
import sqlalchemy as sa
from conftest import make_interpretation, make_policy
from test_uploads import ID_NUMBER, policy_docx

from bot.push.bulk import add_subscribers
from bot.push.tables import outbox, push_control
from interpretations.importer import import_file
from interpretations.labels import LABELS
from interpretations.tables import RELEASE_STATES, audit_log, findings
from policies.validity import local_today
from portal.tables import uploads
from portal.testing import app_config, csrf, login_as, make_staff

ROLES = ("drafter", "reviewer", "signer", "admin")
# Units, and the names and extensions of the file formats staff upload and download.
ALLOWED = {"KB", "MB", "Word", "PDF", "Markdown", "UTC", "docx", "pdf", "html", "htm", "txt", "md", "xlsx"}
NAME = r"_*[A-Za-z][A-Za-z0-9_]*"  # a word or an identifier (a lone "_" is punctuation)
WORD = re.compile(rf"{NAME}(?:[.\-]{NAME})*")
URL = re.compile(r"https?://\S+|[\w.+-]+@[\w-]+(?:\.[\w-]+)+")  # web and mail addresses
HEX = re.compile(r"\b[0-9a-f]{8,}\b")
SKIPPED_ENDPOINTS = {"portal.static", "insights.static", "portal.setup_page", "insights.report_xlsx"}


class VisibleText(html.parser.HTMLParser):
    """The words a person sees: text outside script, style, kbd and samp, and the words of
    placeholders, titles and labels for assistive technology."""

    HIDDEN = {"script", "style", "kbd", "samp"}
    SPOKEN = ("placeholder", "title", "aria-label", "alt")

    def __init__(self):
        super().__init__()
        self.parts, self.depth = [], 0

    def handle_starttag(self, tag, attrs):
        if tag in self.HIDDEN:
            self.depth += 1
        self.parts += [value for name, value in attrs if name in self.SPOKEN and value]

    def handle_endtag(self, tag):
        if tag in self.HIDDEN and self.depth:
            self.depth -= 1

    def handle_data(self, data):
        if not self.depth:
            self.parts.append(data)


def visible_text(page: str) -> str:
    parser = VisibleText()
    parser.feed(page)
    return " ".join(parser.parts)


def english_words(text: str, data: set[str]) -> set[str]:
    for value in sorted(data, key=len, reverse=True):
        text = text.replace(value, " ")
    text = HEX.sub(" ", URL.sub(" ", text))
    return {w for w in WORD.findall(text) if w not in ALLOWED}


# -- the world --------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def world(tmp_path_factory):
    from server import create_app, start

    tmp = tmp_path_factory.mktemp("chinese")
    _entry_of_before_the_audit_key(tmp / "inst")  # sealed by the first start: "seal audit log"
    app = start(create_app(app_config(tmp / "inst")))
    svc = app.extensions["policybot"]
    users = {"drafter": make_staff(app, "zhang", "drafter", "区人社局"),
             "reviewer": make_staff(app, "wang", "reviewer", "区党政办"),
             "signer": make_staff(app, "zhao", "signer", "区管委会"),
             "admin": make_staff(app, "root", "admin", "区政务公开办")}
    actor = {role: user.actor for role, user in users.items()}
    rel = svc.releases
    today = local_today(app.config["TIMEZONE"])
    ids = {}

    def publish(release_id):
        rel.submit(actor["drafter"], release_id)
        rel.review(actor["reviewer"], release_id, "已检查正文及附件")
        rel.sign(actor["signer"], release_id)
        rel.publish(actor["signer"], release_id)

    # drafts, a supplement and an imported major policy without interpretation (解读缺失)
    ids["draft"] = rel.create(actor["drafter"], make_policy("p-draft", title="草稿中的办法"),
                              [make_interpretation("i-draft", "p-draft")])
    corpus = tmp / "import.jsonl"
    corpus.write_text(json.dumps(make_policy("p-imported", title="导入的重大政策", importance="major",
                                             provenance="https://www.example.gov.cn/zcwj/1.html")
                                 .to_record(), ensure_ascii=False) + "\n", encoding="utf-8")
    import_file(rel, corpus)
    ids["supplement"] = rel.create(actor["drafter"], None, [make_interpretation("i-supp", "p-imported")])

    # an upload with hidden parts becomes a release through the portal, then is submitted
    client = _client(app, users["drafter"])
    reply = client.post("/staff/uploads", data={"csrf_token": csrf(client), "file": (
        io.BytesIO(_in_chinese(policy_docx(extra_id=ID_NUMBER))), "创业补贴办法.docx")})
    upload_id = reply.headers["Location"].rsplit("/", 1)[-1]
    client.post(f"/staff/uploads/{upload_id}/use", data={
        "csrf_token": csrf(client), "target": "new", "title": "经开区创业补贴办法", "importance": "major",
        "text": f"第一条 补贴标准为每人5000元。经办人身份证号{ID_NUMBER}。", "topics": "就业创业"})
    with svc.db.read() as conn:
        uploaded_doc = conn.execute(sa.select(uploads.c.document_id)
                                    .where(uploads.c.id == upload_id)).scalar()
    ids["submitted"] = rel.release_of(uploaded_doc)
    rel.add_document(actor["drafter"], ids["submitted"], make_interpretation(
        "i-upload", uploaded_doc, faq=[{"q": "怎么联系？", "a": "邮箱 someone@example.com"}]))
    client.post(f"/staff/releases/{ids['submitted']}/submit", data={"csrf_token": csrf(client)})
    rel.send_back(actor["reviewer"], ids["submitted"], "请补充说明")  # the open ones go stale
    client.post(f"/staff/releases/{ids['submitted']}/submit", data={"csrf_token": csrf(client)})

    # reviewed with an overridden finding; signed after a fixed (resolved) one
    ids["reviewed"] = rel.create(actor["drafter"], make_policy(
        "p-reviewed", text="第一条 咨询电话13912345678。\n"), [])
    rel.submit(actor["drafter"], ids["reviewed"])
    _settle(rel, actor["reviewer"], ids["reviewed"], override=True)
    rel.review(actor["reviewer"], ids["reviewed"], "保留咨询电话")
    ids["signed"] = rel.create(actor["drafter"], make_policy(
        "p-signed", text=f"第一条 身份证号{ID_NUMBER}。\n"), [])
    rel.submit(actor["drafter"], ids["signed"])
    rel.edit(actor["drafter"], ids["signed"], make_policy("p-signed", text="第一条 已删除个人信息。\n"))
    _settle(rel, actor["reviewer"], ids["signed"], override=False)
    rel.submit(actor["drafter"], ids["signed"])
    rel.review(actor["reviewer"], ids["signed"], "已删除身份证号")
    rel.sign(actor["signer"], ids["signed"])
    # signed too, for the refusal test's one accepted step (publishing): "signed" stays signed
    ids["to_publish"] = rel.create(actor["drafter"], make_policy("p-to-publish", title="待发布的办法"), [])
    rel.submit(actor["drafter"], ids["to_publish"])
    rel.review(actor["reviewer"], ids["to_publish"], "已检查正文")
    rel.sign(actor["signer"], ids["to_publish"])

    # published (pushed), upcoming, expiring, withdrawn, retired, superseded (amended)
    add_subscribers(svc.db, svc.subscribers.cipher, [
        {"openid": f"oSUB{i:026d}", "kind": kind, "region": "江西省南昌市", "tags": [("就业创业", "topic")]}
        for i, kind in enumerate(("resident", "enterprise") * 3)])
    ids["published"] = rel.create(actor["drafter"], make_policy(
        "p-pub", title="就业补贴办法", importance="major"), [make_interpretation("i-pub", "p-pub")])
    publish(ids["published"])
    _push_rows_in_every_state(svc.db, ids["published"])
    ids["upcoming"] = rel.create(actor["drafter"], make_policy(
        "p-soon", title="即将施行的办法", importance="major",
        valid_from=(today + dt.timedelta(days=1)).isoformat()), [make_interpretation("i-soon", "p-soon")])
    publish(ids["upcoming"])
    ids["expiring"] = rel.create(actor["drafter"], make_policy(
        "p-exp", title="快到期的办法", valid_until=(today + dt.timedelta(days=10)).isoformat()), [])
    publish(ids["expiring"])
    ids["withdrawn"] = rel.create(actor["drafter"], make_policy("p-wd", title="撤回的办法"), [])
    publish(ids["withdrawn"])
    rel.withdraw(actor["signer"], ids["withdrawn"], "内容有误")
    ids["retired"] = rel.create(actor["drafter"], make_policy("p-old", title="旧办法"), [])
    publish(ids["retired"])
    rel.retire(actor["signer"], ids["retired"], "repealed", None)
    ids["amended"] = rel.create(actor["drafter"], make_policy(
        "p-v1", title="第一版办法", text="第一条 旧规定。\n"), [])
    publish(ids["amended"])
    ids["new_version"] = rel.new_version(actor["drafter"], "p-v1", make_policy(
        "p-v2", title="第二版办法", text="第一条 新规定。\n第二条 增加的条款。\n"))
    publish(ids["new_version"])
    rel.retire_expired(today + dt.timedelta(days=3650))  # the system retires what ran out

    # accounts changed in every way (each audited)
    admin = _client(app, users["admin"])
    admin.post("/staff/users", data={"csrf_token": csrf(admin), "username": "spare", "role": "drafter",
                                     "password": "Another-Pass-77", "department": "区教育局"})
    spare = next(u for u in _all_staff(app) if u.username == "spare")
    for path, data in ((f"/staff/users/{spare.id}/active", {"active": "0"}),
                       (f"/staff/users/{spare.id}/active", {"active": "1"}),
                       (f"/staff/users/{spare.id}/role", {"role": "reviewer", "department": "区党政办"}),
                       (f"/staff/users/{spare.id}/password", {"password": "Third-Pass-888"}),
                       (f"/staff/users/{spare.id}/active", {"active": "0"})):
        admin.post(path, data={**data, "csrf_token": csrf(admin)})

    # what the public asked, tasks and a commitment
    asked = (("失业保险金怎么领", True), ("电动车上牌怎么办", False), ("电动车上牌在哪办", False))
    for text, answered in asked:
        svc.questions.record("oAsker", "h5", text, [{"doc_id": "p-pub"}] if answered else [], 0.5, answered)
    admin.post("/staff/insights/tasks/raise", data={"csrf_token": csrf(admin)})
    for path, data in (("/staff/insights/tasks/1/link", {"document_id": "i-pub"}),
                       ("/staff/insights/tasks/1/owner", {"owner": "王五"}),
                       ("/staff/insights/commitments", {"department": "区人社局", "text": "补充上牌图解",
                                                        "due_date": str(today + dt.timedelta(days=3))}),
                       ("/staff/insights/commitments/1/done", {"document_id": "i-pub"}),
                       (f"/staff/users/{spare.id}/throttle", {})):
        admin.post(path, data={**data, "csrf_token": csrf(admin)})
    drafter = _client(app, users["drafter"])  # a commitment of the drafter's own department
    drafter.post("/staff/insights/commitments", data={
        "csrf_token": csrf(drafter), "department": "区人社局", "text": "补充电动车上牌解读",
        "due_date": (today + dt.timedelta(days=7)).isoformat()})

    data = _data_strings(app, users)
    yield app, users, ids, data, upload_id
    svc.db.dispose()


def _entry_of_before_the_audit_key(data_dir) -> None:
    """An instance upgraded from the unkeyed audit chain: one entry written without the key."""
    from interpretations import audit
    from policies.db import Database, sqlite_url

    data_dir.mkdir(parents=True)
    old = Database(sqlite_url(data_dir / "policybot.sqlite3"))
    old.upgrade()
    with old.write() as conn:
        audit.append(conn, actor="cli", role="admin", action="add staff", release_id=None,
                     from_state=None, to_state=None, comment="早期账号")
    old.dispose()


def _in_chinese(data: bytes) -> bytes:
    """The Word file with the properties python-docx fills in English ("generated by
    python-docx") written as a Chinese office would."""
    import docx

    document = docx.Document(io.BytesIO(data))
    document.core_properties.comments = "内部讨论稿"
    document.core_properties.last_modified_by = "李四"
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def _client(app, user):
    client = app.test_client()
    login_as(client, app, user)
    return client


def _all_staff(app):
    from portal.accounts import all_staff

    return all_staff(app.extensions["policybot"].db)


def _settle(releases, reviewer, release_id, override: bool) -> None:
    for finding in releases.get(release_id)["findings"]:
        if finding["state"] == "open":
            releases.resolve_finding(reviewer, finding["id"], override=override,
                                     reason="公开的咨询电话" if override else "已删除")


def _push_rows_in_every_state(db, release_id: int) -> None:
    with db.write() as conn:
        rows = conn.execute(sa.select(outbox.c.id).where(outbox.c.release_id == release_id)
                            .order_by(outbox.c.id)).scalars().all()
        states = ("pending", "sending", "sent", "failed", "unknown", "cancelled")
        errors = (None, None, None, "errcode 43004 unfollowed (43004)",
                  "sender died mid-send; WeChat may have delivered it", "release withdrawn")
        for row_id, state, error in zip(rows, states, errors, strict=False):
            conn.execute(outbox.update().where(outbox.c.id == row_id).values(
                state=state, error=error, attempts=0 if state == "pending" else 1))
        conn.execute(push_control.insert().values(
            api="template", paused_until=dt.datetime.now(dt.UTC) + dt.timedelta(hours=5),
            reason="45009", updated_at=dt.datetime.now(dt.UTC)))


def _data_strings(app, users) -> set[str]:
    """What the world's people and documents are called: data, not the interface."""
    with app.extensions["policybot"].db.read() as conn:
        doc_ids = set(conn.execute(sa.text("SELECT id FROM documents")).scalars())
        files = conn.execute(sa.select(uploads.c.filename, uploads.c.id, uploads.c.hidden_parts)).all()
        masked = set(conn.execute(sa.select(findings.c.masked)).scalars())
    values = {line.split(": ", 1)[1] for _, _, parts in files
              for line in (parts.get("metadata") or "").splitlines() if ": " in line}
    names = {u.username for u in _all_staff(app)}
    typed = {ID_NUMBER, "nope"}  # what the world's people typed into documents and forms
    return doc_ids | {f for f, _, _ in files} | {i[:8] for _, i, _ in files} | values | names | masked | typed


# -- the checks ---------------------------------------------------------------------------------

def test_the_world_holds_every_state(world):
    app, _, ids, _, _ = world
    db = app.extensions["policybot"].db
    with db.read() as conn:
        states = set(conn.execute(sa.text("SELECT state FROM releases")).scalars())
        finding_states = set(conn.execute(sa.select(findings.c.state)).scalars())
        actions = set(conn.execute(sa.select(audit_log.c.action)).scalars())
        push_states = set(conn.execute(sa.select(outbox.c.state)).scalars())
    assert states == set(RELEASE_STATES)
    assert finding_states == set(LABELS["finding_state"])
    assert actions == set(LABELS["audit_action"])
    assert push_states == set(LABELS["push_state"])


def _pages(app, ids, upload_id):
    """(endpoint, url) of every GET route under /staff, filled from the world."""
    from flask import url_for

    values = {"release_id": ids["submitted"], "doc_id": "i-upload", "policy_id": "p-imported",
              "upload_id": upload_id}
    extra = [f"/staff/releases/{rid}" for rid in ids.values()] + [
        f"/staff/push/releases/{ids['published']}", f"/staff/push/releases/{ids['draft']}",
        f"/staff/releases/{ids['new_version']}/diff", "/staff/releases?state=published",
        "/staff/insights/report?period=month", "/staff/insights/report?period=quarter",
        f"/staff/releases/{ids['published']}/documents/p-pub/edit", "/staff/nowhere"]
    pages = []
    with app.test_request_context():
        for rule in app.url_map.iter_rules():
            if "GET" in rule.methods and rule.rule.startswith("/staff") and \
                    rule.endpoint not in SKIPPED_ENDPOINTS:
                pages.append(url_for(rule.endpoint, **{a: values[a] for a in rule.arguments}))
    return sorted(set(pages + extra))


@pytest.mark.parametrize("role", ROLES)
def test_every_staff_page_reads_in_chinese(world, role):
    app, users, ids, data, upload_id = world
    client = _client(app, users[role])
    problems, read = [], 0
    for url in _pages(app, ids, upload_id):
        response = client.get(url)
        if response.status_code in (302, 303):
            continue
        read += 1
        words = english_words(visible_text(response.get_data(as_text=True)), data)
        if words:
            problems.append(f"{url} ({response.status_code}): {sorted(words)}")
    print(f"\n{role}: {read} staff pages read, {len(problems)} with English words")
    assert read >= 20
    assert problems == [], "\n".join(problems)


def test_refusals_and_confirmations_read_in_chinese(world):
    """Flash messages after steps the workflow refuses (wrong state, wrong person, open
    findings) and after those it accepts."""
    app, users, ids, data, _ = world
    attempts = [("signer", f"/staff/releases/{ids['draft']}/sign", {}),
                ("signer", f"/staff/releases/{ids['draft']}/publish", {}),
                ("reviewer", f"/staff/releases/{ids['submitted']}/review", {"note": "看过"}),
                ("reviewer", f"/staff/releases/{ids['published']}/send-back", {"reason": "x"}),
                ("admin", f"/staff/releases/{ids['draft']}/withdraw", {"reason": ""}),
                ("drafter", f"/staff/releases/{ids['published']}/documents/p-pub",
                 {"title": "改", "text": "第一条 改。"}),
                ("admin", "/staff/users", {"username": "X!", "role": "drafter", "password": "short"}),
                ("admin", "/staff/users",
                 {"username": "zhang", "role": "drafter", "password": "Long-enough-99"}),
                ("reviewer", "/staff/insights/commitments", {"department": "", "text": ""}),
                ("reviewer", "/staff/insights/tasks/999/link", {"document_id": "nope"}),
                ("reviewer", "/staff/push/rows/999999/decide", {"decision": "sent"}),
                ("signer", f"/staff/releases/{ids['to_publish']}/publish", {})]
    problems = []
    for role, url, form in attempts:
        client = _client(app, users[role])
        page = client.post(url, data={**form, "csrf_token": csrf(client)}, follow_redirects=True)
        flashes = re.findall(r'<p class="flash [^"]*" role="status">(.*?)</p>',
                             page.get_data(as_text=True), re.S)
        text = visible_text(page.get_data(as_text=True))
        words = english_words(" ".join(flashes) or text, data)
        if words or not (flashes or page.status_code >= 400):
            problems.append(f"{role} POST {url} ({page.status_code}): {flashes} {sorted(words)}")
    assert problems == [], "\n".join(problems)


def test_the_checker_finds_what_it_must(world):
    """The check itself can fail: codes and identifiers planted in a page are found."""
    _, _, _, data, _ = world
    page = ("<p>状态：submitted；已通知：Push.on_publishing、IndexMaintainer.on_published</p>"
            "<p title='landline'>类别</p><kbd>flask --app server push run</kbd>")
    assert english_words(visible_text(page), data) == {
        "submitted", "Push.on_publishing", "IndexMaintainer.on_published", "landline"}

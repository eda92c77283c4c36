"""The portal drives the release workflow over HTTP: uploads become a release, the scan's
findings (hidden parts of the file included) reach the reviewer, 一事一审 and the content-hash
binding hold through the portal, and the supporting pages (diff, expiring, dashboard, audit)
show what they should."""
from __future__ import annotations

import datetime as dt
import io

import pytest
from conftest import make_interpretation, make_policy

from portal.testing import app_config, csrf, login_as, make_staff
from tests.test_index_support import publish
from tests.test_uploads import ID_NUMBER, policy_docx, zip_bytes


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    from server import create_app, start

    app = start(create_app(app_config(tmp_path_factory.mktemp("workflow"))))
    users = {"drafter": make_staff(app, "zhang", "drafter", "区人社局"),
             "reviewer": make_staff(app, "wang", "reviewer", "区党政办"),
             "signer": make_staff(app, "zhao", "signer", "区管委会"),
             "admin": make_staff(app, "root", "admin", "区政务公开办")}
    yield app, users
    app.extensions["policybot"].db.dispose()


def _as(app, user):
    client = app.test_client()
    login_as(client, app, user)
    return client


def _post(client, url, **data):
    return client.post(url, data={"csrf_token": csrf(client), **data})


def _flash(client, url="/staff/releases") -> str:
    return client.get(url).text


def _upload(client, name: str, data: bytes):
    return client.post("/staff/uploads", data={"csrf_token": csrf(client), "file": (io.BytesIO(data), name)})


def _release_from_upload(app, drafter) -> int:
    client = _as(app, drafter)
    reply = _upload(client, "经开区创业补贴办法.docx", policy_docx(extra_id=ID_NUMBER))
    upload_id = reply.headers["Location"].rsplit("/", 1)[-1]
    page = client.get(f"/staff/uploads/{upload_id}").text
    assert "洪经管办发〔2026〕7号" in page and "保密审查预检" in page
    reply = _post(
        client,
        f"/staff/uploads/{upload_id}/use",
        target="new",
        title="关于印发《经开区创业补贴办法》的通知",
        doc_number="洪经管办发〔2026〕7号",
        issuing_body="南昌经济技术开发区管理委员会办公室",
        publish_date="2025-12-20",
        valid_from="2026-01-01",
        valid_until="2028-12-31",
        importance="major",
        topics="就业创业",
        audience="个人、企业",
        region="江西省南昌市经开区",
        text=app.extensions["policybot"].db and _upload_text(app, upload_id),
    )
    assert reply.status_code == 303, reply.text
    release_id = int(reply.headers["Location"].rsplit("/", 1)[-1])
    reply = _post(client, f"/staff/releases/{release_id}/documents", title="《经开区创业补贴办法》政策解读",
                  interpretation_form="faq", text="一、政策背景\n为支持创业。", topics="就业创业",
                  **{"section_政策背景": "落实国家部署。", "section_新旧政策差异": "首次制定。"},
                  faq="问：补贴多少？\n答：每人5000元。")
    assert reply.status_code == 303
    return release_id


def _upload_text(app, upload_id: str) -> str:
    import sqlalchemy as sa

    from portal.tables import uploads
    with app.extensions["policybot"].db.read() as conn:
        return conn.execute(sa.select(uploads.c.text).where(uploads.c.id == upload_id)).scalar_one()


def test_upload_to_publication_through_the_portal(world):
    app, users = world
    releases = app.extensions["policybot"].releases
    release_id = _release_from_upload(app, users["drafter"])
    drafter = _as(app, users["drafter"])
    _post(drafter, f"/staff/releases/{release_id}/submit")
    release = releases.get(release_id)
    assert release["state"] == "submitted"
    parts = {f["part"] for f in release["findings"] if f["state"] == "open"}
    # the planted ID in the body, and the hidden parts: comment, tracked deletion, header, metadata
    assert {
        "text",
        "upload:comments",
        "upload:tracked deletions",
        "upload:headers",
        "upload:metadata",
    } <= parts
    page = _as(app, users["reviewer"]).get(f"/staff/releases/{release_id}").text
    assert "<mark>110" in page and ID_NUMBER not in page.split("<h2>文件</h2>")[0]
    # the file's properties: what people wrote open (its finding marked), the counts folded
    properties = page.split("<h5>文件属性</h5>")[1]
    written, _, folded = properties.partition('<details class="statistics">')
    assert "作者：张三" in written and 'class="finding-mark open"' in written
    folded = folded.split("</details>")[0]
    assert "文件统计信息" in folded and "页数：" in folded and "作者" not in folded
    assert "页数：" not in written and "finding-mark" not in folded
    # the drafter can neither settle findings nor review, even by posting directly
    finding = release["findings"][0]["id"]
    assert (
        _post(drafter, f"/staff/findings/{finding}/resolve", reason="x", decision="override").status_code
        == 403
    )
    assert _post(drafter, f"/staff/releases/{release_id}/review", note="ok").status_code == 403
    reviewer = _as(app, users["reviewer"])
    _post(reviewer, f"/staff/releases/{release_id}/review", note="保密审查：已核对")
    assert releases.get(release_id)["state"] == "submitted"  # open findings block approval
    for f in releases.get(release_id)["findings"]:
        if f["state"] == "open":
            _post(reviewer, f"/staff/findings/{f['id']}/resolve", reason="经核对可公开", decision="override")
    _post(reviewer, f"/staff/releases/{release_id}/review", note="保密审查：已核对全部发现")
    assert releases.get(release_id)["state"] == "reviewed"
    signer = _as(app, users["signer"])
    _post(signer, f"/staff/releases/{release_id}/sign")
    reply = _post(signer, f"/staff/releases/{release_id}/publish")
    assert reply.status_code == 303
    assert releases.get(release_id)["state"] == "published"
    assert "已发布" in signer.get(f"/staff/releases/{release_id}").text


def test_admin_who_drafted_cannot_review_or_sign_own_release(world):
    app, users = world
    releases = app.extensions["policybot"].releases
    admin = _as(app, users["admin"])
    release_id = releases.create(
        users["admin"].actor, make_policy("own1"), [make_interpretation("own1i", "own1")]
    )
    releases.submit(users["admin"].actor, release_id)
    reply = _post(admin, f"/staff/releases/{release_id}/review", note="自己审核")
    assert "一事一审" in _flash(admin, reply.headers["Location"])
    assert releases.get(release_id)["state"] == "submitted"
    releases.review(users["reviewer"].actor, release_id, "ok")
    reply = _post(admin, f"/staff/releases/{release_id}/sign")
    assert "一事一审" in _flash(admin, reply.headers["Location"])
    assert releases.get(release_id)["state"] == "reviewed"


def test_edit_after_approval_voids_it(world):
    app, users = world
    releases = app.extensions["policybot"].releases
    release_id = releases.create(
        users["drafter"].actor, make_policy("edit1"), [make_interpretation("edit1i", "edit1")]
    )
    releases.submit(users["drafter"].actor, release_id)
    releases.review(users["reviewer"].actor, release_id, "ok")
    releases.sign(users["signer"].actor, release_id)
    drafter = _as(app, users["drafter"])
    reply = _post(drafter, f"/staff/releases/{release_id}/documents/edit1", title="关于edit1的通知（修订）",
                  text="第一条 改过的内容。", importance="normal")
    assert reply.status_code == 303
    release = releases.get(release_id)
    assert release["state"] == "draft" and release["signed_by"] is None and release["reviewed_by"] is None
    reply = _post(_as(app, users["signer"]), f"/staff/releases/{release_id}/publish")
    assert releases.get(release_id)["state"] == "draft"


def test_drafter_of_another_department_cannot_edit(world):
    app, users = world
    other = make_staff(app, "qian", "drafter", "区教育局")
    release_id = app.extensions["policybot"].releases.create(users["drafter"].actor, make_policy("dept1"))
    reply = _post(_as(app, other), f"/staff/releases/{release_id}/documents/dept1", title="x", text="y")
    assert reply.status_code == 403


def test_new_version_diff_aligned_by_article(world):
    app, users = world
    releases = app.extensions["policybot"].releases
    old = make_policy("v1", text="第一条 目的。\n第二条 补贴每人1000元。\n第三条 旧条款。\n")
    rid = releases.create(users["drafter"].actor, old, [])
    for step in ("submit",):
        getattr(releases, step)(users["drafter"].actor, rid)
    releases.review(users["reviewer"].actor, rid, "ok")
    releases.sign(users["signer"].actor, rid)
    releases.publish(users["signer"].actor, rid)
    drafter = _as(app, users["drafter"])
    reply = _post(drafter, "/staff/releases", title="关于v2的通知", supersedes="v1", importance="normal",
                  text="第一条 目的。\n第二条 补贴每人2000元。\n第四条 新条款。")
    new_rid = int(reply.headers["Location"].rsplit("/", 1)[-1])
    page = drafter.get(f"/staff/releases/{new_rid}/diff").text
    assert "<del>1</del>" in page and "<ins>2</ins>" in page
    assert page.index("第三条") < page.index("第四条")  # the removed article stays in its place
    assert "删除" in page and "新增" in page


def test_expiring_dashboard_and_audit(world):
    app, users = world
    releases = app.extensions["policybot"].releases
    soon = (dt.date.today() + dt.timedelta(days=10)).isoformat()
    rid = releases.create(
        users["drafter"].actor, make_policy("exp1", valid_until=soon, title="即将到期的办法"), []
    )
    releases.submit(users["drafter"].actor, rid)
    releases.review(users["reviewer"].actor, rid, "ok")
    releases.sign(users["signer"].actor, rid)
    releases.publish(users["signer"].actor, rid)
    signer = _as(app, users["signer"])
    page = signer.get("/staff/expiring").text
    assert "即将到期的办法" in page and "区人社局" in page
    dashboard = signer.get("/staff/").text
    assert "即将到期的办法" in dashboard and "重大政策解读率" in dashboard
    audit = signer.get(f"/staff/audit?release={rid}").text
    assert "哈希链完整" in audit and audit.count("<tr>") >= 5
    assert "zhao" in signer.get("/staff/audit?user=zhao").text
    assert _as(app, users["drafter"]).get("/staff/audit").status_code == 403


def test_upload_refusals_are_clear_and_the_server_carries_on(world):
    app, users = world
    client = _as(app, users["drafter"])
    bomb = zip_bytes({"[Content_Types].xml": b"<Types/>", "word/document.xml": b" " * (30 * 2 ** 20)})
    cases = {"炸弹.docx": (bomb, "压缩炸弹"), "坏.pdf": (b"%PDF-1.4 garbage", "已损坏"),
             "伪装.docx": (b"%PDF-1.4\n", "内容却是 PDF"), "脚本.exe": (b"MZ", "只接受")}
    for name, (data, words) in cases.items():
        reply = _upload(client, name, data)
        assert reply.status_code == 303
        page = client.get(reply.headers["Location"]).text
        assert name in page and words in page, (name, page[:500])
    page = (
        "<html><body><h1>关于补贴的解读</h1><script>alert(1)</script><p>一、政策背景</p></body></html>"
    ).encode()
    reply = _upload(client, "含脚本的解读.html", page)
    shown = client.get(reply.headers["Location"]).text
    assert "alert(1)" not in shown and "一、政策背景" in shown
    assert client.get("/staff/").status_code == 200


def test_same_chinese_name_uploaded_twice(world):
    app, users = world
    client = _as(app, users["drafter"])
    first = _upload(client, "政策解读.txt", "关于补贴的解读\n一、政策背景\n".encode())
    again = _upload(client, "政策解读.txt", "关于补贴的解读\n一、政策背景\n".encode())
    assert first.headers["Location"] == again.headers["Location"]
    assert "内容相同" in client.get(again.headers["Location"]).text
    changed = _upload(client, "政策解读.txt", "关于补贴的解读（修订）\n一、政策背景\n".encode())
    assert changed.headers["Location"] != first.headers["Location"]
    assert "同名文件" in client.get(changed.headers["Location"]).text
    stored = sorted(p.name for p in app.extensions["policybot"].uploads_dir.iterdir())
    assert all(len(name) == 32 and name.isalnum() for name in stored)


def test_supplementary_interpretation_for_a_major_policy_without_one(world):
    """解读缺失 on the dashboard → a release of interpretations only, for a policy published earlier."""
    from interpretations.importer import import_file

    app, users = world
    svc = app.extensions["policybot"]
    record = {**make_policy("imp-major", importance="major", title="导入的重大政策").to_record()}
    path = app.instance_path + "/imp.jsonl"
    with open(path, "w", encoding="utf-8") as f:
        import json
        f.write(json.dumps(record, ensure_ascii=False) + "\n")
    import_file(svc.releases, path)
    drafter = _as(app, users["drafter"])
    assert "/staff/supplements/imp-major" in drafter.get("/staff/").text
    reply = _post(
        drafter,
        "/staff/supplements/imp-major",
        title="《导入的重大政策》解读",
        text="一、政策背景\n说明。",
        interpretation_form="text",
    )
    release = svc.releases.get(int(reply.headers["Location"].rsplit("/", 1)[-1]))
    assert release["policy_id"] is None and release["documents"][0].interprets == "imp-major"
    assert drafter.get("/staff/supplements/no-such-policy").status_code == 404


def test_the_dashboard_lists_what_waits_for_each_person(world):
    """「待您处理」: the reviewer sees what awaits review, the signer what awaits signature,
    a drafter their own department's drafts, and no one what they may not act on."""
    app, users = world
    releases = app.extensions["policybot"].releases
    rid = releases.create(users["drafter"].actor, make_policy("wait1", title="等待签发的办法"), [])
    entry = f"发布 #{rid} 《等待签发的办法》"

    def waiting(user) -> str:
        return _as(app, user).get("/staff/").text.split('id="waiting"')[1].split("</section>")[0]

    elsewhere = make_staff(app, "sun.jiaoyu", "drafter", "区教育局")
    assert entry in waiting(users["drafter"]) and entry not in waiting(elsewhere)
    releases.submit(users["drafter"].actor, rid)
    assert entry in waiting(users["reviewer"]) and entry not in waiting(users["signer"])
    assert entry not in waiting(users["drafter"])
    releases.review(users["reviewer"].actor, rid, "已检查")
    assert entry in waiting(users["signer"]) and "已审核（待签发）" in waiting(users["signer"])
    assert entry not in waiting(users["reviewer"]) and entry in waiting(users["admin"])
    releases.sign(users["signer"].actor, rid)
    releases.publish(users["signer"].actor, rid)
    assert entry not in waiting(users["signer"]) and entry not in waiting(users["admin"])
    assert "目前没有等您处理的发布" in waiting(elsewhere)


def test_the_release_page_shows_a_failed_consumer_and_retries_it(world):
    """After the commit: the index and the durable consumers of the release events, in Chinese;
    a failing 关联任务复核 leaves the release published, says why, and 立即重试 runs it again."""
    app, users = world
    svc = app.extensions["policybot"]
    consumer = svc.insights_consumer
    working = consumer.handle

    def broken(event):
        raise RuntimeError("检索服务超时")
    consumer.handle = broken
    try:
        release_id = publish(svc.releases, make_policy("p_progress", title="进度展示测试办法",
                                                       doc_number="洪经管办发〔2026〕77号"),
                             [make_interpretation("i_progress", "p_progress")])
    finally:
        consumer.handle = working
    signer = _as(app, users["signer"])
    page = signer.get(f"/staff/releases/{release_id}").text
    assert svc.releases.get(release_id)["state"] == "published"
    assert "检索索引：已入索引，可检索" in page
    assert "关联任务复核：失败：RuntimeError: 检索服务超时（已试 1 次），将于 " in page
    assert 'id="retry-insights"' in page
    reply = _post(signer, f"/staff/releases/{release_id}/retry/insights")
    assert reply.status_code == 303 and "已安排立即重试：关联任务复核" in signer.get(reply.location).text
    assert consumer.run_once() >= 1  # the runner thread's next round (none under TESTING)
    page = signer.get(f"/staff/releases/{release_id}").text
    assert "关联任务复核：已完成" in page and 'id="retry-insights"' not in page
    assert _post(signer, f"/staff/releases/{release_id}/retry/nobody").status_code == 404

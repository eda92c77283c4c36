"""Role × department matrix for uploads, new versions and the 回应台账 (issue 13, findings 4-5).

Uploads (list, page with hidden parts, use in a release), new versions of a published policy
and the ledger's actions (link, assign, commit, mark done) belong to the department that owns
them, and to admins; every ledger action is audited. Expected outcomes are written here from
the rule, independent of the views: a mismatch is a request answered otherwise."""
from __future__ import annotations

import datetime as dt
import io
import re

import pytest

from insights.ledger import add_commitment
from interpretations import audit
from portal.testing import app_config, csrf, login_as, make_staff
from tests.conftest import make_interpretation, make_policy

OWNER = "区人社局"
USERS = {"drafter_own": ("drafter", OWNER), "drafter_other": ("drafter", "区发改局"),
         "reviewer_own": ("reviewer", OWNER), "reviewer_other": ("reviewer", "区发改局"),
         "signer_other": ("signer", "区管委会"), "admin": ("admin", "区政务公开办")}
DRAFTING = {"drafter", "admin"}


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    from server import create_app, start

    app = start(create_app(app_config(tmp_path_factory.mktemp("scope"))))
    users = {key: make_staff(app, key.replace("_", "."), role, dept) for key, (role, dept) in USERS.items()}
    svc = app.extensions["policybot"]
    reviewer = make_staff(app, "rev.x", "reviewer", "区党政办")
    signer = make_staff(app, "sig.x", "signer", "区管委会")
    rid = svc.releases.create(users["drafter_own"].actor, make_policy("owned", importance="major"),
                              [make_interpretation("owned-i", "owned")])
    svc.releases.submit(users["drafter_own"].actor, rid)
    svc.releases.review(reviewer.actor, rid, "无涉密内容")
    svc.releases.sign(signer.actor, rid)
    svc.releases.publish(signer.actor, rid)
    client = app.test_client()
    login_as(client, app, users["drafter_own"])
    word_comment = "关于测试的通知\n一、总则\n<!-- 联系人身份证 11010519491231002X -->\n"
    reply = client.post("/staff/uploads", data={"csrf_token": csrf(client), "file": (
        io.BytesIO(word_comment.encode()), "人社局草稿.html")})
    upload = reply.headers["Location"].rsplit("/", 1)[-1]
    for text in ("失业金怎么领取呀", "失业金在哪里领取"):
        svc.questions.record("oScopeUser", "h5", text, [{"doc_id": "owned", "score": 0.1}], 0.1, False)
    svc.insights.raise_tasks(svc.insights.today())
    yield app, users, upload
    svc.db.dispose()


def _task_and_commitment(app) -> tuple[int, int]:
    """A fresh task and commitment of the owning department for each request (state changes)."""
    import sqlalchemy as sa

    from insights.tables import tasks

    db = app.extensions["policybot"].db
    with db.read() as conn:
        task = conn.execute(sa.select(tasks.c.id, tasks.c.department)).first()
    assert task is not None and task.department == OWNER
    today = dt.date.today()
    return task.id, add_commitment(db, OWNER, "补充解读", today, today + dt.timedelta(days=5))


def _actions(upload: str, task: int, commitment: int):
    """(name, method, url, form, roles that may, whether the department must own it)"""
    due = (dt.date.today() + dt.timedelta(days=3)).isoformat()
    return [
        ("list uploads shows it", "GET", "/staff/uploads", None, DRAFTING, True),
        ("open upload", "GET", f"/staff/uploads/{upload}", None, DRAFTING, True),
        ("use upload", "POST", f"/staff/uploads/{upload}/use",
         {"target": "new", "title": "用上传文件", "text": "第一条 测试。"}, DRAFTING, True),
        ("new version", "POST", "/staff/releases",
         {"title": "新版", "text": "第一条 新。", "supersedes": "owned", "importance": "normal"},
         DRAFTING, True),
        ("link task", "POST", f"/staff/insights/tasks/{task}/link", {"document_id": "owned-i"}, "all", True),
        ("assign task", "POST", f"/staff/insights/tasks/{task}/owner", {"owner": "张三"}, "all", True),
        ("add commitment", "POST", "/staff/insights/commitments",
         {"department": OWNER, "text": "补充图解", "due_date": due}, "all", True),
        ("commitment done", "POST", f"/staff/insights/commitments/{commitment}/done", {}, "all", True),
    ]


def _allowed(user_key: str, roles, own: bool) -> bool:
    role, department = USERS[user_key]
    return (roles == "all" or role in roles) and (role == "admin" or not own or department == OWNER)


def _outcome(name: str, response, upload: str) -> bool:
    """Did the request do what it asked?"""
    text = response.get_data(as_text=True)
    if response.status_code in (401, 403, 404):
        return False
    if name == "list uploads shows it":
        return upload in text
    if name == "open upload":
        return response.status_code == 200 and "人社局草稿" in text
    if name in ("use upload", "new version"):
        location = response.headers.get("Location", "")
        return response.status_code == 303 and re.search(r"/staff/releases/\d+$", location) is not None
    return response.status_code in (302, 303)


def test_role_department_matrix(world):
    app, users, upload = world
    counts, mismatches = {"allowed": 0, "refused": 0}, []
    for key in USERS:
        task, commitment = _task_and_commitment(app)
        for name, method, url, form, roles, own in _actions(upload, task, commitment):
            client = app.test_client()
            login_as(client, app, users[key])
            data = {**form, "csrf_token": csrf(client)} if method == "POST" else None
            response = client.open(url, method=method, data=data)
            did, expected = _outcome(name, response, upload), _allowed(key, roles, own)
            counts["allowed" if did else "refused"] += 1
            if did != expected:
                mismatches.append(f"{key:15} {name:22} expected {'allowed' if expected else 'refused'}, "
                                  f"got {response.status_code}")
    with app.extensions["policybot"].db.read() as conn:
        actions = [e["action"] for e in audit.entries(conn, limit=2000)]
    ledger_audited = {a: actions.count(a) for a in ("task linked", "task assigned", "commitment added",
                                                     "commitment done")}
    print(f"\nrole × department matrix: {len(USERS)} users × {len(_actions('', 0, 0))} actions: "
          f"{counts}; mismatches {len(mismatches)}; ledger actions audited {ledger_audited}")
    assert mismatches == [], "\n".join(mismatches)
    owners = [k for k in USERS if _allowed(k, "all", True)]
    assert all(count == len(owners) for count in ledger_audited.values())

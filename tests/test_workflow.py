"""The 三同步 release workflow: every rule, with attempts to break it."""
import datetime as dt

import pytest

from interpretations import audit
from interpretations.workflow import Actor, Hooks, Releases, WorkflowError
from policies import store
from policies.db import Database
from tests.conftest import ADMIN, DRAFTER, DRAFTER2, REVIEWER, SIGNER, make_interpretation, make_policy


@pytest.fixture
def releases(any_db_url):
    """Every workflow rule is tried on SQLite and on PostgreSQL."""
    db = Database(any_db_url)
    db.upgrade()
    yield Releases(db, Hooks())
    db.dispose()


def published(releases, policy=None, interps=None):
    policy = policy or make_policy("p1", importance="major")
    interps = [make_interpretation("i1", policy.id)] if interps is None else interps
    release_id = releases.create(DRAFTER, policy, interps)
    releases.submit(DRAFTER, release_id)
    releases.review(REVIEWER, release_id, "无涉密、无个人信息")
    releases.sign(SIGNER, release_id)
    releases.publish(SIGNER, release_id)
    return release_id


def visibility(releases, doc_id):
    with releases.db.read() as conn:
        return store.get_visibility(conn, doc_id)


# -- 三同步: a major policy never moves without its interpretation ------------------------------

def test_a_major_policy_without_interpretation_cannot_be_submitted(releases):
    release_id = releases.create(DRAFTER, make_policy("p1", importance="major"))
    with pytest.raises(WorkflowError, match="三同步"):
        releases.submit(DRAFTER, release_id)
    assert releases.get(release_id)["state"] == "draft"


def test_a_normal_policy_may_go_alone(releases):
    release_id = published(releases, make_policy("p1", importance="normal"), [])
    assert releases.get(release_id)["state"] == "published"


def test_the_policy_and_its_interpretations_become_public_together(releases):
    release_id = releases.create(
        DRAFTER,
        make_policy("p1", importance="major"),
        [make_interpretation("i1"), make_interpretation("i2", interpretation_form="faq")],
    )
    for step in (lambda: releases.submit(DRAFTER, release_id),
                 lambda: releases.review(REVIEWER, release_id, "ok"),
                 lambda: releases.sign(SIGNER, release_id)):
        step()
        assert {visibility(releases, i) for i in ("p1", "i1", "i2")} == {"draft"}
    releases.publish(SIGNER, release_id)
    assert {visibility(releases, i) for i in ("p1", "i1", "i2")} == {"public"}


def test_an_interpretation_of_another_policy_is_refused(releases):
    release_id = releases.create(DRAFTER, make_policy("p1"))
    with pytest.raises(WorkflowError, match="解读的是 p2"):
        releases.add_document(DRAFTER, release_id, make_interpretation("i9", "p2"))


# -- separation of duties (一事一审) -----------------------------------------------------------

def test_the_drafter_cannot_review_or_sign_their_own_release(releases):
    both = Actor(DRAFTER.name, "admin")  # even with the admin role
    release_id = releases.create(DRAFTER, make_policy("p1"), [])
    releases.submit(DRAFTER, release_id)
    with pytest.raises(WorkflowError, match="一事一审"):
        releases.review(both, release_id, "ok")
    releases.review(REVIEWER, release_id, "ok")
    with pytest.raises(WorkflowError, match="一事一审"):
        releases.sign(both, release_id)


def test_the_reviewer_cannot_also_sign(releases):
    """先审后发: review and 签发 are two approvals by two people, whatever their roles."""
    both = Actor("sun.admin", "admin")
    release_id = releases.create(DRAFTER, make_policy("p1"), [])
    releases.submit(DRAFTER, release_id)
    releases.review(both, release_id, "无涉密内容")
    with pytest.raises(WorkflowError, match="先审后发"):
        releases.sign(both, release_id)
    releases.sign(SIGNER, release_id)
    releases.publish(SIGNER, release_id)
    release = releases.get(release_id)
    assert (release["reviewed_by"], release["signed_by"]) == ("sun.admin", SIGNER.name)


def test_an_editor_is_an_author_too(releases):
    release_id = releases.create(DRAFTER, make_policy("p1"), [])
    editor = Actor("chen.editor", "admin")
    releases.edit(editor, release_id, make_policy("p1", title="关于p1的通知（修改）"))
    releases.submit(DRAFTER, release_id)
    with pytest.raises(WorkflowError, match="一事一审"):
        releases.review(editor, release_id, "ok")


def test_roles_are_enforced(releases):
    release_id = releases.create(DRAFTER, make_policy("p1"), [])
    releases.submit(DRAFTER, release_id)
    with pytest.raises(WorkflowError, match="「签发」角色不能审核"):
        releases.review(SIGNER, release_id, "ok")
    with pytest.raises(WorkflowError, match="「审核/保密审查」角色不能起草"):
        releases.create(REVIEWER, make_policy("p2"))


def test_steps_cannot_be_skipped(releases):
    release_id = releases.create(DRAFTER, make_policy("p1"), [])
    with pytest.raises(WorkflowError, match="当前为「草稿」"):
        releases.sign(SIGNER, release_id)
    with pytest.raises(WorkflowError, match="当前为「草稿」"):
        releases.publish(SIGNER, release_id)
    assert visibility(releases, "p1") == "draft"


# -- approval binds to the content ----------------------------------------------------------

def test_an_edit_after_approval_voids_it(releases):
    release_id = releases.create(DRAFTER, make_policy("p1", importance="major"), [make_interpretation("i1")])
    releases.submit(DRAFTER, release_id)
    releases.review(REVIEWER, release_id, "ok")
    releases.sign(SIGNER, release_id)
    releases.edit(DRAFTER2, release_id, make_interpretation("i1", text="一、政策背景\n改过的内容。\n"))
    release = releases.get(release_id)
    assert release["state"] == "draft"
    assert release["reviewed_hash"] is None and release["signed_hash"] is None
    with pytest.raises(WorkflowError):
        releases.publish(SIGNER, release_id)
    assert visibility(releases, "p1") == "draft"


def test_a_change_behind_the_workflows_back_is_caught_by_the_hash(releases):
    release_id = releases.create(DRAFTER, make_policy("p1"), [])
    releases.submit(DRAFTER, release_id)
    releases.review(REVIEWER, release_id, "ok")
    with releases.db.write() as conn:  # e.g. a direct database edit
        store.update_content(conn, make_policy("p1", text="第一条 偷偷改过。\n"))
    with pytest.raises(WorkflowError, match="已失效"):
        releases.sign(SIGNER, release_id)


# -- immutability and versions -----------------------------------------------------------

def test_published_content_is_immutable(releases):
    release_id = published(releases)
    with pytest.raises(WorkflowError, match="不可修改"):
        releases.edit(DRAFTER, release_id, make_policy("p1", importance="major", title="改"))
    with pytest.raises(store.ImmutableDocument):
        with releases.db.write() as conn:
            store.update_content(conn, make_policy("p1", title="改"))


def test_a_new_version_supersedes_the_old_on_publication(releases):
    old_release = published(releases)
    new_release = releases.new_version(DRAFTER, "p1", make_policy("p1-v2", importance="major"),
                                       [make_interpretation("i1-v2", "p1-v2")])
    assert releases.get(old_release)["state"] == "published"  # until the new one is out
    releases.submit(DRAFTER, new_release)
    releases.review(REVIEWER, new_release, "ok")
    releases.sign(SIGNER, new_release)
    releases.publish(SIGNER, new_release)
    assert releases.get(old_release)["state"] == "retired"
    with releases.db.read() as conn:
        assert store.get_document(conn, "p1").status == "amended"
        assert store.successor_of(conn, "p1").id == "p1-v2"


def test_an_existing_id_cannot_be_reused(releases):
    published(releases)
    with pytest.raises(WorkflowError, match="已存在"):
        releases.create(DRAFTER, make_policy("p1"))


# -- confidentiality review -----------------------------------------------------------------

def test_open_findings_block_approval_until_settled(releases):
    policy = make_policy("p1", text="第一条 联系人张三，身份证号11010519491231002X，电话13812345678。\n")
    release_id = releases.create(DRAFTER, policy, [])
    found = releases.submit(DRAFTER, release_id)
    assert {f["category"] for f in found} == {"id_number", "mobile"}
    assert all("11010519491231002X" not in f["context"] for f in found)  # stored masked
    with pytest.raises(WorkflowError, match="还有 2 处保密审查发现"):
        releases.review(REVIEWER, release_id, "ok")
    ids = [f["id"] for f in releases.get(release_id)["findings"]]
    with pytest.raises(WorkflowError, match="仍在文中"):
        for finding_id in ids:
            releases.resolve_finding(REVIEWER, finding_id, override=False, reason="已删除")
        releases.review(REVIEWER, release_id, "ok")


def test_a_finding_can_be_overridden_with_an_audited_reason(releases):
    policy = make_policy("p1", text="第一条 联系电话：0791-88888888。\n")  # no office named: flagged
    release_id = releases.create(DRAFTER, policy, [])
    [finding] = releases.submit(DRAFTER, release_id)
    finding_id = releases.get(release_id)["findings"][0]["id"]
    with pytest.raises(WorkflowError, match="理由"):
        releases.resolve_finding(REVIEWER, finding_id, override=True, reason=" ")
    releases.resolve_finding(REVIEWER, finding_id, override=True, reason="本局公开的联系电话")
    releases.review(REVIEWER, release_id, "ok")
    with releases.db.read() as conn:
        assert any("本局公开的联系电话" in (e["comment"] or "") for e in audit.entries(conn))


# -- lifecycle ------------------------------------------------------------------------------

def test_retire_expired_is_idempotent(releases):
    published(releases, make_policy("p1", valid_until="2026-01-31"), [])
    published(releases, make_policy("p2", valid_until="2027-01-31"), [])
    today = dt.date(2026, 2, 1)
    assert [r.policy_id for r in releases.retire_expired(today)] == ["p1"]
    assert releases.retire_expired(today) == []
    with releases.db.read() as conn:
        assert store.get_document(conn, "p1").status == "expired"
        assert store.get_document(conn, "p2").status == "effective"


def test_withdrawal_hides_a_published_release(releases):
    release_id = published(releases)
    with pytest.raises(WorkflowError, match="理由"):
        releases.withdraw(SIGNER, release_id, "")
    releases.withdraw(ADMIN, release_id, "发现错误")
    assert visibility(releases, "p1") == "withdrawn" and visibility(releases, "i1") == "withdrawn"


def test_hooks_hear_of_publication_and_removal(releases):
    heard = []
    releases.hooks.publishing.append(lambda conn, info: heard.append(("publishing", info.state)))
    releases.hooks.published.append(lambda infos: heard.append(("published", infos[0].document_ids)))
    releases.hooks.removed.append(lambda infos: heard.append(("removed", infos[0].state)))
    release_id = published(releases)
    releases.retire(SIGNER, release_id, reason="废止")
    assert heard == [("publishing", "published"), ("published", ("i1", "p1")), ("removed", "retired")]


def test_every_transition_is_audited_in_a_verifiable_chain(releases):
    release_id = published(releases)
    with releases.db.read() as conn:
        entries = audit.entries(conn, release_id=release_id)
        assert [e["action"] for e in reversed(entries)] == ["create", "submit", "review", "sign", "publish"]
        assert {e["actor"] for e in entries} == {DRAFTER.name, REVIEWER.name, SIGNER.name}
        assert all(e["content_hash"] for e in entries)
        assert audit.verify(conn).ok

"""The 三同步 release workflow: one policy and its interpretations are drafted, reviewed
(保密审查), signed (签发) and published together.

    draft → submitted → reviewed → signed → published → retired
      ↑________|___________|__________|        ↓
      (send back, or any edit: approvals void) withdrawn

Rules enforced here, whatever calls it (portal, CLI, import):
- a major policy cannot be submitted, reviewed, signed or published without an interpretation
  in the same release;
- the policy and its interpretations become public in one database transaction;
- the reviewer and the signer are never someone who drafted or edited that release, and
  they are two different people (先审后发);
- approval binds to the release's content hash: an edit after approval voids it;
- published content is immutable (a change is a new version that supersedes the old one);
- every transition is appended to the hash-chained audit log in the same transaction.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import logging
from collections.abc import Callable, Sequence

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from interpretations import audit, events
from interpretations.confidentiality import context_of, document_parts, scan_document
from interpretations.labels import label
from interpretations.tables import findings, release_documents, releases
from policies import store
from policies.db import Database
from policies.model import Document, sha256_json
from policies.titles import book_title
from policies.validity import run_out

log = logging.getLogger("policybot.workflow")

ROLES = ("drafter", "reviewer", "signer", "admin")
# Who may do what; admin may do everything but is bound by the same separation of duties.
MAY = {
    "draft": {"drafter", "admin"},
    "review": {"reviewer", "admin"},
    "sign": {"signer", "admin"},
    "publish": {"signer", "admin"},
    "withdraw": {"signer", "admin"},
    "retire": {"signer", "admin", "system"},
}
# What each step is called in a refusal: 「签发」角色不能审核.
STEP_WORDS = {"draft": "起草或修改", "review": "审核", "sign": "签发", "publish": "发布",
              "withdraw": "撤回", "retire": "标记失效", "submit": "提交审核", "send back": "退回"}
APPROVAL_WORDS = {"submitted": "提交", "reviewed": "审核", "signed": "签发"}
APPROVED_STATES = ("reviewed", "signed")
EDITABLE_STATES = ("draft", "submitted", "reviewed", "signed")


class WorkflowError(Exception):
    """A refused step; the message says why, in words a member of staff understands."""


@dataclasses.dataclass(frozen=True)
class Actor:
    name: str
    role: str
    department: str | None = None


SYSTEM = Actor("system", "system")


@dataclasses.dataclass(frozen=True)
class ReleaseInfo:
    """What hooks (index, push) are told about a release that changed state."""
    id: int
    state: str
    policy_id: str | None
    document_ids: tuple[str, ...]


@dataclasses.dataclass
class Hooks:
    """Collaborators told about publications. `publishing` runs inside the publishing
    transaction (e.g. the push outbox, which must commit with it); `published` and
    `removed` run after commit (e.g. the search index)."""
    publishing: list[Callable[[Connection, ReleaseInfo], None]] = dataclasses.field(default_factory=list)
    published: list[Callable[[list[ReleaseInfo]], None]] = dataclasses.field(default_factory=list)
    removed: list[Callable[[list[ReleaseInfo]], None]] = dataclasses.field(default_factory=list)

    def notify_published(self, infos: list[ReleaseInfo]) -> None:
        _call_all(self.published, infos)

    def notify_removed(self, infos: list[ReleaseInfo]) -> None:
        _call_all(self.removed, infos)


def _call_all(hooks, infos: list) -> None:
    """After the commit: the change stands whatever a hook does. A hook that raises is logged
    and the others still run (each process's index also catches up from the release events)."""
    if infos:
        for hook in hooks:
            try:
                hook(list(infos))
            except Exception:
                log.exception("hook %s failed after a committed change", getattr(hook, "__qualname__", hook))


class Releases:
    """The workflow's operations; each runs in one transaction and is audited."""

    def __init__(self, db: Database, hooks: Hooks | None = None):
        self.db = db
        self.hooks = hooks or Hooks()

    # -- drafting -----------------------------------------------------------------------
    def create(self, actor: Actor, policy: Document | None,
               interpretations: Sequence[Document] = ()) -> int:
        """A new draft release: a policy with its interpretations, or (policy None) a
        supplementary release of interpretations for a policy already published."""
        _require(actor, "draft")
        with self.db.write() as conn:
            if policy:
                self._insert(conn, policy, actor)
            release_id = insert_release(conn, actor, policy.id if policy else None)
            if policy:
                link_document(conn, release_id, policy.id)
            for doc in interpretations:
                self._add(conn, release_id, doc, actor)
            _audit(conn, actor, "create", release_id, None, "draft", release_content_hash(conn, release_id))
        return release_id

    def add_document(self, actor: Actor, release_id: int, doc: Document) -> None:
        _require(actor, "draft")
        with self.db.write() as conn:
            release = _editable(conn, release_id)
            self._add(conn, release_id, doc, actor)
            self._after_edit(conn, actor, release, f"添加 {doc.id}")

    def edit(self, actor: Actor, release_id: int, doc: Document) -> None:
        """Replace a member's content. Any approval given so far is void."""
        _require(actor, "draft")
        with self.db.write() as conn:
            release = _editable(conn, release_id)
            if doc.id not in _member_ids(conn, release_id):
                raise WorkflowError(f"文件 {doc.id} 不属于发布 #{release_id}")
            _check_member(conn, release, doc)
            store.update_content(conn, doc)
            self._after_edit(conn, actor, release, f"修改 {doc.id}")

    def new_version(self, actor: Actor, old_policy_id: str, new_policy: Document,
                    interpretations: Sequence[Document] = ()) -> int:
        """A draft release of a new version that supersedes a published policy."""
        with self.db.read() as conn:
            old = store.get_document(conn, old_policy_id)
            if old is None or store.get_visibility(conn, old_policy_id) != "public":
                raise WorkflowError(f"{old_policy_id} 不是已发布的政策文件")
            _own_policy(conn, actor, old)
        if new_policy.supersedes != old_policy_id:
            new_policy = new_policy.replace(supersedes=old_policy_id)
        return self.create(actor, new_policy, interpretations)

    # -- review and approval --------------------------------------------------------------
    def submit(self, actor: Actor, release_id: int, comment: str | None = None) -> list[dict]:
        """Send for review; runs the confidentiality scan and returns its findings."""
        _require(actor, "draft")
        with self.db.write() as conn:
            release = _release(conn, release_id)
            _expect_state(release, "draft", "submit")
            _require_interpretation(conn, release)
            content_hash = release_content_hash(conn, release_id)
            found = _record_findings(conn, release_id)
            _set(conn, release_id, state="submitted", submitted_hash=content_hash)
            _audit(conn, actor, "submit", release_id, "draft", "submitted", content_hash,
                   comment or f"保密审查：发现 {len(found)} 处")
        return found

    def resolve_finding(self, actor: Actor, finding_id: int, *, override: bool,
                        reason: str) -> None:
        """The reviewer settles a finding: `override=False` after the text was fixed (the
        finding must be gone from the current text), True to keep it, with a reason."""
        _require(actor, "review")
        if not reason or not reason.strip():
            raise WorkflowError("处理保密审查发现须填写理由")
        with self.db.write() as conn:
            row = conn.execute(sa.select(findings).where(findings.c.id == finding_id)).mappings().first()
            if row is None or row["state"] != "open":
                raise WorkflowError(f"保密审查发现 #{finding_id} 不是待处理状态（已处理过或已过时）")
            release = _release(conn, row["release_id"])
            _not_author(actor, release, "review")
            state = "overridden" if override else "resolved"
            conn.execute(findings.update().where(findings.c.id == finding_id).values(
                state=state, resolved_by=actor.name, resolution=reason.strip()))
            _audit(conn, actor, f"finding {state}", release["id"], release["state"],
                   release["state"], release_content_hash(conn, release["id"]),
                   f"发现 #{finding_id}（{label('finding_kind', row['category'])}）：{reason}")

    def review(self, actor: Actor, release_id: int, note: str) -> None:
        """Approve after 保密审查: needs no open finding and a note of what was checked."""
        _require(actor, "review")
        if not note or not note.strip():
            raise WorkflowError("审核须填写保密审查意见（已检查的内容）")
        with self.db.write() as conn:
            release = _release(conn, release_id)
            _expect_state(release, "submitted", "review")
            _not_author(actor, release, "review")
            _require_interpretation(conn, release)
            content_hash = release_content_hash(conn, release_id)
            _bound(release["submitted_hash"], content_hash, "submitted")
            _refresh_findings(conn, release_id)
            _no_open_findings(conn, release_id)
            _set(conn, release_id, state="reviewed", reviewed_by=actor.name,
                 reviewed_hash=content_hash, review_note=note.strip())
            _audit(conn, actor, "review", release_id, "submitted", "reviewed", content_hash, note)

    def send_back(self, actor: Actor, release_id: int, reason: str) -> None:
        """A reviewer or signer returns the release to its drafter; approvals are void."""
        if actor.role not in MAY["review"] | MAY["sign"]:
            raise WorkflowError(f"「{label('role', actor.role)}」角色不能退回发布")
        with self.db.write() as conn:
            release = _release(conn, release_id)
            _expect_state(release, ("submitted", "reviewed", "signed"), "send back")
            _void_approvals(conn, release_id)
            _audit(conn, actor, "send back", release_id, release["state"], "draft",
                   release_content_hash(conn, release_id), reason)

    def sign(self, actor: Actor, release_id: int, comment: str | None = None) -> None:
        _require(actor, "sign")
        with self.db.write() as conn:
            release = _release(conn, release_id)
            _expect_state(release, "reviewed", "sign")
            _not_author(actor, release, "sign")
            _not_reviewer(actor, release)
            _require_interpretation(conn, release)
            content_hash = release_content_hash(conn, release_id)
            _bound(release["reviewed_hash"], content_hash, "reviewed")
            _no_open_findings(conn, release_id)
            _set(conn, release_id, state="signed", signed_by=actor.name, signed_hash=content_hash)
            _audit(conn, actor, "sign", release_id, "reviewed", "signed", content_hash, comment)

    # -- publication and lifecycle ---------------------------------------------------------
    def publish(self, actor: Actor, release_id: int) -> ReleaseInfo:
        """Make the policy and its interpretations public together, in one transaction."""
        _require(actor, "publish")
        with self.db.write() as conn:
            release = _release(conn, release_id)
            _expect_state(release, "signed", "publish")
            _not_author(actor, release, "publish")
            _require_interpretation(conn, release)
            content_hash = release_content_hash(conn, release_id)
            _bound(release["signed_hash"], content_hash, "signed")
            info, superseded = _publish_in(conn, actor, release, content_hash)
            for hook in self.hooks.publishing:
                hook(conn, info)
        self.hooks.notify_removed(superseded)
        self.hooks.notify_published([info])
        return info

    def withdraw(self, actor: Actor, release_id: int, reason: str) -> ReleaseInfo:
        """Take a release back (from the public, or out of the workflow before publication)."""
        _require(actor, "withdraw")
        if not reason or not reason.strip():
            raise WorkflowError("撤回须填写理由")
        with self.db.write() as conn:
            release = _release(conn, release_id)
            _expect_state(release, ("draft", "submitted", "reviewed", "signed", "published"), "withdraw")
            ids = _member_ids(conn, release_id)
            if release["state"] == "published":
                store.set_visibility(conn, ids, "withdrawn")
            _set(conn, release_id, state="withdrawn")
            _audit(conn, actor, "withdraw", release_id, release["state"], "withdrawn",
                   release_content_hash(conn, release_id), reason)
            info = _info(release, "withdrawn", ids)
            events.append(conn, "removed", info)
        self.hooks.notify_removed([info])
        return info

    def retire(self, actor: Actor, release_id: int, status: str = "expired",
               reason: str | None = None) -> ReleaseInfo:
        """Mark a published release as no longer in force (it stays public, labelled)."""
        _require(actor, "retire")
        with self.db.write() as conn:
            info = _retire_in(conn, actor, _release(conn, release_id), status, reason)
        self.hooks.notify_removed([info])
        return info

    def retire_expired(self, today: dt.date) -> list[ReleaseInfo]:
        """Retire every published release whose policy's validity ended before `today`.
        Idempotent: what is already retired is not touched again."""
        retired = []
        with self.db.write() as conn:
            for doc in run_out(conn, today):
                release = _release_of(conn, doc.id)
                if release is None or release["state"] != "published":
                    continue
                reason = f"有效期至 {doc.valid_until}，{today.isoformat()} 自动停用"
                if release["policy_id"] == doc.id:
                    retired.append(_retire_in(conn, SYSTEM, release, "expired", reason))
                else:  # an interpretation with its own end date
                    store.set_status(conn, [doc.id], "expired")
                    events.append(conn, "removed", _info(release, release["state"], [doc.id]))
        self.hooks.notify_removed(retired)
        return retired

    # -- reading ----------------------------------------------------------------------------
    def get(self, release_id: int) -> dict:
        with self.db.read() as conn:
            release = dict(_release(conn, release_id))
            members = [store.get_document(conn, i) for i in _member_ids(conn, release_id)]
            release["documents"] = members
            release["content_hash"] = release_content_hash(conn, release_id)
            release["findings"] = [dict(r) for r in conn.execute(
                sa.select(findings).where(findings.c.release_id == release_id)
                .order_by(findings.c.id)).mappings()]
        return release

    def release_of(self, doc_id: str) -> int | None:
        with self.db.read() as conn:
            release = _release_of(conn, doc_id)
        return release["id"] if release else None

    # -- internals --------------------------------------------------------------------------
    def _add(self, conn: Connection, release_id: int, doc: Document, actor: Actor) -> None:
        _check_member(conn, _release(conn, release_id), doc)
        self._insert(conn, doc, actor)
        link_document(conn, release_id, doc.id)

    @staticmethod
    def _insert(conn: Connection, doc: Document, actor: Actor) -> None:
        if store.existing_ids(conn, [doc.id]):
            raise WorkflowError(f"编号为 {doc.id} 的文件已存在；新版本须使用新的编号")
        store.insert_document(conn, doc, department=actor.department)

    def _after_edit(self, conn: Connection, actor: Actor, release, comment: str) -> None:
        editors = sorted(set(release["editors"]) | {actor.name})
        conn.execute(releases.update().where(releases.c.id == release["id"])
                     .values(editors=editors, updated_at=store.utcnow()))
        if release["state"] != "draft":
            _void_approvals(conn, release["id"])
            comment += "；已有的审核/签发失效，退回草稿"
        _audit(conn, actor, "edit", release["id"], release["state"], "draft",
               release_content_hash(conn, release["id"]), comment)


# -- module helpers (each works inside the caller's transaction) -------------------------------

def _require(actor: Actor, step: str) -> None:
    if actor.role not in MAY[step]:
        raise WorkflowError(f"「{label('role', actor.role)}」角色不能{STEP_WORDS[step]}")


def _not_author(actor: Actor, release, step: str) -> None:
    authors = {release["drafted_by"], *release["editors"]}
    if actor.name in authors:
        raise WorkflowError(f"{actor.name} 起草或修改过发布 #{release['id']}，不能{STEP_WORDS[step]}"
                            f"（一事一审：须由他人{STEP_WORDS[step]}）")


def _own_policy(conn: Connection, actor: Actor, policy: Document) -> None:
    """A new version of a policy is drafted by the department that owns it (or an admin);
    one imported without a department can only be taken up by an admin."""
    owner = store.department_of(conn, policy.id)
    if actor.role != "admin" and (owner is None or owner != actor.department):
        raise WorkflowError(f"{book_title(policy.title)}属于{owner or '未登记的部门'}：只有该部门或管理员"
                            "可以起草它的新版本")


def _not_reviewer(actor: Actor, release) -> None:
    """先审后发: whoever reviewed a release does not also sign it (an admin may do either)."""
    if actor.name == release["reviewed_by"]:
        raise WorkflowError(f"{actor.name} 审核了发布 #{release['id']}，不能再签发它"
                            "（先审后发：审核人与签发人须是两个人）")


def _expect_state(release, states, step: str) -> None:
    states = (states,) if isinstance(states, str) else states
    if release["state"] not in states:
        wanted = "或".join(f"「{label('release_state', s)}」" for s in states)
        raise WorkflowError(f"发布 #{release['id']} 当前为「{label('release_state', release['state'])}」，"
                            f"{STEP_WORDS[step]}须处于{wanted}状态")


def _bound(approved_hash: str | None, current_hash: str, what: str) -> None:
    if approved_hash != current_hash:
        word = APPROVAL_WORDS[what]
        raise WorkflowError(f"内容在{word}之后被修改，原{word}已失效，请重新提交")


def _release(conn: Connection, release_id: int):
    row = conn.execute(sa.select(releases).where(releases.c.id == release_id)).mappings().first()
    if row is None:
        raise WorkflowError(f"没有发布 #{release_id}")
    return row


def _release_of(conn: Connection, doc_id: str):
    return conn.execute(sa.select(releases).join(
        release_documents, release_documents.c.release_id == releases.c.id)
        .where(release_documents.c.document_id == doc_id)).mappings().first()


def _editable(conn: Connection, release_id: int):
    release = _release(conn, release_id)
    if release["state"] not in EDITABLE_STATES:
        raise WorkflowError(f"发布 #{release_id} 当前为「{label('release_state', release['state'])}」："
                            "已发布的内容不可修改，请新建替代它的新版本")
    return release


def _member_ids(conn: Connection, release_id: int) -> list[str]:
    return list(conn.execute(sa.select(release_documents.c.document_id)
                             .where(release_documents.c.release_id == release_id)
                             .order_by(release_documents.c.document_id)).scalars())


def _target_policy(conn: Connection, release) -> str | None:
    """The policy a release's interpretations must interpret."""
    if release["policy_id"]:
        return release["policy_id"]
    ids = _member_ids(conn, release["id"])
    first = store.get_document(conn, ids[0]) if ids else None
    return first.interprets if first else None


def _check_member(conn: Connection, release, doc: Document) -> None:
    if doc.is_policy:
        if doc.id != release["policy_id"]:
            raise WorkflowError("一个发布只能包含一份政策文件")
        return
    target = _target_policy(conn, release)
    if release["policy_id"] is None and target is None:
        if doc.interprets is None or store.get_visibility(conn, doc.interprets) != "public":
            raise WorkflowError(f"{doc.interprets} 不是已发布的政策文件，不能为其补充解读")
        return
    if doc.interprets != target:
        raise WorkflowError(f"解读 {doc.id} 解读的是 {doc.interprets}，但本发布的政策文件是 {target}")


def _require_interpretation(conn: Connection, release) -> None:
    """三同步: a major policy goes nowhere without at least one interpretation."""
    if not release["policy_id"]:
        return
    policy = store.require_document(conn, release["policy_id"])
    members = [store.require_document(conn, i) for i in _member_ids(conn, release["id"])]
    if policy.is_major and not any(not d.is_policy for d in members):
        raise WorkflowError(f"{book_title(policy.title)}是重大政策：同一发布中至少须有一份政策解读"
                            "（三同步，重大政策解读率100%）")


def release_content_hash(conn: Connection, release_id: int) -> str:
    hashes = {i: store.require_document(conn, i).content_hash() for i in _member_ids(conn, release_id)}
    return sha256_json(hashes)


def insert_release(conn: Connection, actor: Actor, policy_id: str | None,
                    state: str = "draft", provenance: str = "workflow") -> int:
    now = store.utcnow()
    return conn.execute(releases.insert().values(
        policy_id=policy_id, state=state, provenance=provenance, department=actor.department,
        drafted_by=actor.name, editors=[], created_at=now, updated_at=now)
        .returning(releases.c.id)).scalar_one()


def link_document(conn: Connection, release_id: int, doc_id: str) -> None:
    conn.execute(release_documents.insert().values(release_id=release_id, document_id=doc_id))


def _publish_in(conn: Connection, actor: Actor, release, content_hash: str):
    """Inside the caller's transaction: members public, a superseded version retired."""
    ids = _member_ids(conn, release["id"])
    store.set_visibility(conn, ids, "public")
    superseded = []
    policy = store.get_document(conn, release["policy_id"]) if release["policy_id"] else None
    if policy and policy.supersedes:
        old = _release_of(conn, policy.supersedes)
        if old is not None and old["state"] == "published":
            superseded.append(_retire_in(conn, actor, old, "amended", f"被新版本 {policy.id} 替代"))
    _set(conn, release["id"], state="published", published_at=store.utcnow())
    _audit(conn, actor, "publish", release["id"], release["state"], "published", content_hash)
    info = _info(release, "published", ids)
    events.append(conn, "published", info)  # the outbox: committed with the publication
    return info, superseded


def _set(conn: Connection, release_id: int, **values) -> None:
    conn.execute(releases.update().where(releases.c.id == release_id)
                 .values(**values, updated_at=store.utcnow()))


def _void_approvals(conn: Connection, release_id: int) -> None:
    _set(conn, release_id, state="draft", submitted_hash=None, reviewed_by=None,
         reviewed_hash=None, review_note=None, signed_by=None, signed_hash=None)


def _audit(conn: Connection, actor: Actor, action: str, release_id: int | None,
           from_state: str | None, to_state: str | None, content_hash: str | None,
           comment: str | None = None) -> None:
    audit.append(conn, actor=actor.name, role=actor.role, action=action, release_id=release_id,
                 from_state=from_state, to_state=to_state, content_hash=content_hash,
                 comment=comment)


def _info(release, state: str, ids: list[str]) -> ReleaseInfo:
    return ReleaseInfo(release["id"], state, release["policy_id"], tuple(ids))


def _retire_in(conn: Connection, actor: Actor, release, status: str, reason: str | None) -> ReleaseInfo:
    _expect_state(release, "published", "retire")
    ids = _member_ids(conn, release["id"])
    store.set_status(conn, ids, status)
    _set(conn, release["id"], state="retired")
    _audit(conn, actor, "retire", release["id"], "published", "retired",
           release_content_hash(conn, release["id"]), reason or label("document_status", status))
    info = _info(release, "retired", ids)
    events.append(conn, "removed", info)
    return info


def _record_findings(conn: Connection, release_id: int) -> list[dict]:
    """Scan every member; store each finding masked, with its context, as open."""
    now = store.utcnow()
    conn.execute(findings.update().where(findings.c.release_id == release_id,
                                         findings.c.state == "open").values(state="stale"))
    rows = []
    for doc_id in _member_ids(conn, release_id):
        doc = store.require_document(conn, doc_id)
        texts = dict(document_parts(doc))
        for part, finding in scan_document(doc):
            rows.append(dict(release_id=release_id, document_id=doc_id,
                             content_hash=doc.content_hash(), category=finding.category,
                             part=part, start=finding.start, end=finding.end,
                             masked=finding.masked(), context=context_of(texts[part], finding),
                             state="open", created_at=now))
    if rows:
        conn.execute(findings.insert(), rows)
    return rows


def _refresh_findings(conn: Connection, release_id: int) -> None:
    """A finding marked resolved must really be gone from the text now under review."""
    current = {(r["document_id"], r["part"], r["masked"]) for r in _rescan(conn, release_id)}
    claimed = conn.execute(sa.select(findings).where(findings.c.release_id == release_id,
                                                     findings.c.state == "resolved")).mappings()
    for row in claimed:
        if (row["document_id"], row["part"], row["masked"]) in current:
            raise WorkflowError(f"保密审查发现 #{row['id']}（{label('finding_kind', row['category'])}，"
                                f"{row['masked']}）已标记为已修改，但仍在文中")


def _rescan(conn: Connection, release_id: int) -> list[dict]:
    out = []
    for doc_id in _member_ids(conn, release_id):
        doc = store.require_document(conn, doc_id)
        out += [{"document_id": doc_id, "part": part, "masked": f.masked()}
                for part, f in scan_document(doc)]
    return out


def _no_open_findings(conn: Connection, release_id: int) -> None:
    open_count = conn.execute(sa.select(sa.func.count()).select_from(findings).where(
        findings.c.release_id == release_id, findings.c.state == "open")).scalar_one()
    if open_count:
        raise WorkflowError(f"还有 {open_count} 处保密审查发现待处理：请先修改，"
                            "或记录保留理由后再审核、签发")

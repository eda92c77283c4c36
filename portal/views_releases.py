"""The release editor and the workflow's steps. Every change goes through
interpretations.workflow.Releases (三同步, 一事一审, approval bound to the content hash, audit);
this module only turns forms into calls and refusals into messages."""
from __future__ import annotations

import time
from typing import Any

from flask import abort, flash, redirect, render_template, request, url_for

from bot.push.outbox import release_stats
from bot.web.bounds import int_field
from interpretations import audit, listing
from interpretations.workflow import WorkflowError
from policies import store
from policies.model import INTERPRETATION_FORMS, SECTION_NAMES, InvalidDocument
from policies.store import ImmutableDocument
from policies.titles import book_title
from policies.validity import local_today
from portal import diff, progress
from portal.auth import require_department, services, signed_in, staff_required
from portal.blueprint import bp
from portal.display import local_time
from portal.forms import (
    document_from_form,
    form_from_document,
    inherit_blanks,
    new_document_id,
    policy_defaults,
)
from portal.hidden import record_hidden_findings
from portal.progress import CONSUMER_LABELS
from portal.review import member_views
from portal.tables import uploads
from portal.views_uploads import upload_or_404

DRAFTING = ("drafter", "admin")
REFUSALS = (WorkflowError, InvalidDocument, ImmutableDocument)


# -- lists and pages ---------------------------------------------------------------------------

@bp.get("/releases")
@staff_required()
def releases_page():
    state = request.args.get("state") or None
    with services().db.read() as conn:
        rows = listing.recent(conn, state if state in listing.RELEASE_STATES else None)
        titles = _titles(conn, [r["policy_id"] for r in rows if r["policy_id"]])
    return render_template("portal/releases.html", rows=rows, titles=titles, state=state,
                           states=listing.RELEASE_STATES)


@bp.get("/releases/<int:release_id>")
@staff_required()
def release_page(release_id: int):
    release = _get(release_id)
    with services().db.read() as conn:
        trail = audit.entries(conn, release_id=release_id, limit=100)
        public = {d.id: store.get_visibility(conn, d.id) for d in release["documents"]}
        members = member_views(conn, release["documents"], release["findings"])
    titles = {d.id: d for d in release["documents"]}
    return render_template("portal/release.html", r=release, trail=trail, members=members, public=public,
                           may=_allowed_steps(release), public_url=_public_url, members_by_id=titles,
                           push=_push_counts(release_id), progress=_progress(release))


@bp.get("/releases/new")
@staff_required(*DRAFTING)
def new_release_page():
    return _editor(None, kind="policy", action=url_for("portal.create_release"), values={})


@bp.post("/releases")
@staff_required(*DRAFTING)
def create_release():
    return _create_from_form(request.form, upload_id=None)


@bp.post("/uploads/<upload_id>/use")
@staff_required(*DRAFTING)
def use_upload(upload_id: str):
    upload_or_404(upload_id)  # another department's upload is not there for this user
    target = request.form.get("target", "new")
    if target == "new":
        return _create_from_form(request.form, upload_id=upload_id)
    release_id = int_field(target, "目标发布")
    if release_id is None:
        abort(400, description="请选择新建发布，或选择要添加到的发布。")
    return _add_from_form(release_id, request.form, upload_id=upload_id)


@bp.get("/supplements/<path:policy_id>")
@staff_required(*DRAFTING)
def new_supplement_page(policy_id: str):
    """A release of interpretations for a policy published earlier without one (解读缺失)."""
    policy = _published_policy(policy_id)
    values = {"interpretation_form": "text", **policy_defaults(policy)}
    return _editor(None, kind="interpretation", values=values, supplement=policy,
                   action=url_for("portal.create_supplement", policy_id=policy_id))


@bp.post("/supplements/<path:policy_id>")
@staff_required(*DRAFTING)
def create_supplement(policy_id: str):
    svc, me = services(), signed_in()
    policy = _published_policy(policy_id)
    doc_id = new_document_id("interpretation", local_today(svc.config["TIMEZONE"]))
    try:
        doc, taken = inherit_blanks(document_from_form(request.form, doc_id=doc_id, kind="interpretation",
                                                       interprets=policy.id), policy)
        release_id = svc.releases.create(me.actor, None, [doc])
    except REFUSALS as refused:
        flash(f"未创建：{refused}", "error")
        return _editor(None, kind="interpretation", values=request.form, supplement=policy,
                       action=url_for("portal.create_supplement", policy_id=policy_id)), 400
    flash(f"已为{book_title(policy.title)}创建补充解读发布。{_inherited_note(taken)}", "ok")
    return _back(release_id)


@bp.get("/releases/<int:release_id>/documents/new")
@staff_required(*DRAFTING)
def new_document_page(release_id: int):
    release = _get(release_id)
    _require_department(release)
    values = {"interpretation_form": "text", **policy_defaults(_release_policy(release))}
    return _editor(release, kind="interpretation", values=values,
                   action=url_for("portal.add_document", release_id=release_id))


@bp.post("/releases/<int:release_id>/documents")
@staff_required(*DRAFTING)
def add_document(release_id: int):
    return _add_from_form(release_id, request.form, upload_id=None)


@bp.get("/releases/<int:release_id>/documents/<path:doc_id>/edit")
@staff_required(*DRAFTING)
def edit_document_page(release_id: int, doc_id: str):
    release = _get(release_id)
    doc = _member(release, doc_id)
    return _editor(release, kind=doc.kind, doc=doc, values=form_from_document(doc),
                   action=url_for("portal.save_document", release_id=release_id, doc_id=doc_id))


@bp.post("/releases/<int:release_id>/documents/<path:doc_id>")
@staff_required(*DRAFTING)
def save_document(release_id: int, doc_id: str):
    release = _get(release_id)
    _require_department(release)
    doc = _member(release, doc_id)
    try:
        new = document_from_form(request.form, doc_id=doc.id, kind=doc.kind, interprets=doc.interprets)
        services().releases.edit(signed_in().actor, release_id, new)
    except REFUSALS as refused:
        flash(f"未保存：{refused}", "error")
        return _editor(release, kind=doc.kind, doc=doc, values=request.form,
                       action=url_for("portal.save_document", release_id=release_id, doc_id=doc_id)), 400
    flash("已保存。" + ("此前的审核/签发已失效，需重新提交。" if release["state"] != "draft" else ""), "ok")
    return _back(release_id)


@bp.get("/releases/<int:release_id>/diff")
@staff_required()
def diff_page(release_id: int):
    release = _get(release_id)
    new = next((d for d in release["documents"] if d.is_policy), None)
    if new is None or not new.supersedes:
        flash("这个发布没有替代旧版政策，无新旧对照。", "warning")
        return _back(release_id)
    with services().db.read() as conn:
        old = store.get_document(conn, new.supersedes)
    rows = diff.compare(old.text if old else "", new.text)
    return render_template("portal/diff.html", r=release, old=old, new=new, rows=rows)


# -- workflow steps ------------------------------------------------------------------------------

@bp.post("/releases/<int:release_id>/submit")
@staff_required(*DRAFTING)
def submit(release_id: int):
    _require_department(_get(release_id))

    def step(actor):
        found = services().releases.submit(actor, release_id, request.form.get("comment") or None)
        hidden = record_hidden_findings(services().db, release_id)
        return f"已提交审核；保密审查发现 {len(found) + hidden} 处需处理。"
    return _step(release_id, step)


@bp.post("/findings/<int:finding_id>/resolve")
@staff_required("reviewer", "admin")
def resolve_finding(finding_id: int):
    with services().db.read() as conn:
        release_id = listing.release_of_finding(conn, finding_id)
    if release_id is None:
        abort(404)
    override = request.form.get("decision") == "override"
    return _step(release_id, lambda actor: services().releases.resolve_finding(
        actor, finding_id, override=override, reason=request.form.get("reason", "")) or
        ("已记录保留理由。" if override else "已标记为已修改。"))


@bp.post("/releases/<int:release_id>/review")
@staff_required("reviewer", "admin")
def review(release_id: int):
    note = request.form.get("note", "").strip()
    if note and request.form.get("checked_all") == "1":  # the reviewer's own statement, recorded
        note += "（已逐份阅读全文及原文件的隐藏部分：批注、修订、页眉页脚、文件属性）"

    def step(actor):
        record_hidden_findings(services().db, release_id)  # in case submission stopped half-way
        services().releases.review(actor, release_id, note)
        return "审核通过（保密审查意见已记录）。"
    return _step(release_id, step)


@bp.post("/releases/<int:release_id>/send-back")
@staff_required("reviewer", "signer", "admin")
def send_back(release_id: int):
    return _step(release_id, lambda actor: services().releases.send_back(
        actor, release_id, request.form.get("reason", "")) or "已退回起草人。")


@bp.post("/releases/<int:release_id>/sign")
@staff_required("signer", "admin")
def sign(release_id: int):
    return _step(release_id, lambda actor: services().releases.sign(
        actor, release_id, request.form.get("comment") or None) or "已签发。")


@bp.post("/releases/<int:release_id>/publish")
@staff_required("signer", "admin")
def publish(release_id: int):
    def step(actor):
        info = services().releases.publish(actor, release_id)
        matched = (_push_counts(release_id) or {}).get("matched", 0)
        push = f"定向推送已为 {matched} 位订阅者排队。" if matched else "没有匹配的订阅者，无需推送。"
        return f"已发布：{len(info.document_ids)} 份文件同步公开（三同步），已可检索；{push}"
    return _step(release_id, step)


@bp.post("/releases/<int:release_id>/withdraw")
@staff_required("signer", "admin")
def withdraw(release_id: int):
    return _step(release_id, lambda actor: services().releases.withdraw(
        actor, release_id, request.form.get("reason", "")) and "已撤回。")


@bp.post("/releases/<int:release_id>/retire")
@staff_required("signer", "admin")
def retire(release_id: int):
    status = request.form.get("status") or "expired"
    if status not in ("expired", "repealed"):
        abort(400)
    return _step(release_id, lambda actor: services().releases.retire(
        actor, release_id, status, request.form.get("reason") or None) and "已标记为失效/废止。")


@bp.post("/releases/<int:release_id>/retry/<consumer>")
@staff_required("signer", "admin")
def retry_consumer(release_id: int, consumer: str):
    """A failed consumer of the release events (e.g. 关联任务复核) is tried again now."""
    runner = getattr(services(), f"{consumer}_consumer", None) if consumer in CONSUMER_LABELS else None
    if runner is None:
        abort(404)
    runner.retry_now()
    flash(f"已安排立即重试：{CONSUMER_LABELS[consumer]}。", "ok")
    return _back(release_id)


# -- helpers -----------------------------------------------------------------------------------

def _progress(release: dict) -> list:
    """After publication: this process's index and each consumer of the release events."""
    if release["state"] != "published":
        return []
    search = getattr(services(), "search", None)
    lines = [progress.index_progress(search, [d.id for d in release["documents"]])]
    with services().db.read() as conn:
        lines += progress.release_progress(conn, release["id"], time.time(), local_time)
    return [line for line in lines if line is not None]


def _step(release_id: int, call):
    try:
        message = call(signed_in().actor)
    except REFUSALS as refused:
        flash(f"未完成：{refused}", "error")
        return _back(release_id)
    flash(message or "完成。", "ok")
    return _back(release_id)


def _back(release_id: int):
    return redirect(url_for("portal.release_page", release_id=release_id), code=303)


def _get(release_id: int) -> dict:
    try:
        return services().releases.get(release_id)
    except WorkflowError:
        abort(404)


def _member(release: dict, doc_id: str):
    doc = next((d for d in release["documents"] if d.id == doc_id), None)
    if doc is None:
        abort(404)
    return doc


def _require_department(release: dict) -> None:
    """Drafters work on their own department's releases (谁起草、谁解读)."""
    require_department(release["department"])


def _create_from_form(form, upload_id: str | None):
    svc, me = services(), signed_in()
    doc_id = new_document_id("policy", local_today(svc.config["TIMEZONE"]))
    try:
        doc = document_from_form(form, doc_id=doc_id, kind="policy", interprets=None)
        if doc.supersedes:
            release_id = svc.releases.new_version(me.actor, doc.supersedes, doc)
        else:
            release_id = svc.releases.create(me.actor, doc)
    except REFUSALS as refused:
        flash(f"未创建：{refused}", "error")
        return _editor(None, kind="policy", values=form, action=url_for("portal.create_release")), 400
    _link_upload(upload_id, doc_id)
    flash("已创建发布草稿。请添加政策解读（三同步）。", "ok")
    return _back(release_id)


def _add_from_form(release_id: int, form, upload_id: str | None):
    svc, me = services(), signed_in()
    release = _get(release_id)
    _require_department(release)
    interprets = release["policy_id"] or form.get("interprets")
    doc_id = new_document_id("interpretation", local_today(svc.config["TIMEZONE"]))
    try:
        doc, taken = inherit_blanks(document_from_form(form, doc_id=doc_id, kind="interpretation",
                                                       interprets=interprets), _release_policy(release))
        svc.releases.add_document(me.actor, release_id, doc)
    except REFUSALS as refused:
        flash(f"未添加：{refused}", "error")
        return _editor(release, kind="interpretation", values=form,
                       action=url_for("portal.add_document", release_id=release_id)), 400
    _link_upload(upload_id, doc_id)
    flash("已添加政策解读。" + _inherited_note(taken), "ok")
    return _back(release_id)


def _release_policy(release: dict):
    return next((d for d in release["documents"] if d.is_policy), None)


def _inherited_note(taken: list[str]) -> str:
    return f"已沿用政策的{'、'.join(taken)}（留空的项）。" if taken else ""


def _link_upload(upload_id: str | None, doc_id: str) -> None:
    if upload_id:
        with services().db.write() as conn:
            conn.execute(uploads.update().where(uploads.c.id == upload_id, uploads.c.document_id.is_(None))
                         .values(document_id=doc_id))


def _editor(release, *, kind: str, action: str, values, doc=None, supplement=None):
    with services().db.read() as conn:
        published = [d for d in store.public_documents(conn) if d.is_policy] if kind == "policy" else []
    return render_template("portal/editor.html", r=release, kind=kind, action=action, values=values,
                           doc=doc, sections=SECTION_NAMES, forms=INTERPRETATION_FORMS,
                           published=published, supplement=supplement)


def _published_policy(policy_id: str):
    with services().db.read() as conn:
        policy = store.get_document(conn, policy_id)
        public = store.get_visibility(conn, policy_id) == "public"
    if policy is None or not policy.is_policy or not public:
        abort(404)
    return policy


def _allowed_steps(release: dict) -> set[str]:
    """Which buttons to show; the workflow decides what is actually allowed."""
    me, state = signed_in(), release["state"]
    authors = {release["drafted_by"], *release["editors"]}
    steps = set()
    if me.role in DRAFTING and state in ("draft", "submitted", "reviewed", "signed"):
        steps |= {"edit"} | ({"submit"} if state == "draft" else set())
    if me.username not in authors:
        if me.role in ("reviewer", "admin") and state == "submitted":
            steps.add("review")
        if me.role in ("reviewer", "admin") and state in ("draft", "submitted"):
            steps.add("resolve")  # after a send-back the reviewer may confirm a fix
        if me.role in ("signer", "admin") and state == "reviewed" and me.username != release["reviewed_by"]:
            steps.add("sign")
        if me.role in ("signer", "admin") and state == "signed":
            steps.add("publish")
    if me.role in ("reviewer", "signer", "admin") and state in ("submitted", "reviewed", "signed"):
        steps.add("send_back")
    if me.role in ("signer", "admin") and state in ("draft", "submitted", "reviewed", "signed", "published"):
        steps.add("withdraw")
    if me.role in ("signer", "admin") and state == "published":
        steps.add("retire")
    return steps


def _titles(conn, ids: list[str]) -> dict[str, str]:
    docs = [store.get_document(conn, i) for i in ids]
    return {d.id: d.title for d in docs if d}


def _push_counts(release_id: int) -> dict | None:
    """The release's pushes by state, when targeted push is part of this app."""
    if getattr(services(), "push", None) is None:
        return None
    return release_stats(services().db, release_id)


def _public_url(doc_id: str) -> str | None:
    """The public page of a document, if the public pages are part of this app."""
    from flask import current_app

    for rule in current_app.url_map.iter_rules():
        if rule.rule.startswith(("/p/<", "/policies/<")) and len(rule.arguments) == 1:
            values: dict[str, Any] = {next(iter(rule.arguments)): doc_id}
            return url_for(rule.endpoint, **values)
    return None

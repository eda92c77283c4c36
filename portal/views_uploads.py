"""Uploads: a drafter sends a file, sees the text extracted from it with the findings of its
hidden parts, confirms the suggested metadata (each date with where it was read) and makes it
the policy of a new release or an interpretation in an existing one. An interpretation's form
comes filled with its sections and Q&A as read from the file, and its body without them.

An upload belongs to the uploader's department: others neither list it, open it (its hidden
parts may hold an ID number in a Word comment) nor use it; admins see all. An upload of
another department is "not found" (404), so its existence is not given away either."""
from __future__ import annotations

import re

import sqlalchemy as sa
from flask import abort, flash, redirect, render_template, request, url_for

from interpretations import listing
from interpretations.confidentiality import office_contacts, scan_text
from policies import reading, store
from policies import uploads as files
from policies.model import INTERPRETATION_FORMS, SECTION_NAMES
from policies.store import utcnow
from portal.auth import services, signed_in, staff_required
from portal.blueprint import bp
from portal.forms import form_from_document
from portal.tables import uploads

DRAFTING = ("drafter", "admin")


@bp.get("/uploads")
@staff_required(*DRAFTING)
def uploads_page():
    query = (sa.select(uploads.c.id, uploads.c.filename, uploads.c.file_type, uploads.c.size,
                       uploads.c.uploaded_by, uploads.c.document_id, uploads.c.created_at)
             .where(_own_department()).order_by(uploads.c.created_at.desc()).limit(50))
    with services().db.read() as conn:
        rows = conn.execute(query).mappings().all()
    return render_template("portal/uploads.html", rows=rows, limit_mb=files.MAX_UPLOAD_BYTES // 2 ** 20)


@bp.post("/uploads")
@staff_required(*DRAFTING)
def upload_post():
    sent = request.files.get("file")
    if sent is None or not sent.filename:
        return _refuse("请选择要上传的文件。")
    data = sent.stream.read(files.MAX_UPLOAD_BYTES + 1)
    name = files.display_name(sent.filename)
    existing = _same_content(files.sha256(data))
    if existing:
        flash(f"“{name}” 与已上传的文件内容相同（{existing['filename']}），"
              "已打开原记录，未重复保存。", "warning")
        return redirect(url_for("portal.upload_page", upload_id=existing["id"]), code=303)
    try:
        file_type = files.check_upload(name, data)
        extracted = files.extract(file_type, data)
    except files.UploadRefused as refused:
        return _refuse(f"“{name}” 未被接受：{refused}")
    upload_id = _save(name, data, extracted)
    if _same_name_count(name) > 1:
        flash(f"已有同名文件 “{name}”；本文件内容不同，已另存（编号 {upload_id[:8]}）。", "warning")
    return redirect(url_for("portal.upload_page", upload_id=upload_id), code=303)


@bp.get("/uploads/<upload_id>")
@staff_required(*DRAFTING)
def upload_page(upload_id: str):
    """The upload as a policy or as an interpretation (`?as=`, else as the file reads)."""
    row = upload_or_404(upload_id)
    suggested = dict(row["suggested"])
    kind = request.args.get("as") if request.args.get("as") in ("policy", "interpretation") else \
        suggested.get("kind", "policy")
    text = row["text"]
    if kind == "interpretation":
        if "sections" not in suggested:  # read as a policy first: split it now
            suggested.update(reading.structure_of(text))
        text = suggested.get("body") or suggested.get("title") or text
    hidden = [(part, f, text) for part, text in sorted(row["hidden_parts"].items()) for f in scan_text(text)]
    return render_template("portal/upload.html", upload=row, hidden=hidden, kind=kind,
                           body_findings=scan_text(row["text"]), contacts=office_contacts(row["text"]),
                           values=form_from_document(None, {**suggested, "text": text}),
                           drafts=_my_drafts(suggested.get("title")), suggested=suggested,
                           reasons=suggested.get("reasons") or {}, sections=SECTION_NAMES,
                           forms=INTERPRETATION_FORMS)


def _refuse(message: str):
    flash(message, "error")
    return redirect(url_for("portal.uploads_page"), code=303)


def _save(name: str, data: bytes, extracted: files.Extracted) -> str:
    svc, me = services(), signed_in()
    upload_id = files.new_upload_id()
    files.store_file(svc.uploads_dir, upload_id, data)
    with svc.db.write() as conn:
        conn.execute(uploads.insert().values(
            id=upload_id, filename=name, file_type=extracted.file_type, size=len(data),
            sha256=files.sha256(data), uploaded_by=me.username, department=me.department,
            text=extracted.text, hidden_parts=extracted.parts,
            suggested=reading.suggest_metadata(extracted.text, extracted.title_hint), created_at=utcnow()))
    return upload_id


def _same_content(digest: str):
    with services().db.read() as conn:
        return conn.execute(sa.select(uploads.c.id, uploads.c.filename)
                            .where(uploads.c.sha256 == digest, _own_department())).mappings().first()


def _same_name_count(name: str) -> int:
    with services().db.read() as conn:
        return conn.execute(sa.select(sa.func.count()).select_from(uploads)
                            .where(uploads.c.filename == name, _own_department())).scalar_one()


def upload_or_404(upload_id: str):
    """The upload, if it is one the signed-in user's department may see."""
    with services().db.read() as conn:
        row = conn.execute(sa.select(uploads).where(uploads.c.id == upload_id, _own_department())
                           ).mappings().first()
    if row is None:
        abort(404)
    return row


def _own_department():
    """Uploads of the user's department (all of them for an admin)."""
    me = signed_in()
    if me.role == "admin":
        return sa.true()
    if me.department is None:
        return uploads.c.department.is_(None)
    return uploads.c.department == me.department


def _my_drafts(title: str | None = None) -> list[dict]:
    """Draft releases of the user's department, to add an interpretation to, with their
    policy's title; the one whose policy the interpretation's title names comes first."""
    me = signed_in()
    with services().db.read() as conn:
        drafts = [dict(r) for r in listing.drafts(conn, me.department, every_department=me.role == "admin")]
        for draft in drafts:
            policy = store.get_document(conn, draft["policy_id"]) if draft["policy_id"] else None
            draft["title"] = policy.title if policy else draft["policy_id"]
    named = set(re.findall(r"《([^《》]+)》", title or ""))
    return sorted(drafts, key=lambda d: not named & set(re.findall(r"《([^《》]+)》", d["title"] or "")))

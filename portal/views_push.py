"""定向推送 for staff: every release's pushes by state with its title, one release's recipients
with the reason each is reached (before publication: the preview of who would be), a plain
statement of the sender's state, and the decision on rows whose delivery is unknown."""
from __future__ import annotations

from flask import abort, flash, redirect, render_template, request, url_for

from bot.push import outbox
from bot.push.overview import error_summary, previewed_recipients, queued_recipients, sender_state
from interpretations import listing
from interpretations.workflow import WorkflowError
from portal.auth import services, signed_in, staff_required
from portal.blueprint import bp

PUSH_ROLES = ("reviewer", "signer", "admin")
SHOWN_RECIPIENTS = 200


@bp.get("/push")
@staff_required(*PUSH_ROLES)
def push_overview():
    stats = outbox.all_release_stats(services().db)
    return render_template("portal/push.html", stats=stats, sender=_sender(), missing=_missing(),
                           titles=_titles([s["release_id"] for s in stats]))


@bp.get("/push/releases/<int:release_id>")
@staff_required(*PUSH_ROLES)
def push_release(release_id: int):
    svc = services()
    try:
        release = svc.releases.get(release_id)
    except WorkflowError:
        abort(404)
    stats = outbox.release_stats(svc.db, release_id)
    if stats["matched"]:
        recipients, preview = queued_recipients(svc.db, release_id, SHOWN_RECIPIENTS), False
        total = stats["matched"]
    else:  # nothing queued: who publishing would reach now
        matches = svc.push.preview(release_id)
        recipients, preview = previewed_recipients(svc.db, matches, SHOWN_RECIPIENTS), True
        total = len(matches)
    return render_template("portal/push_release.html", r=release, stats=stats, recipients=recipients,
                           total=total, preview=preview, sender=_sender(), missing=_missing(),
                           channel=svc.push.channel,
                           unknown=outbox.unknown_rows(svc.db, release_id), error_summary=error_summary,
                           title=_titles([release_id]).get(release_id, ""))


@bp.post("/push/rows/<int:row_id>/decide")
@staff_required(*PUSH_ROLES)
def push_decide(row_id: int):
    db = services().db
    with db.read() as conn:
        release_id = outbox.release_of_row(conn, row_id)
    if release_id is None:
        flash(f"没有第 {row_id} 条推送。", "error")
        return redirect(url_for("portal.push_overview"), code=303)
    decision = request.form.get("decision", "")
    try:
        outbox.decide_unknown(db, row_id, decision, signed_in().username)
    except ValueError:
        flash("未记录：这条推送已不是“状态未知”，或所选决定无效。", "error")
    else:
        flash(f"已记录：第 {row_id} 条推送{_decided(decision)}。", "ok")
    return redirect(url_for("portal.push_release", release_id=release_id), code=303)


def _decided(decision: str) -> str:
    return {"sent": "确认已送达", "failed": "确认未送达", "resend": "将重新发送"}.get(decision, "")


def _sender():
    svc = services()
    configured = svc.wechat is not None and not svc.push.missing_setting()
    return sender_state(svc.db, configured=configured)


def _missing() -> list[str]:
    """The settings without which nothing is sent, for the sender's statement."""
    svc = services()
    missing = [] if svc.wechat is not None else \
        ["POLICYBOT_WECHAT_APPID", "POLICYBOT_WECHAT_APPSECRET"]
    key = svc.push.missing_setting()
    return missing + ([f"POLICYBOT_{key}"] if key else [])


def _titles(release_ids: list[int]) -> dict[int, str]:
    with services().db.read() as conn:
        return listing.titles(conn, release_ids)

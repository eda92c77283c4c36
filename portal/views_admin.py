"""Dashboard (解读率, releases by state, expiring soon, unanswered questions), the list of
documents expiring within 30 days per department, the audit view, and user administration."""
from __future__ import annotations

import collections
import datetime as dt

from flask import abort, flash, redirect, render_template, request, url_for

from bot.web.bounds import date_field, int_field
from interpretations import audit, listing
from interpretations.coverage import interpretation_coverage
from interpretations.workflow import ROLES
from policies import store
from policies.validity import expiring_within, local_today
from portal import accounts
from portal.auth import scrypt_n, services, signed_in, staff_required
from portal.blueprint import bp

EXPIRY_DAYS = 30


@bp.get("/")
@staff_required()
def dashboard():
    today = _today()
    with services().db.read() as conn:
        coverage = interpretation_coverage(conn, today)
        by_state = listing.count_by_state(conn)
        expiring = _expiring_by_department(conn, today)
        unanswered = _unanswered_by_topic(conn, today)
        waiting = _waiting_for(conn, signed_in())
    return render_template("portal/dashboard.html", coverage=coverage, by_state=by_state, waiting=waiting,
                           states=listing.RELEASE_STATES, expiring=expiring, unanswered=unanswered,
                           today=today, days=EXPIRY_DAYS)


def _waiting_for(conn, user) -> list[dict]:
    """The releases waiting for this person's step (listing.waiting_for), with their titles."""
    rows = listing.waiting_for(conn, user.actor)
    titles = listing.titles(conn, [row["id"] for row in rows])
    return [{**row, "title": titles.get(row["id"], "")} for row in rows]


@bp.get("/expiring")
@staff_required()
def expiring_page():
    today = _today()
    with services().db.read() as conn:
        groups = _expiring_by_department(conn, today)
    return render_template("portal/expiring.html", groups=groups, today=today, days=EXPIRY_DAYS)


@bp.get("/audit")
@staff_required("reviewer", "signer", "admin")
def audit_page():
    args = request.args
    release_id = int_field(args.get("release"), "发布编号")
    since, until = date_field(args.get("since"), "起始日期"), date_field(args.get("until"), "截止日期")
    with services().db.read() as conn:
        rows = audit.entries(conn, release_id=release_id, actor=(args.get("user") or "").strip() or None,
                             since=since.isoformat() if since else None,
                             until=(until + dt.timedelta(days=1)).isoformat() if until else None)
        chain = audit.verify(conn)
    return render_template("portal/audit.html", rows=rows, chain=chain, args=args)


@bp.get("/users")
@staff_required("admin")
def users_page():
    users = accounts.all_staff(services().db)
    throttles = {u.username: services().login_throttle.status(u.username) for u in users}
    return render_template("portal/users.html", users=users, roles=ROLES, labels=accounts.ROLE_LABELS,
                           throttles=throttles)


@bp.post("/users")
@staff_required("admin")
def create_user():
    form = request.form
    try:
        user = accounts.add_staff(services().db, form.get("username", ""), form.get("password", ""),
                                  form.get("role", ""), form.get("department"), form.get("display_name"),
                                  n=scrypt_n(), must_change=True)
    except ValueError as refused:
        return _back_to_users(f"未创建：{refused}", "error")
    _audit_account("add staff", f"{user.username}（{user.role_label}，{user.department or '未指定部门'}）")
    return _back_to_users(f"已创建账号 {user.username}。", "ok")


@bp.post("/users/<int:user_id>/active")
@staff_required("admin")
def set_user_active(user_id: int):
    user = _user_or_404(user_id)
    active = request.form.get("active") == "1"
    if user.id == signed_in().id and not active:
        return _back_to_users("不能停用自己的账号。", "error")
    accounts.set_active(services().db, user_id, active)
    _audit_account("enable staff" if active else "disable staff", user.username)
    return _back_to_users(f"{user.username} 已{'启用' if active else '停用（会话已结束）'}。", "ok")


@bp.post("/users/<int:user_id>/role")
@staff_required("admin")
def set_user_role(user_id: int):
    user = _user_or_404(user_id)
    if user.id == signed_in().id:
        return _back_to_users("不能修改自己的角色。", "error")
    role, department = request.form.get("role", ""), request.form.get("department")
    try:
        accounts.set_role(services().db, user_id, role, department)
    except ValueError as refused:
        return _back_to_users(f"未修改：{refused}", "error")
    label = accounts.ROLE_LABELS.get(role, role)
    _audit_account("change role",
                   f"{user.username}：{user.role_label} → {label}，{department or '未指定部门'}")
    return _back_to_users(f"{user.username} 的角色已改为 {label}，其会话已结束。", "ok")


@bp.post("/users/<int:user_id>/password")
@staff_required("admin")
def reset_user_password(user_id: int):
    user = _user_or_404(user_id)
    try:
        accounts.set_password(services().db, user_id, request.form.get("password", ""), n=scrypt_n(),
                              must_change=True)
    except ValueError as refused:
        return _back_to_users(f"未修改：{refused}", "error")
    _audit_account("reset password", user.username)
    return _back_to_users(f"{user.username} 的密码已重置，其会话已结束；下次登录时须改为自己的密码。", "ok")


@bp.post("/users/<int:user_id>/throttle")
@staff_required("admin")
def clear_user_throttle(user_id: int):
    """Lift a login throttle (after an attack on the name, or a user's own typos)."""
    user = _user_or_404(user_id)
    cleared = services().login_throttle.clear(user.username)
    _audit_account("clear login throttle", f"{user.username}：清除 {cleared} 次失败登录")
    return _back_to_users(f"已解除 {user.username} 的登录限制。", "ok")


# -- helpers -------------------------------------------------------------------------------------

def _today() -> dt.date:
    return local_today(services().config["TIMEZONE"])


def _expiring_by_department(conn, today: dt.date) -> dict[str, list]:
    docs = expiring_within(conn, today, EXPIRY_DAYS)
    owners = store.owners(conn, [d.id for d in docs])
    groups = collections.defaultdict(list)
    for doc in docs:
        groups[owners.get(doc.id) or "未指定部门"].append(doc)
    return dict(sorted(groups.items()))


def _unanswered_by_topic(conn, today: dt.date) -> list[tuple[str, int]] | None:
    """Questions the bot could not answer in the last 30 days, by topic; None without a log."""
    try:
        from bot.questionlog import logged_questions
        from insights.documents import document_infos
        from insights.hot import topic_of
    except ImportError:
        return None
    end = dt.datetime.now(dt.UTC)
    questions = [q for q in logged_questions(conn, end - dt.timedelta(days=30), end) if not q.answered]
    infos = document_infos(conn, {c["doc_id"] for q in questions for c in q.cited if c.get("doc_id")})
    return collections.Counter(topic_of(q, infos) for q in questions).most_common(10)


def _audit_account(action: str, comment: str) -> None:
    me = signed_in()
    with services().db.write() as conn:
        audit.append(conn, actor=me.username, role=me.role, action=action, release_id=None,
                     from_state=None, to_state=None, comment=comment)


def _user_or_404(user_id: int):
    user = accounts.get_by_id(services().db, user_id)
    if user is None:
        abort(404)
    return user


def _back_to_users(message: str, category: str):
    """Every account action ends on the users page with one flashed message (303: GET next)."""
    flash(message, category)
    return redirect(url_for("portal.users_page"), code=303)

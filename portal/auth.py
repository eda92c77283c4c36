"""Signing in and out, who is signed in, role checks, CSRF and security headers.

Other blueprints protect their staff pages with `staff_required(...)`, read the user with
`signed_in()` and check a department's work with `require_department`. The session
cookie is Flask's signed cookie (HttpOnly, SameSite=Lax, Secure when configured); it
carries a random session token whose hash is a row of staff_sessions, so logout and
disabling a user end the session on the server, not only in the browser.
"""
from __future__ import annotations

import functools
import hmac
import secrets
from urllib.parse import urlsplit

from flask import (
    abort,
    current_app,
    flash,
    g,
    make_response,
    redirect,
    render_template,
    request,
    session,
    url_for,
)

from portal import accounts, devices
from portal.blueprint import bp
from portal.hashing import Busy
from portal.throttle import Attempt, Throttled

SAFE_METHODS = ("GET", "HEAD", "OPTIONS")
STAFF_PREFIX = "/staff"
CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")


def services():
    return current_app.extensions["policybot"]


def current_staff() -> accounts.Staff | None:
    """The signed-in member of staff of this request, or None."""
    if "staff" not in g:
        g.staff = accounts.session_user(services().db, session.get("staff_token"))
    return g.staff


def signed_in() -> accounts.Staff:
    """The signed-in member of staff in a view behind `staff_required`, which has sent
    everyone else away (401 if called anywhere else without one)."""
    user = current_staff()
    if user is None:
        abort(401)
    return user


def staff_required(*roles: str):
    """Only signed-in staff (of one of `roles`, when given) reach the view."""
    def decorate(view):
        @functools.wraps(view)
        def wrapped(*args, **kwargs):
            user = current_staff()
            if user is None:
                if request.method in SAFE_METHODS:
                    return redirect(url_for("portal.login", next=request.full_path.rstrip("?")))
                abort(401)
            if user.must_change_password and request.endpoint not in PASSWORD_ENDPOINTS:
                return _password_first()
            if roles and user.role not in roles:
                abort(403)
            return view(*args, **kwargs)
        wrapped.staff_roles = tuple(roles)  # who may open it (the navigation reads this)
        return wrapped
    return decorate


def require_department(department: str) -> None:
    """Work that belongs to a department (谁起草、谁解读; a ledger item's responsible office) is
    done by its staff or by an admin; 403 with the reason otherwise."""
    me = current_staff()
    if me is None or (me.role != "admin" and me.department != department):
        abort(403, description=f"只有责任部门（{department}）的工作人员或管理员可以办理。")


PASSWORD_ENDPOINTS = ("portal.password_form", "portal.password_change")


def _password_first():
    """A password an admin set is replaced before anything else is done with the account."""
    if request.method not in SAFE_METHODS:
        abort(403, description="请先修改管理员设置的初始密码。")
    flash("管理员为您设置了初始密码：请先设置您自己的密码。", "warning")
    return redirect(url_for("portal.password_form"))


def csrf_token() -> str:
    if "csrf" not in session:
        session["csrf"] = secrets.token_urlsafe(32)
    return session["csrf"]


def scrypt_n() -> int:
    return int(current_app.config["STAFF_SCRYPT_N"])


# -- hooks for every request under /staff -----------------------------------------------------

@bp.before_app_request
def _check_csrf():
    if request.method in SAFE_METHODS or not _is_staff_path(request.path):
        return None
    sent = request.form.get("csrf_token") or request.headers.get("X-CSRF-Token") or ""
    expected = session.get("csrf") or ""
    if not expected or not hmac.compare_digest(str(sent), expected):
        abort(400, description="表单已过期或来源不明：请刷新页面后重新提交。")
    return None


@bp.after_app_request
def _security_headers(response):
    if _is_staff_path(request.path):
        response.headers.setdefault("Content-Security-Policy", CSP)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        response.headers.setdefault("Cache-Control", "no-store")
    return response


@bp.app_context_processor
def _template_globals():
    return {"csrf_token": csrf_token, "me": current_staff()}


def _is_staff_path(path: str) -> bool:
    return path == STAFF_PREFIX or path.startswith(STAFF_PREFIX + "/")


# -- views ------------------------------------------------------------------------------------

@bp.get("/login")
def login():
    return render_template("portal/login.html", next=_safe_next(request.args.get("next")))


@bp.post("/login")
def login_post():
    db, target = services().db, _safe_next(request.form.get("next"))
    attempt = _attempt(request.form.get("username"))
    try:
        user = checked_password(attempt, request.form.get("password", ""))
    except (Throttled, Busy) as refused:
        return _too_many(refused.retry_after, "portal/login.html", next=target)
    if user is None:
        # One message for every cause: wrong password, unknown name, disabled account.
        flash("登录失败：用户名或密码错误。", "error")
        return render_template("portal/login.html", next=target), 401
    session.clear()  # a new session on login: nothing of the anonymous one survives
    session.permanent = True
    session["staff_token"] = accounts.start_session(db, user)
    session["csrf"] = secrets.token_urlsafe(32)
    if user.must_change_password:
        target = url_for("portal.password_form")
    response = redirect(target or url_for("portal.dashboard"), code=303)
    devices.remember_device(response, user.username, attempt.device)
    return response


def checked_password(attempt: Attempt, password: str) -> accounts.Staff | None:
    """The password check, after the cheap refusals: the throttle (Throttled) first, then a
    place in the hashing pool (Busy); only a real verdict counts as a failure."""
    svc = services()
    svc.login_throttle.check(attempt)
    user = svc.hashing.run(accounts.authenticate, svc.db, attempt.username, password, scrypt_n())
    (svc.login_throttle.succeeded if user else svc.login_throttle.failed)(attempt)
    return user


def _attempt(username: str | None) -> Attempt:
    name = accounts.normal_username(username)
    return Attempt(name, request.remote_addr or "?", devices.trusted_device(name))


def _too_many(retry_after: int, template: str, **context):
    """429 with Retry-After, said in words too; nothing was checked, nothing counted."""
    flash(f"尝试过于频繁，请在 {retry_after} 秒后再试。", "error")
    response = make_response(render_template(template, **context), 429)
    response.headers["Retry-After"] = str(retry_after)
    return response


@bp.post("/logout")
def logout():
    accounts.end_session(services().db, session.get("staff_token"))
    session.clear()
    return redirect(url_for("portal.login"), code=303)


@bp.get("/password")
@staff_required()
def password_form():
    return render_template("portal/password.html")


@bp.post("/password")
@staff_required()
def password_change():
    db, user = services().db, current_staff()
    try:
        confirmed = checked_password(_attempt(user.username), request.form.get("current", ""))
    except (Throttled, Busy) as refused:
        return _too_many(refused.retry_after, "portal/password.html")
    if not confirmed:
        flash("当前密码不正确。", "error")
        return render_template("portal/password.html"), 400
    try:
        accounts.set_password(db, user.id, request.form.get("new", ""), n=scrypt_n())
    except ValueError as refused:  # AccountError, WeakPassword
        flash(str(refused), "error")
        return render_template("portal/password.html"), 400
    session.clear()
    flash("密码已修改，请重新登录。", "ok")
    return redirect(url_for("portal.login"), code=303)


def _safe_next(target: str | None) -> str | None:
    """Only a path inside the portal: never an open redirect."""
    if not target:
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not _is_staff_path(parts.path) or target.startswith("//"):
        return None
    return target


@bp.app_errorhandler(400)
@bp.app_errorhandler(401)
@bp.app_errorhandler(403)
@bp.app_errorhandler(404)
@bp.app_errorhandler(405)
@bp.app_errorhandler(413)
def _error_page(error):
    """Staff pages explain refusals in a page of the portal; other paths keep their own."""
    if not _is_staff_path(request.path):
        return error
    name, default = ERROR_WORDS.get(error.code, ("请求未完成", "请返回后重试。"))
    # Werkzeug's own English description unless the view gave one of its own.
    description = default if error.description == type(error).description else error.description
    return render_template("portal/error.html", code=error.code, name=name,
                           description=description), error.code


ERROR_WORDS = {
    400: ("请求有误", "提交的内容不完整或格式不对，请返回后重试。"),
    401: ("需要登录", "请先登录工作台。"),
    403: ("无权访问", "您的角色或部门无权打开这个页面或执行这个操作。"),
    404: ("页面不存在", "没有找到这个页面，可能链接有误或内容已删除。"),
    405: ("不支持的操作", "这个页面不接受这种请求，请从页面上的按钮操作。"),
    413: ("文件太大", "上传的文件超过大小限制。"),
}

"""The first administrator, without a default account: while no staff account exists, the
first start writes a one-time setup link to the log (the token lives in the instance
directory, mode 0600, beside secret_key). Opening it lets one person create the first admin;
the token is then deleted, and the page answers 404 for ever after."""
from __future__ import annotations

import hmac
import pathlib
import secrets

from flask import abort, current_app, flash, redirect, render_template, request, url_for

from interpretations import audit
from policies.keyfiles import key_file
from portal import accounts
from portal.auth import scrypt_n, services
from portal.blueprint import bp

TOKEN_FILE = "setup_token"


def ensure_setup_token(data_dir: pathlib.Path) -> str:
    """The pending token (created once; every worker of a first start shares it)."""
    return key_file(data_dir / TOKEN_FILE, lambda: secrets.token_urlsafe(32))


def discard_setup_token(data_dir: pathlib.Path) -> None:
    (data_dir / TOKEN_FILE).unlink(missing_ok=True)


def _valid(token: str) -> bool:
    path = pathlib.Path(current_app.config["DATA_DIR"]) / TOKEN_FILE
    if not path.exists() or accounts.count_staff(services().db):
        return False
    return hmac.compare_digest(path.read_text().strip().encode(), token.encode())


@bp.get("/setup/<token>")
def setup_page(token: str):
    if not _valid(token):
        abort(404)
    return render_template("portal/setup.html", token=token)


@bp.post("/setup/<token>")
def setup_post(token: str):
    if not _valid(token):
        abort(404)
    form = request.form
    try:
        user = accounts.add_staff(services().db, form.get("username", ""), form.get("password", ""), "admin",
                                  form.get("department"), form.get("display_name"), n=scrypt_n())
    except ValueError as refused:
        flash(f"未创建：{refused}", "error")
        return render_template("portal/setup.html", token=token), 400
    discard_setup_token(pathlib.Path(current_app.config["DATA_DIR"]))
    with services().db.write() as conn:
        audit.append(conn, actor=user.username, role="admin", action="add staff", release_id=None,
                     from_state=None, to_state=None, comment="首个管理员，经一次性设置链接创建")
    flash(f"管理员 {user.username} 已创建，请登录。设置链接已失效。", "ok")
    return redirect(url_for("portal.login"), code=303)

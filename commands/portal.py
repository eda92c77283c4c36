"""The staff portal's wiring: blueprint, session cookie settings, upload directory, and the
account commands (no default account exists; the first admin is made here):

    flask --app server add-staff NAME --role admin --department 区政务公开办
    flask --app server list-staff | disable-staff NAME | enable-staff NAME | reset-password NAME
    flask --app server clear-login-throttle NAME
"""
from __future__ import annotations

import pathlib
import sys

import click
from flask import Flask, current_app
from flask.cli import with_appcontext

from commands.services import migrated
from interpretations import audit
from interpretations.workflow import ROLES
from portal import accounts, setup
from portal.hashing import HashingPool
from portal.passwords import PRODUCTION_N
from portal.throttle import DEFAULT_ADDRESS_LIMITS, LoginThrottle


def init_app(app: Flask) -> None:
    _configure(app)
    from portal import views  # noqa: F401 - registers the routes on the blueprint
    from portal.blueprint import bp

    app.register_blueprint(bp)
    svc = app.extensions["policybot"]
    svc.uploads_dir = pathlib.Path(app.config["DATA_DIR"]) / "uploads"
    svc.login_throttle = LoginThrottle(svc.db, storage_uri=app.config.get("REDIS_URL"),
                                       address_limits=app.config["LOGIN_ADDRESS_LIMITS"])
    svc.hashing = HashingPool(workers=int(app.config["STAFF_HASH_WORKERS"]),
                              queue=int(app.config["STAFF_HASH_QUEUE"]))
    svc.on_close("password hashing", svc.hashing.shutdown)
    for command in (add_staff_command, list_staff_command, disable_staff_command,
                    enable_staff_command, reset_password_command, clear_throttle_command):
        app.cli.add_command(command)
    svc.on_start("staff setup link", lambda: _setup_link(app))
    app.extensions.setdefault("policybot.startup_notes", []).append(lambda: _startup_note(app))


def _setup_link(app: Flask) -> None:
    """At start (it reads the staff table and writes or deletes a file: not while the app is
    built): with no staff account yet, the one-time setup link in the log; with one, a
    leftover token deleted."""
    data_dir = pathlib.Path(app.config["DATA_DIR"])
    if accounts.count_staff(app.extensions["policybot"].db) == 0:
        token = setup.ensure_setup_token(data_dir)
        app.logger.warning("no staff account exists yet: create the first administrator with "
                           "`flask --app server add-staff NAME --role admin --department DEPT` "
                           "or once at %s/staff/setup/%s", app.config["PUBLIC_URL"].rstrip("/"), token)
    else:
        setup.discard_setup_token(data_dir)


def _startup_note(app: Flask) -> list[str]:
    """For the start-up banner: how to reach the portal, and on first start the setup link
    (asked afresh: an administrator may have been created meanwhile)."""
    base = app.config["PUBLIC_URL"].rstrip("/")
    if accounts.count_staff(app.extensions["policybot"].db):
        return [f"工作人员登录：{base}/staff/login"]
    token = setup.ensure_setup_token(pathlib.Path(app.config["DATA_DIR"]))
    return ["还没有工作人员账号。请用浏览器打开下面的一次性链接，创建第一个管理员：",
            f"{base}/staff/setup/{token}",
            "（链接只能使用一次；也可以运行 flask --app server add-staff 用户名 --role admin）"]


def _configure(app: Flask) -> None:
    app.config.setdefault("STAFF_SCRYPT_N", PRODUCTION_N)
    # At most this many password hashes at once per process (128 MiB each), this many more
    # waiting; beyond: 429. Failed logins allowed per client address (portal.throttle).
    app.config.setdefault("STAFF_HASH_WORKERS", 1)
    app.config.setdefault("STAFF_HASH_QUEUE", 2)
    app.config.setdefault("LOGIN_ADDRESS_LIMITS", DEFAULT_ADDRESS_LIMITS)
    if int(app.config["STAFF_SCRYPT_N"]) < PRODUCTION_N and not app.config.get("TESTING"):
        raise RuntimeError(f"STAFF_SCRYPT_N must be at least {PRODUCTION_N} (SECURITY.md)")
    app.config["SESSION_COOKIE_HTTPONLY"] = True
    app.config["SESSION_COOKIE_SAMESITE"] = "Lax"
    # Secure cookies when the site is served over https (or when configured so explicitly);
    # a local http instance keeps them off, or no browser would send them back.
    app.config["SESSION_COOKIE_SECURE"] = bool(app.config.get("SESSION_COOKIE_SECURE")) or \
        str(app.config.get("PUBLIC_URL", "")).startswith("https://")
    app.config["PERMANENT_SESSION_LIFETIME"] = accounts.SESSION_LIFETIME


def _db():
    return current_app.extensions["policybot"].db


def _audit(action: str, comment: str) -> None:
    """Account changes made on the command line are audited like those made in the portal."""
    with _db().write() as conn:
        audit.append(conn, actor="cli", role="admin", action=action, release_id=None,
                     from_state=None, to_state=None, comment=comment)


def _user_or_exit(username: str) -> accounts.Staff:
    user = accounts.get_by_username(_db(), username)
    if user is None:
        click.echo(f"no staff user {username}", err=True)
        sys.exit(1)
    return user


@click.command("add-staff")
@click.argument("username")
@click.option("--role", type=click.Choice(ROLES), required=True)
@click.option("--department", default=None, help="The department the user belongs to.")
@click.option("--name", "display_name", default=None, help="Display name (e.g. 张三).")
@click.password_option(help="Prompted when not given (at least 10 characters).")
@with_appcontext
@migrated
def add_staff_command(username, role, department, display_name, password) -> None:
    """Create a staff account (the first administrator too: there is no default one)."""
    try:
        user = accounts.add_staff(_db(), username, password, role, department, display_name,
                                  n=int(current_app.config["STAFF_SCRYPT_N"]), must_change=True)
    except ValueError as refused:
        click.echo(f"refused: {refused}", err=True)
        sys.exit(1)
    _audit("add staff", f"{user.username}（{user.role_label}，{user.department or '未指定部门'}）")
    click.echo(f"created {user.username} ({user.role}, {user.department or 'no department'}); "
               "the password must be changed at the first login")


@click.command("list-staff")
@with_appcontext
@migrated
def list_staff_command() -> None:
    """List staff accounts."""
    for user in accounts.all_staff(_db()):
        state = "active" if user.active else "disabled"
        click.echo(f"{user.username}\t{user.role}\t{user.department or '-'}\t{state}")


@click.command("disable-staff")
@click.argument("username")
@with_appcontext
@migrated
def disable_staff_command(username) -> None:
    """Disable an account; its sessions end at once."""
    accounts.set_active(_db(), _user_or_exit(username).id, False)
    _audit("disable staff", username)
    click.echo(f"disabled {username}; sessions ended")


@click.command("enable-staff")
@click.argument("username")
@with_appcontext
@migrated
def enable_staff_command(username) -> None:
    """Enable a disabled account."""
    accounts.set_active(_db(), _user_or_exit(username).id, True)
    _audit("enable staff", username)
    click.echo(f"enabled {username}")


@click.command("reset-password")
@click.argument("username")
@click.password_option()
@with_appcontext
@migrated
def reset_password_command(username, password) -> None:
    """Set a new password; the user's sessions end."""
    try:
        accounts.set_password(_db(), _user_or_exit(username).id, password,
                              n=int(current_app.config["STAFF_SCRYPT_N"]), must_change=True)
    except ValueError as refused:
        click.echo(f"refused: {refused}", err=True)
        sys.exit(1)
    _audit("reset password", username)
    click.echo(f"password of {username} changed; sessions ended")


@click.command("clear-login-throttle")
@click.argument("username")
@with_appcontext
@migrated
def clear_throttle_command(username) -> None:
    """Lift the login throttle of a name (its failed logins are forgotten)."""
    cleared = current_app.extensions["policybot"].login_throttle.clear(username.strip().lower())
    _audit("clear login throttle", f"{username}：清除 {cleared} 次失败登录")
    click.echo(f"login throttle of {username} lifted ({cleared} failed logins forgotten)")

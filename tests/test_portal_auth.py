"""Accounts, passwords, throttling, sessions, cookies and headers of the staff portal."""
from __future__ import annotations

import re
from unittest import mock

import pytest

from portal import accounts, passwords
from portal.testing import FAST_N, TEST_PASSWORD, app_config, csrf, login_as, make_staff


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    """One instance for the module (create_app costs seconds); each test has its own users."""
    from server import create_app, start

    app = start(create_app(app_config(tmp_path_factory.mktemp("auth"))))
    yield app
    app.extensions["policybot"].db.dispose()


def _login(client, username, password):
    page = client.get("/staff/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    return client.post("/staff/login", data={"username": username, "password": password, "csrf_token": token})


def test_production_hash_uses_scrypt_n_2_17():
    stored = passwords.hash_password("a long enough password")
    scheme, n, r, p, salt, digest = stored.split("$")
    assert (scheme, int(n), int(r), int(p)) == ("scrypt", 2 ** 17, 8, 1)
    assert passwords.verify_password("a long enough password", stored)
    assert not passwords.verify_password("a long enough passwore", stored)
    assert not passwords.verify_password("x", "garbage$1$2")


def test_weak_n_refused_outside_tests(tmp_path):
    from server import create_app, start

    config = {**app_config(tmp_path / "i"), "TESTING": False}
    with pytest.raises(RuntimeError, match="STAFF_SCRYPT_N"):
        start(create_app(config))


def test_no_default_account(tmp_path):
    """On a fresh instance of its own: the module's app has the other tests' users."""
    from server import create_app, start

    app = start(create_app(app_config(tmp_path / "fresh")))
    assert accounts.count_staff(app.extensions["policybot"].db) == 0
    client = app.test_client()
    for name, password in (("admin", "admin"), ("admin", "123456"), ("root", "root")):
        assert _login(client, name, password).status_code == 401
    app.extensions["policybot"].db.dispose()


def test_add_staff_command_creates_first_admin(app):
    runner = app.test_cli_runner()
    result = runner.invoke(args=["add-staff", "chief", "--role", "admin", "--department", "区政务公开办",
                                 "--password", "Lead-Secret-2026"])
    assert result.exit_code == 0, result.output
    result = runner.invoke(args=["add-staff", "weak", "--role", "drafter", "--password", "short"])
    assert result.exit_code == 1 and "至少需要 10 个字符" in result.output
    assert _login(app.test_client(), "chief", "Lead-Secret-2026").status_code == 303
    assert "chief\tadmin" in runner.invoke(args=["list-staff"]).output
    from interpretations import audit
    with app.extensions["policybot"].db.read() as conn:
        assert any(e["action"] == "add staff" and "chief" in e["comment"] for e in audit.entries(conn))


def test_login_gives_a_new_session_and_logout_ends_it_on_the_server(app):
    make_staff(app, "zhang4", "drafter", "区人社局")
    client = app.test_client()
    client.get("/staff/login")
    anonymous = client.get_cookie("session").value
    reply = _login(client, "zhang4", TEST_PASSWORD)
    assert reply.status_code == 303
    cookie = reply.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Secure" not in cookie
    signed_in = client.get_cookie("session").value
    assert signed_in != anonymous
    assert client.get("/staff/").status_code == 200
    client.post("/staff/logout", data={"csrf_token": csrf(client)})
    thief = app.test_client()  # replays the cookie of the ended session
    thief.set_cookie("session", signed_in)
    assert thief.get("/staff/").status_code == 302


def test_secure_cookie_on_https(tmp_path):
    from server import create_app, start

    app = start(create_app({**app_config(tmp_path / "i"), "PUBLIC_URL": "https://zwgk.example.gov.cn"}))
    make_staff(app, "zhang5", "drafter", "区人社局")
    assert "Secure" in _login(app.test_client(), "zhang5", TEST_PASSWORD).headers["Set-Cookie"]


def test_disabling_a_user_ends_their_sessions(app):
    user = make_staff(app, "zhang6", "drafter", "区人社局")
    client = app.test_client()
    login_as(client, app, user)
    assert client.get("/staff/").status_code == 200
    accounts.set_active(app.extensions["policybot"].db, user.id, False)
    assert client.get("/staff/").status_code == 302
    assert _login(app.test_client(), "zhang6", TEST_PASSWORD).status_code == 401


def test_password_change_ends_sessions(app):
    user = make_staff(app, "zhang7", "drafter", "区人社局")
    other = app.test_client()
    login_as(other, app, user)
    accounts.set_password(app.extensions["policybot"].db, user.id, "Brand-New-Pass-1", n=FAST_N)
    assert other.get("/staff/").status_code == 302


def test_throttling_delays_a_name_but_never_refuses_the_right_password_for_good(app):
    make_staff(app, "zhang8", "drafter", "区人社局")
    client = app.test_client()
    codes = [_login(client, "zhang8", "wrong-password").status_code for _ in range(5)]
    assert codes == [401] * 5
    reply = _login(client, "zhang8", TEST_PASSWORD)  # too early: refused unchecked, 429
    assert reply.status_code == 429 and "秒后再试" in reply.text
    wait = int(reply.headers["Retry-After"])
    assert 1 <= wait <= 2
    app.extensions["policybot"].login_throttle.clear("zhang8")  # what the admin's button does
    assert _login(client, "zhang8", TEST_PASSWORD).status_code == 303


def test_unknown_user_costs_the_same_scrypt_work(app):
    make_staff(app, "zhang9", "drafter", "区人社局")
    db = app.extensions["policybot"].db
    # The dummy hash that unknown names are checked against is made once per process, on the
    # first unknown name: made here first, whichever test ran before this one.
    accounts.authenticate(db, "nobody-yet", "wrong-password", n=FAST_N)
    calls = []
    real = passwords._scrypt

    def counting(*args):
        calls.append(args[2])  # n
        return real(*args)

    with mock.patch.object(passwords, "_scrypt", counting):
        accounts.authenticate(db, "zhang9", "wrong-password", n=FAST_N)
        known = list(calls)
        calls.clear()
        accounts.authenticate(db, "nobody", "wrong-password", n=FAST_N)
    assert known == calls == [FAST_N]


def test_security_headers_and_csrf_on_login(app):
    client = app.test_client()
    page = client.get("/staff/login")
    assert "default-src 'self'" in page.headers["Content-Security-Policy"]
    assert page.headers["X-Content-Type-Options"] == "nosniff"
    assert page.headers["X-Frame-Options"] == "DENY"
    make_staff(app, "zhang10", "drafter", "区人社局")
    reply = client.post("/staff/login", data={"username": "zhang10", "password": TEST_PASSWORD})
    assert reply.status_code == 400


def test_next_is_never_an_open_redirect(app):
    make_staff(app, "zhang11", "drafter", "区人社局")
    client = app.test_client()
    page = client.get("/staff/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    for target in ("https://evil.example/", "//evil.example/staff/", "/elsewhere"):
        reply = client.post("/staff/login", data={"username": "zhang11", "password": TEST_PASSWORD,
                                                  "csrf_token": token, "next": target})
        assert reply.headers["Location"] == "/staff/", target
        token = csrf(client)


@pytest.mark.postgres
def test_accounts_and_sessions_on_postgresql(pg_url, tmp_path):
    from server import create_app, start

    app = start(create_app({**app_config(tmp_path / "pg"), "DATABASE_URL": pg_url}))
    try:
        make_staff(app, "zhangpg", "drafter", "区人社局")
        client = app.test_client()
        assert _login(client, "zhangpg", "wrong-password").status_code == 401
        assert _login(client, "zhangpg", TEST_PASSWORD).status_code == 303
        assert client.get("/staff/").status_code == 200
        client.post("/staff/logout", data={"csrf_token": csrf(client)})
        assert client.get("/staff/").status_code == 302
    finally:
        app.extensions["policybot"].db.dispose()


def test_one_time_setup_link_creates_the_first_admin(tmp_path):
    from server import create_app, start

    app = start(create_app(app_config(tmp_path / "setup")))
    try:
        token_file = tmp_path / "setup" / "setup_token"
        token = token_file.read_text().strip()
        assert oct(token_file.stat().st_mode & 0o777) == "0o600"
        client = app.test_client()
        assert client.get("/staff/setup/wrong-token").status_code == 404
        assert client.get(f"/staff/setup/{token}").status_code == 200
        reply = client.post(
            f"/staff/setup/{token}",
            data={
                "csrf_token": csrf(client),
                "username": "first",
                "password": "Founding-Pass-77",
                "department": "办公室",
            },
        )
        assert reply.status_code == 303 and not token_file.exists()
        assert accounts.get_by_username(app.extensions["policybot"].db, "first").role == "admin"
        again = client.post(f"/staff/setup/{token}", data={"csrf_token": csrf(client), "username": "second",
                                                           "password": "Second-Admin-Pass"})
        assert again.status_code == 404
    finally:
        app.extensions["policybot"].db.dispose()


def test_role_change_ends_sessions_and_takes_effect(app):
    user = make_staff(app, "rolechange", "drafter", "区人社局")
    admin = make_staff(app, "roleadmin", "admin", "区政务公开办")
    client = app.test_client()
    login_as(client, app, user)
    assert client.get("/staff/audit").status_code == 403
    boss = app.test_client()
    login_as(boss, app, admin)
    reply = boss.post(f"/staff/users/{user.id}/role", data={"csrf_token": csrf(boss), "role": "reviewer",
                                                           "department": "区党政办"})
    assert reply.status_code == 303
    assert client.get("/staff/").status_code == 302  # signed out by the change
    login_as(client, app, accounts.get_by_id(app.extensions["policybot"].db, user.id))
    assert client.get("/staff/audit").status_code == 200

"""Password policy (issue 13, finding 6): the shipped common-password list, all-digit and
decorated common passwords refused; a password an admin set is changed at the first login."""
from __future__ import annotations

import re

import pytest

from portal import accounts, passwords
from portal.testing import FAST_N, app_config, csrf, login_as, make_staff

WEAK = ("1234567890", "qwertyuiop", "password123", "Password2024!", "1qaz2wsx3edc", "woaini1314520",
        "2024060112", "13812345678", "iloveyou1314", "Admin123456", "aaaaaaaaaa")
STRONG = ("Correct-Horse-9", "青山绿水-2026-开发区", "tide Lamp 47 orbit")


def test_weak_passwords_are_refused_with_a_chinese_reason():
    refused = {}
    for password in WEAK:
        with pytest.raises(passwords.WeakPassword) as error:
            passwords.check_strength(password, "zhang")
        refused[password] = str(error.value).split("（")[0]
    for password in STRONG:
        passwords.check_strength(password, "zhang")
    print(f"\ncommon-password list: {len(passwords.common_passwords())} entries; weak samples refused "
          f"{len(refused)}/{len(WEAK)}: {refused}")
    assert len(passwords.common_passwords()) > 10000


@pytest.fixture
def app(tmp_path):
    from server import create_app, start

    app = start(create_app(app_config(tmp_path / "i")))
    yield app
    app.extensions["policybot"].db.dispose()


def _login(client, username, password):
    page = client.get("/staff/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    return client.post("/staff/login", data={"username": username, "password": password, "csrf_token": token})


def test_a_password_set_by_an_admin_is_changed_at_the_first_login(app):
    admin = app.test_client()
    login_as(admin, app, make_staff(app, "root", "admin", "区政务公开办"))
    weak = admin.post("/staff/users", data={"csrf_token": csrf(admin), "username": "sun", "role": "drafter",
                                            "department": "区人社局", "password": "1234567890"},
                      follow_redirects=True)
    assert "未创建" in weak.text and "数字" in weak.text
    admin.post("/staff/users", data={"csrf_token": csrf(admin), "username": "sun", "role": "drafter",
                                     "department": "区人社局", "password": "Initial-Pass-55"})
    user = app.test_client()
    reply = _login(user, "sun", "Initial-Pass-55")
    assert reply.status_code == 303 and reply.headers["Location"].endswith("/staff/password")
    assert user.get("/staff/").headers["Location"].endswith("/staff/password")  # nothing else first
    assert user.post("/staff/releases", data={"csrf_token": csrf(user), "title": "x"}).status_code == 403
    changed = user.post("/staff/password", data={"csrf_token": csrf(user), "current": "Initial-Pass-55",
                                                 "new": "Tidal-Orbit-Lamp-8"})
    assert changed.status_code == 303
    assert _login(user, "sun", "Tidal-Orbit-Lamp-8").headers["Location"].endswith("/staff/")
    assert user.get("/staff/").status_code == 200
    sun = accounts.get_by_username(app.extensions["policybot"].db, "sun")
    admin.post(f"/staff/users/{sun.id}/password",
               data={"csrf_token": csrf(admin), "password": "Reset-By-Admin-3"})
    assert accounts.get_by_username(app.extensions["policybot"].db, "sun").must_change_password


def test_the_setup_link_and_own_changes_are_not_forced(app):
    db = app.extensions["policybot"].db
    user = accounts.add_staff(db, "zhou", "Chosen-By-Me-42", "admin", "办公室", n=FAST_N)
    assert not user.must_change_password
    accounts.set_password(db, user.id, "Chosen-Again-43", n=FAST_N)
    assert not accounts.get_by_id(db, user.id).must_change_password

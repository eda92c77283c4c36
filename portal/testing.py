"""Helpers for tests of the portal and of pages that reuse its login (not used in production).

    user = make_staff(app, "zhang", "drafter", "区人社局")
    login_as(client, app, user)          # a real server-side session, no password round trip
    client.post(url, data={**form, "csrf_token": csrf(client)})
"""
from __future__ import annotations

import secrets

from portal import accounts

FAST_N = 2 ** 14  # tests only; production refuses less than 2^17
TEST_PASSWORD = "Correct-Horse-9"


def make_staff(app, username: str, role: str, department: str | None = None) -> accounts.Staff:
    return accounts.add_staff(app.extensions["policybot"].db, username, TEST_PASSWORD, role,
                              department, n=FAST_N)


def login_as(client, app, user: accounts.Staff) -> None:
    token = accounts.start_session(app.extensions["policybot"].db, user)
    with client.session_transaction() as session:
        session.clear()
        session["staff_token"] = token
        session["csrf"] = secrets.token_urlsafe(32)


def csrf(client) -> str:
    with client.session_transaction() as session:
        if "csrf" not in session:
            session["csrf"] = secrets.token_urlsafe(32)
        return session["csrf"]


def app_config(data_dir) -> dict:
    """A quick, isolated app: empty instance, fast password hashing, the hash embedder."""
    config = {"TESTING": True, "DATA_DIR": str(data_dir), "LOAD_DEMO": False,
              "STAFF_SCRYPT_N": FAST_N, "INDEX_EMBEDDER": "hash", "INDEX_BACKGROUND": False}
    try:  # the bot refuses to start without valid WeChat settings (SECURITY.md item 6)
        from bot.callback_client import TEST_WECHAT_CONFIG
        config = {**TEST_WECHAT_CONFIG, **config}
    except ImportError:
        pass
    return config


def fingerprint(db) -> dict[str, str]:
    """A digest of every table's rows: equal before and after means nothing changed."""
    import hashlib

    import sqlalchemy as sa

    from policies.db import metadata

    digests = {}
    with db.read() as conn:
        for table in metadata.sorted_tables:
            rows = conn.execute(sa.select(table)).all()
            digests[table.name] = hashlib.sha256(repr(sorted(map(repr, rows))).encode()).hexdigest()
    return digests

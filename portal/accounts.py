"""Staff accounts and their server-side sessions (login throttling: portal.throttle).

No default account exists: the first admin is made with `flask --app server add-staff`.
Authentication does the same work for an unknown user name as for a known one (a scrypt
hash against a dummy), so timing does not tell which names exist.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import hashlib
import re
import secrets

import sqlalchemy as sa

from interpretations.labels import LABELS
from interpretations.workflow import ROLES, Actor
from policies.db import Database
from policies.store import utcnow
from portal.passwords import PRODUCTION_N, check_strength, hash_password, verify_password
from portal.tables import staff_sessions, staff_users

USERNAME = re.compile(r"^[a-z0-9][a-z0-9._-]{1,49}$")
SESSION_LIFETIME = dt.timedelta(hours=8)


class AccountError(ValueError):
    """A refused account change; the message says why."""


@dataclasses.dataclass(frozen=True)
class Staff:
    id: int
    username: str
    display_name: str
    role: str
    department: str | None
    active: bool
    must_change_password: bool = False

    @property
    def actor(self) -> Actor:
        return Actor(self.username, self.role, self.department)

    @property
    def role_label(self) -> str:
        return ROLE_LABELS.get(self.role, self.role)


ROLE_LABELS = {role: LABELS["role"][role] for role in ROLES}


def add_staff(db: Database, username: str, password: str, role: str, department: str | None,
              display_name: str | None = None, n: int = PRODUCTION_N, must_change: bool = False) -> Staff:
    """A new account; `must_change`: the password was chosen by an admin, not by the user."""
    username = (username or "").strip().lower()
    if not USERNAME.match(username):
        raise AccountError("用户名为 2–50 个字符，只能用小写英文字母、数字和“.”“_”“-”，并以字母或数字开头")
    if role not in ROLES:
        raise AccountError(_unknown_role(role))
    check_strength(password, username)
    now = utcnow()
    with db.write() as conn:
        if conn.execute(sa.select(staff_users.c.id).where(staff_users.c.username == username)).first():
            raise AccountError(f"用户名 {username} 已存在")
        conn.execute(staff_users.insert().values(
            username=username, display_name=(display_name or username).strip(), role=role,
            department=(department or "").strip() or None, active=True, must_change_password=must_change,
            password_hash=hash_password(password, n), created_at=now, updated_at=now))
    user = get_by_username(db, username)
    assert user is not None, "the account was written just above"
    return user


def _unknown_role(role: str) -> str:
    return f"没有「{role}」这个角色（可选：{'、'.join(ROLE_LABELS.values())}）"


def get_by_username(db: Database, username: str) -> Staff | None:
    with db.read() as conn:
        row = conn.execute(sa.select(staff_users).where(
            staff_users.c.username == (username or "").strip().lower())).mappings().first()
    return _staff(row) if row else None


def get_by_id(db: Database, user_id: int) -> Staff | None:
    with db.read() as conn:
        row = conn.execute(sa.select(staff_users).where(staff_users.c.id == user_id)).mappings().first()
    return _staff(row) if row else None


def all_staff(db: Database) -> list[Staff]:
    with db.read() as conn:
        rows = conn.execute(sa.select(staff_users).order_by(staff_users.c.username)).mappings()
        return [_staff(r) for r in rows]


def count_staff(db: Database) -> int:
    with db.read() as conn:
        return conn.execute(sa.select(sa.func.count()).select_from(staff_users)).scalar_one()


def set_active(db: Database, user_id: int, active: bool) -> None:
    """Disabling a user ends every session they have."""
    with db.write() as conn:
        conn.execute(staff_users.update().where(staff_users.c.id == user_id)
                     .values(active=active, updated_at=utcnow()))
        if not active:
            conn.execute(staff_sessions.delete().where(staff_sessions.c.user_id == user_id))


def set_role(db: Database, user_id: int, role: str, department: str | None) -> None:
    """A new role or department ends the user's sessions: they sign in again with it."""
    if role not in ROLES:
        raise AccountError(_unknown_role(role))
    with db.write() as conn:
        conn.execute(staff_users.update().where(staff_users.c.id == user_id).values(
            role=role, department=(department or "").strip() or None, updated_at=utcnow()))
        conn.execute(staff_sessions.delete().where(staff_sessions.c.user_id == user_id))


def set_password(db: Database, user_id: int, password: str, n: int = PRODUCTION_N,
                 must_change: bool = False) -> None:
    """A new password ends every session of that user (the caller signs in again); one set by
    an admin (`must_change`) has to be replaced by the user at their next login."""
    user = get_by_id(db, user_id)
    if user is None:
        raise AccountError(f"没有编号为 {user_id} 的账号")
    check_strength(password, user.username)
    with db.write() as conn:
        conn.execute(staff_users.update().where(staff_users.c.id == user_id)
                     .values(password_hash=hash_password(password, n), must_change_password=must_change,
                             updated_at=utcnow()))
        conn.execute(staff_sessions.delete().where(staff_sessions.c.user_id == user_id))


# -- authentication ---------------------------------------------------------------------------

def normal_username(username: str | None) -> str:
    return (username or "").strip().lower()[:100]


def authenticate(db: Database, username: str, password: str, n: int = PRODUCTION_N) -> Staff | None:
    """The user if the password is right and the account active. Throttling is checked before
    (portal.throttle) and the call runs in the hashing pool (portal.hashing)."""
    with db.read() as conn:
        row = conn.execute(sa.select(staff_users).where(staff_users.c.username == normal_username(username))
                           ).mappings().first()
    stored = row["password_hash"] if row else _dummy_hash(n)
    matches = verify_password(password or "", stored)  # the same work, known user or not
    return _staff(row) if row and matches and row["active"] else None


@functools.lru_cache(maxsize=4)
def _dummy_hash(n: int) -> str:
    return hash_password(secrets.token_hex(16), n)


# -- sessions -----------------------------------------------------------------------------------

def start_session(db: Database, user: Staff) -> str:
    """A new random session token (the caller puts it in a fresh cookie)."""
    token = secrets.token_urlsafe(32)
    now = utcnow()
    with db.write() as conn:
        conn.execute(staff_sessions.delete().where(staff_sessions.c.expires_at < now))
        conn.execute(staff_sessions.insert().values(
            token_hash=_token_hash(token), user_id=user.id, created_at=now,
            expires_at=now + SESSION_LIFETIME))
    return token


def session_user(db: Database, token: str | None) -> Staff | None:
    """The active user of a live session; None for an ended, expired or unknown one."""
    if not token or not isinstance(token, str):
        return None
    with db.read() as conn:
        row = conn.execute(sa.select(staff_users, staff_sessions.c.expires_at).join(
            staff_sessions, staff_sessions.c.user_id == staff_users.c.id).where(
            staff_sessions.c.token_hash == _token_hash(token))).mappings().first()
    if row is None or not row["active"] or _aware(row["expires_at"]) < utcnow():
        return None
    return _staff(row)


def end_session(db: Database, token: str | None) -> None:
    if token:
        with db.write() as conn:
            conn.execute(staff_sessions.delete().where(staff_sessions.c.token_hash == _token_hash(token)))


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def _aware(moment: dt.datetime) -> dt.datetime:
    """SQLite gives naive datetimes back; they were written in UTC."""
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


def _staff(row) -> Staff:
    return Staff(row["id"], row["username"], row["display_name"], row["role"], row["department"],
                 bool(row["active"]), bool(row["must_change_password"]))

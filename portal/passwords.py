"""Password hashing with scrypt (hashlib), parameters stored with each hash.

N = 2^17, r = 8, p = 1 (128 MiB, about a third of a second here): SECURITY.md asks for
N ≥ 2^17. Tests may pass a smaller N (as Django's test settings use a fast hasher); the
portal refuses to start with a smaller one unless TESTING is set.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import os

PRODUCTION_N = 2 ** 17
R, P = 8, 1
MIN_LENGTH = 10


class WeakPassword(ValueError):
    pass


def hash_password(password: str, n: int = PRODUCTION_N) -> str:
    salt = os.urandom(16)
    digest = _scrypt(password, salt, n, R, P)
    return f"scrypt${n}${R}${P}${_b64(salt)}${_b64(digest)}"


def verify_password(password: str, stored: str) -> bool:
    """Constant-time check; a malformed stored hash never matches."""
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt":
            return False
        actual = _scrypt(password, _unb64(salt), int(n), int(r), int(p))
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(actual, _unb64(digest))


def check_strength(password: str, username: str = "") -> None:
    if len(password) < MIN_LENGTH:
        raise WeakPassword(f"密码至少需要 {MIN_LENGTH} 个字符")
    if username and username.lower() in password.lower():
        raise WeakPassword("密码不能包含用户名")
    if len(set(password)) < 4:
        raise WeakPassword("密码过于简单（重复字符太多）")


def _scrypt(password: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    return hashlib.scrypt(password.encode("utf-8"), salt=salt, n=n, r=r, p=p,
                          maxmem=128 * r * n + 2 ** 20, dklen=32)


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.b64decode(text.encode("ascii"), validate=True)

"""Password hashing with scrypt (hashlib), parameters stored with each hash.

N = 2^17, r = 8, p = 1 (128 MiB, about a third of a second here): SECURITY.md asks for
N ≥ 2^17. Tests may pass a smaller N (as Django's test settings use a fast hasher); the
portal refuses to start with a smaller one unless TESTING is set.
"""
from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import os
import pathlib
import re

PRODUCTION_N = 2 ** 17
R, P = 8, 1
MIN_LENGTH = 10
DATA = pathlib.Path(__file__).resolve().parent.parent / "data"
COMMON_PASSWORDS = DATA / "passwords" / "common-passwords.txt"
# What people add to a common password to pass a length rule: digits and symbols before or after.
DECORATION = re.compile(r"^[\d\W_]+|[\d\W_]+$")


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
    """Refuse a password that is short, holds the user name, is all digits (a birthday, a phone
    number), repeats a few characters, or is a common password, also one with digits or
    symbols added (Password2024!). Messages in Chinese, for the person choosing it."""
    if len(password) < MIN_LENGTH:
        raise WeakPassword(f"密码至少需要 {MIN_LENGTH} 个字符")
    if username and username.lower() in password.lower():
        raise WeakPassword("密码不能包含用户名")
    if password.isdigit():
        raise WeakPassword("密码不能全是数字：生日、电话号码容易被猜中")
    if len(set(password)) < 4:
        raise WeakPassword("密码过于简单（重复字符太多）")
    if is_common(password):
        raise WeakPassword("这是常见密码，容易被猜中，请换一个")


def is_common(password: str) -> bool:
    lowered = password.lower()
    core = DECORATION.sub("", lowered)
    return lowered in common_passwords() or (len(core) >= 6 and core in common_passwords())


@functools.lru_cache(maxsize=1)
def common_passwords() -> frozenset[str]:
    """The shipped list (data/passwords/common-passwords.txt), read once."""
    lines = COMMON_PASSWORDS.read_text(encoding="utf-8").splitlines()
    return frozenset(line.strip() for line in lines if line.strip() and not line.startswith("#"))


def _scrypt(password: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    return hashlib.scrypt(password.encode("utf-8"), salt=salt, n=n, r=r, p=p,
                          maxmem=128 * r * n + 2 ** 20, dklen=32)


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.b64decode(text.encode("ascii"), validate=True)

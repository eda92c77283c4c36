"""Protecting openids at rest: an HMAC for lookups, AES-GCM for the value we must send to.

The key is the configured one (POLICYBOT_OPENID_KEY), else a random key kept in the database
(`push_keys`), which protects exports and logs but not a stolen database: configure a key in
production. `mask()` is what logs may show.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets

import sqlalchemy as sa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from bot.push.tables import push_keys


class OpenidCipher:
    def __init__(self, secret: str | bytes):
        root = secret.encode() if isinstance(secret, str) else secret
        self._mac_key = hashlib.sha256(b"policybot-openid-mac:" + root).digest()
        self._aead = AESGCM(hashlib.sha256(b"policybot-openid-enc:" + root).digest())

    def key(self, openid: str) -> str:
        return hmac.new(self._mac_key, openid.encode(), hashlib.sha256).hexdigest()

    def encrypt(self, openid: str) -> str:
        nonce = os.urandom(12)
        return base64.b64encode(nonce + self._aead.encrypt(nonce, openid.encode(), None)).decode()

    def decrypt(self, token: str) -> str:
        raw = base64.b64decode(token)
        return self._aead.decrypt(raw[:12], raw[12:], None).decode()


def mask(openid: str | None) -> str:
    """A log-safe label: a short hash, never the openid."""
    if not openid:
        return "-"
    return "oid#" + hashlib.sha256(openid.encode()).hexdigest()[:10]


def stored_secret(db) -> str:
    """The database's own key, created on first use (concurrent creators agree)."""
    with db.read() as conn:
        value = conn.execute(sa.select(push_keys.c.value)
                             .where(push_keys.c.name == "openid")).scalar_one_or_none()
    if value:
        return value
    try:
        with db.write() as conn:
            conn.execute(push_keys.insert().values(name="openid", value=secrets.token_hex(32)))
    except sa.exc.IntegrityError:
        pass  # another process created it first
    return stored_secret(db)

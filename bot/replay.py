"""Timestamp window and signature replay cache (SECURITY.md item 5).

WeChat's signature covers token, timestamp and nonce joined without a delimiter, so digits
can move between timestamp and nonce without changing it, and in plaintext mode the body is
not signed at all. The cache is therefore keyed on the signature itself, and remembers a
digest of the body it came with: the same signature with the same body inside the window is
WeChat's retry (answered as a duplicate, same reply); with any other body it is refused.
"""
from __future__ import annotations

import hashlib
import time

from bot.crypto import Forbidden
from bot.kvstore import KeyValueStore

WINDOW_SECONDS = 300


def check_timestamp(timestamp: str | None, now: float | None = None) -> None:
    if not timestamp or not timestamp.isascii() or not timestamp.isdigit() or len(timestamp) > 12:
        raise Forbidden("missing or malformed timestamp")
    now = time.time() if now is None else now
    if abs(int(timestamp) - now) > WINDOW_SECONDS:
        raise Forbidden("timestamp outside the ±300 s window")


class ReplayCache:
    def __init__(self, store: KeyValueStore):
        self.store = store

    def admit(self, signature: str, body: bytes) -> bool:
        """True for a first use; False for WeChat's retry (same signature, same body).
        Raises Forbidden for a signature reused with another body."""
        digest = hashlib.sha256(body).hexdigest()
        key = "sig:" + hashlib.sha256(signature.encode("utf-8")).hexdigest()
        # Kept for twice the window: a timestamp accepted at -300 s stays covered until +300 s.
        if self.store.add(key, digest, 2 * WINDOW_SECONDS + 5):
            return True
        if self.store.get(key) == digest:
            return False
        raise Forbidden("signature replayed with another body")

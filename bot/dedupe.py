"""Once-only processing of WeChat's retries (DESIGN.md: 3 deliveries of the same message).

The first delivery of a message claims its key and computes; a concurrent or later delivery
waits for that result and returns the identical reply. Keys: FromUserName+MsgId for
messages, FromUserName+CreateTime+Event+EventKey for events (events have no MsgId).
"""
from __future__ import annotations

import hashlib
import time

from bot.kvstore import KeyValueStore

# Not a reply any delivery could give; no NUL: PostgreSQL text refuses it (the claim failed
# there, and every message got `success` without an answer, when the store was the database).
PENDING = "\x01pending"
KEEP_SECONDS = 24 * 3600  # WeChat's retries come within ~15 s; a day also absorbs late replays
# How long a first delivery's claim holds before another delivery may take the message over:
# a worker killed mid-message (or its machine) leaves a claim nobody will finish, and the retry
# the proxy sends to another instance at once must still be answered within WeChat's 5 s. A
# live worker answers within its budget (p99 well under a second), so 3 s is a wide margin.
CLAIM_SECONDS = 3.0


def delivery_key(fields: dict[str, str]) -> str:
    user = fields.get("FromUserName", "")
    if fields.get("MsgId"):
        raw = f"m|{user}|{fields['MsgId']}"
    else:
        raw = "e|" + "|".join([user, fields.get("CreateTime", ""), fields.get("Event", ""),
                               fields.get("EventKey", "")])
    return "dlv:" + hashlib.sha256(raw.encode("utf-8")).hexdigest()


class Deliveries:
    def __init__(self, store: KeyValueStore, poll_seconds: float = 0.05, sleep=time.sleep,
                 clock=time.monotonic, claim_seconds: float = CLAIM_SECONDS):
        self.store = store
        self.claim_seconds = claim_seconds
        self.poll_seconds = poll_seconds
        self.sleep = sleep
        self.clock = clock

    def claim(self, key: str) -> bool:
        """True for the first delivery of a message: it must compute and `finish`."""
        return self.store.add(key, PENDING, self.claim_seconds)

    def finish(self, key: str, reply: str) -> None:
        self.store.set(key, reply, KEEP_SECONDS)

    def release(self, key: str) -> None:
        """The first delivery failed before it had a reply: let the next retry compute."""
        self.store.delete(key)

    def wait_reply(self, key: str, timeout: float) -> str | None:
        """The reply the first delivery gave, waiting up to `timeout`; None if still pending
        at the end, or at once when the claim lapsed unfinished (the caller may claim it)."""
        deadline = self.clock() + timeout
        while True:
            value = self.store.get(key)
            if value is None:
                return None
            if value != PENDING:
                return value
            if self.clock() >= deadline:
                return None
            self.sleep(self.poll_seconds)

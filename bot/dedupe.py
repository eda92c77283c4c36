"""Once-only processing of WeChat's retries (DESIGN.md: 3 deliveries of the same message).

The first delivery of a message claims its key and computes; a concurrent or later delivery
waits for that result and returns the identical reply. Keys: FromUserName+MsgId for
messages, FromUserName+CreateTime+Event+EventKey for events (events have no MsgId).
"""
from __future__ import annotations

import hashlib
import time

from bot.kvstore import KeyValueStore

PENDING = "\x00pending"
KEEP_SECONDS = 24 * 3600  # WeChat's retries come within ~15 s; a day also absorbs late replays


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
                 clock=time.monotonic):
        self.store = store
        self.poll_seconds = poll_seconds
        self.sleep = sleep
        self.clock = clock

    def claim(self, key: str) -> bool:
        """True for the first delivery of a message: it must compute and `finish`."""
        return self.store.add(key, PENDING, KEEP_SECONDS)

    def finish(self, key: str, reply: str) -> None:
        self.store.set(key, reply, KEEP_SECONDS)

    def release(self, key: str) -> None:
        """The first delivery failed before it had a reply: let the next retry compute."""
        self.store.delete(key)

    def wait_reply(self, key: str, timeout: float) -> str | None:
        """The reply the first delivery gave, waiting up to `timeout`; None if still pending."""
        deadline = self.clock() + timeout
        while True:
            value = self.store.get(key)
            if value is not None and value != PENDING:
                return value
            if self.clock() >= deadline:
                return None
            self.sleep(self.poll_seconds)

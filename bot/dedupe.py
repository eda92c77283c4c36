"""Once-only processing of WeChat's retries (DESIGN.md: 3 deliveries of the same message).

The first delivery of a message claims its key and computes; a concurrent or later delivery
waits for that result and returns the identical reply. Keys: FromUserName+MsgId for
messages, FromUserName+CreateTime+Event+EventKey for events (events have no MsgId).

A claim is a lease: it lapses `claim_seconds` after it was taken or last renewed, and the
process that holds it renews it while it computes (`start`). So a worker killed mid-message
lets a retry take the message over within `claim_seconds`, and a live worker that is slow
(an overloaded machine: bench_cluster measured first deliveries of 3.6 s) keeps its message:
a fixed 3 s claim let the retry compute it again, processed twice, another reply.
"""
from __future__ import annotations

import hashlib
import logging
import threading
import time
import uuid

from bot.kvstore import KeyValueStore

log = logging.getLogger(__name__)

# The start of every claim's value, never of a reply any delivery could give; no NUL:
# PostgreSQL text refuses it (the claim failed there, and every message got `success` without
# an answer, when the store was the database).
PENDING = "\x01pending"
KEEP_SECONDS = 24 * 3600  # WeChat's retries come within ~15 s; a day also absorbs late replays
# How long a claim holds unrenewed before another delivery may take the message over: a worker
# killed mid-message (or its machine) leaves a claim nobody will finish, and the retry the proxy
# sends to another instance at once must still be answered within WeChat's 5 s.
CLAIM_SECONDS = 3.0
RENEWALS_PER_CLAIM = 3  # a live worker's claim is renewed this often within `claim_seconds`
# Nor renewed past this age: a worker stuck on one message must not hold it for ever (WeChat's
# three deliveries come within about 15 s; a live worker replies within its 4 s budget).
HOLD_LIMIT_SECONDS = 30.0


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
        self._held: dict[str, tuple[str, float]] = {}  # key → (this claim's value, taken at)
        self._held_lock = threading.Lock()
        self._stop = threading.Event()
        self._keeper: threading.Thread | None = None

    def claim(self, key: str) -> bool:
        """True for the first delivery of a message: it must compute and `finish` (or
        `release`). The value names this claim, so only its holder renews it."""
        value = f"{PENDING}:{uuid.uuid4().hex}"
        if not self.store.add(key, value, self.claim_seconds):
            return False
        with self._held_lock:
            self._held[key] = (value, self.clock())
        return True

    def finish(self, key: str, reply: str) -> None:
        self._let_go(key)
        self.store.set(key, reply, KEEP_SECONDS)

    def release(self, key: str) -> None:
        """The first delivery failed before it had a reply: let the next retry compute."""
        self._let_go(key)
        self.store.delete(key)

    def wait_reply(self, key: str, timeout: float) -> str | None:
        """The reply the first delivery gave, waiting up to `timeout`; None if still pending
        at the end, or at once when the claim lapsed unfinished (the caller may claim it)."""
        deadline = self.clock() + timeout
        while True:
            value = self.store.get(key)
            if value is None:
                return None
            if not value.startswith(PENDING):
                return value
            if self.clock() >= deadline:
                return None
            self.sleep(self.poll_seconds)

    # -- the claims' keeper --------------------------------------------------------------------
    def renew(self) -> int:
        """Extend every claim this process still holds by `claim_seconds` (up to
        HOLD_LIMIT_SECONDS since it was taken); how many were. A claim finished meanwhile
        holds its reply, not its value, and one taken over holds another's: left as they are."""
        oldest = self.clock() - HOLD_LIMIT_SECONDS
        with self._held_lock:
            for key in [k for k, (_, taken) in self._held.items() if taken < oldest]:
                del self._held[key]  # never finished (a failure past the handler): forgotten
            held = [(key, value) for key, (value, _) in self._held.items()]
        renewed = 0
        for key, value in held:
            try:
                renewed += self.store.extend(key, value, self.claim_seconds)
            except Exception:  # the store unreachable: the next round tries again
                log.warning("renewing the claim on a message failed", exc_info=True)
        return renewed

    def start(self) -> None:
        """Renew this process's claims while they are computed (a daemon thread; `close`)."""
        if self._keeper is None:
            self._keeper = threading.Thread(target=self._keep, name="policybot-claims", daemon=True)
            self._keeper.start()

    def close(self) -> None:
        self._stop.set()
        if self._keeper is not None:
            self._keeper.join(timeout=5)

    def _keep(self) -> None:
        while not self._stop.wait(self.claim_seconds / RENEWALS_PER_CLAIM):
            self.renew()

    def _let_go(self, key: str) -> None:
        with self._held_lock:
            self._held.pop(key, None)

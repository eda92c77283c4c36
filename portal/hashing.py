"""A bounded pool for password hashing.

scrypt with N = 2^17 takes 128 MiB and about half a second of CPU. A login flood once ran 16
of them at a time in the server's request threads: +1 GB of memory, both cores busy, and
WeChat replies past their 5 seconds. Here at most `workers` hashes run at once, in threads
of lowered CPU priority (nice +10, Linux: a thread's own priority), with at most `queue`
more waiting; anything beyond is refused at once (Busy → 429 with Retry-After) instead of
holding a request thread.
"""
from __future__ import annotations

import concurrent.futures
import logging
import math
import os
import threading
import time

log = logging.getLogger("policybot.portal")
NICE = 10


class Busy(Exception):
    def __init__(self, retry_after: int):
        super().__init__("password hashing is at capacity")
        self.retry_after = retry_after


class HashingPool:
    def __init__(self, workers: int = 1, queue: int = 2):
        self.workers = max(1, int(workers))
        self._slots = threading.BoundedSemaphore(self.workers + max(0, int(queue)))
        self._executor = concurrent.futures.ThreadPoolExecutor(
            self.workers, thread_name_prefix="password-hash", initializer=_lower_priority)
        self._seconds = 0.5  # running estimate of one hash, for Retry-After

    def run(self, fn, *args):
        """fn(*args) in the pool; Busy when every worker and queue place is taken."""
        if not self._slots.acquire(blocking=False):
            raise Busy(self.retry_after())
        try:
            started = time.monotonic()
            result = self._executor.submit(fn, *args).result()
            self._seconds = 0.8 * self._seconds + 0.2 * (time.monotonic() - started)
            return result
        finally:
            self._slots.release()

    def retry_after(self) -> int:
        return max(1, math.ceil(self._seconds * 2))

    def shutdown(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)


def _lower_priority() -> None:
    """Request threads (the WeChat callback first) win the CPU over a login's hash."""
    try:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), NICE)
    except (AttributeError, OSError) as error:  # not Linux, or not allowed: run at normal priority
        log.info("password hashing at normal priority (%s)", error)

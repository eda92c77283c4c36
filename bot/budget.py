"""WeChat's 5-second rule: the passive reply must leave within the budget (4 s by default).

Work that may be slow (retrieval) runs on a small thread pool; if it is not done by the
deadline the caller replies `success` at once, and the result is handed to `on_late` when it
arrives (a customer-service message, or kept for the user's next message).
"""
from __future__ import annotations

import concurrent.futures
import contextvars
import logging
import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")
log = logging.getLogger("policybot.bot")


class TimeBudget:
    def __init__(self, seconds: float = 4.0, workers: int = 8, clock=time.monotonic):
        self.seconds = seconds
        self.clock = clock
        self.pool = concurrent.futures.ThreadPoolExecutor(workers, thread_name_prefix="bot-answer")

    def deadline(self) -> float:
        return self.clock() + self.seconds

    def run(self, work: Callable[[], T], deadline: float,
            on_late: Callable[[T], None]) -> T | None:
        """`work()`'s result if it is ready before `deadline`, else None (and `on_late` later).
        The work runs in the caller's context (its context variables: bot.service `replying`)."""
        future = self.pool.submit(contextvars.copy_context().run, work)
        try:
            return future.result(timeout=max(deadline - self.clock(), 0.0))
        except concurrent.futures.TimeoutError:
            future.add_done_callback(lambda done: _deliver_late(done, on_late))
            return None

    def shutdown(self) -> None:
        self.pool.shutdown(wait=True)


def _deliver_late(future: concurrent.futures.Future, on_late: Callable) -> None:
    error = future.exception()
    if error is not None:
        log.error("late answer failed: %s", type(error).__name__)
        return
    try:
        on_late(future.result())
    except Exception:  # a failing follow-up must not kill the pool thread silently
        log.exception("late delivery failed")

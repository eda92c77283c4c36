"""A token bucket per WeChat API, so a sender never exceeds its configured rate."""
from __future__ import annotations

import threading
import time


class RateLimiter:
    def __init__(self, rates: dict[str, float], clock=time.monotonic, sleep=time.sleep):
        self.rates = {api: float(rate) for api, rate in rates.items() if rate}
        self.clock, self.sleep = clock, sleep
        self._tokens = {api: 1.0 for api in self.rates}
        self._stamp = {api: clock() for api in self.rates}
        self._lock = threading.Lock()

    def acquire(self, api: str) -> None:
        """Wait until one call of `api` is allowed (no limit when no rate is configured)."""
        while True:
            wait = self._take(api)
            if wait <= 0:
                return
            self.sleep(wait)

    def _take(self, api: str) -> float:
        rate = self.rates.get(api)
        if not rate:
            return 0.0
        with self._lock:
            now = self.clock()
            burst = max(1.0, rate / 10)  # at most a tenth of a second's worth at once
            self._tokens[api] = min(burst, self._tokens[api] + (now - self._stamp[api]) * rate)
            self._stamp[api] = now
            if self._tokens[api] >= 1.0:
                self._tokens[api] -= 1.0
                return 0.0
            return (1.0 - self._tokens[api]) / rate

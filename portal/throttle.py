"""Login throttling that slows an attacker down without locking staff out.

Checked before any password hashing, so a refusal costs a database read, not scrypt:

- **per client address** (the real one, through the configured trusted proxies): failed
  logins counted by the `limits` library (moving window; Redis with REDIS_URL, so every
  worker shares the counts, else this process's memory). Default 10 a minute, 60 an hour.
- **per user name**: after FREE_FAILURES failures within FAILURE_WINDOW, each further attempt
  waits 1, 2, 4 … seconds after the last failure, at most MAX_DELAY. An attempt made too
  early is refused without being checked and without counting, so the wait never grows past
  MAX_DELAY and the right password always works once it is over. Unknown names are throttled
  the same way (no hint which names exist).
- **trusted devices**: a browser that signed in as that user before carries a signed device
  cookie (portal.devices); its attempts are counted apart from everyone else's and skip the
  address limit, so an attacker flooding `admin1` from anywhere does not delay the real
  `admin1` at their own browser. (OWASP's "device cookies".)

An admin clears a name's throttle from the users page or with `clear-login-throttle`.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import ipaddress
import threading

import limits
import limits.storage
import limits.strategies
import sqlalchemy as sa

from policies.db import Database
from policies.store import utcnow
from portal.tables import login_failures

FREE_FAILURES = 5
MAX_DELAY = dt.timedelta(seconds=120)
FAILURE_WINDOW = dt.timedelta(hours=24)
DEFAULT_ADDRESS_LIMITS = "10/minute;60/hour"


@dataclasses.dataclass(frozen=True)
class Attempt:
    """Who tries to sign in: the name typed, the client address, the device (if trusted)."""
    username: str
    address: str
    device: str | None = None


class Throttled(Exception):
    """Refused before checking the password; `retry_after` in whole seconds."""

    def __init__(self, retry_after: float, reason: str):
        super().__init__(reason)
        self.retry_after = max(1, int(retry_after))


class LoginThrottle:
    def __init__(self, db: Database, storage_uri: str | None = None,
                 address_limits: str = DEFAULT_ADDRESS_LIMITS, clock=utcnow,
                 free_failures: int = FREE_FAILURES, max_delay: dt.timedelta = MAX_DELAY):
        self.db, self.clock = db, clock
        self.free_failures, self.max_delay = free_failures, max_delay
        self.storage_uri = storage_uri or "memory://"
        self._limiter: limits.strategies.MovingWindowRateLimiter | None = None
        self._limiter_lock = threading.Lock()
        self.address_limits = limits.parse_many(address_limits)

    @property
    def limiter(self) -> limits.strategies.MovingWindowRateLimiter:
        """Made at the first login attempt, not when the app is built: the library's memory
        storage starts a timer thread, and Redis's connects."""
        with self._limiter_lock:
            if self._limiter is None:
                storage = limits.storage.storage_from_string(self.storage_uri)
                self._limiter = limits.strategies.MovingWindowRateLimiter(storage)
            return self._limiter

    # -- before the password check --------------------------------------------------------
    def check(self, attempt: Attempt) -> None:
        """Raise Throttled when this attempt must not be checked now."""
        if attempt.device is None:
            self._check_address(attempt.address)
        wait = self.wait(attempt)
        if wait > 0:
            raise Throttled(wait, "too many failed logins for this name")

    def wait(self, attempt: Attempt) -> float:
        """Seconds until this name (from this device, or from untrusted clients) may try again."""
        count, last = self._failures(attempt)
        if count < self.free_failures or last is None:
            return 0.0
        delay = min(2.0 ** (count - self.free_failures), self.max_delay.total_seconds())
        return max(0.0, (last - self.clock()).total_seconds() + delay)

    def _check_address(self, address: str) -> None:
        key = address_key(address)
        for item in self.address_limits:
            if not self.limiter.test(item, "login", key):
                reset = self.limiter.get_window_stats(item, "login", key).reset_time
                raise Throttled(reset - self.clock().timestamp(), "too many failed logins from this address")

    # -- after it ---------------------------------------------------------------------------
    def failed(self, attempt: Attempt) -> None:
        now = self.clock()
        if attempt.device is None:
            for item in self.address_limits:
                self.limiter.hit(item, "login", address_key(attempt.address))
        with self.db.write() as conn:
            conn.execute(login_failures.delete().where(login_failures.c.at < now - FAILURE_WINDOW))
            conn.execute(login_failures.insert().values(
                username=attempt.username[:100], remote_addr=attempt.address[:64],
                device=attempt.device, at=now))

    def succeeded(self, attempt: Attempt) -> None:
        """The user's own typos are forgotten (those from this device, or this address);
        an attacker's failures from elsewhere still count."""
        clause = (login_failures.c.device == attempt.device if attempt.device else
                  sa.and_(login_failures.c.device.is_(None),
                          login_failures.c.remote_addr == attempt.address[:64]))
        with self.db.write() as conn:
            conn.execute(login_failures.delete().where(
                login_failures.c.username == attempt.username, clause))

    def clear(self, username: str) -> int:
        """An admin lifts the throttle of a name: every failure recorded for it is dropped."""
        with self.db.write() as conn:
            return conn.execute(login_failures.delete().where(
                login_failures.c.username == username)).rowcount

    def status(self, username: str) -> tuple[int, float]:
        """(failures within the window from untrusted clients, seconds they must still wait)."""
        attempt = Attempt(username, "-")
        return self._failures(attempt)[0], self.wait(attempt)

    def _failures(self, attempt: Attempt) -> tuple[int, dt.datetime | None]:
        since = self.clock() - FAILURE_WINDOW
        same = (login_failures.c.device == attempt.device if attempt.device
                else login_failures.c.device.is_(None))
        with self.db.read() as conn:
            count, last = conn.execute(sa.select(sa.func.count(), sa.func.max(login_failures.c.at)).where(
                login_failures.c.username == attempt.username, same,
                login_failures.c.at >= since)).one()
        return count, _aware(last) if last else None


def address_key(address: str) -> str:
    """An IPv6 client is counted by its /64 (one subscriber line holds a whole /64)."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address[:64]
    if ip.version == 6 and ip.ipv4_mapped is None:
        return str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return str(getattr(ip, "ipv4_mapped", None) or ip)


def _aware(moment: dt.datetime) -> dt.datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)

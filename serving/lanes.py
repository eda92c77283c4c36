"""Concurrency lanes: the WeChat callback keeps a reserved share of the server's threads.

Under waitress (and gunicorn's gthread workers) every route shares one pool of request
threads; a flood of staff logins once held all eight of them, and a WeChat message waited
past its 5 seconds before any thread picked it up (its 4-second budget only starts then). So
staff pages and the public pages each get at most a few concurrent requests per process; a
request beyond its lane's share is refused at once (503, Retry-After) instead of waiting in a
thread, and the callback (`/wechat`, never limited) always finds at least
THREADS − STAFF_CONCURRENCY − PUBLIC_CONCURRENCY threads free. Static files and /healthz are
cheap and left out.
"""
from __future__ import annotations

import threading

BUSY = "服务繁忙，请稍后再试。".encode()
CALLBACK_PATHS = ("/wechat",)
FREE_PATHS = ("/healthz", "/readyz", "/metrics")


def lane_of(path: str) -> str | None:
    """'staff', 'public', or None for a request no lane limits (callback, health, static)."""
    if path in CALLBACK_PATHS or path in FREE_PATHS or "/static/" in path:
        return None
    if path == "/staff" or path.startswith("/staff/"):
        return "staff"
    return "public"


class Lanes:
    def __init__(self, app, shares: dict[str, int], retry_after: int = 2):
        self.app, self.retry_after = app, retry_after
        self.shares = dict(shares)
        self._slots = {lane: threading.BoundedSemaphore(n) for lane, n in shares.items() if n > 0}

    def __call__(self, environ, start_response):
        slots = self._slots.get(lane_of(environ.get("PATH_INFO", "")))
        if slots is None:
            return self.app(environ, start_response)
        if not slots.acquire(blocking=False):
            start_response("503 Service Unavailable", [("Content-Type", "text/plain; charset=utf-8"),
                                                       ("Retry-After", str(self.retry_after))])
            return [BUSY]
        try:
            # Flask has run the view by the time it returns: the body is built (no streaming
            # views here), and what remains is the server's writing, not this thread's work.
            return self.app(environ, start_response)
        finally:
            slots.release()

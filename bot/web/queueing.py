"""How long a request waited before this process began it: the front proxy's X-Request-Start.

WeChat's 5 seconds run from when it sent the message. Under a burst, a message may wait in the
proxy's and the server's queues (gunicorn's threads take requests from a queue the app cannot
see) and reach the app with little of its 4-second budget left; the bot then tells the user to
send it again instead of searching for an answer no one will receive in time (bot.service).
The proxy stamps the arrival: nginx `proxy_set_header X-Request-Start "t=${msec}";`
(deploy/nginx.conf), the convention of Heroku's router and APM agents.

The header is believed within limits only: it can shorten the sender's own reply budget and
nothing else, and only a request with WeChat's signature reaches the bot at all.
"""
from __future__ import annotations

import math

HEADER = "X-Request-Start"
MAX_BELIEVED_SECONDS = 60.0  # beyond that, or negative: two machines' clocks disagree, not a queue


def queued_seconds(header: str | None, now: float) -> float:
    """Seconds between the stamp (Unix time in s, ms or µs, optionally `t=`) and `now`; 0 for
    a missing, malformed or unbelievable stamp."""
    if not header:
        return 0.0
    try:
        stamp = float(header.strip().removeprefix("t="))
    except ValueError:
        return 0.0
    if not math.isfinite(stamp):
        return 0.0
    if stamp > 1e14:
        stamp /= 1e6   # microseconds
    elif stamp > 1e11:
        stamp /= 1e3   # milliseconds
    waited = now - stamp
    return waited if 0.0 <= waited <= MAX_BELIEVED_SECONDS else 0.0

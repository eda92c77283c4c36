"""Trusted devices: a browser in which a member of staff signed in gets a signed cookie naming
that user and a random device id (90 days). Login attempts that carry it are throttled on their
own (portal.throttle), so an attacker who floods a name from elsewhere cannot delay its owner.
The cookie grants nothing else: the password is still checked."""
from __future__ import annotations

import secrets

from flask import current_app, request
from itsdangerous import BadSignature, URLSafeTimedSerializer

COOKIE = "policybot_device"
MAX_AGE = 90 * 24 * 3600


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt="staff-device")


def trusted_device(username: str) -> str | None:
    """The device id of this browser if it signed in as `username` before."""
    raw = request.cookies.get(COOKIE)
    if not raw:
        return None
    try:
        name, device = _serializer().loads(raw, max_age=MAX_AGE)
    except (BadSignature, ValueError, TypeError):
        return None
    return device if name == username and isinstance(device, str) else None


def remember_device(response, username: str, device: str | None) -> None:
    """After a successful login: keep (or make) this browser's device id for the user."""
    value = _serializer().dumps([username, device or secrets.token_urlsafe(16)])
    response.set_cookie(COOKIE, value, max_age=MAX_AGE, path="/staff", httponly=True, samesite="Lax",
                        secure=bool(current_app.config.get("SESSION_COOKIE_SECURE")))

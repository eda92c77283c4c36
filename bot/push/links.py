"""Signed, expiring links to the H5 profile form: no login, and no way to reach another
user's profile (the subscriber id comes only from the signature-checked token)."""
from __future__ import annotations

from urllib.parse import quote

from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

SALT = "policybot-push-profile"
DEFAULT_MAX_AGE = 30 * 60  # seconds


class LinkRefused(Exception):
    """A forged, altered or expired link; the message says which, for the page."""


def _serializer(secret: str) -> URLSafeTimedSerializer:
    if not secret:
        raise ValueError("a SECRET_KEY is needed to sign profile links")
    return URLSafeTimedSerializer(secret, salt=SALT)


def profile_token(secret: str, subscriber_id: int) -> str:
    return _serializer(secret).dumps({"s": int(subscriber_id)})


def read_profile_token(secret: str, token: str, max_age: int = DEFAULT_MAX_AGE) -> int:
    try:
        payload = _serializer(secret).loads(token or "", max_age=max_age)
    except SignatureExpired as expired:
        raise LinkRefused("链接已过期，请在公众号中重新获取。") from expired
    except BadSignature as forged:
        raise LinkRefused("链接无效。") from forged
    if not isinstance(payload, dict) or not isinstance(payload.get("s"), int):
        raise LinkRefused("链接无效。")
    return payload["s"]


def profile_url(config, subscribers, openid: str) -> str:
    """The link the bot sends for "我的资料"/"完善资料" (creates the subscriber if needed)."""
    token = profile_token(config["SECRET_KEY"], subscribers.ensure(openid))
    return f"{config.get('PUBLIC_URL', '').rstrip('/')}/h5/profile?t={quote(token)}"

"""WeChat configuration: read, validated, or refused (SECURITY.md item 6).

Either no WeChat secret is configured at all (the callback is disabled, the rest of the app
runs), or all of them are valid. A half-configured or weak setup refuses to start: it would
otherwise run with a guessable token or fail on the first real message.
"""
from __future__ import annotations

import base64
import binascii
import dataclasses
import re

TOKEN_PATTERN = re.compile(r"^[A-Za-z0-9]{3,32}$")
DEFAULT_TOKENS = {"123456", "token", "TOKEN", "wechat", "weixin", "test", "abc123", "12345678"}
ACCOUNT_TYPES = ("service-certified", "service", "subscription-certified", "subscription")
SECRET_KEYS = ("WECHAT_TOKEN", "WECHAT_APPID", "WECHAT_APPSECRET", "WECHAT_AES_KEY")


class WeChatConfigError(ValueError):
    """A WeChat setting that must not be run with; the message names it and why."""


@dataclasses.dataclass(frozen=True)
class WeChatConfig:
    token: str
    appid: str
    appsecret: str
    aes_key: str | None
    aes_key_previous: str | None
    account: str
    api_base: str | None
    public_url: str

    @property
    def safe_mode(self) -> bool:
        return bool(self.aes_key)

    @property
    def can_push_customer_messages(self) -> bool:
        """Only a certified 服务号 may send customer-service messages after a user message."""
        return self.account == "service-certified"


def load_wechat_config(config) -> WeChatConfig | None:
    """None when no WeChat secret is set at all; raises WeChatConfigError when any is bad."""
    if not any(_value(config, key) for key in SECRET_KEYS):
        return None
    problems = _problems(config)
    if problems:
        raise WeChatConfigError("refusing to start: " + "; ".join(problems))
    return WeChatConfig(
        token=_value(config, "WECHAT_TOKEN"), appid=_value(config, "WECHAT_APPID"),
        appsecret=_value(config, "WECHAT_APPSECRET"),
        aes_key=_value(config, "WECHAT_AES_KEY") or None,
        aes_key_previous=_value(config, "WECHAT_AES_KEY_PREVIOUS") or None,
        account=_value(config, "WECHAT_ACCOUNT") or "subscription",
        api_base=_value(config, "WECHAT_API_BASE") or None,
        public_url=(_value(config, "PUBLIC_URL") or "http://127.0.0.1:8000").rstrip("/"))


def _value(config, key: str) -> str:
    value = config.get(key)
    return value.strip() if isinstance(value, str) else ("" if value is None else str(value))


def _problems(config) -> list[str]:
    problems = _token_problems(_value(config, "WECHAT_TOKEN"))
    if not re.fullmatch(r"wx[0-9a-zA-Z]{8,30}", _value(config, "WECHAT_APPID")):
        problems.append("POLICYBOT_WECHAT_APPID is missing or not an AppID (wx…)")
    if not re.fullmatch(r"[0-9a-zA-Z]{16,64}", _value(config, "WECHAT_APPSECRET")):
        problems.append("POLICYBOT_WECHAT_APPSECRET is missing or malformed")
    for key in ("WECHAT_AES_KEY", "WECHAT_AES_KEY_PREVIOUS"):
        problems += _aes_key_problems(key, _value(config, key))
    if _value(config, "WECHAT_AES_KEY_PREVIOUS") and not _value(config, "WECHAT_AES_KEY"):
        problems.append("POLICYBOT_WECHAT_AES_KEY_PREVIOUS is set without POLICYBOT_WECHAT_AES_KEY")
    account = _value(config, "WECHAT_ACCOUNT")
    if account and account not in ACCOUNT_TYPES:
        problems.append(f"POLICYBOT_WECHAT_ACCOUNT {account!r} is not one of {', '.join(ACCOUNT_TYPES)}")
    return problems


def _token_problems(token: str) -> list[str]:
    if not token:
        return ["POLICYBOT_WECHAT_TOKEN is missing"]
    if token in DEFAULT_TOKENS:
        return ["POLICYBOT_WECHAT_TOKEN is a default value; choose a random one"]
    if not TOKEN_PATTERN.fullmatch(token):
        return ["POLICYBOT_WECHAT_TOKEN must be 3-32 letters or digits"]
    return []


def _aes_key_problems(name: str, key: str) -> list[str]:
    if not key:
        return []
    if len(key) != 43 or not re.fullmatch(r"[A-Za-z0-9]{43}", key):
        return [f"POLICYBOT_{name} must be 43 letters or digits (EncodingAESKey)"]
    try:
        if len(base64.b64decode(key + "=", validate=True)) != 32:
            raise binascii.Error
    except (binascii.Error, ValueError):
        return [f"POLICYBOT_{name} does not decode to a 32-byte key"]
    return []

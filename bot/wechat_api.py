"""WeChat API access for everyone (bot replies, push sender, menus).

`make_client(config, db)` returns a wechatpy 1.8.18 `WeChatClient` subclass that closes the
traps of SECURITY.md items 8 and 9:
- every HTTP call, the token fetch included, has (connect, read) timeouts;
- on 40001/40014/42001 it refreshes the token and retries ONCE (wechatpy's auto_retry recurses
  without bound); a token fetched during this very call is not fetched again;
- the access_token lives in ONE shared store (the database, or Redis when REDIS_URL is set);
  one process refreshes it under a lease, the others wait and read (each /cgi-bin/token call
  invalidates the previous token);
- it never calls clear_quota (45009 is a person's decision);
- secrets, tokens and openids are kept out of the logs.

`CustomerService(client, subscribers)` sends customer-service messages within the 48-hour
window opened by a user message, at most 5 per window; 45015/45047 close the window.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import json
import logging
import os
import re
import time
import uuid
from typing import TYPE_CHECKING

import requests
import sqlalchemy as sa
from wechatpy import WeChatClient
from wechatpy.exceptions import WeChatClientException
from wechatpy.session.memorystorage import MemoryStorage

from bot.push.openids import mask
from bot.push.tables import subscribers as subscribers_table
from bot.push.tables import wechat_tokens

if TYPE_CHECKING:
    from bot.subscribers import Subscribers

log = logging.getLogger(__name__)

REAL_API_BASE = "https://api.weixin.qq.com"
TOKEN_ERRORS = frozenset({40001, 40014, 42001})
DEFAULT_TIMEOUT = (3.05, 10.0)  # (connect, read) seconds
TOKEN_MARGIN = 300.0  # refresh this long before expiry
CS_PER_WINDOW = 5
CS_WINDOW = dt.timedelta(hours=48)


class TokenUnavailable(RuntimeError):
    """No valid access_token could be obtained (fetch failed, refused or timed out); the
    call it was for was not made. `errcode` is WeChat's code when it answered (40013 …)."""

    def __init__(self, message: str, errcode: int | None = None):
        super().__init__(message)
        self.errcode = errcode


class QuotaExhausted(RuntimeError):
    """The customer-service window is closed or its 5 messages are used."""


# -- the shared token store ---------------------------------------------------------------

class DbTokenBackend:
    """Token and refresh lease in the `wechat_tokens` row of the appid (SQLite or PostgreSQL)."""

    def __init__(self, db, appid: str):
        self.db, self.appid = db, appid

    def read(self) -> tuple[str | None, float]:
        with self.db.read() as conn:
            row = conn.execute(sa.select(wechat_tokens.c.access_token, wechat_tokens.c.expires_at)
                               .where(wechat_tokens.c.appid == self.appid)).first()
        return (row[0], row[1] or 0.0) if row else (None, 0.0)

    def try_lease(self, owner: str, seconds: float) -> bool:
        self._ensure_row()
        now = time.time()
        with self.db.write() as conn:
            taken = conn.execute(wechat_tokens.update().where(
                wechat_tokens.c.appid == self.appid,
                sa.or_(wechat_tokens.c.lease_until.is_(None), wechat_tokens.c.lease_until < now))
                .values(lease_until=now + seconds, lease_owner=owner)).rowcount
        return taken == 1

    def write(self, token: str, expires_at: float, owner: str) -> None:
        with self.db.write() as conn:
            conn.execute(wechat_tokens.update().where(wechat_tokens.c.appid == self.appid)
                         .values(access_token=token, expires_at=expires_at))

    def release(self, owner: str) -> None:
        with self.db.write() as conn:
            conn.execute(wechat_tokens.update().where(wechat_tokens.c.appid == self.appid,
                                                      wechat_tokens.c.lease_owner == owner)
                         .values(lease_until=None, lease_owner=None))

    def _ensure_row(self) -> None:
        with self.db.read() as conn:
            if conn.execute(sa.select(wechat_tokens.c.appid)
                            .where(wechat_tokens.c.appid == self.appid)).first():
                return
        try:
            with self.db.write() as conn:
                conn.execute(wechat_tokens.insert().values(appid=self.appid))
        except sa.exc.IntegrityError:
            pass  # created by another process meanwhile


class RedisTokenBackend:
    """Token and refresh lease in Redis (several machines)."""

    def __init__(self, redis_client, appid: str, prefix: str = "policybot:wechat"):
        self.redis = redis_client
        self.token_key = f"{prefix}:{appid}:access_token"
        self.lease_key = f"{prefix}:{appid}:refresh_lease"

    def read(self) -> tuple[str | None, float]:
        raw = self.redis.get(self.token_key)
        if not raw:
            return None, 0.0
        value = json.loads(raw)
        return value["token"], float(value["expires_at"])

    def try_lease(self, owner: str, seconds: float) -> bool:
        return bool(self.redis.set(self.lease_key, owner, nx=True, px=int(seconds * 1000)))

    def write(self, token: str, expires_at: float, owner: str) -> None:
        ttl = max(1, int(expires_at - time.time()))
        self.redis.set(self.token_key, json.dumps({"token": token, "expires_at": expires_at}), ex=ttl)

    def release(self, owner: str) -> None:
        # Delete the lease only if it is still ours (compare-and-delete, atomically).
        self.redis.eval("if redis.call('get', KEYS[1]) == ARGV[1] then "
                        "return redis.call('del', KEYS[1]) else return 0 end",
                        1, self.lease_key, owner)


class TokenStore:
    """Reads the shared token; refreshes it at most once per caller, one refresher at a time."""

    def __init__(self, backend, margin: float = TOKEN_MARGIN, lease: float = 30.0,
                 local_ttl: float = 5.0):
        self.backend, self.margin, self.lease = backend, margin, lease
        # Re-reading the shared store on every call costs a query; a refused token (40001)
        # always goes back to the store, so a short local copy is safe.
        self.local_ttl = local_ttl
        self._local: tuple[str | None, float, float] = (None, 0.0, 0.0)

    def current(self, stale: str | None = None, fresh: bool = False) -> str | None:
        token, expires_at, read_at = self._local
        if fresh or stale is not None or time.monotonic() - read_at > self.local_ttl:
            token, expires_at = self.backend.read()
            self._local = (token, expires_at, time.monotonic())
        if token and token != stale and expires_at - self.margin > time.time():
            return token
        return None

    def get(self, fetch) -> tuple[str, bool]:
        """(token, fetched_now): the stored token, or a new one when there is none."""
        token = self.current()
        return (token, False) if token else self.refresh(fetch)

    def refresh(self, fetch, stale: str | None = None) -> tuple[str, bool]:
        """A token other than `stale`: another refresher's, or one we fetch (once) under
        the lease. `fetch()` returns (token, expires_in)."""
        owner = uuid.uuid4().hex
        deadline = time.monotonic() + self.lease + 1.0
        while time.monotonic() < deadline:
            token = self.current(stale, fresh=True)
            if token:
                return token, False
            if self.backend.try_lease(owner, self.lease):
                try:
                    return self._fetch_under_lease(fetch, stale, owner)
                finally:
                    self.backend.release(owner)
            time.sleep(0.05)
        raise TokenUnavailable("no access_token: another process holds the refresh lease")

    def _fetch_under_lease(self, fetch, stale, owner) -> tuple[str, bool]:
        token = self.current(stale, fresh=True)  # refreshed between our read and our lease?
        if token:
            return token, False
        token, expires_in = fetch()
        expires_at = time.time() + float(expires_in)
        self.backend.write(token, expires_at, owner)
        self._local = (token, expires_at, time.monotonic())
        return token, True


# -- the client -------------------------------------------------------------------------------

class PolicyBotWeChatClient(WeChatClient):
    """wechatpy's client with timeouts, one bounded token retry and a shared token store."""

    def __init__(self, appid: str, secret: str, *, tokens: TokenStore, api_base: str = REAL_API_BASE,
                 timeout=DEFAULT_TIMEOUT, token_endpoint: str = "token"):
        super().__init__(appid, secret, session=MemoryStorage(), timeout=timeout, auto_retry=False)
        if token_endpoint not in ("token", "stable_token"):
            raise ValueError("token_endpoint must be 'token' or 'stable_token'")
        self.api_root = api_base.rstrip("/")
        self.API_BASE_URL = self.api_root + "/cgi-bin/"
        self.tokens, self.token_endpoint = tokens, token_endpoint
        _environment_once(self._http, self.api_root)
        redact_request_logs()

    @property
    def access_token(self) -> str:
        return self.tokens.get(self._fetch_token)[0]

    def fetch_access_token(self):
        token, _ = self.tokens.refresh(self._fetch_token, stale=self.tokens.current())
        return {"access_token": token}

    def _request(self, method, url_or_endpoint, **kwargs):
        if "clear_quota" in url_or_endpoint:
            raise RuntimeError("clear_quota is a person's decision, never the program's")
        params = dict(kwargs.pop("params", None) or {})
        if "access_token" in params:  # the caller chose the token: no retry logic
            return super()._request(method, url_or_endpoint, params=params, **kwargs)
        token, fetched = self.tokens.get(self._fetch_token)
        try:
            return super()._request(method, url_or_endpoint,
                                    params={**params, "access_token": token}, **kwargs)
        except WeChatClientException as error:
            if error.errcode not in TOKEN_ERRORS or fetched:
                raise  # a token we just fetched is not the problem: no second fetch
            log.info("access_token refused (%s); refreshing once and retrying", error.errcode)
        token, _ = self.tokens.refresh(self._fetch_token, stale=token)
        return super()._request(method, url_or_endpoint,
                                params={**params, "access_token": token}, **kwargs)

    def _fetch_token(self) -> tuple[str, int]:
        """(token, expires_in); any failure is TokenUnavailable: no message was sent."""
        try:
            return self._fetch_token_once()
        except (requests.RequestException, WeChatClientException, ValueError, KeyError) as error:
            code = getattr(error, "errcode", None)
            raise TokenUnavailable(f"access_token fetch failed: {type(error).__name__} {code or ''}".strip(),
                                   errcode=code) from error

    def _fetch_token_once(self) -> tuple[str, int]:
        if self.token_endpoint == "stable_token":
            response = self._http.post(f"{self.api_root}/cgi-bin/stable_token", timeout=self.timeout,
                                       json={"grant_type": "client_credential", "appid": self.appid,
                                             "secret": self.secret, "force_refresh": False})
        else:
            response = self._http.get(f"{self.api_root}/cgi-bin/token", timeout=self.timeout,
                                      params={"grant_type": "client_credential",
                                              "appid": self.appid, "secret": self.secret})
        return _token_from(response, self)

    # -- sends the push sender uses (1.8.18's send_template has no client_msg_id) -------------
    def send_template(self, openid: str, template_id: str, data: dict, url: str | None = None,
                      client_msg_id: str | None = None) -> dict:
        body = {"touser": openid, "template_id": template_id, "data": data}
        if url:
            body["url"] = url
        if client_msg_id:
            body["client_msg_id"] = client_msg_id  # same openid + id: delivered once in 10 min
        return self.post("message/template/send", data=body)

    def send_subscribe(self, openid: str, template_id: str, data: dict, page: str | None = None) -> dict:
        return self.message.send_subscribe_message(openid, template_id, data, page=page)


def _environment_once(http: requests.Session, url: str) -> None:
    """Read proxy and CA settings from the environment once, not on every request
    (requests' per-call environment lookup costs more than a local API call)."""
    http.proxies.update(requests.utils.get_environ_proxies(url))
    http.verify = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE") or True
    http.trust_env = False


def _token_from(response, client) -> tuple[str, int]:
    if response.status_code >= 400:
        raise WeChatClientException(None, f"HTTP {response.status_code} fetching the token",
                                    client=client, response=response)
    result = response.json()
    if result.get("errcode"):
        raise WeChatClientException(result["errcode"], result.get("errmsg"), client=client,
                                    response=response)
    return result["access_token"], int(result.get("expires_in", 7200))


def make_client(config, db=None, redis_client=None) -> PolicyBotWeChatClient:
    """The client for this instance's config (WECHAT_APPID, WECHAT_APPSECRET, WECHAT_API_BASE,
    WECHAT_TIMEOUT "connect,read", WECHAT_TOKEN_ENDPOINT, REDIS_URL); the token store is Redis
    when REDIS_URL is set, else the database `db`."""
    appid, secret = config.get("WECHAT_APPID"), config.get("WECHAT_APPSECRET")
    if not appid or not secret:
        raise ValueError("WECHAT_APPID and WECHAT_APPSECRET are required for the WeChat API")
    backend = _token_backend(config, db, redis_client, appid)
    return PolicyBotWeChatClient(
        appid, secret, tokens=TokenStore(backend), timeout=parse_timeout(config.get("WECHAT_TIMEOUT")),
        api_base=config.get("WECHAT_API_BASE") or REAL_API_BASE,
        token_endpoint=config.get("WECHAT_TOKEN_ENDPOINT") or "token")


def _token_backend(config, db, redis_client, appid: str):
    if redis_client is None and config.get("REDIS_URL"):
        import redis

        redis_client = redis.Redis.from_url(config["REDIS_URL"], socket_timeout=5,
                                            socket_connect_timeout=3)
    if redis_client is not None:
        return RedisTokenBackend(redis_client, appid)
    if db is None:
        raise ValueError("a shared token store needs the database or REDIS_URL")
    return DbTokenBackend(db, appid)


def parse_timeout(value) -> tuple[float, float]:
    if value in (None, ""):
        return DEFAULT_TIMEOUT
    if isinstance(value, (int, float)):
        return (float(value), float(value))
    if isinstance(value, (tuple, list)):
        connect, read = value
    else:
        connect, _, read = str(value).partition(",")
        read = read or connect
    return (float(connect), float(read))


def client_factory(config, db=None):
    """A zero-argument factory building one client per caller (one per process or thread)."""
    return lambda: make_client(config, db)


# -- customer-service messages ---------------------------------------------------------------

@dataclasses.dataclass
class CustomerService:
    """Customer-service sends within the 48-hour window of a user message, 5 per window."""
    client: PolicyBotWeChatClient
    subscribers: Subscribers

    def send_text(self, openid: str, text: str, now: dt.datetime | None = None) -> dict:
        self._reserve(openid, now or dt.datetime.now(dt.UTC))
        try:
            return self.client.message.send_text(openid, text)
        except WeChatClientException as error:
            if error.errcode == 45015:
                self._close(openid, last_message_at=None)
            elif error.errcode == 45047:
                self._close(openid, cs_used=CS_PER_WINDOW)
            if error.errcode in (45015, 45047):
                log.info("customer-service window closed for %s (%s)", mask(openid), error.errcode)
                raise QuotaExhausted(f"customer-service window closed ({error.errcode})") from error
            raise

    def remaining(self, openid: str, now: dt.datetime | None = None) -> int:
        now = now or dt.datetime.now(dt.UTC)
        with self.subscribers.db.read() as conn:
            row = conn.execute(sa.select(subscribers_table.c.last_message_at, subscribers_table.c.cs_used)
                               .where(self._where(openid))).first()
        if not row or not row[0] or _aware(row[0]) <= now - CS_WINDOW:
            return 0
        return max(0, CS_PER_WINDOW - row[1])

    def _reserve(self, openid: str, now: dt.datetime) -> None:
        with self.subscribers.db.write() as conn:
            taken = conn.execute(subscribers_table.update().where(
                self._where(openid), subscribers_table.c.last_message_at > now - CS_WINDOW,
                subscribers_table.c.cs_used < CS_PER_WINDOW)
                .values(cs_used=subscribers_table.c.cs_used + 1)).rowcount
        if taken != 1:
            raise QuotaExhausted("no open customer-service window (48 h after a user message, 5 messages)")

    def _close(self, openid: str, **values) -> None:
        with self.subscribers.db.write() as conn:
            conn.execute(subscribers_table.update().where(self._where(openid)).values(**values))

    def _where(self, openid: str):
        return subscribers_table.c.openid_key == self.subscribers.cipher.key(openid)


def _aware(moment: dt.datetime) -> dt.datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


# -- keep secrets out of the logs ----------------------------------------------------------------

_SECRET_PARAMS = re.compile(r"((?:access_token|secret|openid|touser)=)[^&\s\"']+")


def redact(text: str) -> str:
    """A message safe to log or store: secret=, access_token= and openids masked."""
    return _SECRET_PARAMS.sub(r"\1***", text)


class RedactSecrets(logging.Filter):
    """urllib3 logs request lines at DEBUG: they carry secret=, access_token= and openids."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if _SECRET_PARAMS.search(message):
            record.msg, record.args = _SECRET_PARAMS.sub(r"\1***", message), None
        return True


REQUEST_LOGGERS = ("urllib3.connectionpool", "wechatpy", "requests")


def redact_request_logs() -> None:
    """The filter on the loggers that write request lines, once per process: called when a
    client that sends secrets is made (not at import: importing a module changes no logging)."""
    for name in REQUEST_LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, RedactSecrets) for f in logger.filters):
            logger.addFilter(RedactSecrets())

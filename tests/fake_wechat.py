"""A local fake of the WeChat official-account API: real HTTP on 127.0.0.1, in a thread.

Endpoints (same paths, parameters and error codes as api.weixin.qq.com):
  GET  /cgi-bin/token                     classic token; each fetch invalidates the previous one
  POST /cgi-bin/stable_token              stable token; a new one only with force_refresh
  POST /cgi-bin/message/custom/send       customer-service message
  POST /cgi-bin/menu/create               menu (validated: 3 × 5, name lengths in bytes)
  POST /cgi-bin/message/template/send     template message; `client_msg_id` deduped for 10 min
  POST /cgi-bin/message/subscribe/bizsend subscribe message (no idempotency key)
  POST /cgi-bin/message/mass/send         mass send; `clientmsgid` seen before → 45065
  POST /cgi-bin/clear_quota               counted (the code must never call it)

It counts token fetches, calls per path and deliveries per (openid, client_msg_id), and
injects faults: error codes (`fail`), HTTP 5xx, slowness (`slow`) and black holes
(`blackhole`: the request is read and never answered; `blackhole_url()`: a port that accepts
TCP connections and never reads or answers).

    def test_x(fake_wechat):
        fake_wechat.fail("/cgi-bin/message/template/send", 45009, times=None)
        client = make_client(api_base=fake_wechat.url, appid=fake_wechat.appid, ...)
"""
from __future__ import annotations

import collections
import dataclasses
import itertools
import json
import socket
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

APPID = "wxfake0000000001"
SECRET = "fakesecret0123456789abcdef012345"
DEDUPE_WINDOW = 600.0  # template client_msg_id: same openid + id delivered once in 10 min
TOKEN_PATHS = ("/cgi-bin/token", "/cgi-bin/stable_token")
ERRMSG = {0: "ok", -1: "system error", 40001: "invalid credential, access_token is invalid or not latest",
          40003: "invalid openid", 40013: "invalid appid", 40014: "invalid access_token",
          40016: "invalid button size", 40018: "invalid button name size", 42001: "access_token expired",
          43004: "require subscribe", 43101: "user refuse to accept the msg",
          45009: "reach max api daily quota limit", 45015: "response out of time limit",
          45047: "out of response count limit", 45065: "clientmsgid exist",
          47001: "data format error"}


@dataclasses.dataclass
class Fault:
    path: str
    errcode: int | None = None  # a WeChat error code …
    http_status: int | None = None  # … or an HTTP status (5xx)
    times: int | None = 1  # None: forever
    openid: str | None = None  # only for this recipient
    delay: float = 0.0
    blackhole: bool = False
    held: threading.Event | None = None  # answer only once the test sets it


@dataclasses.dataclass
class Delivery:
    path: str
    openid: str
    client_msg_id: str | None
    msgid: int
    at: float
    body: dict


class FakeWeChat:
    def __init__(self, appid: str = APPID, secret: str = SECRET, token_ttl: int = 7200):
        self.appid, self.secret, self.token_ttl = appid, secret, token_ttl
        self.clock = time.time  # tests may replace it to move time
        self.dedupe_window = DEDUPE_WINDOW
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._msgids = itertools.count(1000)
        self._tokens = itertools.count(1)
        self._blackholes: list[socket.socket] = []
        self._in_flight = 0
        self._idle = threading.Condition()
        self.reset()

    # -- control --------------------------------------------------------------------------
    def reset(self) -> None:
        with self._lock:
            self.faults: list[Fault] = []
            self.token_fetches = 0
            self.calls: collections.Counter = collections.Counter()
            self.deliveries: list[Delivery] = []
            self._seen: dict[tuple[str, str], tuple[float, int]] = {}
            self._mass_ids: set[str] = set()
            self.valid_tokens: dict[str, float] = {}
            self.stable_token: tuple[str, float] | None = None
            self.menu: dict | None = None

    def fail(self, path: str, errcode: int | None = None, *, http_status: int | None = None,
             times: int | None = 1, openid: str | None = None) -> None:
        self._add(Fault(path, errcode, http_status, times, openid))

    def slow(self, path: str, seconds: float, times: int | None = None) -> None:
        self._add(Fault(path, delay=seconds, times=times))

    def hold(self, path: str, times: int | None = 1) -> threading.Event:
        """The next call(s) to `path` are answered (and take effect) only when the test sets the
        returned event: a reply slower than the client's read timeout, without a sleep."""
        released = threading.Event()
        self._add(Fault(path, held=released, times=times))
        return released

    def wait_idle(self, timeout: float = 30.0) -> None:
        """Until no request is being handled (a held one answered, its effect recorded)."""
        with self._idle:
            if not self._idle.wait_for(lambda: self._in_flight == 0, timeout=timeout):
                raise TimeoutError(f"{self._in_flight} requests still in flight")

    def blackhole(self, path: str, times: int | None = None) -> None:
        self._add(Fault(path, blackhole=True, times=times))

    def clear_faults(self) -> None:
        with self._lock:
            self.faults.clear()

    def expire_tokens(self) -> None:
        """Every token issued so far becomes invalid (the next call gets 40001)."""
        with self._lock:
            self.valid_tokens.clear()
            self.stable_token = None

    def blackhole_url(self) -> str:
        """A base URL whose port accepts connections and never answers."""
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        sock.listen(64)
        self._blackholes.append(sock)
        return f"http://127.0.0.1:{sock.getsockname()[1]}"

    # -- counts ---------------------------------------------------------------------------
    def delivery_counts(self, path: str | None = None) -> collections.Counter:
        """Deliveries per (openid, client_msg_id) — a count above 1 is a duplicate."""
        with self._lock:
            return collections.Counter((d.openid, d.client_msg_id) for d in self.deliveries
                                       if path is None or d.path == path)

    def delivered(self, path: str | None = None) -> list[Delivery]:
        with self._lock:
            return [d for d in self.deliveries if path is None or d.path == path]

    # -- lifecycle ------------------------------------------------------------------------
    def start(self) -> FakeWeChat:
        self._server = _QuietServer(("127.0.0.1", 0), _handler_for(self))
        self._server.daemon_threads = True
        self._server.request_queue_size = 128
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                         daemon=True).start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._server.shutdown()
        self._server.server_close()
        for sock in self._blackholes:
            sock.close()

    def _add(self, fault: Fault) -> None:
        with self._lock:
            self.faults.append(fault)

    # -- request handling (called by the handler thread) ------------------------------------
    def handle(self, path: str, query: dict, body: dict) -> tuple[int, dict | None]:
        with self._idle:
            self._in_flight += 1
        try:
            return self._handle(path, query, body)
        finally:
            with self._idle:
                self._in_flight -= 1
                self._idle.notify_all()

    def _handle(self, path: str, query: dict, body: dict) -> tuple[int, dict | None]:
        fault = self._take_fault(path, body.get("touser"))
        if fault and fault.blackhole:
            self._stop.wait()
            return 0, None
        if fault and fault.delay:
            time.sleep(fault.delay)
        if fault and fault.held is not None and not fault.held.wait(timeout=60):
            return 0, None  # never released: the test failed elsewhere
        with self._lock:
            self.calls[path] += 1
            if path in TOKEN_PATHS:
                self.token_fetches += 1
            if fault and fault.http_status:
                return fault.http_status, {"error": "injected"}
            if fault and fault.errcode is not None:
                return 200, _err(fault.errcode)
            return 200, self._route(path, query, body)

    def _take_fault(self, path: str, openid: str | None) -> Fault | None:
        with self._lock:
            for fault in self.faults:
                if fault.path != path or (fault.openid and fault.openid != openid):
                    continue
                if fault.times is not None:
                    fault.times -= 1
                    if fault.times <= 0:
                        self.faults.remove(fault)
                return fault
        return None

    def _route(self, path: str, query: dict, body: dict) -> dict:
        if path == "/cgi-bin/token":
            return self._classic_token(query)
        if path == "/cgi-bin/stable_token":
            return self._stable_token(body)
        if path == "/cgi-bin/clear_quota":
            return _err(0)
        if not self._token_ok(query.get("access_token")):
            return _err(40001)
        return {"/cgi-bin/message/custom/send": self._custom,
                "/cgi-bin/message/template/send": self._template,
                "/cgi-bin/message/subscribe/bizsend": self._bizsend,
                "/cgi-bin/message/mass/send": self._mass,
                "/cgi-bin/menu/create": self._menu}.get(path, lambda b: _err(47001))(body)

    def _credentials_ok(self, appid, secret) -> bool:
        return appid == self.appid and secret == self.secret

    def _classic_token(self, query: dict) -> dict:
        if not self._credentials_ok(query.get("appid"), query.get("secret")):
            return _err(40013)
        token = f"TOKEN{next(self._tokens):06d}"
        self.valid_tokens = {token: self.clock() + self.token_ttl}  # the old one is invalid now
        return {"access_token": token, "expires_in": self.token_ttl}

    def _stable_token(self, body: dict) -> dict:
        if not self._credentials_ok(body.get("appid"), body.get("secret")):
            return _err(40013)
        now = self.clock()
        if body.get("force_refresh") or not self.stable_token or self.stable_token[1] <= now:
            self.stable_token = (f"STABLE{next(self._tokens):06d}", now + self.token_ttl)
        self.valid_tokens[self.stable_token[0]] = self.stable_token[1]
        return {"access_token": self.stable_token[0], "expires_in": int(self.stable_token[1] - now)}

    def _token_ok(self, token) -> bool:
        return token is not None and self.valid_tokens.get(token, 0) > self.clock()

    def _deliver(self, path: str, body: dict, openid: str, client_msg_id=None) -> dict:
        msgid = next(self._msgids)
        self.deliveries.append(Delivery(path, openid, client_msg_id, msgid, self.clock(), body))
        return {"errcode": 0, "errmsg": "ok", "msgid": msgid}

    def _template(self, body: dict) -> dict:
        openid, key = body.get("touser"), body.get("client_msg_id")
        if not openid or not body.get("template_id"):
            return _err(47001)
        seen = self._seen.get((openid, key)) if key else None
        if seen and self.clock() - seen[0] < self.dedupe_window:
            return {"errcode": 0, "errmsg": "ok", "msgid": seen[1]}  # deduplicated
        result = self._deliver("/cgi-bin/message/template/send", body, openid, key)
        if key:
            self._seen[(openid, key)] = (self.clock(), result["msgid"])
        return result

    def _bizsend(self, body: dict) -> dict:
        if not body.get("touser") or not body.get("template_id"):
            return _err(47001)
        return self._deliver("/cgi-bin/message/subscribe/bizsend", body, body["touser"])

    def _custom(self, body: dict) -> dict:
        if not body.get("touser") or not body.get("msgtype"):
            return _err(47001)
        return self._deliver("/cgi-bin/message/custom/send", body, body["touser"])

    def _mass(self, body: dict) -> dict:
        key = body.get("clientmsgid")
        if key and key in self._mass_ids:
            return _err(45065)
        if key:
            self._mass_ids.add(key)
        users = body.get("touser") or []
        result = {}
        for openid in users:
            result = self._deliver("/cgi-bin/message/mass/send", body, openid, key)
        return {**result, "msg_data_id": result.get("msgid")}

    def _menu(self, body: dict) -> dict:
        buttons = body.get("button") or []
        if not 1 <= len(buttons) <= 3 or any(len(b.get("sub_button", [])) > 5 for b in buttons):
            return _err(40016)
        names = [(b.get("name", ""), 16) for b in buttons]
        names += [(s.get("name", ""), 60) for b in buttons for s in b.get("sub_button", [])]
        if any(not n or len(n.encode()) > limit for n, limit in names):
            return _err(40018)
        self.menu = body
        return _err(0)


class _QuietServer(ThreadingHTTPServer):
    def handle_error(self, request, client_address):
        import sys
        if isinstance(sys.exc_info()[1], (ConnectionResetError, BrokenPipeError)):
            return  # a client killed mid-request (kill -9 tests): expected
        super().handle_error(request, client_address)


def _err(code: int) -> dict:
    return {"errcode": code, "errmsg": ERRMSG.get(code, "error")}


def _handler_for(fake: FakeWeChat):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, like the real API
        disable_nagle_algorithm = True  # else headers and body wait 40 ms for a delayed ACK

        def do_GET(self):
            self._serve(b"")

        def do_POST(self):
            length = int(self.headers.get("Content-Length") or 0)
            self._serve(self.rfile.read(length))

        def _serve(self, raw: bytes):
            url = urllib.parse.urlsplit(self.path)
            query = {k: v[0] for k, v in urllib.parse.parse_qs(url.query).items()}
            try:
                body = json.loads(raw.decode("utf-8")) if raw else {}
            except ValueError:
                body = None
            if not isinstance(body, dict):
                status, payload = 200, _err(47001)
            else:
                status, payload = fake.handle(url.path, query, body)
            if payload is None:  # black hole: never answer
                self.close_connection = True
                return
            data = json.dumps(payload, ensure_ascii=False).encode("utf-8")
            self.send_response(status)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            try:
                self.wfile.write(data)
            except (BrokenPipeError, ConnectionResetError):
                self.close_connection = True  # the client gave up (its timeout): like WeChat

        def log_message(self, *args):  # quiet: the request lines carry openids
            pass

    return Handler


@pytest.fixture
def fake_wechat():
    """A running fake WeChat API; `.url` is the API base, `.appid`/`.secret` its credentials."""
    fake = FakeWeChat().start()
    yield fake
    fake.stop()

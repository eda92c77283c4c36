"""First run as a new user meets it: `python server.py` ends its start-up with a framed block
on stdout naming the address and the first administrator's one-time link (nothing printed
after it, third-party chatter kept out of the log), the landing page at /, and run.sh's
check that skips pip when the installed packages already meet the requirements."""
from __future__ import annotations

import io
import os
import queue
import subprocess
import sys
import threading
import time
import urllib.request

import pytest

from portal.testing import app_config, make_staff
from server import announce_when_ready, create_app, start, startup_banner
from tests.conftest import ROOT
from tests.test_server import free_port, wait_healthy

RULE = "=" * 72
CHATTY = ("jieba", "alembic", "faiss", "bm25s", "Building prefix dict", "Loading model")


@pytest.fixture
def quick_app(tmp_path):
    app = start(create_app(app_config(tmp_path / "inst")))
    yield app
    app.extensions["policybot"].db.dispose()


def _lines(stream, into: queue.Queue) -> None:
    for line in stream:
        into.put(line.rstrip("\n"))


@pytest.mark.slow
def test_server_prints_the_setup_link_last_in_a_framed_block(tmp_path):
    port = free_port()
    env = {**os.environ, "POLICYBOT_DATA_DIR": str(tmp_path / "inst"), "POLICYBOT_PORT": str(port),
           "POLICYBOT_LOAD_DEMO": "0", "POLICYBOT_INDEX_EMBEDDER": "hash"}
    proc = subprocess.Popen([sys.executable, "server.py"], cwd=ROOT, env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    out, err = queue.Queue(), queue.Queue()
    for stream, into in ((proc.stdout, out), (proc.stderr, err)):
        threading.Thread(target=_lines, args=(stream, into), daemon=True).start()
    try:
        assert wait_healthy(f"http://127.0.0.1:{port}/healthz", timeout=120) == 200
        banner = _banner(out, timeout=30)
        time.sleep(0.2)  # anything logged right after the banner would show now
        late = _drain(err)
        link = next(line.strip() for line in banner if "/staff/setup/" in line)
        with urllib.request.urlopen(link, timeout=5) as page:
            assert page.status == 200 and "创建首个管理员账号" in page.read().decode("utf-8")
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    log = _drain(err, [])
    print(f"\nfirst start: banner of {len(banner)} lines on stdout; {len(late)} log lines on stderr "
          f"by then: " + " | ".join(line[24:90] for line in late))
    assert banner[0] == "" and banner[1] == RULE and banner[-2] == RULE
    assert any(f"http://127.0.0.1:{port}/" in line for line in banner)
    assert not [line for line in late + log if any(word in line for word in CHATTY)]
    assert late[-1].endswith(f"serving on http://127.0.0.1:{port}")  # the banner comes after it
    assert len(late) <= 6


def _banner(out: queue.Queue, timeout: float) -> list[str]:
    """The lines of stdout up to and including the closing rule and blank line."""
    lines, rules, deadline = [], 0, time.monotonic() + timeout
    while rules < 2 or (lines and lines[-1] != ""):
        lines.append(out.get(timeout=max(0.1, deadline - time.monotonic())))
        rules += lines[-1] == RULE
    return lines


def _drain(lines: queue.Queue, into: list | None = None) -> list[str]:
    into = [] if into is None else into
    while not lines.empty():
        into.append(lines.get_nowait())
    return into


def test_the_banner_offers_the_setup_link_until_an_administrator_exists(quick_app):
    banner = startup_banner(quick_app)
    assert "/staff/setup/" in banner and "已就绪" in banner
    make_staff(quick_app, "chief", "admin", "区政务公开办")
    banner = startup_banner(quick_app)
    assert "/staff/setup/" not in banner and "工作人员登录：http://127.0.0.1:8000/staff/login" in banner


def test_the_banner_says_so_when_the_index_is_not_ready_in_time(quick_app):
    quick_app.extensions["policybot.readiness"] = [lambda: False]
    out = io.StringIO()
    announce_when_ready(quick_app, out=out, wait=0)
    assert "已启动（检索索引仍在准备）" in out.getvalue()
    quick_app.extensions["policybot.readiness"] = [lambda: True]
    out = io.StringIO()
    announce_when_ready(quick_app, out=out, wait=0)
    assert "已就绪" in out.getvalue() and out.getvalue().count(RULE) == 2


def test_the_landing_page_leads_to_the_catalogue_search_and_staff_portal(quick_app):
    page = quick_app.test_client().get("/")
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and "<h1>" in html and "政策解读助手</h1>" in html
    for target in ('href="/catalogue"', 'href="/search"', 'href="/staff/"'):
        assert target in html
    assert "Content-Security-Policy" in page.headers


# -- scripts/requirements_met.py -------------------------------------------------------------

def _met(*args, pythonpath: str | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, **({"PYTHONPATH": pythonpath} if pythonpath else {})}
    return subprocess.run([sys.executable, "scripts/requirements_met.py", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=60)


def test_requirements_met_accepts_what_is_installed_and_refuses_what_is_not():
    import importlib.metadata

    assert _met(f"flask=={importlib.metadata.version('flask')}").returncode == 0
    wrong = _met("flask==0.1")
    assert wrong.returncode == 1 and "flask" in wrong.stderr
    missing = _met("no-such-package-policybot-test")
    assert missing.returncode == 1 and "missing" in missing.stderr
    assert _met("-r", "requirements.txt").returncode == 0  # this machine runs the suite


def test_requirements_met_follows_what_a_package_needs_in_turn(tmp_path):
    """An installed package whose own dependency is missing is not 'met': pip must run."""
    info = tmp_path / "policybot_probe-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: policybot-probe\nVersion: 1.0\n"
                                   "Requires-Dist: no-such-dependency-policybot>=1\n"
                                   "Requires-Dist: another-missing-one ; extra == 'extra'\n")
    result = _met("policybot-probe==1.0", pythonpath=str(tmp_path))
    assert result.returncode == 1 and "no-such-dependency-policybot" in result.stderr
    assert "another-missing-one" not in result.stderr  # only with the extra asked for
    with_extra = _met("policybot-probe[extra]==1.0", pythonpath=str(tmp_path))
    assert "another-missing-one" in with_extra.stderr

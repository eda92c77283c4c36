"""The read path of the search: a question in, ranked passages (index.hits.Hit) out.

    retriever = Retriever(embedder, current_corpus, today)
    retriever.search("看病能报销多少", k=5)

It reads the question (index.query), scores every published passage by BM25 and by meaning,
fuses the two (index.fusion), lets the second stage re-order the best (index.rerank), prefers
interpretations and FAQ answers on near-ties, puts a document named in the question first,
and says why each hit was found (index.signals). It never changes the index: the corpus it
searches is whatever `current_corpus()` returns at the start of a search (a consistent view,
index.corpus), kept up to date by the write path (index.maintenance.IndexMaintainer), which
also decides whether the index may answer at all (index.service.SearchService asks first).
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import re
import threading
from collections.abc import Callable, Iterable

import numpy as np

from index import fusion
from index.chunking import Chunk, enclosing_list
from index.corpus import CorpusIndex, View
from index.dialect import Dialect
from index.embedders import Embedder
from index.filters import Filters
from index.hits import Hit
from index.memo import Memo
from index.naming import named_documents
from index.query import QueryReader, ReadQuestion
from index.rerank import Candidates
from index.signals import Evidence, explain
from index.synonyms import Expander

MODES = ("hybrid", "bm25", "dense")
CANDIDATES = 100          # per list, before fusion
PREFERRED_FACTOR = 1.15   # interpretation / FAQ chunks win near-ties (no second stage)
QUERY_CACHE_SIZE = 2048
# A message's searches share their filters and their questions' texts (alone, with its topic,
# within a release): what the admitted documents and BM25 give them is kept (index.memo); so
# are the admitted documents' rows and BM25's mask of them, rebuilt per search before (0.1 ms
# each at 6,400 chunks).
ADMITTED_KEPT = 64
# A message's texts are searched within moments of each other, so a few workers' threads need
# few: each kept one is a float32 per chunk (16 × 6,400: 0.4 MB; 16 × 1 M chunks: 64 MB).
BM25_KEPT = 16


class SearchError(ValueError):
    """A bad query or an index that cannot answer; the message says what to do."""


@dataclasses.dataclass
class Tuning:
    """Fusion parameters, chosen on the STARD benchmark (bench/bench_retrieval.py): plain RRF
    did not beat dense alone there; min–max score fusion with dense at 0.8 did."""
    method: str = "convex"      # "convex" (score fusion) or "rrf"
    dense_share: float = 0.8    # convex: weight of the normalised cosine
    bm25_weight: float = 1.0    # rrf: weight of each list
    dense_weight: float = 1.0
    rrf_k: int = fusion.RRF_K
    doc_weight: float = 0.15    # share of a document's support added to each of its chunks
    doc_top: int = 3            # how many of its best chunks make a document's support


class QueryVectors:
    """Question vectors by the text the dense encoder reads (~10–60 ms to embed one): the
    most recent ones (a repeated question, hybrid after dense), and ones given in advance
    (benchmarks and training embed their questions once and keep them for the whole run)."""

    def __init__(self, embed: Callable[[list[str]], np.ndarray], size: int = QUERY_CACHE_SIZE):
        self._embed, self.size = embed, size
        self._recent: dict[str, np.ndarray] = {}
        self._given: dict[str, np.ndarray] = {}
        self._lock = threading.Lock()

    def get(self, text: str) -> np.ndarray:
        vector = self._given.get(text)
        if vector is None:
            vector = self._recent.get(text)
        if vector is None:
            vector = self._embed([text])[0]
            with self._lock:
                if len(self._recent) >= self.size:
                    self._recent.pop(next(iter(self._recent)))
                self._recent[text] = vector
        return vector

    def give(self, texts: Iterable[str], vectors: Iterable[np.ndarray]) -> None:
        """Use these vectors for these texts until `forget` (never evicted)."""
        with self._lock:
            self._given.update(zip(texts, vectors, strict=True))

    def forget(self) -> None:
        """Every question pays for its embedding again (latency measurements, another embedder)."""
        with self._lock:
            self._recent, self._given = {}, {}


class Retriever:
    def __init__(self, embedder: Embedder, corpus: Callable[[], CorpusIndex],
                 today: Callable[[], dt.date], *, ranker=None, tuning: Tuning | None = None,
                 dialect: Dialect | None = None):
        self.embedder = embedder
        self._corpus = corpus       # the index as it is now (swapped whole by a rebuild)
        self.today = today
        self.ranker = ranker        # index.rerank.Ranker (the second stage), or None
        self.tuning = tuning or Tuning()
        self.expander = Expander.default()
        self.reader = QueryReader(dialect)  # dialect: the search's own table when None
        self.queries = QueryVectors(self.embed_queries)
        self._admitted: Memo[frozenset[str]] = Memo(ADMITTED_KEPT)
        self._allowed: Memo[frozenset[int]] = Memo(ADMITTED_KEPT)
        self._masks: Memo[np.ndarray] = Memo(ADMITTED_KEPT)
        self._lexical: Memo[np.ndarray] = Memo(BM25_KEPT)

    def use_embedder(self, embedder: Embedder) -> None:
        """Embed questions with another model from now on (its passages' vectors must share
        the space: a tuned query side, bench/bench_tuned.py)."""
        self.embedder = embedder
        self.queries.forget()

    def search(self, query: str, k: int = 5, *, mode: str = "hybrid", include_expired: bool = False,
               audience: str | None = None, topic: str | None = None, region: str | None = None,
               issuing_body: str | None = None, releases=None, opening: str | None = None,
               as_one: bool = False) -> list[Hit]:
        """`opening`: the question that opened the topic this one follows; `as_one`: read with
        it as one text (QueryReader.read_follow_up)."""
        query = check(query, k, mode)
        filters = Filters(self.today(), include_expired, audience, topic, region, issuing_body,
                          frozenset(releases) if releases is not None else None)
        corpus = self._corpus().view()
        read = self.reader.read_follow_up(query, opening.strip(), corpus, as_one) \
            if opening and opening.strip() else self.reader.read(query, corpus)
        admitted = self._admitted_docs(corpus, filters)
        found, evidence = self._first_stage(corpus, read, mode, admitted, max(k, CANDIDATES))
        ranker = self.ranker if mode == "hybrid" and found.cosine else None
        scores, reranked = second_stage(ranker, corpus, read.normal, found)
        named = _named_rows(corpus, read.asked, admitted, scores)
        scores = fusion.apply_named(scores, named)
        ranked = _with_policies(corpus, fusion.top(scores, len(scores)), admitted, k)
        named_docs = {corpus.records[r].chunk.doc_id for r in named}
        why = explain(corpus, evidence, [row for row, _ in ranked], named_docs, self.expander)
        return [_hit(corpus, row, score, filters.today, reranked.get(row), why[row])
                for row, score in ranked]

    def candidates(self, query: str, mode: str = "hybrid") -> tuple[View, ReadQuestion, Candidates]:
        """The first stage's candidates with their signals, over everything published (the
        second stage's training data: training/ranker.py)."""
        corpus = self._corpus().view()
        read = self.reader.read(check(query, 1, mode), corpus)
        return corpus, read, self._first_stage(corpus, read, mode, frozenset(corpus.docs), CANDIDATES)[0]

    def lexical_scores(self, query: str) -> tuple[np.ndarray, np.ndarray]:
        """The BM25 score of every chunk for `query`, read as the search reads it: (rows,
        scores ≥ 0), over everything published (the query adapter's fused loss:
        training/adapter.py)."""
        corpus = self._corpus().view()
        read = self.reader.read(check(query, 1, "bm25"), corpus)
        index = corpus.sparse
        scores = self._bm25_scores(corpus, index, read.normal, frozenset(corpus.docs))
        return index.rows, np.clip(scores, 0.0, None)

    def dense_texts(self, questions: Iterable[str]) -> list[str]:
        """What the dense encoder reads of each question (the keys of `queries`)."""
        view = self._corpus().view()
        return [self.reader.read(q.strip(), view).dense for q in questions]

    def embed_queries(self, texts: list[str]) -> np.ndarray:
        """L2-normalised query vectors (e.g. to group similar questions), of each text as
        `punctuated` writes it."""
        return self.embedder.embed_queries([punctuated(t) for t in texts])

    def _admitted_docs(self, corpus: View, filters: Filters) -> frozenset[str]:
        """The documents the filters admit: the same for every search until the document map
        is replaced (a publication, a retirement, a withdrawal) or the day changes (a filter)."""
        return self._admitted.get((corpus.docs,), filters, lambda: frozenset(
            d for d, meta in corpus.docs.items() if filters.admits(meta, corpus.validity(d))))

    def _allowed_rows(self, corpus: View, admitted: frozenset[str]) -> frozenset[int] | None:
        """The rows of the admitted documents (None: every document is admitted), kept until
        the rows are replaced (every change of the index replaces them whole, index.corpus)."""
        if len(admitted) == len(corpus.docs):
            return None
        return self._allowed.get((corpus.rows_of,), admitted, lambda: frozenset(
            r for d in admitted for r in corpus.rows_of.get(d, ())))

    def _mask(self, sparse, admitted: frozenset[str]) -> np.ndarray:
        """BM25's rows of the admitted documents, kept for the BM25 index (immutable) they
        index; read-only, as every search with the same filters shares it."""
        def compute() -> np.ndarray:
            mask = sparse.mask(admitted)
            mask.flags.writeable = False
            return mask
        return self._masks.get((sparse,), admitted, compute)

    # -- the first stage -----------------------------------------------------------------------
    def _first_stage(self, corpus, read: ReadQuestion, mode, admitted, n) -> tuple[Candidates, Evidence]:
        """Fused scores of the candidate rows, pooled by document, with their BM25 and cosine;
        and what each retriever saw (for the hits' signals)."""
        scores, signals, evidence = self._fused(corpus, read, mode, admitted, n)
        records = corpus.records
        scores = {row: s for row, s in scores.items() if row in records}  # this view's rows
        doc_of = {row: records[row].chunk.doc_id for row in scores}
        scores = fusion.document_support(scores, doc_of, self.tuning.doc_weight, self.tuning.doc_top)
        return Candidates(scores, *signals), evidence

    def _fused(self, corpus, read: ReadQuestion, mode, admitted, n):
        """Scores of the candidate rows: one retriever's own scores in a single mode; in
        hybrid, BM25 and dense fused (score fusion by default, RRF selectable). Also each
        candidate's raw BM25 score and cosine where hybrid score fusion computed them."""
        tuning = self.tuning
        index = corpus.sparse  # one BM25 index for the whole query, even if a publication swaps it
        use_dense = mode in ("hybrid", "dense") and len(corpus.dense) > 0
        sparse = self._bm25_scores(corpus, index, read.normal, admitted) if mode in ("hybrid", "bm25") \
            else None
        bm25 = _best(index.rows, sparse, n) if sparse is not None else {}
        dense = self._dense_scores(corpus, read, admitted, n) if use_dense else {}
        vector = self._query_vector(read) if use_dense else None
        evidence = Evidence(read, index.rows, sparse, bm25, dense, vector, self._lens(vector))
        signals: tuple[dict, dict] = ({}, {})
        if not use_dense or mode == "bm25":
            scores = bm25
        elif mode == "dense":
            scores = dense
        elif tuning.method == "rrf":
            scores = fusion.reciprocal_rank_fusion(
                [list(bm25), list(dense)], [tuning.bm25_weight, tuning.dense_weight], tuning.rrf_k)
        else:
            scores, signals = self._convex(corpus, index.rows, read, sparse, bm25, dense)
        return scores, signals, evidence

    def _convex(self, corpus, sparse_rows, read: ReadQuestion, sparse, bm25, dense):
        """Every candidate gets both scores (BM25 from the full score array, cosine from its
        vector), each min–max normalised over the candidates, then mixed."""
        candidates = sorted(set(bm25) | set(dense))
        lexical = np.clip(_values_at(sparse_rows, sparse, candidates), 0.0, None)
        vector = self._query_vector(read)
        with corpus.lock:
            semantic = np.array([dense[r] if r in dense else _cosine(corpus, r, vector)
                                 for r in candidates])
        mixed = fusion.convex(semantic, lexical, self.tuning.dense_share)
        return dict(zip(candidates, mixed.tolist(), strict=True)), \
            (dict(zip(candidates, lexical.tolist(), strict=True)),
             dict(zip(candidates, semantic.tolist(), strict=True)))

    def _bm25_scores(self, corpus, sparse, query, admitted) -> np.ndarray:
        """BM25 score of every chunk (aligned with sparse.rows); -1 where filtered out."""
        scores = self._lexical.get((sparse, corpus.tokenizer.user_words), query,
                                   lambda: self._unfiltered_bm25(corpus, sparse, query))
        return np.where(self._mask(sparse, admitted) & (scores > 0), scores, -1.0) if len(scores) else scores

    def _unfiltered_bm25(self, corpus, sparse, query) -> np.ndarray:
        """Kept by `_lexical` for the index and the tokenizer's words it was computed with:
        read-only, as every search of the same text shares it."""
        tokens = self.expander.expand(corpus.tokenizer.tokens(query), query, corpus.tokenizer)
        scores = sparse.scores(tokens)
        scores.flags.writeable = False
        return scores

    def _dense_scores(self, corpus, read: ReadQuestion, admitted, n) -> dict[int, float]:
        vector = self._query_vector(read)
        allowed = self._allowed_rows(corpus, admitted)
        with corpus.lock:
            rows, scores = corpus.dense.search(vector, n, allowed)
        return dict(zip(rows, scores, strict=True))

    def _lens(self, vector: np.ndarray | None) -> np.ndarray | None:
        """The question's vector through the embedder's lens, if it has one (index/tuned.py)."""
        lens_of = getattr(self.embedder, "lens_of", None)
        return lens_of(vector) if vector is not None and lens_of is not None else None

    def _query_vector(self, read: ReadQuestion) -> np.ndarray:
        """The question's vector; a follow-up's is the normalised sum of its own and its
        opening question's (index.query)."""
        vector = self.queries.get(read.dense)
        if read.opening_dense is None:
            return vector
        joined = vector + self.queries.get(read.opening_dense)
        norm = float(np.linalg.norm(joined))
        return joined / norm if norm > 0 else vector


# A space between two Chinese characters: where a resident typing on a phone (or speaking to
# it) leaves a pause, a writer puts a comma.
_SPACED_RE = re.compile(r"(?<=[\u4e00-\u9fff])\s+(?=[\u4e00-\u9fff])")


def punctuated(text: str) -> str:
    """The question as the encoder reads it best: 「公司拖欠我三个月工资了 我该去哪里投诉」 with a
    comma for its space (the encoder learned written Chinese, where clauses are marked: that
    question's best passage, 工资支付条例 第十条 on 投诉, scored 0.156 spaced and 0.172 with
    the comma, and only then was sure enough to be answered). Only where a question is embedded
    for a search, not in what the training of the query adapter read (its vectors are kept by
    text: training.pipeline)."""
    return _SPACED_RE.sub("，", text)


def check(query, k, mode) -> str:
    """The question stripped, or SearchError saying what is wrong with the request."""
    if mode not in MODES:
        raise SearchError(f"unknown mode {mode!r} (one of {', '.join(MODES)})")
    if not isinstance(k, int) or k < 1:
        raise SearchError(f"k must be a positive integer, not {k!r}")
    if not isinstance(query, str) or not query.strip():
        raise SearchError("the question is empty")
    return query.strip()


def second_stage(ranker, corpus, query: str, found: Candidates) -> tuple[dict[int, float], dict[int, float]]:
    """The scores after the second stage, and its probability for each passage it saw. Without
    it (no ranker, or fewer than two candidates) FAQ and interpretation passages win near-ties
    (PREFERRED_FACTOR). With it its order stands: it weighs them itself (its `source` and
    `interpretation` features, learned on residents' questions), and a factor on the scores it
    rescales would lift passages it never saw above those it chose."""
    if ranker is not None:
        scores, reranked = ranker.rerank(corpus, query, found)
        if reranked:
            return scores, reranked
    return fusion.apply_preference(found.scores, _preferred(corpus, found.scores), PREFERRED_FACTOR), {}


def _preferred(corpus, scores) -> set[int]:
    return {row for row in scores if row in corpus.records and (
        corpus.records[row].chunk.source == "faq"
        or corpus.docs[corpus.records[row].chunk.doc_id].kind == "interpretation")}


def _named_rows(corpus, query, admitted, scores) -> set[int]:
    named = named_documents(query, {d: corpus.docs[d] for d in admitted if d in corpus.docs})
    rows = set()
    for doc_id in named:
        own = [r for r in corpus.rows_of.get(doc_id, ()) if r in scores]
        if not own and corpus.rows_of.get(doc_id):
            own = corpus.rows_of[doc_id][:1]
            scores.setdefault(own[0], 0.0)
        rows.update(own)
    return rows


def _hit(corpus, row: int, score: float, today: dt.date, rerank_score: float | None,
         signals=None) -> Hit:
    chunk = corpus.records[row].chunk
    meta = corpus.docs[chunk.doc_id]
    validity = corpus.validity(meta.id)
    return Hit(doc_id=meta.id, title=meta.title, doc_number=meta.doc_number, kind=meta.kind,
               interprets=meta.interprets, article=chunk.article,
               heading_path=chunk.heading_path, text=chunk.text, score=round(score, 6),
               status=validity.status, in_force=validity.in_force(today),
               issuing_body=meta.issuing_body, publish_date=meta.publish_date,
               valid_from=_iso(validity.valid_from), valid_until=_iso(validity.valid_until),
               chunk_id=chunk.chunk_id, start=chunk.start,
               end=chunk.end, source=chunk.source,
               rerank_score=None if rerank_score is None else round(rerank_score, 6),
               signals=signals, region=meta.region, topics=meta.topics,
               list_text=enclosing_list(_chunk_at(corpus, chunk.doc_id), chunk.ordinal))


def _chunk_at(corpus, doc_id: str) -> Callable[[int], Chunk | None]:
    """A document's chunk by ordinal (its rows are added in chunk order), None past either end."""
    rows = corpus.rows_of.get(doc_id, [])

    def at(ordinal: int) -> Chunk | None:
        chunk = corpus.records[rows[ordinal]].chunk if 0 <= ordinal < len(rows) else None
        return chunk if chunk is not None and chunk.ordinal == ordinal else None
    return at


def _iso(day: dt.date | None) -> str | None:
    return day.isoformat() if day else None


def _best(rows: np.ndarray, scores: np.ndarray, n: int) -> dict[int, float]:
    """The n best positive scores as {row: score}, best first (ties in row order). Only the
    n best and what ties the n-th are sorted, not every chunk of the index."""
    if not len(scores):
        return {}
    positive = np.flatnonzero(scores > 0)
    if len(positive) > n:
        nth = np.partition(scores[positive], len(positive) - n)[len(positive) - n]
        positive = positive[scores[positive] >= nth]
    best = positive[np.argsort(-scores[positive], kind="stable")][:n]
    return {int(rows[i]): float(scores[i]) for i in best}


def _values_at(sorted_rows: np.ndarray, values: np.ndarray, wanted: list[int]) -> np.ndarray:
    """values[i] where sorted_rows[i] == row, for each wanted row (0 where absent)."""
    out = np.zeros(len(wanted))
    if not len(sorted_rows):
        return out
    positions = np.minimum(np.searchsorted(sorted_rows, wanted), len(sorted_rows) - 1)
    found = sorted_rows[positions] == np.asarray(wanted)
    out[found] = values[positions[found]]
    return out


def _cosine(corpus, row: int, vector: np.ndarray) -> float:
    """NaN for a chunk whose vector is still being computed (fusion.convex uses its BM25)."""
    stored = corpus.dense.vectors.get(row)
    return float(stored @ vector) if stored is not None else float("nan")


def _with_policies(corpus, ranked, admitted, k) -> list[tuple[int, float]]:
    """Right after an interpretation's chunk comes the policy it explains (its best-ranked
    chunk), unless already shown: a reply quoting an interpretation names its policy."""
    rank_of_doc: dict[str, tuple[int, float]] = {}
    for row, score in ranked:
        rank_of_doc.setdefault(corpus.records[row].chunk.doc_id, (row, score))
    out: list[tuple[int, float]] = []
    shown: set[int] = set()
    for row, score in ranked:
        if len(out) >= k:
            break
        if row in shown:
            continue
        out.append((row, score))
        shown.add(row)
        policy = corpus.docs[corpus.records[row].chunk.doc_id].interprets
        if policy and policy in admitted and policy in corpus.rows_of:
            companion = rank_of_doc.get(policy, (corpus.rows_of[policy][0], score * 0.999))
            if not any(corpus.records[r].chunk.doc_id == policy for r in shown) and len(out) < k:
                out.append((companion[0], min(companion[1], score)))
                shown.add(companion[0])
    return out

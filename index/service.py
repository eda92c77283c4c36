"""The search service: hybrid retrieval over published policies and interpretations.

    svc = SearchService(db, embedder, data_dir=..., today=...)
    svc.start()                       # load the index from disk / catch up with the database
    svc.search("看病能报销多少", k=5)   # -> list[Hit]

BM25 answers as soon as the chunks are in; vectors are computed by a background thread (or
taken from an embedding cache), so a new instance, or a new publication, is searchable at
once by words and shortly after by meaning. `on_published` / `on_removed` are the release
workflow's hooks.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import threading
import time
from collections.abc import Callable

import numpy as np

from index import fusion
from index.cache import CacheMismatch
from index.corpus import CorpusIndex, View, text_hash
from index.embedders import Embedder
from index.filters import Filters
from index.hits import Hit
from index.naming import named_documents
from index.query import QueryReader, ReadQuestion
from index.rerank import Candidates
from index.signals import Evidence, explain
from index.storage import IndexMismatch
from index.synonyms import Expander
from index.tokenizer import PolicyTokenizer
from interpretations import events
from policies import store as doc_store
from policies.db import Database
from policies.validity import local_today

log = logging.getLogger("policybot.index")

MODES = ("hybrid", "bm25", "dense")
CANDIDATES = 100          # per list, before fusion
PREFERRED_FACTOR = 1.15   # interpretation / FAQ chunks win near-ties


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
QUERY_CACHE_SIZE = 2048
SHARE_EVERY = 256         # vectors embedded between two writes to the database
DB_CHECK_SECONDS = 1.0


class SearchError(ValueError):
    """A bad query or an index that cannot answer; the message says what to do."""


class SearchService:
    def __init__(self, db: Database, embedder: Embedder, *, faiss_kind: str = "flat",
                 today: Callable[[], dt.date] | None = None, background: bool | str = True,
                 store=None, cache=None, ranker=None, shared=None, apply_async: bool = False):
        self.db, self.embedder, self.faiss_kind = db, embedder, faiss_kind
        self.today = today or local_today
        self.background = background
        self.store = store          # index.storage.IndexStore, or None (memory only)
        self.cache = cache          # index.cache.EmbeddingCache, or None
        self.ranker = ranker        # index.rerank.Ranker (the second stage), or None
        self.shared = shared        # index.shared_vectors.SharedVectors (the database's), or None
        # True: a publication's hook only hands the documents to a thread, so the publish
        # request returns at its commit instead of after the BM25 rebuild (~0.5 s at 6,400
        # chunks, seconds on a busy machine); searches see it a moment later, as on the other
        # workers. False (the embedded default, tests): indexed before the hook returns.
        self.apply_async = apply_async
        self._applying = threading.Lock()
        self.embedded = 0           # passages this process embedded (the rest were reused)
        self._unshared: dict[str, np.ndarray] = {}  # embedded here, not yet in the database
        self.expander = Expander.default()
        self.reader = QueryReader()
        self.corpus = CorpusIndex(PolicyTokenizer(), embedder.dim, faiss_kind)
        self.error: str | None = None
        self._cache_checked = False
        self._dirty = False
        self._recent_queries: dict[str, np.ndarray] = {}
        self.tuning = Tuning()
        self._sync_lock = threading.Lock()
        self._checked_at = time.monotonic()
        self._fingerprint: tuple | None = None
        self._query_lock = threading.Lock()
        self._started = False
        # Saves are serialised, and none starts once the process is exiting: the exit handler
        # waits for a save in progress (a daemon thread killed mid-save left index/.tmp-*).
        self._save_lock = threading.Lock()
        self._exiting = False
        self._worker: threading.Thread | None = None
        # The release events this index has applied (interpretations/events.py): another
        # worker's or machine's publication is applied within one follow interval.
        self.event_position = 0
        self.event_lag: float | None = None  # seconds from an event's commit to its application here
        self._stop_following = threading.Event()
        self._events_lock = threading.Lock()
        self._follower: threading.Thread | None = None
        self._wake = threading.Event()
        self._idle = threading.Event()
        self._idle.set()

    # -- lifecycle -------------------------------------------------------------------------
    def start(self) -> None:
        """Load the saved index (if any, and if it fits the embedder), then catch up with the
        database: what was published or retired while no index was listening. An index built
        by another embedder is refused: the service stays unready and says to reindex."""
        try:
            if self.store is not None:
                self.store.remove_leftovers()
                loaded = self.store.load_current(self.embedder, self.faiss_kind)
                if loaded is not None:
                    self.corpus = loaded
                    self._dirty = loaded.retokenized  # saved again with the new tokens
        except IndexMismatch as mismatch:
            self.error = str(mismatch)
            log.error("index: %s", mismatch)
            return
        self._fingerprint = _fingerprint(self.db)
        with self.db.read() as conn:  # before the sync: what commits during it is applied again
            self.event_position = events.latest_id(conn)
        self.sync_with_database()
        self._started = True

    def rebuild(self, progress: Callable[[int], None] | None = None,
                reuse_vectors: bool = True,
                on_total: Callable[[int], None] | None = None) -> CorpusIndex:
        """A full reindex into a new corpus, swapped in (memory and disk) once complete; the
        old index answers until then. Vectors of unchanged passages are reused."""
        with self.db.read() as conn:
            public = doc_store.public_documents(conn)
        fresh = CorpusIndex(PolicyTokenizer(), self.embedder.dim, self.faiss_kind)
        fresh.upsert(public)
        known = self._known_vectors() if reuse_vectors else {}
        rows = sorted(fresh.records)
        stored = self._stored_vectors(fresh, rows) if reuse_vectors else {}
        if on_total:
            on_total(len(rows))
        for start in range(0, len(rows), 8):
            part = rows[start:start + 8]
            fresh.add_vectors(part, self._vectors_for(fresh, part, known, reuse_vectors, stored))
            if progress:
                progress(len(part))
        self._share_vectors(replace=not reuse_vectors)
        if self.store is not None:
            self.store.save(fresh, self.embedder)
        self.corpus, self.error, self._started = fresh, None, True
        self.sync_with_database()  # what was published while the rebuild ran
        return fresh

    def _known_vectors(self) -> dict[str, np.ndarray]:
        corpus = self.corpus
        with corpus.lock:
            return {corpus.records[r].text_hash: v for r, v in corpus.dense.vectors.items()
                    if r in corpus.records}

    def sync_with_database(self, doc_ids: list[str] | None = None) -> None:
        """Bring the index in line with what the database says is public (content and
        status), touching only what differs; only `doc_ids`, when given."""
        with self._sync_lock, self.db.read() as conn:
            public = doc_store.public_versions(conn, doc_ids)
            known = [d for d in (self.corpus.docs if doc_ids is None else doc_ids) if d in self.corpus.docs]
            gone = [doc_id for doc_id in known if doc_id not in public]
            differing = [doc_id for doc_id, version in public.items() if self._differs(doc_id, version)]
            changed = [doc for doc in (doc_store.get_document(conn, i) for i in differing) if doc is not None]
            if gone:
                self.corpus.remove(gone)
            if changed:
                self.corpus.upsert(changed)
        self._dirty = self._dirty or bool(changed or gone)
        if changed or gone:
            log.info("index: %d documents, %d chunks (%d changed, %d removed)", len(self.corpus.docs),
                     len(self.corpus.records), len(changed), len(gone))
        self._vectors_needed(bool(changed or gone))

    def _differs(self, doc_id: str, version: tuple[str, str]) -> bool:
        meta = self.corpus.docs.get(doc_id)
        return meta is None or (meta.content_hash, meta.status) != version

    # -- following the release events --------------------------------------------------------
    def follow(self, interval: float) -> None:
        """Apply the release events every `interval` seconds in a thread of its own, so that
        a publication on another worker or machine is searchable here without waiting for a
        search to notice it."""
        if self._follower is not None:
            return
        self._follower = threading.Thread(target=self._follow, args=(interval,), name="index-follow",
                                          daemon=True)
        self._follower.start()

    def _follow(self, interval: float) -> None:
        while not self._stop_following.wait(interval):
            try:
                self.apply_events()
            except Exception:  # the database may be away for a moment: try again next time
                log.exception("index: following the release events failed")

    def apply_events(self, limit: int = 200) -> int:
        """Apply the release events after this index's position, in order; how many."""
        with self._events_lock:  # the follower and a consumer catching up (catch_up)
            with self.db.read() as conn:
                pending = events.read_after(conn, self.event_position, limit)
            if not pending:
                return 0
            self.sync_with_database(sorted({d for event in pending for d in event.document_ids}))
            self.event_position = pending[-1].id
            self.event_lag = max(time.time() - pending[-1].created_at, 0.0)
            return len(pending)

    def catch_up(self, event_id: int) -> None:
        """Apply the release events up to `event_id` now, if the follower has not yet: a
        consumer about to search for what that event published (insights re-checks)."""
        while self.event_position < event_id and self.apply_events():
            pass

    def events_behind(self) -> int:
        with self.db.read() as conn:
            return max(events.latest_id(conn) - self.event_position, 0)

    def _watch_database(self) -> None:
        """Publications made by another process (another worker, the CLI) are picked up
        within about a second: a cheap fingerprint query, then a sync in the background."""
        now = time.monotonic()
        if self.db is None or now - self._checked_at < DB_CHECK_SECONDS:
            return
        self._checked_at = now
        fingerprint = _fingerprint(self.db)
        if fingerprint != self._fingerprint:
            self._fingerprint = fingerprint
            threading.Thread(target=self._sync_quietly, name="index-sync", daemon=True).start()

    def _sync_quietly(self) -> None:
        try:
            self.sync_with_database()
        except Exception:
            log.exception("index: catching up with the database failed")

    def ready(self) -> bool:
        return self._started and self.error is None

    def complete(self) -> bool:
        """Ready, and hybrid search answers from every chunk's vector (none still pending)."""
        corpus = self.corpus
        return self.ready() and len(corpus.dense) == len(corpus.records)

    def status(self) -> dict:
        return {"documents": len(self.corpus.docs), "chunks": len(self.corpus.records),
                "vectors": len(self.corpus.dense), "embedder": self.embedder.name,
                "embedded": self.embedded, "error": self.error}

    # -- release hooks ---------------------------------------------------------------------
    def on_published(self, infos) -> None:
        self._apply([doc_id for info in infos for doc_id in info.document_ids])

    def on_removed(self, infos) -> None:
        self._apply([doc_id for info in infos for doc_id in info.document_ids])

    def _apply(self, doc_ids: list[str]) -> None:
        if not self.apply_async:
            self._refresh(doc_ids)
            return
        self._idle.clear()  # wait_idle() waits for this too
        threading.Thread(target=self._refresh_quietly, args=(doc_ids,), name="index-apply",
                         daemon=True).start()

    def _refresh_quietly(self, doc_ids: list[str]) -> None:
        try:
            with self._applying:  # in the order the hooks came
                self._refresh(doc_ids)
            if self.background is not True:  # no embedder thread will say it is idle
                self._idle.set()
        except Exception:  # the release events bring it again
            log.exception("index: applying a publication failed")
            self._idle.set()

    def _refresh(self, doc_ids: list[str]) -> None:
        """Index what is public (a retirement only relabels it), drop what is not."""
        with self.db.read() as conn:
            docs = {i: doc_store.get_document(conn, i) for i in doc_ids}
            public = {i for i in doc_ids if doc_store.get_visibility(conn, i) == "public"}
        self.corpus.remove([i for i in doc_ids if i not in public])
        self.corpus.upsert([doc for i, doc in docs.items() if i in public and doc is not None])
        self._dirty = True
        self._vectors_needed(True)

    # -- vectors ---------------------------------------------------------------------------
    def _vectors_needed(self, changed: bool) -> None:
        if self.background == "manual":  # the caller runs embed_pending itself (benchmark)
            return
        if not self.background:
            self.embed_pending()
            self.reader.refresh(self.corpus.view())
            if changed:
                self.save()
            return
        self._idle.clear()
        self._wake.set()
        if self._worker is None or not self._worker.is_alive():
            self._worker = threading.Thread(target=self._work, name="index-embedder", daemon=True)
            self._worker.start()

    def _work(self) -> None:
        while True:
            self._wake.wait()
            self._wake.clear()
            try:
                # Vectors first (from the database, else embedded): hybrid search is complete
                # once they are in; the directory on disk is only this machine's cache now.
                pending = len(self.corpus.rows_without_vectors())
                if self.embed_pending(progress=_Progress(self, pending)):
                    self._dirty = True
                self.reader.refresh(self.corpus.view())  # the typo corrector learns new words
                self.save_if_changed()
            except Exception:  # keep serving by BM25; the next change retries
                log.exception("index: embedding or saving failed")
            if not self._wake.is_set():
                self._idle.set()

    def wait_idle(self, timeout: float | None = None) -> bool:
        """For tests and commands: wait until every chunk has its vector and is saved."""
        return self._idle.wait(timeout)

    def embed_pending(self, batch: int = 8, progress: Callable[[int], None] | None = None) -> int:
        corpus = self.corpus
        rows = corpus.rows_without_vectors()
        stored = self._stored_vectors(corpus, rows)  # one query per 500, not one per batch
        for start in range(0, len(rows), batch):
            part = [r for r in rows[start:start + batch] if r in corpus.records]
            if part:
                corpus.add_vectors(part, self._vectors_for(corpus, part, stored=stored))
            if progress:
                progress(len(rows[start:start + batch]))
            if len(self._unshared) >= SHARE_EVERY:
                self._share_vectors()
        self._share_vectors()
        return len(rows)

    def _stored_vectors(self, corpus, rows: list[int]) -> dict[str, np.ndarray]:
        """The vectors of `rows` any process already stored in the database."""
        if self.shared is None or not rows:
            return {}
        records = corpus.records
        return self.shared.lookup([records[r].text_hash for r in rows if r in records])

    def _vectors_for(self, corpus, rows: list[int], known=None, use_cache=True,
                     stored=None) -> np.ndarray:
        """Vectors of `rows`: from the database (`stored`), `known` or the embedding cache,
        else embedded now; what the database did not hold is queued for it."""
        passages = [corpus.passage(r) for r in rows]
        hashes = [corpus.records[r].text_hash for r in rows]
        stored = stored if stored is not None else {}
        found: list[np.ndarray | None] = [stored.get(h) if use_cache else None for h in hashes]
        if known:
            found = [v if v is not None else known.get(h) for v, h in zip(found, hashes, strict=True)]
        missing = [i for i, v in enumerate(found) if v is None]
        cache = self._usable_cache() if use_cache and missing else None
        for i, vector in zip(missing, cache.lookup([hashes[i] for i in missing]) if cache else (),
                             strict=False):
            found[i] = vector
        todo = [i for i, v in enumerate(found) if v is None]
        if todo:
            fresh = self.embedder.embed_passages([passages[i] for i in todo])
            self.embedded += len(todo)
            for i, vector in zip(todo, fresh, strict=True):
                found[i] = vector
            if self.cache is not None:
                self.cache.add([hashes[i] for i in todo], fresh)
        vectors = [v for v in found if v is not None]  # every row has one now
        if self.shared is not None:
            self._unshared.update((h, v) for h, v in zip(hashes, vectors, strict=True)
                                  if not use_cache or h not in stored)
        return np.stack(vectors).astype(np.float32)

    def _share_vectors(self, replace: bool = False) -> None:
        """Store the queued vectors in the database for every other worker and machine."""
        if self.shared is None or not self._unshared:
            return
        queued, self._unshared = self._unshared, {}
        self.shared.add(list(queued), list(queued.values()), replace=replace)

    def _usable_cache(self):
        """The embedding cache, verified once against the embedder (probes re-embedded)."""
        if self.cache is None or self._cache_checked:
            return self.cache
        try:
            self.embedded += len(self.cache.probes)
            self.cache.verify(self.embedder, lambda texts: [text_hash(t) for t in texts])
        except CacheMismatch as mismatch:
            log.warning("index: embedding cache not used: %s", mismatch)
            self.cache = None
        self._cache_checked = True
        return self.cache

    def save(self, at_exit: bool = False) -> None:
        if self.store is None:
            return
        with self._save_lock:
            if self._exiting and not at_exit:
                return  # the exit handler saves what there is; a save begun now would be cut
            self._dirty = False
            self.store.save(self.corpus, self.embedder)

    def save_if_changed(self, at_exit: bool = False) -> None:
        """At exit (e.g. `flask import`): keep the chunks indexed so far, vectors or not; the
        next process loads them and embeds what is missing."""
        if self._dirty and self.store is not None:
            self.save(at_exit)

    def close(self) -> None:
        """When the app closes (commands.services.Services.close; at process exit): stop
        following the release events, wait for a save in progress, then save what changed."""
        self._stop_following.set()
        if self._follower is not None and self._follower is not threading.current_thread():
            self._follower.join(timeout=5)  # not reading the database while it is closed
        with self._save_lock:
            self._exiting = True
        self.save_if_changed(at_exit=True)

    # -- search ----------------------------------------------------------------------------
    def search(self, query: str, k: int = 5, *, mode: str = "hybrid", include_expired: bool = False,
               audience: str | None = None, topic: str | None = None, region: str | None = None,
               issuing_body: str | None = None, releases=None, opening: str | None = None) -> list[Hit]:
        """`opening`: the question that opened the topic this one follows (QueryReader.read_follow_up)."""
        query = _check(query, k, mode)
        if self.error:
            raise SearchError(self.error)
        self._watch_database()
        filters = Filters(self.today(), include_expired, audience, topic, region, issuing_body,
                          frozenset(releases) if releases is not None else None)
        corpus = self.corpus.view()
        read = self.reader.read_follow_up(query, opening.strip(), corpus) if opening and opening.strip() \
            else self.reader.read(query, corpus)
        admitted = {d for d, meta in corpus.docs.items() if filters.admits(meta, corpus.validity(d))}
        found, evidence = self._first_stage(corpus, read, mode, admitted, max(k, CANDIDATES))
        scores, reranked = found.scores, {}
        if self.ranker is not None and mode == "hybrid" and found.cosine:
            scores, reranked = self.ranker.rerank(corpus, read.normal, found)
        scores = fusion.apply_preference(scores, self._preferred(corpus, scores), PREFERRED_FACTOR)
        named = self._named_rows(corpus, read.asked, admitted, scores)
        scores = fusion.apply_named(scores, named)
        ranked = _with_policies(corpus, fusion.top(scores, len(scores)), admitted, k)
        named_docs = {corpus.records[r].chunk.doc_id for r in named}
        why = explain(corpus, evidence, [row for row, _ in ranked], named_docs, self.expander)
        return [self._hit(corpus, row, score, filters.today, reranked.get(row), why[row])
                for row, score in ranked]

    def candidates(self, query: str, mode: str = "hybrid") -> tuple[View, ReadQuestion, Candidates]:
        """The first stage's candidates with their signals, over everything published (the
        second stage's training data: training/ranker.py)."""
        corpus = self.corpus.view()
        read = self.reader.read(_check(query, 1, mode), corpus)
        return corpus, read, self._first_stage(corpus, read, mode, set(corpus.docs), CANDIDATES)[0]

    def _first_stage(self, corpus, read: ReadQuestion, mode, admitted, n) -> tuple[Candidates, Evidence]:
        """Fused scores of the candidate rows, pooled by document, with their BM25 and cosine;
        and what each retriever saw (for the hits' signals)."""
        scores, signals, evidence = self._fused(corpus, read, mode, admitted, n)
        scores = {row: s for row, s in scores.items() if row in corpus.records}  # this view's rows
        scores = fusion.document_support(scores, self._doc_of(corpus), self.tuning.doc_weight,
                                         self.tuning.doc_top)
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
        evidence = Evidence(read, index.rows, sparse, bm25, dense, vector)
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

    @staticmethod
    def _doc_of(corpus):
        records = corpus.records
        return lambda row: records[row].chunk.doc_id

    def _bm25_scores(self, corpus, sparse, query, admitted) -> np.ndarray:
        """BM25 score of every chunk (aligned with sparse.rows); -1 where filtered out."""
        tokens = self.expander.expand(corpus.tokenizer.tokens(query), query, corpus.tokenizer)
        scores = sparse.scores(tokens)
        return np.where(sparse.mask(admitted) & (scores > 0), scores, -1.0) if len(scores) else scores

    def _dense_scores(self, corpus, read: ReadQuestion, admitted, n) -> dict[int, float]:
        vector = self._query_vector(read)
        allowed = None if len(admitted) == len(corpus.docs) else \
            {r for d in admitted for r in corpus.rows_of.get(d, ())}
        with corpus.lock:
            rows, scores = corpus.dense.search(vector, n, allowed)
        return dict(zip(rows, scores, strict=True))

    def _query_vector(self, read: ReadQuestion) -> np.ndarray:
        """The question's vector; a follow-up's is the normalised sum of its own and its
        opening question's (index.query)."""
        vector = self._text_vector(read.dense)
        if read.opening_dense is None:
            return vector
        joined = vector + self._text_vector(read.opening_dense)
        norm = float(np.linalg.norm(joined))
        return joined / norm if norm > 0 else vector

    def _text_vector(self, query: str) -> np.ndarray:
        """Repeated questions (and hybrid after dense) reuse the vector: ~10–60 ms each."""
        vector = self._recent_queries.get(query)
        if vector is None:
            vector = self.embed_queries([query])[0]
            with self._query_lock:
                if len(self._recent_queries) >= QUERY_CACHE_SIZE:
                    self._recent_queries.pop(next(iter(self._recent_queries)))
                self._recent_queries[query] = vector
        return vector

    def embed_queries(self, texts: list[str]) -> np.ndarray:
        """L2-normalised query vectors (e.g. to group similar questions)."""
        return self.embedder.embed_queries(list(texts))

    @staticmethod
    def _preferred(corpus, scores) -> set[int]:
        return {row for row in scores if row in corpus.records and (
            corpus.records[row].chunk.source == "faq"
            or corpus.docs[corpus.records[row].chunk.doc_id].kind == "interpretation")}

    @staticmethod
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

    @staticmethod
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
                   signals=signals)


def _iso(day: dt.date | None) -> str | None:
    return day.isoformat() if day else None


def _best(rows: np.ndarray, scores: np.ndarray, n: int) -> dict[int, float]:
    """The n best positive scores as {row: score}, best first."""
    if not len(scores):
        return {}
    best = np.argsort(-scores, kind="stable")[:n]
    return {int(rows[i]): float(scores[i]) for i in best if scores[i] > 0}


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


def _fingerprint(db: Database) -> tuple:
    """Changes whenever a document is added or its visibility or status changes."""
    with db.read() as conn:
        return doc_store.change_marker(conn)


class _Progress:
    """Logs the background embedding's progress and saves what is done every few minutes."""
    LOG_EVERY, SAVE_EVERY = 30.0, 300.0

    def __init__(self, service: SearchService, total: int):
        self.service, self.total, self.done = service, total, 0
        self.logged = self.saved = time.monotonic()

    def __call__(self, n: int) -> None:
        self.done += n
        now = time.monotonic()
        if now - self.logged >= self.LOG_EVERY:
            log.info("index: embedded %d/%d chunks (BM25 answers meanwhile)", self.done, self.total)
            self.logged = now
        if now - self.saved >= self.SAVE_EVERY:
            self.service.save()
            self.saved = now


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


def _check(query, k, mode) -> str:
    if mode not in MODES:
        raise SearchError(f"unknown mode {mode!r} (one of {', '.join(MODES)})")
    if not isinstance(k, int) or k < 1:
        raise SearchError(f"k must be a positive integer, not {k!r}")
    if not isinstance(query, str) or not query.strip():
        raise SearchError("the question is empty")
    return query.strip()

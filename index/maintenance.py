"""The index's write path: what the database says is public becomes the corpus that the
read path (index.service.SearchService) searches.

    search = SearchService(embedder, CorpusIndex(PolicyTokenizer(), embedder.dim), today=...)
    maintainer = IndexMaintainer(db, search, store=..., shared=...)
    maintainer.start()                # load the index from disk / catch up with the database

Published documents become chunks (BM25 at once), then vectors (from the database, the
embedding cache, or embedded by a background thread), so a new instance, or a new
publication, is searchable at once by words and shortly after by meaning. `on_published` /
`on_removed` are the release workflow's hooks; `follow` applies the release events of other
workers and machines; `rebuild` is the reindex. Changes go to the search service's current
corpus, which publishes each one whole (index.corpus); a whole new corpus (loaded, rebuilt)
is handed over with `SearchService.open`. The maintainer knows the search service; the search
service never knows the maintainer.

Building the maintainer reads nothing and starts no thread: `start()` (once; the app's start
phase, server.start) loads the index. Until then the hooks and the events are ignored, since
start() catches up with whatever the database holds by then.
"""
from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

import numpy as np

from index.cache import CacheMismatch
from index.corpus import CorpusIndex, text_hash
from index.service import SearchService
from index.storage import IndexMismatch
from index.tokenizer import PolicyTokenizer
from interpretations import events
from policies import store as doc_store
from policies.db import Database

log = logging.getLogger("policybot.index")

SHARE_EVERY = 256         # vectors embedded between two writes to the database
DB_CHECK_SECONDS = 1.0


class IndexMaintainer:
    def __init__(self, db: Database, search: SearchService, *, background: bool | str = True,
                 store=None, cache=None, shared=None, apply_async: bool = False):
        self.db, self.search = db, search
        self.embedder = search.embedder  # the passages' side (the retriever may embed questions otherwise)
        # A loaded or rebuilt corpus keeps the FAISS kind of the one the search service was given.
        self.faiss_kind = search.corpus.dense.kind
        self.background = background
        self.store = store          # index.storage.IndexStore, or None (memory only)
        self.cache = cache          # index.cache.EmbeddingCache, or None
        self.shared = shared        # index.shared_vectors.SharedVectors (the database's), or None
        # True: a publication's hook only hands the documents to a thread, so the publish
        # request returns at its commit instead of after the BM25 rebuild (~0.5 s at 6,400
        # chunks, seconds on a busy machine); searches see it a moment later, as on the other
        # workers. False (the embedded default, tests): indexed before the hook returns.
        self.apply_async = apply_async
        self._applying = threading.Lock()
        self.embedded = 0           # passages this process embedded (the rest were reused)
        self._unshared: dict[str, np.ndarray] = {}  # embedded here, not yet in the database
        self._cache_checked = False
        self._dirty = False
        self._sync_lock = threading.Lock()
        self._checked_at = time.monotonic()
        self._fingerprint: tuple | None = None
        # _begun: start() was called; until then the hooks and the events are not applied
        # (start catches up with the database), and nothing is saved over the index on disk.
        self._begun = False
        # Saves are serialised, and none starts once the process is exiting: the exit handler
        # waits for a save in progress (a daemon thread killed mid-save left index/.tmp-*).
        self._save_lock = threading.Lock()
        self._exiting = False
        self._worker: threading.Thread | None = None
        self._closing = threading.Event()  # close(): the embedder stops between two batches
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
        # Another process's publication is noticed by the next search at the latest.
        search.before_search.append(self._watch_database)

    @property
    def corpus(self) -> CorpusIndex:
        """The corpus being searched: changes are made to it (each published whole by
        index.corpus); a whole new one is handed to the search service instead."""
        return self.search.corpus

    # -- lifecycle -------------------------------------------------------------------------
    def start(self) -> None:
        """Load the saved index (if any, and if it fits the embedder), then catch up with the
        database: what was published or retired while no index was listening. An index built
        by another embedder is refused: the service stays unready and says to reindex.
        A second call does nothing."""
        if self._begun:
            return
        self._begun = True
        try:
            if self.store is not None:
                self.store.remove_leftovers()
                loaded = self.store.load_current(self.embedder, self.faiss_kind)
                if loaded is not None:
                    self.search.replace(loaded)  # searched at once; answering once caught up
                    self._dirty = loaded.retokenized  # saved again with the new tokens
        except IndexMismatch as mismatch:
            self.search.refuse(str(mismatch))
            log.error("index: %s", mismatch)
            return
        self._fingerprint = _fingerprint(self.db)
        with self.db.read() as conn:  # before the sync: what commits during it is applied again
            self.event_position = events.latest_id(conn)
        self.sync_with_database()
        self.search.open()

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
        self._begun = True
        self.search.open(fresh)  # swapped whole: searches never see it half built
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
        if not self._begun:  # start() takes the position of the latest event
            return 0
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
        if not self._begun or now - self._checked_at < DB_CHECK_SECONDS:
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

    def status(self) -> dict:
        """The search service's figures, and how many passages this process embedded."""
        return {**self.search.status(), "embedded": self.embedded}

    # -- release hooks ---------------------------------------------------------------------
    def on_published(self, infos) -> None:
        self._apply([doc_id for info in infos for doc_id in info.document_ids])

    def on_removed(self, infos) -> None:
        self._apply([doc_id for info in infos for doc_id in info.document_ids])

    def _apply(self, doc_ids: list[str]) -> None:
        if not self._begun:  # not started (an app only built): start() reads what was committed
            return
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
            self.search.learn_new_words()
            if changed:
                self.save()
            return
        self._idle.clear()
        self._wake.set()
        if self._closing.is_set():  # closed: the next process embeds what is missing
            return
        if self._worker is None or not self._worker.is_alive():
            self._worker = threading.Thread(target=self._work, name="index-embedder", daemon=True)
            self._worker.start()

    def _work(self) -> None:
        while True:
            self._wake.wait()
            self._wake.clear()
            if self._closing.is_set():
                return
            try:
                # Vectors first (from the database, else embedded): hybrid search is complete
                # once they are in; the directory on disk is only this machine's cache now.
                pending = len(self.corpus.rows_without_vectors())
                if self.embed_pending(progress=_Progress(self, pending)):
                    self._dirty = True
                self.search.learn_new_words()
                self.save_if_changed()
            except Exception:  # keep serving by BM25; the next change retries
                log.exception("index: embedding or saving failed")
            if self._closing.is_set():  # stopped part way: not idle, the vectors are not all in
                return
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
            if self._closing.is_set():  # what is embedded so far is kept (close saves it)
                break
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
        following the release events, stop the embedder between two batches, wait for a save
        in progress, then save what changed (the vectors still missing are embedded, or taken
        from the database, by the next process)."""
        self._closing.set()
        self._stop_following.set()
        self._wake.set()
        for thread, timeout in ((self._follower, 5), (self._worker, 30)):
            if thread is not None and thread is not threading.current_thread():
                thread.join(timeout=timeout)  # not reading the database while it is closed
        with self._save_lock:
            self._exiting = True
        self.save_if_changed(at_exit=True)


def _fingerprint(db: Database) -> tuple:
    """Changes whenever a document is added or its visibility or status changes."""
    with db.read() as conn:
        return doc_store.change_marker(conn)


class _Progress:
    """Logs the background embedding's progress and saves what is done every few minutes."""
    LOG_EVERY, SAVE_EVERY = 30.0, 300.0

    def __init__(self, maintainer: IndexMaintainer, total: int):
        self.maintainer, self.total, self.done = maintainer, total, 0
        self.logged = self.saved = time.monotonic()

    def __call__(self, n: int) -> None:
        self.done += n
        now = time.monotonic()
        if now - self.logged >= self.LOG_EVERY:
            log.info("index: embedded %d/%d chunks (BM25 answers meanwhile)", self.done, self.total)
            self.logged = now
        if now - self.saved >= self.SAVE_EVERY:
            self.maintainer.save()
            self.saved = now

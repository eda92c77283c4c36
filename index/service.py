"""The search service: the read path's door, what the bot, the pages and the commands call.

    search = SearchService(embedder, CorpusIndex(PolicyTokenizer(), embedder.dim), today=...)
    search.search("看病能报销多少", k=5)   # -> list[Hit] (index.retrieval.Retriever)

It only reads. The corpus it searches is the one the write path
(index.maintenance.IndexMaintainer) keeps current: publications change that corpus in place
(index.corpus publishes each change whole), and a whole new corpus (loaded from disk, a
reindex) is handed over with `open`, swapped in one step under a lock, so that a search runs
on one corpus from its start to its end and never on a half-built one. Whether the index may
answer at all (loaded and caught up with the database, built by this embedder) is the write
path's to say too (`open`, `refuse`); until then `ready()` is False.

This module must not import the write path (tests/test_architecture.py): the maintainer
registers itself where it needs to hear of a search (`before_search`).
"""
from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable

import numpy as np

from index.corpus import CorpusIndex
from index.dialect import Dialect
from index.embedders import Embedder
from index.hits import Hit
from index.retrieval import Retriever, SearchError, check
from policies.validity import local_today


class SearchService:
    def __init__(self, embedder: Embedder, corpus: CorpusIndex, *,
                 today: Callable[[], dt.date] | None = None, ranker=None, dialect: Dialect | None = None):
        self.embedder = embedder
        self.corpus = corpus
        self.today = today or local_today
        # It searches whatever corpus is current when a search begins (a reindex swaps it whole).
        self.retrieval = Retriever(embedder, lambda: self.corpus, self.today, ranker=ranker, dialect=dialect)
        self.error: str | None = None
        self._open = False
        self._swap_lock = threading.Lock()
        # Run at the start of every search: the write path's cheap check for a publication
        # another process made (a callable, so that this module needs nothing of the write path).
        self.before_search: list[Callable[[], None]] = []

    # -- what the write path hands over -------------------------------------------------------
    def replace(self, corpus: CorpusIndex) -> None:
        """Search `corpus` from now on (a search already running finishes on the old one)."""
        with self._swap_lock:
            self.corpus = corpus

    def open(self, corpus: CorpusIndex | None = None) -> None:
        """Answer from now on, from `corpus` when given (a reindex's, built by this embedder:
        an earlier refusal is over with it)."""
        with self._swap_lock:
            if corpus is not None:
                self.corpus = corpus
            self.error, self._open = None, True

    def refuse(self, reason: str) -> None:
        """Answer no search (SearchError with `reason`): an index this embedder cannot read."""
        with self._swap_lock:
            self.error = reason

    def learn_new_words(self) -> None:
        """The question reader's typo corrector learns the words the corpus now holds."""
        self.retrieval.reader.refresh(self.corpus.view())

    # -- state -------------------------------------------------------------------------------
    def ready(self) -> bool:
        return self._open and self.error is None

    def complete(self) -> bool:
        """Ready, and hybrid search answers from every chunk's vector (none still pending)."""
        corpus = self.corpus
        return self.ready() and len(corpus.dense) == len(corpus.records)

    def status(self) -> dict:
        corpus = self.corpus
        return {"documents": len(corpus.docs), "chunks": len(corpus.records),
                "vectors": len(corpus.dense), "embedder": self.embedder.name, "error": self.error,
                "question_engine": self.retrieval.embedder.question_engine()}

    # -- search ----------------------------------------------------------------------------
    def search(self, query: str, k: int = 5, **options) -> list[Hit]:
        """The retriever's hits (index.retrieval.Retriever.search: the options), once the
        index may answer: loaded, built by this embedder, and in step with the database."""
        query = check(query, k, options.get("mode", "hybrid"))
        if self.error:
            raise SearchError(self.error)
        for notice in self.before_search:
            notice()
        return self.retrieval.search(query, k, **options)

    def embed_queries(self, texts: list[str]) -> np.ndarray:
        """L2-normalised query vectors (e.g. to group similar questions)."""
        return self.retrieval.embed_queries(texts)

"""The index's content in memory: documents' metadata, chunks with their BM25 tokens,
the BM25 index and the FAISS vectors, kept in step. Publishing a document adds its chunks
(or only updates its metadata when its content did not change, e.g. a retirement);
removing deletes them. Vectors arrive separately (`add_vectors`), because embedding is slow:
a chunk is searchable by BM25 at once and by meaning once embedded."""
from __future__ import annotations

import dataclasses
import hashlib
import threading

import numpy as np

from index.chunking import chunk_document
from index.dense import DenseIndex
from index.records import ChunkRecord, DocMeta, passage_text, sparse_text
from index.sparse import SparseIndex
from index.tokenizer import PolicyTokenizer, corpus_words
from policies.model import Document
from policies.status import Validity


def text_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class CorpusIndex:
    def __init__(self, tokenizer: PolicyTokenizer, dim: int, faiss_kind: str = "flat"):
        self.tokenizer = tokenizer
        self.docs: dict[str, DocMeta] = {}
        self.records: dict[int, ChunkRecord] = {}
        self.rows_of: dict[str, list[int]] = {}
        self.sparse = SparseIndex.build([], [], [])
        self.dense = DenseIndex(dim, faiss_kind)
        self.next_row = 0
        self.lock = threading.RLock()  # held for every change and for FAISS searches
        self.retokenized = False  # loaded from a save of another tokenizer: save it again

    # -- changes ----------------------------------------------------------------------------
    # A change works on copies of the three maps and publishes them at the end with one
    # assignment each, so a search holding a `view()` never sees a half-made change.
    def upsert(self, documents: list[Document]) -> list[int]:
        """Add or refresh documents; returns the new rows that still need vectors."""
        with self.lock:
            self.tokenizer.add_words(corpus_words([d.title for d in documents],
                                                  [d.issuing_body for d in documents]))
            state = self._copy()
            new_rows = [row for doc in documents for row in self._upsert_one(state, doc)]
            self._publish(state)
            return new_rows

    def _upsert_one(self, state: _State, doc: Document) -> list[int]:
        meta = DocMeta.of(doc)
        old = state.docs.get(doc.id)
        state.docs[doc.id] = meta
        if old is not None and old.content_hash == meta.content_hash:
            return []  # only lifecycle fields (status) changed
        self._drop_rows(state, doc.id)
        rows = []
        for chunk in chunk_document(doc):
            record = ChunkRecord(self.next_row, chunk,
                                 tuple(self.tokenizer.tokens(sparse_text(meta, chunk))),
                                 text_hash(passage_text(meta, chunk)))
            state.records[record.row] = record
            rows.append(record.row)
            self.next_row += 1
        state.rows_of[doc.id] = rows
        return rows

    def remove(self, doc_ids: list[str]) -> None:
        with self.lock:
            state = self._copy()
            for doc_id in doc_ids:
                state.docs.pop(doc_id, None)
                self._drop_rows(state, doc_id)
            self._publish(state)

    def _drop_rows(self, state: _State, doc_id: str) -> None:
        rows = state.rows_of.pop(doc_id, [])
        for row in rows:
            state.records.pop(row, None)
        self.dense.remove(rows)

    def _copy(self) -> _State:
        return _State(dict(self.docs), dict(self.records), dict(self.rows_of))

    def _publish(self, state: _State) -> None:
        # BM25 takes the chunks that came and went (a row number is never reused, so the same
        # rows mean the same chunks; a retirement only relabels and changes none).
        added = [(r, state.records[r].tokens, state.records[r].chunk.doc_id)
                 for r in state.records.keys() - self.records.keys()]
        removed = [(r, self.records[r].tokens) for r in self.records.keys() - state.records.keys()]
        sparse = self.sparse.changed(added, removed) if added or removed else self.sparse
        self.docs, self.records, self.rows_of, self.sparse = \
            state.docs, state.records, state.rows_of, sparse

    def _rebuild_sparse(self) -> None:
        self.sparse = _build_sparse(self.records)

    def view(self) -> View:
        """A consistent picture for one search (the maps are never changed in place)."""
        with self.lock:
            return View(self.docs, self.records, self.rows_of, self.sparse, self.dense,
                        self.tokenizer, self.lock)

    def add_vectors(self, rows: list[int], vectors: np.ndarray) -> None:
        """Vectors computed outside the lock; rows removed meanwhile are skipped."""
        with self.lock:
            live = [i for i, row in enumerate(rows) if row in self.records
                    and row not in self.dense.vectors]
            if live:
                self.dense.add([rows[i] for i in live], np.asarray(vectors)[live])

    # -- reading ----------------------------------------------------------------------------
    def passage(self, row: int) -> str:
        record = self.records[row]
        return passage_text(self.docs[record.chunk.doc_id], record.chunk)

    def rows_without_vectors(self) -> list[int]:
        with self.lock:
            return [row for row in sorted(self.records) if row not in self.dense.vectors]

    def corpus_hash(self) -> str:
        """Identifies what is indexed: documents, their content and their status."""
        with self.lock:
            parts = sorted(f"{m.id}\t{m.content_hash}\t{m.status}" for m in self.docs.values())
        return text_hash("\n".join(parts))



def _build_sparse(records: dict[int, ChunkRecord]) -> SparseIndex:
    rows = sorted(records)
    return SparseIndex.build(rows, [records[r].tokens for r in rows], [records[r].chunk.doc_id for r in rows])

@dataclasses.dataclass
class _State:
    docs: dict
    records: dict
    rows_of: dict


@dataclasses.dataclass(frozen=True)
class View:
    docs: dict
    records: dict
    rows_of: dict
    sparse: SparseIndex
    dense: DenseIndex
    tokenizer: PolicyTokenizer
    lock: threading.RLock

    def validity(self, doc_id: str) -> Validity:
        """The document's standing: an interpretation's is its policy's (policies.status)."""
        meta = self.docs[doc_id]
        policy = self.docs.get(meta.interprets) if meta.interprets else None
        return Validity.of(meta, policy)

"""BM25 over the chunks' tokens, kept as an inverted index that a publication changes in place
of rebuilding: each token's postings (rows, term frequencies) and each row's length; the
statistics (number of chunks, average length, document frequency) are read at query time.

Scores are bm25s' "lucene" BM25 (k1 1.2, b 0.75) to the last bit: idf = ln(1 + (N − df + 0.5) /
(df + 0.5)) in float32, tf / (k1·(1 − b + b·len/avg) + tf), each posting's score rounded to
float32 and summed in the query's token order (a repeated token counts again). bm25s itself
has no incremental add: rebuilding it took 1–3 s per publication at 6,400 chunks on a busy
machine (the publication was searchable only after), while adding a document's postings here
takes milliseconds (tests/test_sparse_index.py compares the two).
"""
from __future__ import annotations

import collections
import functools
import math
from collections.abc import Iterable, Set

import numpy as np

K1, B = 1.2, 0.75

Postings = tuple[np.ndarray, np.ndarray]  # rows (int64, ascending), term frequencies (float64)


class SparseIndex:
    """Immutable: `build` and `changed` return a new one (sharing the postings of every token
    a change does not touch), so a search never sees a half-made index."""

    def __init__(self, rows: np.ndarray, doc_ids: list[str], lengths: np.ndarray,
                 postings: dict[str, Postings]):
        self.rows = rows            # row ids, ascending
        self.doc_ids = list(doc_ids)  # aligned with rows
        self.doc_names = sorted(set(doc_ids))
        codes = {d: i for i, d in enumerate(self.doc_names)}
        self.doc_codes = np.asarray([codes[d] for d in doc_ids], np.int32)  # aligned with rows
        self.lengths = lengths      # tokens per row (int64), aligned with rows
        self._postings = postings
        # Per token asked: where its postings sit in `rows` and what each adds to the score.
        # Both depend on this index alone (it never changes): computed at a token's first
        # query, not at every query (at most one entry per posting of the corpus).
        self._contributions: dict[str, tuple[np.ndarray, np.ndarray]] = {}

    @classmethod
    def build(cls, rows: list[int], token_lists: list, doc_ids: list[str]) -> SparseIndex:
        empty = cls(np.zeros(0, np.int64), [], np.zeros(0, np.int64), {})
        return empty.changed(list(zip(rows, token_lists, doc_ids, strict=True)), [])

    def changed(self, added: Iterable[tuple[int, tuple[str, ...], str]],
                removed: Iterable[tuple[int, tuple[str, ...]]]) -> SparseIndex:
        """A new index without the `removed` (row, tokens) and with the `added` (row, tokens,
        doc id); only the postings of the tokens they use are rebuilt."""
        added, removed = list(added), list(removed)
        dead = _flags([row for row, _ in removed], self.rows)  # by row id: no sort per token
        keep = ~dead[self.rows]
        rows = np.concatenate([self.rows[keep], np.asarray([r for r, _, _ in added], np.int64)])
        lengths = np.concatenate([self.lengths[keep], np.asarray([len(t) for _, t, _ in added], np.int64)])
        doc_ids = [d for d, k in zip(self.doc_ids, keep, strict=True) if k] + [d for _, _, d in added]
        order = np.argsort(rows, kind="stable")
        if np.any(order != np.arange(len(rows))):  # new rows are numbered after the old ones
            rows, lengths, doc_ids = rows[order], lengths[order], [doc_ids[i] for i in order]
        postings = dict(self._postings)
        for token in {t for _, tokens in removed for t in tokens}:
            old = postings.pop(token, None)
            if old is not None:
                left = ~dead[old[0]]
                if left.any():
                    postings[token] = (old[0][left], old[1][left])
        for token, (new_rows, counts) in _postings_of(added).items():
            old = postings.get(token)
            if old is None:
                postings[token] = (new_rows, counts)
            else:
                merged_rows = np.concatenate([old[0], new_rows])
                merged_counts = np.concatenate([old[1], counts])
                if old[0][-1] > new_rows[0]:  # not numbered after the old ones (never in the corpus)
                    by_row = np.argsort(merged_rows, kind="stable")
                    merged_rows, merged_counts = merged_rows[by_row], merged_counts[by_row]
                postings[token] = (merged_rows, merged_counts)
        return SparseIndex(rows, doc_ids, lengths, postings)

    def mask(self, admitted: Set[str]) -> np.ndarray:
        """True for the rows whose document is admitted by the filters."""
        allowed = np.fromiter((d in admitted for d in self.doc_names), bool, len(self.doc_names))
        return allowed[self.doc_codes] if len(self.rows) else np.zeros(0, bool)

    def __len__(self) -> int:
        return len(self.rows)

    @functools.cached_property
    def document_frequency(self) -> dict[str, int]:
        """How many chunks use each token."""
        return {token: len(rows) for token, (rows, _) in self._postings.items()}

    def idf(self, token: str) -> float:
        """BM25's inverse document frequency; that of a token no chunk has for unknown ones."""
        n, df = len(self.rows), self.document_frequency.get(token, 0)
        return math.log(1.0 + (n - df + 0.5) / (df + 0.5))

    @functools.cached_property
    def _norm(self) -> np.ndarray:
        """k1·(1 − b + b·len/avg) per row (float64, as bm25s computes it)."""
        average = self.lengths.mean() if len(self.lengths) else 1.0
        return K1 * ((1 - B) + B * self.lengths / average)

    def scores(self, tokens: list[str]) -> np.ndarray:
        """BM25 score of every chunk (aligned with `rows`); zeros for unknown words."""
        out = np.zeros(len(self.rows), np.float32)
        for token in tokens:
            found = self._contribution(token)
            if found is not None:
                positions, added = found
                np.add.at(out, positions, added)
        return out

    def _contribution(self, token: str) -> tuple[np.ndarray, np.ndarray] | None:
        """(positions in `rows`, float32 score added at each) of a token's postings."""
        known = self._contributions.get(token)
        if known is not None:
            return known
        found = self._postings.get(token)
        if found is None:
            return None
        rows, counts = found
        n = len(self.rows)
        positions = np.searchsorted(self.rows, rows)
        idf = np.float32(math.log(1 + (n - len(rows) + 0.5) / (len(rows) + 0.5)))
        tfc = counts / (self._norm[positions] + counts)
        known = self._contributions[token] = (positions, (np.float64(idf) * tfc).astype(np.float32))
        return known


def _flags(rows: list[int], existing: np.ndarray) -> np.ndarray:
    """A boolean array indexed by row id, True for `rows`."""
    size = max(int(existing.max(initial=-1)), max(rows, default=-1)) + 1
    flags = np.zeros(size, bool)
    flags[rows] = True
    return flags


def _postings_of(added: list[tuple[int, tuple[str, ...], str]]) -> dict[str, Postings]:
    """The postings of the added rows, each token's rows ascending (flat lists and one sort:
    a whole corpus of 6,400 chunks has ~680,000 row-token pairs)."""
    rows: list[int] = []
    tokens: list[str] = []
    counts: list[int] = []
    for row, chunk_tokens, _ in sorted(added, key=lambda item: item[0]):
        counted = collections.Counter(chunk_tokens)
        rows.extend([row] * len(counted))
        tokens.extend(counted.keys())
        counts.extend(counted.values())
    if not rows:
        return {}
    vocabulary: dict[str, int] = {}
    ids = np.fromiter((vocabulary.setdefault(t, len(vocabulary)) for t in tokens), np.int64, len(tokens))
    order = np.argsort(ids, kind="stable")  # by token, rows still ascending within each
    starts = np.searchsorted(ids[order], np.arange(len(vocabulary)))
    by_row = np.asarray(rows, np.int64)[order]
    by_count = np.asarray(counts, np.float64)[order]
    row_parts, count_parts = np.split(by_row, starts[1:]), np.split(by_count, starts[1:])
    return {token: (row_parts[i], count_parts[i]) for token, i in vocabulary.items()}

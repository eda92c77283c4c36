"""BM25 as an inverted index changed in place (index/sparse.py) gives bm25s' "lucene" scores to
the last bit, built at once or changed a publication at a time (issue 15: rebuilding bm25s on
every publication kept a new release unsearchable for seconds)."""
from __future__ import annotations

import json
import random

import bm25s
import numpy as np
import pytest

from index.corpus import CorpusIndex
from index.sparse import SparseIndex
from index.tokenizer import PolicyTokenizer
from policies.model import Document
from tests.conftest import DEMO


@pytest.fixture(scope="module")
def chunks():
    """(row, tokens, doc id) of the chunks of 25 demo documents, as the corpus makes them."""
    docs = [Document.from_record(json.loads(line))
            for line in DEMO.read_text(encoding="utf-8").splitlines()[:25]]
    corpus = CorpusIndex(PolicyTokenizer(), 8)
    corpus.upsert(docs)
    return [(r, corpus.records[r].tokens, corpus.records[r].chunk.doc_id) for r in sorted(corpus.records)]


def reference(chunks) -> bm25s.BM25:
    """bm25s as the index used it before (k1 1.2, b 0.75, the chunks in row order)."""
    retriever = bm25s.BM25(k1=1.2, b=0.75)
    retriever.index([list(tokens) for _, tokens, _ in chunks], show_progress=False)
    return retriever


def queries(chunks, n=60) -> list[list[str]]:
    rng = random.Random(15)
    out = []
    for _ in range(n):
        _, tokens, _ = rng.choice(chunks)
        out.append([rng.choice(tokens) for _ in range(rng.randint(1, 8))] if tokens else [])
    return out + [["失业", "保险金", "失业"], ["没有这个词"]]


def same_as_bm25s(index: SparseIndex, chunks) -> None:
    retriever = reference(chunks)
    assert list(index.rows) == [r for r, _, _ in chunks]
    for query in queries(chunks):
        known = [t for t in query if t in retriever.vocab_dict]
        expected = (np.asarray(retriever.get_scores(known), np.float32) if known
                    else np.zeros(len(chunks), np.float32))
        assert np.array_equal(index.scores(query), expected), query
    counts = np.diff(np.asarray(retriever.scores["indptr"]))
    expected_df = {t: int(counts[i]) for t, i in retriever.vocab_dict.items()
                   if i < len(counts) and counts[i]}
    assert index.document_frequency == expected_df


def test_built_at_once_it_scores_as_bm25s(chunks):
    same_as_bm25s(SparseIndex.build(*map(list, zip(*chunks, strict=True))), chunks)


def test_changed_a_publication_at_a_time_it_scores_as_bm25s_rebuilt(chunks):
    by_doc: dict[str, list] = {}
    for chunk in chunks:
        by_doc.setdefault(chunk[2], []).append(chunk)
    docs = list(by_doc)
    first = [c for d in docs[:18] for c in by_doc[d]]
    index = SparseIndex.build(*map(list, zip(*first, strict=True)))
    for doc in docs[18:]:  # published one by one
        index = index.changed(by_doc[doc], [])
    withdrawn = set(docs[3:8])
    index = index.changed([], [(r, t) for r, t, d in chunks if d in withdrawn])
    left = [c for c in chunks if c[2] not in withdrawn]
    same_as_bm25s(index, left)
    assert index.mask(set(docs[:2])).sum() == sum(len(by_doc[d]) for d in docs[:2])

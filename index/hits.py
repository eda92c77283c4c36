"""What a search returns: one passage of a published document, with everything a reply
needs to quote it (《title》, 文号, issuing body, date, validity)."""
from __future__ import annotations

import dataclasses


@dataclasses.dataclass(frozen=True)
class Signals:
    """The evidence behind a hit, for deciding whether it answers the question at all
    (fused scores only rank the candidates of one question against each other)."""
    cosine: float | None      # dense cosine of the question and the passage; None: not measured
    bm25: float               # the passage's BM25 score for the question (0: no word in common)
    bm25_best: float          # the best BM25 score any passage got for this question
    bm25_z: float             # the passage's BM25 in standard deviations above the candidates' mean
    cosine_z: float | None    # the same for its cosine (a clear winner stands out, a vague match not)
    coverage: float           # IDF-weighted share of the question's content words (those the
    #                           corpus uses) found in the passage, its title or its headings
    passage_coverage: float   # the same share found in the passage and its headings alone
    #                           (tells the passages of one document apart)
    message_coverage: float   # the same for the words of the message alone: a follow-up's own
    #                           words without its topic's question (else = passage_coverage)
    title_coverage: float     # the same share found in the document's title
    unknown_share: float      # share of the question's content words the corpus never uses
    lexical_rank: int | None  # rank of the hit's document by BM25 alone (0 first); None: not
    dense_rank: int | None    # among the candidates; the same by dense vectors alone
    named: bool               # the question names the document (文号 or title)
    subject_coverage: float = 1.0  # message_coverage of the message's words but its asking words
    #                           (多久, 多少: index.signals.names): what it names, not what it asks
    #                           (1.0 when it names nothing: 「多久能批下来」; so subject_literal)
    subject_literal: float = 1.0  # the share of those the corpus uses that it says as the message
    #                           does (养老金), and the share it says only in their official terms
    subject_otherwise: float = 0.0  # (养老保险 for 养老金: data/index/synonyms.tsv)
    subject_title: float = 1.0  # the share of what it names that the document's title says, in
    #                           any of its forms (a document about it, not one mentioning it)


@dataclasses.dataclass(frozen=True)
class Hit:
    doc_id: str
    title: str
    doc_number: str | None
    kind: str                     # policy | interpretation
    interprets: str | None
    article: str | None           # e.g. "第五十四条"
    heading_path: tuple[str, ...]
    text: str
    score: float
    status: str                   # effective | expired | repealed | amended
    in_force: bool                # status effective and inside the validity window today
    issuing_body: str | None
    publish_date: str | None
    valid_from: str | None        # status and dates: an interpretation's are its policy's
    valid_until: str | None
    chunk_id: str
    start: int                    # offsets of the chunk in the document text (-1: not in text)
    end: int
    source: str                   # "text" | "faq" (an official Q&A pair) | "section" | "table"
    # The second stage's estimate (0..1) that this passage answers the question; None when
    # the passage was not reranked (not among the first stage's best, or no ranker).
    rerank_score: float | None = None
    signals: Signals | None = None  # set by the search service, for the answer decision
    region: str | None = None       # where the document applies (全国, 广东省广州市 …)
    topics: tuple[str, ...] = ()    # the document's topics: what a reply that found nothing offers
    list_text: str | None = None    # the short list the passage is an item of, whole: what a reply
    #                                 quotes when it has room (index.chunking.enclosing_list)

    def to_json(self) -> dict:
        record = dataclasses.asdict(self)
        record["heading_path"] = list(self.heading_path)
        record["topics"] = list(self.topics)
        return record

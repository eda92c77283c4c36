"""What a search returns: one passage of a published document, with everything a reply
needs to quote it (《title》, 文号, issuing body, date, validity)."""
from __future__ import annotations

import dataclasses


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
    valid_until: str | None
    chunk_id: str
    start: int                    # offsets of the chunk in the document text (-1: not in text)
    end: int
    source: str                   # "text" | "faq" (an official Q&A pair) | "section" | "table"
    # The second stage's estimate (0..1) that this passage answers the question; None when
    # the passage was not reranked (not among the first stage's best, or no ranker).
    rerank_score: float | None = None

    def to_json(self) -> dict:
        record = dataclasses.asdict(self)
        record["heading_path"] = list(self.heading_path)
        return record

"""Retrieval quality on labelled questions (shared/corpus/FORMAT.md, "Measures").

A passage is a hit for a relevant {doc_id, article} when it belongs to that document and,
where an article is given, lies inside that article or holds a line starting with its
heading (第五十四条)."""
from __future__ import annotations

import dataclasses
import json
import math
import pathlib

from index.hits import Hit

DEFAULT_KS = (1, 3, 5, 10, 100)


@dataclasses.dataclass(frozen=True)
class Question:
    qid: str
    question: str
    relevant: tuple[tuple[str, str | None], ...]


def read_questions(path: pathlib.Path | str) -> list[Question]:
    questions = []
    with open(path, encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
                relevant = tuple((r["doc_id"], r.get("article")) for r in record["relevant"])
                questions.append(Question(record["qid"], record["question"], relevant))
            except (ValueError, KeyError, TypeError) as error:
                raise ValueError(f"{path}:{number}: not a question line ({error})") from error
    return questions


def is_hit(hit: Hit, doc_id: str, article: str | None) -> bool:
    return chunk_matches(hit.doc_id, hit.article, hit.text, doc_id, article)


def chunk_matches(chunk_doc: str, chunk_article: str | None, text: str, doc_id: str,
                  article: str | None) -> bool:
    """Whether a passage (its document, article and text) is a hit for {doc_id, article}."""
    if chunk_doc != doc_id:
        return False
    if article is None or chunk_article == article:
        return True
    return any(_starts_with_heading(line, article) for line in text.splitlines())


def _starts_with_heading(line: str, article: str) -> bool:
    return line.startswith(article) and not line[len(article):].startswith("之")


@dataclasses.dataclass
class Metrics:
    ks: tuple[int, ...]
    recall: dict[int, float]
    mrr10: float
    ndcg10: float
    questions: int

    def as_dict(self) -> dict:
        out = {f"recall@{k}": round(self.recall[k], 4) for k in self.ks}
        out.update({"mrr@10": round(self.mrr10, 4), "ndcg@10": round(self.ndcg10, 4),
                    "questions": self.questions})
        return out


def score_ranking(hits: list[Hit], relevant, ks) -> tuple[dict[int, float], float, float]:
    """Recall@k for each k, reciprocal rank (top 10) and nDCG@10 of one question."""
    first_rank: dict[tuple, int] = {}  # relevant item -> rank of its first hit
    gains: list[float] = []
    for rank, hit in enumerate(hits, 1):
        matched = [item for item in relevant if is_hit(hit, *item)]
        for item in matched:
            first_rank.setdefault(item, rank)
        fresh = [item for item in matched if first_rank[item] == rank]
        gains.append(1.0 if fresh else 0.0)
    recall = {k: sum(1 for r in first_rank.values() if r <= k) / len(relevant) for k in ks}
    first_any = next((rank for rank, g in enumerate(_any_hit(hits, relevant), 1) if g), None)
    rr = 1.0 / first_any if first_any and first_any <= 10 else 0.0
    dcg = sum(g / math.log2(i + 2) for i, g in enumerate(gains[:10]))
    ideal = sum(1 / math.log2(i + 2) for i in range(min(len(relevant), 10)))
    return recall, rr, dcg / ideal


def _any_hit(hits, relevant):
    return [any(is_hit(hit, *item) for item in relevant) for hit in hits]


def evaluate(service, questions: list[Question], *, mode: str = "hybrid",
             ks=DEFAULT_KS) -> Metrics:
    ks = tuple(sorted(set(ks)))
    depth = max(max(ks), 10)
    totals = {k: 0.0 for k in ks}
    mrr = ndcg = 0.0
    for question in questions:
        hits = service.search(question.question, depth, mode=mode, include_expired=True)
        recall, rr, nd = score_ranking(hits, question.relevant, ks)
        for k in ks:
            totals[k] += recall[k]
        mrr += rr
        ndcg += nd
    n = max(len(questions), 1)
    return Metrics(ks, {k: totals[k] / n for k in ks}, mrr / n, ndcg / n, len(questions))

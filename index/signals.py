"""Why a hit was found, in absolute terms (index.hits.Signals): the fused score says a
passage beat the other candidates of one question, not that it answers it. The bot's answer
decision reads these: how much of the question's own vocabulary a passage covers (rare words
weigh more, words the corpus never uses are counted apart), its BM25 score and cosine, and
whether the two retrievers agree on its document. With a tuned model's lens, the cosine is
read through it (index/tuned.py)."""
from __future__ import annotations

import dataclasses
import functools
import re
import unicodedata

import numpy as np

from index.hits import Signals
from index.memo import Memo
from index.query import ASKING_RE, ReadQuestion
from index.synonyms import Expander

PREDICATE_RE = re.compile(r"[能可会要想该得].")  # 能领, 可以, 要交: a modal and its verb
# A question's words: each with its weight (IDF) and the forms a passage may say it in.
Forms = dict[str, tuple[float, tuple[str, ...]]]
# Passages (and title + passage) whose normalised form is kept: a message's searches (alone,
# with its topic, within a release) rank many of the same passages, and so do the questions of
# a day; normalising them was half the cost of `explain` (bench/bench_message_cost.py).
NORMALISED_TEXTS = 4096
# A question's words with their weights and forms, kept for the BM25 index and the words they
# were computed with: a message's searches weigh the same texts (index.memo).
QUESTION_WORDS_KEPT = 512
_question_words: Memo[tuple[list[str], dict[str, float], Forms]] = Memo(QUESTION_WORDS_KEPT)


@dataclasses.dataclass
class Evidence:
    """What the retrievers saw of one question."""
    read: ReadQuestion
    sparse_rows: np.ndarray            # row ids, aligned with `sparse`
    sparse: np.ndarray | None          # BM25 score of every chunk (-1: filtered out); None: unused
    bm25_top: dict[int, float]         # BM25's best rows, best first
    dense_top: dict[int, float]        # the dense retriever's best rows (cosines), best first
    vector: np.ndarray | None          # the question's vector when the dense side ran
    lens: np.ndarray | None = None     # the same through the tuned model's lens (index/tuned.py)


def explain(view, evidence: Evidence, rows: list[int], named: set[str],
            expander: Expander | None = None) -> dict[int, Signals]:
    # forms: each word as it is asked or in its official forms; literal: only as it is asked
    words, known, forms = _words_of(evidence.read.normal, view, expander)
    literal: Forms = {w: (idf, (w,)) for w, idf in known.items()}
    message = _message_forms(evidence.read, forms, view, expander)
    subject = {w: said for w, said in message.items() if names(w)}
    known_subject = {w: said for w, said in subject.items() if w in view.sparse.document_frequency}
    subject_literal: Forms = {w: (weight, (w,)) for w, (weight, _) in known_subject.items()}
    unknown_share = (len(words) - len(known)) / len(words) if words else 1.0
    lexical, dense = _doc_ranks(view, evidence.bm25_top), _doc_ranks(view, evidence.dense_top)
    bm25 = _bm25_of(evidence, rows)
    best = float(max(evidence.bm25_top.values(), default=0.0))
    bm25_spread = _spread(evidence.bm25_top.values())
    cosine_spread = _spread(evidence.dense_top.values())
    through_lens = _lens_cosines(view, evidence, rows)
    said = _Said(forms, literal, message, subject, known_subject, subject_literal)
    out = {}
    for row in rows:
        chunk = view.records[row].chunk
        title = view.docs[chunk.doc_id].title
        cosine = _cosine(view, evidence, row)
        passage = " ".join([*chunk.heading_path, chunk.text])
        in_passage, in_title = said.in_text(passage), said.in_text(title)
        covered = said.share(forms, in_passage)
        out[row] = Signals(
            cosine=through_lens.get(row, cosine) if cosine is not None else None,
            bm25=bm25.get(row, 0.0), bm25_best=best,
            bm25_z=_z(bm25.get(row, 0.0), bm25_spread),
            cosine_z=None if cosine is None or cosine_spread is None else _z(cosine, cosine_spread),
            coverage=said.share(literal, said.in_joined(title, passage, in_title, in_passage)),
            passage_coverage=covered,
            message_coverage=covered if message is forms else said.share(message, in_passage),
            title_coverage=said.share(literal, in_title), unknown_share=unknown_share,
            lexical_rank=lexical.get(chunk.doc_id), dense_rank=dense.get(chunk.doc_id),
            named=chunk.doc_id in named,
            subject_coverage=said.share(subject, in_passage) if subject else 1.0,
            subject_literal=(as_said := said.share(subject_literal, in_passage) if known_subject else 1.0),
            subject_otherwise=said.share(known_subject, in_passage) - as_said if known_subject else 0.0,
            subject_title=said.share(subject, in_title) if subject else 1.0)
    return out


class _Said:
    """Which of a question's word forms a text says, each form looked up once per text: a hit's
    eight coverages ask about the same few forms in its passage and its title (profiled
    2026-12-05: the coverages were half of `explain`, and `explain` a third of a search)."""

    def __init__(self, *kinds: Forms):
        self.forms = frozenset(f for kind in kinds for _, said in kind.values() for f in said)
        # A form found in neither the title nor the passage can still span the space that joins
        # them only if it holds a space itself: only those are looked for in the joined text.
        self.spaced = frozenset(f for f in self.forms if " " in f)
        self._kinds = kinds  # held: their totals are found by identity
        self._totals = {id(kind): sum([weight for weight, _ in kind.values()]) for kind in kinds}
        self._texts: dict[str, frozenset[str]] = {}  # a document's title, asked for each of its hits

    def in_text(self, text: str) -> frozenset[str]:
        found = self._texts.get(text)
        if found is None:
            haystack = _normalised(text)
            found = self._texts[text] = frozenset(f for f in self.forms if f in haystack)
        return found

    def in_joined(self, title: str, passage: str, in_title: frozenset[str],
                  in_passage: frozenset[str]) -> frozenset[str]:
        """The forms `title + " " + passage` says (normalising keeps the joining space)."""
        either = in_title | in_passage
        if not self.spaced:
            return either
        haystack = _normalised(" ".join([title, passage]))
        return either | frozenset(f for f in self.spaced if f in haystack)

    def share(self, forms: Forms, said: frozenset[str]) -> float:
        """The weighted share of `forms`' words the text that says `said` says, in any of their
        forms (rare words weigh more)."""
        total = self._totals[id(forms)]
        if total <= 0:
            return 0.0
        return sum([weight for weight, forms_of in forms.values() if not said.isdisjoint(forms_of)]) / total


def names(word: str) -> bool:
    """Whether a message's word names what it is about (养老金, 医保), not what it asks: an
    asking word (index.query ASKING_RE: 多久, 多少), a single character (交, 领, 涨: verbs, and
    said by nearly every passage as a character of another word) or a modal with its verb
    (能领, 要交: the asking of 「能领多少钱」, which the 失业金 FAQ says too)."""
    return len(word) > 1 and not ASKING_RE.fullmatch(word) and not PREDICATE_RE.fullmatch(word)


def _message_forms(read: ReadQuestion, forms: Forms, view, expander: Expander | None) -> Forms:
    """The forms of the message's own words: a follow-up's without its topic's question (what
    tells the topic's passages apart: the topic's words are in most of them); else `forms`.
    Without its single characters, unless it has no other word: passages on every subject say
    办, 钱 or 交 inside other words (「可以在网上办吗」 after 租房备案 quoted a list of offices for
    the 办 of 办公电话), as `names` leaves them out of what a message names. Measured 2026-12-04
    (`bench_answers --dump-replies`): dev 0 of 1,328 replies changed; data/eval's 5 of 1,150,
    follow-ups quoting the labelled answer 33 → 34 of 64 (「运费谁出」 after 七天无理由退: the
    article saying 退回商品的运费由消费者承担, not one on 修理、退货 and 费用)."""
    if read.own is None:
        return forms
    own = _words_of(read.own, view, expander)[2]
    return {word: said for word, said in own.items() if len(word) > 1} or own


def _words_of(text: str, view, expander: Expander | None) -> tuple[list[str], dict[str, float], Forms]:
    """The question's content words, those the corpus uses (with their IDF), and their forms."""
    def weigh() -> tuple[list[str], dict[str, float], Forms]:
        words = view.tokenizer.content_words(text)
        known = _known(words, view)
        return words, known, _forms(words, known, view, expander)
    return _question_words.get((view.sparse, view.tokenizer.user_words, expander), text, weigh)


def _known(words: list[str], view) -> dict[str, float]:
    """The words the corpus uses, with their weight (IDF)."""
    return {w: view.sparse.idf(w) for w in words if w in view.sparse.document_frequency}


def _spread(values) -> tuple[float, float] | None:
    """Mean and standard deviation of the candidates' scores (None without candidates)."""
    array = np.fromiter(values, np.float64)
    if not len(array):
        return None
    return float(array.mean()), float(array.std())


def _z(value: float, spread: tuple[float, float] | None) -> float:
    if spread is None or spread[1] <= 1e-9:
        return 0.0
    return (value - spread[0]) / spread[1]


def _forms(words: list[str], known: dict[str, float], view, expander: Expander | None) -> Forms:
    """Each question word with its weight and the forms a passage may say it in: itself and
    its official terms (地铁 → 轨道交通: a statute says 城市轨道交通). A word the corpus never
    uses counts when one of its official terms is used, at that term's weight."""
    out: Forms = {}
    for word in words:
        alternatives = expander.official_for(word) if expander is not None else ()
        weight = known.get(word) or max((view.sparse.idf(t) for t in alternatives
                                         if t in view.sparse.document_frequency), default=0.0)
        if weight > 0:
            out[word] = (weight, (word, *alternatives))
    return out


@functools.lru_cache(maxsize=NORMALISED_TEXTS)
def _normalised(text: str) -> str:
    return unicodedata.normalize("NFKC", text).lower()


def _doc_ranks(view, ranked_rows: dict[int, float]) -> dict[str, int]:
    ranks: dict[str, int] = {}
    for row in ranked_rows:
        if row in view.records:
            ranks.setdefault(view.records[row].chunk.doc_id, len(ranks))
    return ranks


def _bm25_of(evidence: Evidence, rows: list[int]) -> dict[int, float]:
    if evidence.sparse is None or not len(evidence.sparse_rows):
        return {}
    positions = np.searchsorted(evidence.sparse_rows, rows)
    out = {}
    for row, position in zip(rows, positions, strict=True):
        if position < len(evidence.sparse_rows) and evidence.sparse_rows[position] == row:
            out[row] = max(float(evidence.sparse[position]), 0.0)
    return out


def _lens_cosines(view, evidence: Evidence, rows: list[int]) -> dict[int, float]:
    """The cosines the answer decision reads, through the tuned model's lens when it has one
    (its cosines tell right from wrong better than the ranking adapter's); empty without a
    lens, when the search's own serve. How far each stands out among the candidates
    (cosine_z) stays the search's. One lookup of the passages' vectors for all rows."""
    if evidence.lens is None:
        return {}
    with view.lock:
        stored = [(row, view.dense.vectors.get(row)) for row in rows]
    return {row: float(vector @ evidence.lens) for row, vector in stored if vector is not None}


def _cosine(view, evidence: Evidence, row: int) -> float | None:
    if row in evidence.dense_top:
        return float(evidence.dense_top[row])
    if evidence.vector is None:
        return None
    with view.lock:
        stored = view.dense.vectors.get(row)
    return float(stored @ evidence.vector) if stored is not None else None

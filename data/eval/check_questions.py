#!/usr/bin/env python3
"""Check the independent resident question sets against the demo corpus.

    python3 check_questions.py [--corpus PATH] [--today YYYY-MM-DD] [files...]

Default files: resident-train.jsonl, dialogues-train.jsonl (the tuned adapter learns them) and
resident-calibration.jsonl, dialogues-calibration.jsonl (only the answer decision does) next to
this script.
Default corpus: data/demo-documents.jsonl of this repository (the demo corpus, the same
bytes as shared/corpus/demo/documents.jsonl).

Checks, for every question line and every dialogue turn:
  * every relevant doc_id exists in the corpus;
  * every `article` is null or the heading of a line of that document (a line that starts
    with it, e.g. "第十三条 ...");
  * the evidence quote (at most 40 characters) appears verbatim in the text or the faq
    answers of a relevant document -- inside the named article's lines when the item names
    an article;
  * answerable items (no `expect`) point only at documents in force today;
  * `expect: expired-warning` items point only at documents NOT in force today;
  * `expect: not-found` items and off-topic turns have no relevant documents;
  * field values (qid format and uniqueness, corpus, style, long-letter length 150-300,
    turn kinds, 2-4 turns, a dialogue does not open with a follow-up).
It prints counts by style and expect and exits 1 on any error.

"In force" (as in policies/validity.py and coord/GUIDE.md): status "effective" and today
within valid_from..valid_until (null = open); an interpretation also needs the policy it
interprets to be in force (an interpretation takes its policy's status and dates).
"""
from __future__ import annotations

import argparse
import collections
import datetime as dt
import json
import re
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
DEFAULT_CORPUS = Path(__file__).resolve().parent.parent / "demo-documents.jsonl"
STYLES = {"colloquial", "elder", "enterprise", "dialect-ish", "typo", "long-letter"}
EXPECTS = {None, "expired-warning", "not-found"}
TURN_KINDS = {"new-topic", "follow-up", "off-topic"}
HEADING = re.compile(r"^(第[一二三四五六七八九十百零〇]+条)")


class Corpus:
    def __init__(self, path: Path, today: dt.date):
        self.docs = {}
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                d = json.loads(line)
                self.docs[d["id"]] = d
        self.today = today
        self._articles: dict[str, dict[str, str]] = {}

    def own_in_force(self, d: dict) -> bool:
        if d.get("status", "effective") != "effective":
            return False
        t = self.today.isoformat()
        if d.get("valid_from") and d["valid_from"] > t:
            return False
        if d.get("valid_until") and d["valid_until"] < t:
            return False
        return True

    def in_force(self, doc_id: str) -> bool:
        d = self.docs[doc_id]
        if not self.own_in_force(d):
            return False
        policy = d.get("interprets")
        if d.get("kind") == "interpretation" and policy in self.docs:
            return self.own_in_force(self.docs[policy])
        return True

    def whole(self, doc_id: str) -> str:
        d = self.docs[doc_id]
        return d["text"] + "\n" + "\n".join(qa.get("a", "") for qa in d.get("faq") or [])

    def articles(self, doc_id: str) -> dict[str, str]:
        """Article heading -> the lines from that heading up to the next article heading
        (a heading that occurs twice, e.g. in a notice and its attachment, keeps both)."""
        if doc_id not in self._articles:
            spans: dict[str, list[str]] = collections.defaultdict(list)
            cur = None
            for line in self.docs[doc_id]["text"].split("\n"):
                m = HEADING.match(line)
                if m:
                    cur = m.group(1)
                if cur:
                    spans[cur].append(line)
            self._articles[doc_id] = {k: "\n".join(v) for k, v in spans.items()}
        return self._articles[doc_id]


def check_relevant(corpus: Corpus, rel: list, where: str, errors: list) -> list[tuple[str, str | None]]:
    items = []
    for r in rel:
        if isinstance(r, str):
            doc_id, art = r, None
        else:
            doc_id, art = r.get("doc_id"), r.get("article")
        if doc_id not in corpus.docs:
            errors.append(f"{where}: unknown doc_id {doc_id!r}")
            continue
        if art is not None and art not in corpus.articles(doc_id):
            errors.append(f"{where}: {art!r} is not the heading of a line of {doc_id}")
            continue
        if (doc_id, art) in items:
            errors.append(f"{where}: duplicate relevant item {doc_id} {art}")
        items.append((doc_id, art))
    return items


def check_evidence(corpus: Corpus, items, evidence, where: str, errors: list) -> None:
    if not evidence:
        errors.append(f"{where}: evidence missing")
        return
    if len(evidence) > 40:
        errors.append(f"{where}: evidence longer than 40 characters ({len(evidence)})")
    for doc_id, art in items:
        span = corpus.whole(doc_id) if art is None else corpus.articles(doc_id)[art]
        if evidence in span:
            return
    errors.append(f"{where}: evidence {evidence!r} not found verbatim in the relevant passages")


def records(path: Path, key: str, pattern: str, errors: list):
    """(where, record) of each JSON line, its `key` checked against `pattern` and for
    duplicates; a line that is not JSON is reported and skipped."""
    seen = set()
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as e:
            errors.append(f"{path.name}:{n}: bad JSON ({e})")
            continue
        value = record.get(key, "")
        where = f"{path.name}:{n} {value}"
        if not re.fullmatch(pattern, value or ""):
            errors.append(f"{where}: {key} must look like {pattern}")
        if value in seen:
            errors.append(f"{where}: duplicate {key}")
        seen.add(value)
        yield where, record


def _part(path: Path) -> str:
    """train (the adapter learns it) or calibration (only the answer decision does): the
    file name's last part, which its ids carry."""
    return path.stem.rsplit("-", 1)[-1]


def check_questions(corpus: Corpus, path: Path, errors: list, stats: dict) -> None:
    for where, q in records(path, "qid", rf"resident-{_part(path)}-\d{{3}}", errors):
        for field in ("question", "relevant", "corpus", "source", "style"):
            if field not in q:
                errors.append(f"{where}: missing field {field}")
        if q.get("corpus") != "demo":
            errors.append(f"{where}: corpus must be 'demo'")
        style, expect = q.get("style"), q.get("expect")
        if style not in STYLES:
            errors.append(f"{where}: unknown style {style!r}")
        if expect not in EXPECTS:
            errors.append(f"{where}: unknown expect {expect!r}")
        text = q.get("question") or ""
        if not text.strip():
            errors.append(f"{where}: empty question")
        if style == "long-letter" and not 150 <= len(text) <= 300:
            errors.append(f"{where}: long letter of {len(text)} characters (150-300)")
        items = check_relevant(corpus, q.get("relevant") or [], where, errors)
        for r in q.get("relevant") or []:
            if not isinstance(r, dict) or set(r) != {"doc_id", "article"}:
                errors.append(f"{where}: relevant items are {{doc_id, article}} objects")
        if expect == "not-found":
            if q.get("relevant"):
                errors.append(f"{where}: not-found question with relevant documents")
            if q.get("evidence"):
                errors.append(f"{where}: not-found question with evidence")
        else:
            if not items:
                errors.append(f"{where}: no relevant document")
            check_evidence(corpus, items, q.get("evidence"), where, errors)
            for doc_id, _ in items:
                if expect is None and not corpus.in_force(doc_id):
                    errors.append(f"{where}: answerable question points at {doc_id}, not in force")
                if expect == "expired-warning" and corpus.in_force(doc_id):
                    errors.append(f"{where}: expired-warning question points at {doc_id}, in force")
        stats["questions"] += 1
        stats["style"][style] += 1
        stats["expect"][expect or "answerable"] += 1
        stats["style_expect"][(style, expect or "answerable")] += 1
        if expect is None:
            stats["answer_docs"].update(d for d, _ in items)
        for d, _ in items:
            stats["docs"][d] += 1
        stats["n_relevant"][len(items)] += 1


def check_dialogues(corpus: Corpus, path: Path, errors: list, stats: dict) -> None:
    for where, dlg in records(path, "id", rf"dialogue-{_part(path)}-\d{{2}}", errors):
        if dlg.get("corpus") != "demo":
            errors.append(f"{where}: corpus must be 'demo'")
        if not dlg.get("source"):
            errors.append(f"{where}: missing source")
        turns = dlg.get("turns") or []
        if not 2 <= len(turns) <= 4:
            errors.append(f"{where}: {len(turns)} turns (2-4)")
        for i, t in enumerate(turns, 1):
            tw = f"{where} turn {i}"
            kind = t.get("kind")
            if kind not in TURN_KINDS:
                errors.append(f"{tw}: unknown kind {kind!r}")
            if i == 1 and kind == "follow-up":
                errors.append(f"{tw}: a dialogue cannot open with a follow-up")
            if not (t.get("text") or "").strip():
                errors.append(f"{tw}: empty text")
            rel = t.get("relevant") or []
            if not all(isinstance(r, str) for r in rel):
                errors.append(f"{tw}: turn relevant is a list of doc ids")
                continue
            items = check_relevant(corpus, rel, tw, errors)
            if kind == "off-topic":
                if rel:
                    errors.append(f"{tw}: off-topic turn with relevant documents")
            else:
                if not items:
                    errors.append(f"{tw}: no relevant document")
                check_evidence(corpus, items, t.get("evidence"), tw, errors)
                for doc_id, _ in items:
                    if not corpus.in_force(doc_id):
                        errors.append(f"{tw}: points at {doc_id}, not in force")
            stats["turn_kind"][kind] += 1
            stats["dialogue_docs"].update(d for d, _ in items)
        stats["dialogues"] += 1
        stats["turns"] += len(turns)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("files", nargs="*", type=Path)
    ap.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    ap.add_argument("--today", default="2026-11-30")
    args = ap.parse_args(argv)
    corpus = Corpus(args.corpus, dt.date.fromisoformat(args.today))
    files = args.files or [HERE / f"{kind}-{part}.jsonl" for part in ("train", "calibration")
                           for kind in ("resident", "dialogues")]
    errors: list[str] = []
    stats = {"questions": 0, "dialogues": 0, "turns": 0,
             "style": collections.Counter(), "expect": collections.Counter(),
             "style_expect": collections.Counter(), "docs": collections.Counter(),
             "answer_docs": collections.Counter(), "n_relevant": collections.Counter(),
             "turn_kind": collections.Counter(), "dialogue_docs": collections.Counter()}
    for f in files:
        if not f.exists():
            errors.append(f"{f}: missing")
        elif f.name.startswith("dialogues"):
            check_dialogues(corpus, f, errors, stats)
        else:
            check_questions(corpus, f, errors, stats)

    print(f"corpus: {args.corpus} ({len(corpus.docs)} documents, "
          f"{sum(corpus.in_force(d) for d in corpus.docs)} in force on {args.today})")
    if stats["questions"]:
        print(f"\nquestions: {stats['questions']}")
        print("  by expect: " + ", ".join(f"{k} {v}" for k, v in stats["expect"].most_common()))
        print("  by style:  " + ", ".join(f"{k} {v}" for k, v in stats["style"].most_common()))
        print("  style x expect:")
        for style in sorted(stats["style"]):
            row = {e: stats["style_expect"][(style, e)]
                   for e in ("answerable", "expired-warning", "not-found")}
            print(f"    {style:<12} " + "  ".join(f"{e} {c}" for e, c in row.items()))
        print(f"  documents answering the answerable questions: {len(stats['answer_docs'])}")
        kinds = collections.Counter()
        for d in stats["answer_docs"]:
            kinds["gz_*" if d.startswith("gz_") else "govcn_*" if d.startswith("govcn_") else
                  "ncjkq_*" if d.startswith("ncjkq_") else "chuance_*" if d.startswith("chuance_") else
                  "laws/regulations"] += 1
        print("    " + ", ".join(f"{k} {v}" for k, v in kinds.most_common()))
        print("  relevant items per question: " +
              ", ".join(f"{k}: {v}" for k, v in sorted(stats["n_relevant"].items())))
    if stats["dialogues"]:
        print(f"\ndialogues: {stats['dialogues']}, turns: {stats['turns']}")
        print("  turn kinds: " + ", ".join(f"{k} {v}" for k, v in stats["turn_kind"].most_common()))
        print(f"  documents in dialogue gold: {len(stats['dialogue_docs'])}")
    if errors:
        print(f"\n{len(errors)} error(s):")
        for e in errors:
            print("  " + e)
        return 1
    print("\nOK: all checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())

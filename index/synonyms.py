"""Everyday words → the official terms documents use (看病报销 → 医疗保险 待遇), kept as data
in data/index/synonyms.tsv and grown from the questions people ask. A question containing
an everyday word gets the official terms added to its BM25 tokens; so does a question that
states a person's age (index.ages: 「我今年七十了」 → 老年人)."""
from __future__ import annotations

import dataclasses
import pathlib

from index.ages import age_terms

DEFAULT_PATH = pathlib.Path(__file__).resolve().parent.parent / "data" / "index" / "synonyms.tsv"
EXPANSION_LIMIT = 12  # enough to bridge the vocabulary, few enough not to drown the question


@dataclasses.dataclass(frozen=True)
class Expander:
    terms: tuple[tuple[str, tuple[str, ...]], ...]  # (everyday, official terms), longest first

    @classmethod
    def load(cls, path: pathlib.Path) -> Expander:
        pairs = []
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if not line.strip() or line.startswith("#"):
                continue
            everyday, sep, official = line.partition("\t")
            if not sep or not official.split():
                raise ValueError(f"{path}:{number}: expected 'everyday<TAB>official terms'")
            pairs.append((everyday.strip(), tuple(official.split())))
        return cls(tuple(sorted(pairs, key=lambda p: -len(p[0]))))

    @classmethod
    def default(cls) -> Expander:
        return cls.load(DEFAULT_PATH) if DEFAULT_PATH.is_file() else cls(())

    def official_for(self, text: str) -> tuple[str, ...]:
        """The official terms of the everyday words within `text`, a question or one of its
        words (jieba keeps 坐地铁 whole: 地铁 → 地铁, 轨道交通); () if it holds none."""
        found: list[str] = []
        for everyday, official in self.terms:
            if everyday in text:
                found += [t for t in official if t not in found]
        return tuple(found)

    def official_terms(self, question: str) -> list[str]:
        found: list[str] = age_terms(question)
        found += [t for t in self.official_for(question) if t not in found]
        return found[:EXPANSION_LIMIT]

    def expand(self, tokens: list[str], question: str, tokenizer) -> list[str]:
        extra = [t for term in self.official_terms(question) for t in tokenizer.tokens(term)]
        return tokens + [t for t in extra if t not in tokens]

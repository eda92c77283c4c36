"""Dialect spellings → Mandarin (唔 → 不, 几多 → 多少, 边度 → 哪里), so that a Cantonese-flavoured
question is searched with the words the documents use. The table is data
(data/index/dialect.tsv); longer spellings are replaced first."""
from __future__ import annotations

import pathlib
import re

DEFAULT_PATH = pathlib.Path(__file__).resolve().parent.parent / "data" / "index" / "dialect.tsv"


class Dialect:
    def __init__(self, pairs: dict[str, str]):
        self.mandarin = dict(pairs)
        spellings = sorted(self.mandarin, key=len, reverse=True)  # the regex takes the first match
        self._pattern = re.compile("|".join(map(re.escape, spellings))) if spellings else None

    @classmethod
    def load(cls, path: pathlib.Path) -> Dialect:
        pairs = {}
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if not line.strip() or line.startswith("#"):
                continue
            spoken, sep, mandarin = line.partition("\t")
            if not sep or not spoken.strip():
                raise ValueError(f"{path}:{number}: expected 'dialect<TAB>mandarin'")
            pairs[spoken.strip()] = mandarin.strip()
        return cls(pairs)

    @classmethod
    def default(cls) -> Dialect:
        return cls.load(DEFAULT_PATH) if DEFAULT_PATH.is_file() else cls({})

    def to_mandarin(self, text: str) -> str:
        if self._pattern is None:
            return text
        return self._pattern.sub(lambda match: self.mandarin[match.group(0)], text)

"""Typos of pinyin input: a resident picks the wrong character of the right sound (居住正 for
居住证, 失业登计 for 失业登记, 双陪 for 双倍). A stretch of the question that the corpus never
uses is replaced by a corpus word that sounds the same and differs in one character.

Guards against "correcting" good text: the stretch must be unknown to the corpus (not one of
its words or character pairs) and to the dictionary, must start and end on the word
boundaries of the question's segmentation, and the correction must be more probable than the
words the stretch was cut into (我是 stays: 我 and 是 are far more common than 我市).
"""
from __future__ import annotations

import functools
import itertools
import re
from collections.abc import Iterable
from typing import Protocol

from pypinyin import Style, lazy_pinyin
from pypinyin.pinyin_dict import pinyin_dict

_TONES = str.maketrans("āáǎàēéěèīíǐìōóǒòūúǔùǖǘǚǜüńňǹḿ", "aaaaeeeeiiiioooouuuuvvvvvnnnm")
_CJK_RE = re.compile(r"^[\u4e00-\u9fff]+$")
_NUMERAL_RE = re.compile(r"[零〇一二两三四五六七八九十百千万几]")
LENGTHS = (2, 3, 4)
# A correction must be this much more probable than the typed words (e^6 ≈ 400 times):
# measured on the shared/eval questions, true typos gained 6.0–12.6 (身份正 6.0, 登计 8.9), while
# unigram odds of ordinary text that the corpus happens not to use stayed below 6 but for
# 群中 (6.2); numerals are left alone (2年零4个月 is not 年龄).
MARGIN = 6.0


# Kept per process: the corrector is rebuilt from every corpus word after each publication, and
# pinyin of ~15,000 words took 1.8 s of the worker's GIL each time (the new words are a few).
@functools.lru_cache(maxsize=1 << 17)
def reading(word: str) -> tuple[str, ...]:
    """How `word` is read (polyphonic characters as in this word: 长者 zhang zhe)."""
    return tuple(lazy_pinyin(word, style=Style.NORMAL, v_to_u=False))


def readings(word: str) -> list[tuple[str, ...]]:
    """The spelling a typist would have typed to be offered these characters: each
    character's main reading (an input method lists a character under its common sound;
    its rare readings, 能 tai or 拼 bing, would match words nobody meant)."""
    per_char = []
    for char in word:
        raw = pinyin_dict.get(ord(char))
        if raw is None:
            return []
        per_char.append(raw.split(",")[0].translate(_TONES))
    return [tuple(per_char)]


class Lexicon(Protocol):
    def known(self, text: str) -> bool:
        """The corpus or the dictionary uses `text` as it is."""

    def log_prob(self, word: str) -> float:
        """Unigram log-probability of a word (a floor for unknown ones)."""


class HomophoneCorrector:
    def __init__(self, words: Iterable[str], popularity: dict[str, int] | None = None):
        """`words`: the corpus words a typo may be corrected to (dictionary words it uses);
        `popularity`: how often the corpus uses each, to choose between sound-alikes."""
        self.popularity = popularity or {}
        self.by_sound: dict[tuple[str, ...], set[str]] = {}
        for word in words:
            if len(word) in LENGTHS and _CJK_RE.match(word):
                self.by_sound.setdefault(reading(word), set()).add(word)

    def correct(self, text: str, cuts: list[str], lexicon: Lexicon) -> tuple[str, list]:
        """(corrected text, [(typo, correction)]); `cuts` is the text's word segmentation."""
        ends = list(itertools.accumulate(len(c) for c in cuts))
        bounds = set(ends) | {0}
        fixes, position, out = [], 0, []
        while position < len(text):
            found = self._fix_at(text, position, cuts, ends, lexicon) if position in bounds else None
            if found:
                typo, word = found
                fixes.append(found)
                out.append(word)
                position += len(typo)
            else:
                out.append(text[position])
                position += 1
        return "".join(out), fixes

    def _fix_at(self, text, start, cuts, ends, lexicon: Lexicon) -> tuple[str, str] | None:
        for length in sorted(LENGTHS, reverse=True):
            stretch = text[start:start + length]
            if len(stretch) < length or start + length not in ends or not _CJK_RE.match(stretch):
                continue
            if _NUMERAL_RE.search(stretch):
                continue
            if lexicon.known(stretch):
                continue
            fits = {w for r in readings(stretch) for w in self.by_sound.get(r, ())
                    if _one_char_apart(w, stretch)}
            if not fits:
                continue
            word = max(sorted(fits), key=lambda w: self.popularity.get(w, 0))
            pieces = [c for c, end in zip(cuts, ends, strict=True) if start < end <= start + length]
            if lexicon.log_prob(word) - _typed_log_prob(pieces, lexicon) > MARGIN:
                return stretch, word
        return None


def _typed_log_prob(pieces: list[str], lexicon: Lexicon) -> float:
    """How probable the typed stretch is as it stands: its words, or for a piece the
    dictionary does not know (jieba joins unknown characters), its characters."""
    total = 0.0
    for piece in pieces:
        if lexicon.known(piece) or len(piece) == 1:
            total += lexicon.log_prob(piece)
        else:
            total += sum(lexicon.log_prob(char) for char in piece)
    return total


def _one_char_apart(a: str, b: str) -> bool:
    return len(a) == len(b) and sum(x != y for x, y in zip(a, b, strict=True)) == 1

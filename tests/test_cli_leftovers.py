"""Short-lived `flask --app server …` processes leave no partial index directory behind.

Every command builds the app, and with it the search service, whose background thread used
to save a new index version on every start; the interpreter's exit killed that daemon
thread in the middle of the save and left `index/.tmp-*` (17–37 MB each with the demo
corpus: 505 MB after a day of cron jobs). `bench/bench_cli_leftovers.py` runs 100 of them.
"""
from __future__ import annotations

import os
import pathlib
import subprocess
import sys

from tests.conftest import ROOT
from tests.test_index_cli import DOCS, write_jsonl

COMMANDS = (["catalogue"], ["list-staff"], ["search", "失业保险金"], ["verify-audit"],
            ["retire-expired"], ["export", "{tmp}/out.jsonl"], ["search", "--mode", "bm25", "养老金"])


def cli_env(data_dir: pathlib.Path) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("POLICYBOT_")}
    env.update(POLICYBOT_DATA_DIR=str(data_dir), POLICYBOT_LOAD_DEMO="0", POLICYBOT_INDEX_EMBEDDER="hash",
               PYTHONPATH=str(ROOT))
    return env


def run_cli(args: list[str], data_dir: pathlib.Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "flask", "--app", "server", *args], cwd=ROOT,
                          env=cli_env(data_dir), capture_output=True, text=True, timeout=900)


def leftovers(data_dir: pathlib.Path) -> list[str]:
    index = data_dir / "index"
    return sorted(p.name for p in index.glob(".tmp-*")) if index.is_dir() else []


def invoke_many(data_dir: pathlib.Path, runs: int) -> int:
    """Import a small corpus, then `runs` commands; returns how many exited non-zero."""
    result = run_cli(["import", write_jsonl(data_dir.parent / "docs.jsonl", DOCS)], data_dir)
    assert result.returncode == 0, result.stderr
    failures = 0
    for n in range(runs):
        args = [a.format(tmp=data_dir.parent) for a in COMMANDS[n % len(COMMANDS)]]
        failures += run_cli(args, data_dir).returncode != 0
    return failures


def test_cli_commands_leave_no_partial_index_directory(tmp_path):
    data_dir = tmp_path / "instance"
    runs = 4  # each used to leave one; the benchmark runs 100
    failures = invoke_many(data_dir, runs)
    left = leftovers(data_dir)
    versions = sorted(p.name for p in (data_dir / "index").glob("v-*"))
    print(f"\n{runs + 1} CLI invocations: partial index directories left {len(left)}, "
          f"complete versions kept {len(versions)}, failed commands {failures}")
    assert failures == 0
    assert left == []


def test_a_partial_version_of_a_dead_writer_is_removed_at_start(tmp_path):
    from index.storage import IndexStore, _tmp_prefix

    store = IndexStore(tmp_path / "index")
    store.root.mkdir()
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                          text=True).stdout.strip()
    mine = _tmp_prefix()
    theirs = mine.replace(f"-{os.getpid()}-", f"-{dead}-")
    (store.root / (theirs + "abc")).mkdir()   # its writer was killed mid-save
    (store.root / (mine + "def")).mkdir()     # a save of this very process, in progress
    (store.root / ".tmp-otherhost-1-ghi").mkdir()  # another machine's: only age tells
    assert store.remove_leftovers() == 1
    assert sorted(p.name for p in store.root.iterdir()) == sorted([mine + "def", ".tmp-otherhost-1-ghi"])

"""Key files made on first start (policies.keyfiles): workers that start together share one
key, read whole, owner-only."""
from __future__ import annotations

import stat
import threading

from policies.keyfiles import key_file


def test_workers_of_a_first_start_share_one_whole_key(tmp_path):
    """The first worker is still making its key when the second finds no file and makes its
    own: both end with the key in the file, never an empty or half-written one."""
    path = tmp_path / "secret_key"
    first_making, second_done = threading.Event(), threading.Event()
    got: dict[str, str] = {}

    def slow_key() -> str:
        first_making.set()
        assert second_done.wait(10)
        return "key-of-the-first-worker"

    first = threading.Thread(target=lambda: got.__setitem__("first", key_file(path, slow_key)))
    first.start()
    assert first_making.wait(10)
    got["second"] = key_file(path, lambda: "key-of-the-second-worker")
    second_done.set()
    first.join(10)
    assert got == {"first": "key-of-the-second-worker", "second": "key-of-the-second-worker"}
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["secret_key"]  # no temporary file left


def test_an_existing_key_is_kept(tmp_path):
    path = tmp_path / "setup_token"
    assert key_file(path, lambda: "made") == "made"
    assert key_file(path, lambda: "made again") == "made"

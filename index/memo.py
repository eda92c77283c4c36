"""A bounded memo for what a search recomputes from parts of the index that never change in
place: the document map and the BM25 index are replaced whole by every publication, retirement
or withdrawal (index.corpus), and the tokenizer's word list is replaced whenever words are
added. A value is kept with the very objects it was computed from (compared by identity, not
by equality) and is served only while those are the current ones, so a publication or a
withdrawal is never answered from a stale entry.

One message searches several times (alone, with its topic, within a release): each search
read the question, listed the documents the filters admit, scored BM25 and weighed the
question's words again (bench/bench_message_cost.py).
"""
from __future__ import annotations

import threading
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

V = TypeVar("V")


class Memo(Generic[V]):
    """Values by key, for one set of source objects at a time (`sources`): when a lookup names
    other sources, everything kept for the old ones is dropped. At most `size` values; the
    oldest go first."""

    def __init__(self, size: int):
        self.size = size
        self._sources: tuple[object, ...] = ()
        self._values: dict[Hashable, tuple[tuple[object, ...], V]] = {}
        self._lock = threading.Lock()

    def get(self, sources: tuple[object, ...], key: Hashable, compute: Callable[[], V]) -> V:
        with self._lock:
            if not _same(sources, self._sources):
                self._sources, self._values = sources, {}
            kept = self._values.get(key)
        if kept is not None and _same(kept[0], sources):
            return kept[1]
        value = compute()  # outside the lock: searches of other questions do not wait
        with self._lock:
            if _same(sources, self._sources):  # not for sources replaced meanwhile
                if len(self._values) >= self.size:
                    self._values.pop(next(iter(self._values)))
                self._values[key] = (sources, value)
        return value

    def clear(self) -> None:
        with self._lock:
            self._sources, self._values = (), {}

    def __len__(self) -> int:
        return len(self._values)


def _same(a: tuple[object, ...], b: tuple[object, ...]) -> bool:
    return len(a) == len(b) and all(x is y for x, y in zip(a, b, strict=True))

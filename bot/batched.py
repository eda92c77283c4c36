"""Items queued by many threads and written together: the bot's after-reply writes.

Every message updates its sender's customer-service window and logs its question. Written one
by one, on one thread that competes for the interpreter with the threads answering, a burst
left that thread thousands of rows behind (bench_cluster at 120 msg/s: 2,043 writes queued when
the last reply went out, lost if the process is killed). Queued here instead, they are written
as many at a time as have gathered: one transaction for a batch, not one per message.
"""
from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class Batched(Generic[T]):
    """`add` from any thread; `write(items)` runs through `schedule` (the bot's after-reply
    thread) with everything added since the last batch was taken. The first item added after a
    batch was taken schedules the next one, so no item waits for a later message to be written."""

    def __init__(self, write: Callable[[list[T]], None],
                 schedule: Callable[[Callable[[], None]], None]):
        self._write, self._schedule = write, schedule
        self._items: list[T] = []
        self._scheduled = False
        self._lock = threading.Lock()

    def add(self, item: T) -> None:
        with self._lock:
            self._items.append(item)
            if self._scheduled:
                return
            self._scheduled = True
        self._schedule(self._drain)

    def __len__(self) -> int:
        """Items added and not yet taken for writing."""
        with self._lock:
            return len(self._items)

    def _drain(self) -> None:
        with self._lock:
            items, self._items, self._scheduled = self._items, [], False
        if items:
            self._write(items)

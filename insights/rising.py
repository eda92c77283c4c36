"""The rising-topic rule (热点上升), one clear rule for every topic and keyword:

    a topic is RISING in a week when its question count that week is at least
    RISING_MIN_QUESTIONS (5) and at least RISING_FACTOR (2×) the mean of its counts in
    the HISTORY_WEEKS (4) weeks before — a topic never asked before counts as mean 0.

So 5 questions after four silent weeks is rising; 9 after a mean of 5 is not (9 < 10).
"""
from __future__ import annotations

import collections
import dataclasses

RISING_FACTOR = 2.0
RISING_MIN_QUESTIONS = 5
HISTORY_WEEKS = 4


@dataclasses.dataclass(frozen=True)
class Rising:
    label: str
    count: int
    previous_mean: float

    @property
    def factor(self) -> float | None:
        return self.count / self.previous_mean if self.previous_mean else None


def is_rising(count: int, previous: list[int], factor: float = RISING_FACTOR,
              minimum: int = RISING_MIN_QUESTIONS) -> bool:
    mean = sum(previous) / len(previous) if previous else 0.0
    return count >= minimum and count >= factor * mean


def rising_labels(this_week: collections.Counter, history: list[collections.Counter],
                  factor: float = RISING_FACTOR, minimum: int = RISING_MIN_QUESTIONS) -> list[Rising]:
    """Every label of `this_week` that passes the rule against `history` (one Counter a
    week), most asked first, then by label."""
    found = []
    for label, count in sorted(this_week.items(), key=lambda kv: (-kv[1], kv[0])):
        previous = [week.get(label, 0) for week in history]
        if is_rising(count, previous, factor, minimum):
            mean = sum(previous) / len(previous) if previous else 0.0
            found.append(Rising(label, count, mean))
    return found

"""What became of a published release after its commit, for the release page: this process's
search index, and each durable consumer of the release events (interpretations/events.py) —
done, waiting, or failed with its reason, the attempts so far and when it is tried again."""
from __future__ import annotations

import dataclasses
import datetime as dt

from interpretations import events

# The consumers' names in event_cursors, as staff read them.
CONSUMER_LABELS = {"insights": "关联任务复核"}


@dataclasses.dataclass(frozen=True)
class Progress:
    label: str
    state: str              # done | pending | failed
    text: str               # in Chinese
    consumer: str | None = None  # a consumer that may be retried at once (failed)


def release_progress(conn, release_id: int, now: float, local_time) -> list[Progress]:
    """One line per consumer that has a cursor; `local_time` formats a UTC datetime."""
    states = events.consumer_states(conn)
    out = []
    for name, summary in sorted(events.release_progress(conn, release_id).items()):
        label = CONSUMER_LABELS.get(name, name)
        if summary == "done":
            out.append(Progress(label, "done", "已完成"))
        elif summary == "pending":
            out.append(Progress(label, "pending", "排队处理中"))
        else:
            state = states[name]
            when = (local_time(dt.datetime.fromtimestamp(state.retry_at, dt.UTC))
                    if state.retry_at and state.retry_at > now else "下一轮")
            reason = summary.removeprefix("failed: ")
            out.append(Progress(label, "failed", f"失败：{reason}（已试 {state.attempts} 次），"
                                                 f"将于 {when} 自动重试", name))
    return out


def index_progress(search, doc_ids: list[str]) -> Progress | None:
    """Whether this process's index has every document of the release with its vectors."""
    if search is None or not hasattr(search, "corpus"):
        return None
    corpus = search.corpus.view()
    rows = [r for d in doc_ids for r in corpus.rows_of.get(d, [])]
    if all(d in corpus.docs for d in doc_ids) and all(r in corpus.dense.vectors for r in rows):
        return Progress("检索索引", "done", "已入索引，可检索")
    return Progress("检索索引", "pending", "入索引中（通常几秒）")

"""What the answer composer needs from the database besides the hits: the policies that
interpretations explain, the successors of content no longer in force, nearby topics."""
from __future__ import annotations

import datetime as dt
from collections import Counter
from typing import Sequence

from index.hits import Hit
from policies import store
from policies.db import Database
from policies.model import Document
from policies.validity import catalogue


class Library:
    def __init__(self, db: Database):
        self.db = db

    def context_documents(self, hits: Sequence[Hit]) -> tuple[dict[str, Document], dict[str, Document]]:
        """(documents by id, successors by old id) for the hits of one answer."""
        ids = {h.doc_id for h in hits} | {h.interprets for h in hits if h.interprets}
        with self.db.read() as conn:
            docs = {i: d for i in ids if (d := store.get_document(conn, i)) is not None}
            stale = {h.doc_id for h in hits if not h.in_force}
            stale |= {h.interprets for h in hits if h.interprets and not h.in_force}
            successors = {i: s for i in stale if (s := _current_successor(conn, i)) is not None}
        return docs, successors

    def closest_topics(self, hits: Sequence[Hit], docs: dict[str, Document], today: dt.date) -> list[str]:
        counts = Counter(t for h in hits if h.doc_id in docs for t in docs[h.doc_id].topics)
        if len(counts) < 3:
            with self.db.read() as conn:
                counts.update(t for d in catalogue(conn, today) for t in d.topics)
        return [topic for topic, _ in counts.most_common(5)]

    def get(self, doc_id: str) -> Document | None:
        with self.db.read() as conn:
            return store.get_document(conn, doc_id)

    def catalogue_size(self, today: dt.date) -> int:
        with self.db.read() as conn:
            return len(catalogue(conn, today))


def _current_successor(conn, doc_id: str, max_hops: int = 5) -> Document | None:
    """Follow `supersedes` forward to the newest published version."""
    successor, current = None, doc_id
    for _ in range(max_hops):
        following = store.successor_of(conn, current)
        if following is None:
            break
        successor, current = following, following.id
    return successor

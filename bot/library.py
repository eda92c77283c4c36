"""What the answer composer needs from the database besides the hits: the policies that
interpretations explain, the successors of content no longer in force, nearby topics."""
from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Sequence

from index.hits import Hit
from policies import store
from policies.db import Database
from policies.model import Document
from policies.validity import catalogue_count, catalogue_topics


class Library:
    def __init__(self, db: Database):
        self.db = db

    def context_documents(self, hits: Sequence[Hit]) -> tuple[dict[str, Document], dict[str, Document]]:
        """(the policies interpretations explain, successors by old id) for one answer.
        The hits carry their own metadata: whole documents (a law is ~100 KB) are read only
        where the reply names another document."""
        ids = {h.interprets for h in hits if h.interprets}
        stale = {h.doc_id for h in hits if not h.in_force}
        stale |= {h.interprets for h in hits if h.interprets and not h.in_force}
        if not ids and not stale:  # most answers: no transaction (a round trip on PostgreSQL)
            return {}, {}
        with self.db.read() as conn:
            docs = {i: d for i in ids if (d := store.get_document(conn, i)) is not None}
            successors = {i: s for i in stale if (s := _current_successor(conn, i)) is not None}
        return docs, successors

    def closest_topics(self, hits: Sequence[Hit], today: dt.date) -> list[str]:
        """The five topics most of the hits' documents share, ties in the order of the hits that
        bring them (the nearest document's first; it was the database's row order); the
        catalogue's when they name fewer than three. The hits carry their documents' topics:
        most replies that found nothing read nothing (a round trip on PostgreSQL, and most of
        this call's time)."""
        counts = Counter(t for topics in {h.doc_id: h.topics for h in hits}.values() for t in topics)
        if len(counts) < 3:
            with self.db.read() as conn:
                counts.update(t for topics in catalogue_topics(conn, today) for t in topics)
        return [topic for topic, _ in counts.most_common(5)]

    def get(self, doc_id: str) -> Document | None:
        with self.db.read() as conn:
            return store.get_document(conn, doc_id)

    def public(self, doc_id: str) -> Document | None:
        """The document while it is public (published, retired or amended: it may be quoted
        with its status); None once withdrawn or never published."""
        with self.db.read() as conn:
            if store.get_visibility(conn, doc_id) != "public":
                return None
            return store.get_document(conn, doc_id)

    def catalogue_size(self, today: dt.date) -> int:
        with self.db.read() as conn:
            return catalogue_count(conn, today)


def _current_successor(conn, doc_id: str, max_hops: int = 5) -> Document | None:
    """Follow `supersedes` forward to the newest published version."""
    successor, current = None, doc_id
    for _ in range(max_hops):
        following = store.successor_of(conn, current)
        if following is None:
            break
        successor, current = following, following.id
    return successor

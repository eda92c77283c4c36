"""Helpers for the index tests: an index on the test database with the deterministic hash
embedder (its maintainer, whose `search` is the search service), and the release workflow's
steps up to publication."""
from __future__ import annotations

import datetime as dt

from index.corpus import CorpusIndex
from index.embedders import HashEmbedder
from index.maintenance import IndexMaintainer
from index.service import SearchService
from index.storage import IndexStore
from index.tokenizer import PolicyTokenizer
from tests.conftest import DRAFTER, REVIEWER, SIGNER

TODAY = dt.date(2026, 11, 27)


def make_search(embedder=None, faiss_kind: str = "flat") -> SearchService:
    embedder = embedder or HashEmbedder()
    return SearchService(embedder, CorpusIndex(PolicyTokenizer(), embedder.dim, faiss_kind),
                         today=lambda: TODAY)


def make_index(db, releases, tmp_path=None, embedder=None, **options) -> IndexMaintainer:
    """Started, and told about every publication of `releases`."""
    store = IndexStore(tmp_path / "index") if tmp_path is not None else None
    options.setdefault("background", False)
    search = make_search(embedder, options.pop("faiss_kind", "flat"))
    svc = IndexMaintainer(db, search, store=store, **options)
    releases.hooks.published.append(svc.on_published)
    releases.hooks.removed.append(svc.on_removed)
    svc.start()
    return svc


def publish(releases, policy, interpretations=()) -> int:
    release_id = releases.create(DRAFTER, policy, list(interpretations))
    releases.submit(DRAFTER, release_id)
    releases.review(REVIEWER, release_id, "保密审查：无涉密内容")
    releases.sign(SIGNER, release_id)
    releases.publish(SIGNER, release_id)
    return release_id

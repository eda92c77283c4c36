"""Helpers for the index tests: a search service on the test database with the
deterministic hash embedder, and the release workflow's steps up to publication."""
from __future__ import annotations

import datetime as dt

from index.embedders import HashEmbedder
from index.service import SearchService
from index.storage import IndexStore
from tests.conftest import DRAFTER, REVIEWER, SIGNER

TODAY = dt.date(2026, 11, 27)


def make_service(db, releases, tmp_path=None, embedder=None, **options) -> SearchService:
    store = IndexStore(tmp_path / "index") if tmp_path is not None else None
    svc = SearchService(db, embedder or HashEmbedder(), today=lambda: TODAY, background=False,
                        store=store, **options)
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

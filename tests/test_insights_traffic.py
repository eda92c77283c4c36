"""A day of realistic traffic through the real WeChat callback (signed and encrypted as WeChat
does; bot/callback_client.py): official FAQ questions of the demo corpus and STARD questions
(shared/eval), some with a phone or ID number typed in, off-topic messages, a local theme the
corpus does not cover, and 满意 / 不满意 / 1 / 2 replies. Then the log, the groups, the tasks
(CLI), the report (CLI, page, spreadsheet) are checked against what was sent, and no openid
or unmasked phone / ID number may appear in any page, export or log line."""
from __future__ import annotations

import hashlib
import hmac
import io
import json
import logging
import re

import pytest
import sqlalchemy as sa
from conftest import SHARED
from openpyxl import load_workbook

from bot.questionlog import normalise_question, question_log
from insights.tables import task_questions, tasks

PHONE = "13812345678"
ID_NUMBER = "11010519491231002X"       # checksum-valid
OFF_TOPIC = ["周末去哪里玩比较好", "帮我写一首诗", "我家猫不吃东西怎么办", "哪个手机拍照好",
             "帮我翻译一句英语", "附近哪里能修自行车", "怎么减肥最快", "给我起个网名"]
# Small talk and chit-chat get a polite word and are no questions: never logged.
SMALL_TALK = ["今天天气怎么样", "你是机器人吗", "讲个笑话", "hello", "晚饭吃什么好呢", "明天会下雨吗",
              "推荐一部电影", "谢谢"]
UNCOVERED = ["电动自行车上牌要带什么材料", "电动自行车上牌在哪里办", "电动自行车上牌需要多久",
             "电动自行车上牌收费吗", "电动自行车上牌可以网上办吗", "电动自行车上牌要本人去吗"]
NOT_FOUND = "没有找到能回答"  # in both the plain "not found" and the one asking a message that only
#                               tells what happened what it wants to know (bot.answer.TOLD_ONLY)
# One user a question: a short second message of the same user would be read as a follow-up
# (the bot then logs it with the previous question as context).
USERS = [f"oTraffic{n:03d}AbCdEf" for n in range(200)]


def eval_questions(name: str, every: int, limit: int) -> list[str]:
    lines = (SHARED / "eval" / name).read_text(encoding="utf-8").splitlines()
    return [json.loads(line)["question"] for line in lines[::every]][:limit]


def day_of_traffic() -> list[tuple[str, str]]:
    """(openid, text) in the order sent; every fifth FAQ question carries personal data."""
    questions = eval_questions("demo-faq.jsonl", 2, 29) + eval_questions("stard-train.jsonl", 41, 30)
    questions = [f"我的手机{PHONE}，{q}" if i % 10 == 0 else f"身份证{ID_NUMBER}，{q}" if i % 10 == 5 else q
                 for i, q in enumerate(questions)]
    questions += OFF_TOPIC + UNCOVERED
    return [(USERS[i % len(USERS)], q) for i, q in enumerate(questions)]


# Every 5th answer is rated, with the words or with 1 / 2 of the answer's menu
# (bot/conversation.py: related documents are numbered from 3).
FEEDBACK = ["满意", "2", "1", "满意", "不满意", "１", "不满意。"]
RATED_AS = {"满意": "satisfied", "1": "satisfied", "１": "satisfied",
            "不满意": "unsatisfied", "2": "unsatisfied", "不满意。": "unsatisfied"}


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    from portal.testing import app_config
    from server import create_app, start

    app = start(create_app({**app_config(tmp_path_factory.mktemp("traffic")), "LOAD_DEMO": True}))
    sent, replies, rated = send_traffic(app)
    yield app, sent, replies, rated
    app.extensions["policybot"].db.dispose()


def send_traffic(app):
    from bot.callback_client import WeChatSender, text_xml

    sender, client = WeChatSender.from_app(app), app.test_client()
    sent, replies, rated = [], [], {}
    for n, (openid, text) in enumerate(day_of_traffic()):
        reply = sender.reply_text(sender.post(client, text_xml(openid, text, msg_id=10_000 + n)))
        app.extensions["policybot"].bot.flush()   # the bot logs after replying; a person takes seconds
        sent.append((openid, text))
        replies.append(reply)
        if n % 5 == 0:
            word = FEEDBACK[(n // 5) % len(FEEDBACK)]
            sender.post(client, text_xml(openid, word, msg_id=20_000 + n))
            rated[len(sent) - 1] = RATED_AS[word]
    return sent, replies, rated


def log_rows(app):
    with app.extensions["policybot"].db.read() as conn:
        return [dict(r) for r in conn.execute(sa.select(question_log).order_by(question_log.c.id)).mappings()]


def test_every_question_is_logged_once_masked_and_hashed(world):
    app, sent, replies, rated = world
    rows = log_rows(app)
    assert len(rows) == len(sent)                         # 满意/不满意/1/2 are not questions
    key = app.config["SECRET_KEY"].encode()
    for row, (openid, text), reply in zip(rows, sent, replies, strict=True):
        assert row["question"] == normalise_question(text)
        keyed = hmac.new(key, b"questionlog:" + openid.encode(), hashlib.sha256).hexdigest()
        assert row["user_hash"] == keyed
        assert row["answered"] is (NOT_FOUND not in reply), text
        assert row["channel"] == "wechat"
    assert [i for i, row in enumerate(rows) if row["rating"]] == sorted(rated)
    assert all(rows[i]["rating"] == rating for i, rating in rated.items())
    dump = repr(rows)
    assert not any(openid in dump for openid in USERS)
    assert PHONE not in dump and ID_NUMBER not in dump
    assert dump.count("【手机号】") == sum(PHONE in text for _, text in sent) > 0
    assert dump.count("【身份证号】") == sum(ID_NUMBER in text for _, text in sent) > 0


def test_small_talk_is_answered_politely_and_not_logged(world):
    from bot.callback_client import WeChatSender, text_xml

    app = world[0]
    sender, client, before = WeChatSender.from_app(app), app.test_client(), len(log_rows(app))
    for n, text in enumerate(SMALL_TALK):
        xml = text_xml(f"oChat{n:03d}AbCdEf", text, msg_id=30_000 + n)
        reply = sender.reply_text(sender.post(client, xml))
        assert reply and NOT_FOUND not in reply, text
    app.extensions["policybot"].bot.flush()
    assert len(log_rows(app)) == before


def test_off_topic_and_uncovered_questions_go_unanswered(world):
    app, sent, replies, _ = world
    unanswered = {text for (_, text), reply in zip(sent, replies, strict=True) if NOT_FOUND in reply}
    assert set(OFF_TOPIC) <= unanswered
    assert len(set(UNCOVERED) & unanswered) >= 4


def test_tasks_report_and_exports_match_what_was_sent(world, tmp_path, caplog):
    app, sent, replies, rated = world
    caplog.set_level(logging.DEBUG)
    runner = app.test_cli_runner()
    today = app.extensions["policybot"].insights.today().isoformat()
    result = runner.invoke(args=["insights", "tasks", "--date", today])
    assert result.exit_code == 0, result.output
    expected = expected_figures(sent, replies, rated)
    check_tasks(app, expected)
    xlsx = tmp_path / "week.xlsx"
    result = runner.invoke(args=["insights", "report", "--period", "week", "--date", today,
                                 "--xlsx", str(xlsx)])
    assert result.exit_code == 0, result.output
    printed = dict(line.split(": ", 1) for line in result.output.splitlines() if ": " in line)
    assert {k: printed[k] for k in expected["summary"]} == expected["summary"]
    print("\n" + result.output)                                          # the day's figures
    check_workbook(xlsx.read_bytes(), expected)
    check_groups(app, sent, replies)
    pages = staff_pages(app, today)
    for text in [result.output, caplog.text, *pages]:
        assert_no_personal_data(text)


def expected_figures(sent, replies, rated) -> dict:
    answered = [NOT_FOUND not in r for r in replies]
    satisfied = sum(1 for r in rated.values() if r == "satisfied")
    problems = [i for i, ok in enumerate(answered) if not ok or rated.get(i) == "unsatisfied"]
    pct = lambda a, b: f"{a / b:.1%}" if b else "—"  # noqa: E731
    return {"problems": problems, "summary": {
        "问题数": str(len(sent)), "已回答": str(sum(answered)), "未回答": str(len(sent) - sum(answered)),
        "回答率": pct(sum(answered), len(sent)), "评价数": str(len(rated)), "满意": str(satisfied),
        "满意率": pct(satisfied, len(rated))}}


def check_tasks(app, expected):
    db = app.extensions["policybot"].db
    with db.read() as conn:
        held = list(conn.execute(sa.select(task_questions.c.question_id)).scalars())
        rows = list(conn.execute(sa.select(tasks)).mappings())
    ids = [r["id"] for r in log_rows(app)]
    assert len(held) == len(set(held))                               # a question in one task at most
    assert set(held) <= {ids[i] for i in expected["problems"]}       # only problem questions
    assert sum(r["question_count"] for r in rows) == len(held)
    ebike = [r for r in rows if any("电动自行车" in e for e in r["examples"])]
    assert len(ebike) == 1 and ebike[0]["question_count"] >= 4 and ebike[0]["kind"] == "unanswered"
    for row in rows:
        print(f"task {row['id']} {row['kind']} 「{row['title']}」 {row['question_count']} questions → "
              f"{row['department']} (policy {row['policy_id']}), due {row['due_date']}")
        assert row["department"] and row["due_date"] > row["opened_at"].date()
        if row["policy_id"] is None:  # no close policy: the 政务公开 office; else the policy's
            assert row["department"] == "政务公开办公室"  # department (the office when it has none)


def check_groups(app, sent, replies):
    """Every unanswered question is in exactly one unanswered group; the uncovered theme is
    (mostly) one group; every question is counted under exactly one topic."""
    from insights.hot import hot_topics
    from insights.periods import period_of

    svc = app.extensions["policybot"]
    report = svc.insights.report("week", svc.insights.today())
    unanswered = [normalise_question(text) for (_, text), reply in zip(sent, replies, strict=True)
                  if NOT_FOUND in reply]
    grouped = [item.question for g in report.unanswered_groups for item in g.items]
    assert sorted(grouped) == sorted(unanswered)
    uncovered = {normalise_question(t) for t in UNCOVERED}
    held = max(len(uncovered & {item.question for item in g.items}) for g in report.unanswered_groups)
    assert held >= 4          # (the test's hash embedder is no judge of meaning: most, not all)
    with svc.db.read() as conn:
        topics = hot_topics(conn, period_of("week", svc.insights.today())).topics
    assert sum(t.count for t in topics) == len(sent)


def check_workbook(data: bytes, expected):
    book = load_workbook(io.BytesIO(data))
    summary = {row[0].value: str(row[1].value) for row in book["概况"].iter_rows(min_row=2)}
    assert {k: summary[k] for k in expected["summary"]} == expected["summary"]
    assert book["回应台账"].max_row - 1 >= 1
    cells = (str(c.value) for sheet in book for row in sheet.iter_rows() for c in row)
    assert_no_personal_data(" ".join(cells))


def staff_pages(app, today) -> list[str]:
    from portal.testing import login_as, make_staff

    client = app.test_client()
    login_as(client, app, make_staff(app, "liu", "reviewer", "区政务公开办"))
    pages = []
    for url in ("/staff/insights/", f"/staff/insights/report?period=week&date={today}",
                f"/staff/insights/report?period=month&date={today}",
                f"/staff/insights/report?period=quarter&date={today}"):
        response = client.get(url)
        assert response.status_code == 200, url
        assert "script-src 'self'" in response.headers["Content-Security-Policy"]
        pages.append(response.get_data(as_text=True))
    questions = re.search(r'id="fig-questions">(\d+)<', pages[1]).group(1)
    assert int(questions) == len(log_rows(app))
    return pages


def assert_no_personal_data(text: str):
    assert not any(openid in text for openid in USERS)
    assert PHONE not in text and ID_NUMBER not in text
    assert not re.search(r"(?<!\d)1[3-9]\d{9}(?!\d)", text)

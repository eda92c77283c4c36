"""The question log: hashing, masking, feedback, latest answer, purge (SQLite and PostgreSQL)."""
from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa

from bot.questionlog import QuestionLog, normalise_question, parse_rating, question_log
from policies.db import Database

T0 = dt.datetime(2026, 11, 23, 2, 0, tzinfo=dt.UTC)
CITED = [{"doc_id": "gz_15", "chunk_id": "gz_15#3", "score": 0.82, "source": "faq"}]
# A checksum-valid ID number and a mobile number, as a user might type them.
ID_NUMBER = "11010519491231002X"
PHONE = "13812345678"


@pytest.fixture
def log(db):
    return QuestionLog(db, "test-secret", retention_days=30)


def raw_rows(db):
    with db.read() as conn:
        return [dict(r) for r in conn.execute(sa.select(question_log)).mappings()]


def test_record_stores_a_keyed_hash_and_a_masked_normalised_question(db, log):
    log_id = log.record("oOPENID123", "wechat",
                        f"  我的身份证{ID_NUMBER}，电话{PHONE}，\n创业担保贷款怎么申请？ ",
                        CITED, 0.82, True, at=T0)
    row, = raw_rows(db)
    assert row["id"] == log_id
    assert row["user_hash"] == log.user_hash("oOPENID123") != "oOPENID123"
    assert len(row["user_hash"]) == 64
    assert row["question"] == "我的身份证【身份证号】，电话【手机号】， 创业担保贷款怎么申请？"  # as typed
    assert row["top_doc_id"] == "gz_15" and row["cited"][0]["score"] == pytest.approx(0.82)
    assert "oOPENID123" not in repr(row) and PHONE not in repr(row) and ID_NUMBER not in repr(row)


def test_the_hash_depends_on_the_secret_key(db):
    assert QuestionLog(db, "a").user_hash("o1") != QuestionLog(db, "b").user_hash("o1")
    assert QuestionLog(db, "a").user_hash("o1") == QuestionLog(db, "a").user_hash("o1")


def test_full_width_digits_and_split_numbers_are_masked_too():
    assert normalise_question("电话１３８１２３４５６７８") == "电话【手机号】"
    assert normalise_question("手机 138 1234 5678 打不通") == "手机 【手机号】 打不通"
    assert normalise_question("邮箱 zhang.san@example.com") == "邮箱 【邮箱】"


def test_feedback_by_id_and_by_latest_answer(log):
    first = log.record("o1", "wechat", "问题一", CITED, 0.9, True, at=T0)
    second = log.record("o1", "wechat", "问题二", [], 0.1, False, at=T0 + dt.timedelta(minutes=1))
    log.record("o2", "wechat", "别人的问题", CITED, 0.9, True, at=T0 + dt.timedelta(minutes=2))
    assert log.feedback(first, "satisfied", at=T0 + dt.timedelta(minutes=3)) == first
    assert log.feedback("o1", "unsatisfied", at=T0 + dt.timedelta(minutes=3)) == second
    assert log.get(first).rating == "satisfied" and log.get(second).rating == "unsatisfied"
    assert log.feedback("o3", "satisfied", at=T0) is None
    with pytest.raises(ValueError):
        log.feedback(first, "great")
    with pytest.raises(KeyError):
        log.feedback(99999, "satisfied")


def test_rate_answer_by_its_reference_last_rating_wins(db, log):
    rated = log.record("o1", "wechat", "问题一", CITED, 0.9, True, at=T0, answer_ref="AbCdEfGh1234")
    other = log.record("o1", "wechat", "问题二", CITED, 0.9, True, at=T0, answer_ref="ZyXwVu987654")
    log.record("o1", "wechat", "问题三", [], 0.1, False, at=T0)  # no reference: nothing to rate by
    assert log.rate_answer("AbCdEfGh1234", "satisfied", at=T0 + dt.timedelta(minutes=1)) == rated
    assert log.rate_answer("AbCdEfGh1234", "unsatisfied", at=T0 + dt.timedelta(minutes=2)) == rated
    assert log.get(rated).rating == "unsatisfied" and log.get(other).rating is None
    # a rating given earlier but applied late (it waited for the row) keeps the later one
    assert log.rate_answer("AbCdEfGh1234", "satisfied", at=T0 + dt.timedelta(seconds=90)) == rated
    assert log.get(rated).rating == "unsatisfied"
    row = next(r for r in raw_rows(db) if r["id"] == rated)
    assert row["answer_ref"] == "AbCdEfGh1234"
    assert row["rated_at"].replace(tzinfo=dt.UTC) == T0 + dt.timedelta(minutes=2)
    assert log.rate_answer("NoSuchRef000", "satisfied") is None
    with pytest.raises(ValueError):
        log.rate_answer("AbCdEfGh1234", "great")
    with pytest.raises(ValueError):
        log.rate_answer("", "satisfied")
    with pytest.raises(ValueError):
        log.record("o1", "wechat", "问题", [], 0.1, False, answer_ref="x" * 33)


def test_latest_for_respects_the_window(log):
    log_id = log.record("o1", "h5", "住房公积金怎么提取", CITED, 0.7, True, at=T0)
    assert log.latest_for("o1", 600, now=T0 + dt.timedelta(seconds=599)).id == log_id
    assert log.latest_for("o1", 600, now=T0 + dt.timedelta(seconds=601)) is None
    assert log.latest_for("someone-else", 600, now=T0) is None


def test_purge_deletes_rows_older_than_the_cutoff_and_the_retention(log):
    old = log.record("o1", "wechat", "旧问题", [], 0.0, False, at=T0 - dt.timedelta(days=40))
    new = log.record("o1", "wechat", "新问题", [], 0.0, False, at=T0)
    assert log.purge(older_than=T0 - dt.timedelta(days=41)) == 0
    assert log.purge(older_than=T0 - dt.timedelta(days=1)) == 1
    assert log.get(old) is None and log.get(new) is not None
    assert log.purge() == (1 if dt.datetime.now(dt.UTC) - T0 > dt.timedelta(days=30) else 0)


def test_rating_words():
    assert [parse_rating(w) for w in ("满意", "1", "２", "不满意。", "还行", "")] == [
        "satisfied", "satisfied", "unsatisfied", "unsatisfied", None, None]


@pytest.mark.parametrize("bad", [
    dict(openid=""), dict(question="   "), dict(channel=""), dict(cited=[{"chunk_id": 1}])])
def test_bad_input_is_refused(log, bad):
    args = dict(openid="o1", channel="wechat", question="问题", cited=[], confidence=0.5, answered=True)
    args.update(bad)
    with pytest.raises(ValueError):
        log.record(**args)


def test_needs_a_secret_key(db):
    with pytest.raises(ValueError):
        QuestionLog(db, "")


def test_works_on_both_databases(any_db_url):
    database = Database(any_db_url)
    database.upgrade()
    try:
        log = QuestionLog(database, "k")
        log_id = log.record("o1", "wechat", "问题", CITED, 0.5, True, at=T0)
        assert log.feedback("o1", "satisfied", at=T0 + dt.timedelta(seconds=5)) == log_id
        entry = log.latest_for("o1", 60, now=T0 + dt.timedelta(seconds=10))
        assert entry.at == T0 and entry.rating == "satisfied" and entry.cited[0]["doc_id"] == "gz_15"
        by_ref = log.record("o2", "h5", "问题", CITED, 0.5, True, at=T0, answer_ref="AbCdEfGh1234")
        assert log.rate_answer("AbCdEfGh1234", "unsatisfied", at=T0) == by_ref
        assert log.rate_answer("AbCdEfGh1234", "satisfied", at=T0) == by_ref
        assert log.get(by_ref).rating == "satisfied" and log.rate_answer("NoSuchRef000", "satisfied") is None
    finally:
        database.dispose()


def test_the_app_attaches_the_log_with_its_secret_key(app):
    svc = app.extensions["policybot"]
    assert svc.questions.user_hash("o1") == QuestionLog(svc.db, app.config["SECRET_KEY"]).user_hash("o1")
    assert svc.questions.retention_days == 365


def test_the_purge_command(app):
    log = app.extensions["policybot"].questions
    old = log.record("o1", "wechat", "很久以前的问题", [], 0.0, False, at=T0 - dt.timedelta(days=400))
    kept = log.record("o1", "wechat", "最近的问题", [], 0.0, False)
    result = app.test_cli_runner().invoke(args=["insights", "purge"])
    assert result.exit_code == 0 and "purged 1 questions (retention 365 days)" in result.output
    assert log.get(old) is None and log.get(kept) is not None
    result = app.test_cli_runner().invoke(args=["insights", "purge", "--before", "2999-01-01"])
    assert "purged 1 questions" in result.output and log.get(kept) is None

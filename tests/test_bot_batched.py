"""The bot's after-reply writes, batched: each message's customer-service window and question
log row are queued by the answering threads and written together by one thread, so that a
burst costs one transaction per batch, not one per message."""
from __future__ import annotations

import concurrent.futures
import datetime as dt
import threading

import pytest
import sqlalchemy as sa
from test_bot_fakes import FakeSearch, create_bot_app, world_hits

from bot.batched import Batched
from bot.callback_client import WeChatSender, text_xml
from bot.push.tables import subscribers as table
from bot.questionlog import Entry, QuestionLog
from bot.subscribers import Subscribers


def test_everything_added_is_written_once_in_batches_that_gather_while_one_is_written():
    executor = concurrent.futures.ThreadPoolExecutor(1)
    written: list[list[int]] = []
    first_started, release = threading.Event(), threading.Event()

    def write(items: list[int]) -> None:
        written.append(items)
        first_started.set()
        release.wait(10)  # the first batch is slow: what comes meanwhile gathers

    batched = Batched(write, lambda work: executor.submit(work))
    batched.add(0)
    assert first_started.wait(10)
    with concurrent.futures.ThreadPoolExecutor(8) as adders:
        list(adders.map(batched.add, range(1, 101)))
    assert len(batched) == 100
    release.set()
    executor.submit(lambda: None).result(timeout=10)
    assert written[0] == [0] and sorted(written[1]) == list(range(1, 101)) and len(written) == 2
    assert len(batched) == 0


def test_record_many_logs_in_order_and_a_malformed_entry_refuses_the_call(db):
    log = QuestionLog(db, "k" * 32)
    at = dt.datetime(2026, 12, 1, 8, tzinfo=dt.UTC)
    entries = [Entry(f"o_{n}", "wechat", f"问题{n}", [], 0.5, n % 2 == 0, at, f"Ref{n:09d}", None)
               for n in range(5)]
    ids = log.record_many(entries)
    assert [log.get(i).question for i in ids] == [f"问题{n}" for n in range(5)]
    assert log.rate_answer("Ref000000003", "satisfied") == ids[3]
    with pytest.raises(ValueError, match="question is empty"):
        log.record_many([entries[0], Entry("o_x", "wechat", "   ", [], 0.5, True)])
    assert log.latest_for("o_x", within_seconds=10**9) is None


def test_touch_many_opens_each_window_once_and_creates_new_subscribers(db):
    subs = Subscribers(db)
    subs.touch("o_known")
    at = dt.datetime(2026, 12, 1, 8, tzinfo=dt.UTC)
    subs.touch_many(["o_known", "o_new", "o_known"], at)
    with db.read() as conn:
        rows = conn.execute(sa.select(table.c.id, table.c.last_message_at, table.c.cs_used)).all()
    ids = {subs.subscriber_id("o_known"), subs.subscriber_id("o_new")}
    assert len(rows) == 2 and ids == {r[0] for r in rows}
    assert all(r[1].replace(tzinfo=dt.UTC) == at and r[2] == 0 for r in rows)


def test_a_burst_is_logged_in_one_batch_at_the_times_it_was_answered(tmp_path, monkeypatch):
    from server import start

    app = start(create_bot_app(tmp_path, FakeSearch(world_hits())))
    svc = app.extensions["policybot"]
    if svc.subscribers is None:  # the push feature not registered
        svc.subscribers = Subscribers(svc.db)
    bot, sender, client = svc.bot, WeChatSender.from_app(app), app.test_client()
    batches: dict[str, list[int]] = {"log": [], "touch": []}
    record_many, touch_many = svc.questions.record_many, svc.subscribers.touch_many
    def counted_log(entries):
        batches["log"].append(len(entries))
        return record_many(entries)

    def counted_touch(openids, at=None):
        batches["touch"].append(len(openids))
        return touch_many(openids, at)
    monkeypatch.setattr(svc.questions, "record_many", counted_log)
    monkeypatch.setattr(svc.subscribers, "touch_many", counted_touch)
    hold = threading.Event()
    bot._later(lambda: hold.wait(30))  # the writer is busy while five residents ask
    for n in range(5):
        message = text_xml(f"o_burst{n}", "失业保险金怎么申领", msg_id=n + 1)
        assert "失业保险金" in sender.reply_text(sender.post(client, message))
    answered_by = dt.datetime.now(dt.UTC)
    assert bot.backlog == 10
    hold.set()
    bot.flush()
    assert batches == {"log": [5], "touch": [5]} and bot.backlog == 0
    for n in range(5):
        logged = svc.questions.latest_for(f"o_burst{n}", within_seconds=600)
        assert logged is not None and logged.at.replace(tzinfo=dt.UTC) <= answered_by


def test_touch_many_adds_new_senders_and_reopens_known_windows_on_both_databases(any_db):
    subs = Subscribers(any_db)
    subs.update_profile("o_known", consent=True, kind="enterprise")
    with any_db.write() as conn:
        conn.execute(table.update().values(cs_used=4))  # its window was used up
    at = dt.datetime(2026, 12, 1, 8, tzinfo=dt.UTC)
    subs.touch_many(["o_new_1", "o_known", "o_new_2", "o_new_1"], at)
    with any_db.read() as conn:
        rows = {r.id: r for r in conn.execute(sa.select(table))}
    assert len(rows) == 3
    for openid in ("o_known", "o_new_1", "o_new_2"):
        row = rows[subs.subscriber_id(openid)]
        assert (row.last_message_at.replace(tzinfo=dt.UTC), row.cs_used, row.active) == (at, 0, True)
        assert subs.openid_of(row.openid_enc) == openid
    assert subs.profile("o_known")["kind"] == "enterprise" and subs.profile("o_known")["consent"]
    assert [subs.profile(o)["kind"] for o in ("o_new_1", "o_new_2")] == ["resident", "resident"]
    assert not subs.profile("o_new_2")["consent"]  # a message is no consent to pushes


@pytest.mark.postgres
def test_a_sender_another_process_adds_meanwhile_is_touched_not_duplicated(pg_url):
    """Between the batch's lookup and its insert another machine adds the same user (its own
    message, a follow event): the insert leaves that row alone and the batch still opens its
    window."""
    from policies.db import Database

    db, other = Database(pg_url), Database(pg_url)
    db.upgrade()
    subs, elsewhere = Subscribers(db), Subscribers(other)
    at = dt.datetime(2026, 12, 1, 8, tzinfo=dt.UTC)

    raced = []

    def add_first(conn, cursor, statement, *args):
        if statement.lstrip().upper().startswith("INSERT INTO PUSH_SUBSCRIBERS") and not raced:
            raced.append(elsewhere.on_follow("o_raced"))  # committed by the other process first
    sa.event.listen(db.engine, "before_cursor_execute", add_first)
    try:
        subs.touch_many(["o_raced", "o_fresh"], at)
    finally:
        sa.event.remove(db.engine, "before_cursor_execute", add_first)
    with db.read() as conn:
        rows = conn.execute(sa.select(table.c.id, table.c.last_message_at)).all()
    assert len(rows) == 2
    assert all(r.last_message_at == at for r in rows)
    assert raced and raced[0] in {r.id for r in rows}
    db.dispose()
    other.dispose()

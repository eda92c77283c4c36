"""Publication as events (interpretations/events.py): the outbox rows the workflow appends,
each process's index following them, and durable consumers with ordering, retries and a
crash between reading and acknowledging; on SQLite and PostgreSQL (issue 15)."""
import os
import signal
import subprocess
import sys
import textwrap
import time

from interpretations import events
from interpretations.importer import import_file
from interpretations.workflow import Hooks, Releases
from tests.conftest import ROOT, SIGNER, make_interpretation, make_policy
from tests.test_index_support import make_index, publish


def _events(db):
    with db.read() as conn:
        return events.read_after(conn, 0)


def test_every_change_of_publication_appends_an_event_in_order(any_db):
    releases = Releases(any_db, Hooks())
    first = publish(releases, make_policy("p1"))
    second = publish(releases, make_policy("p2", doc_number="洪经管办发〔2026〕2号"))
    releases.retire(SIGNER, first)
    releases.withdraw(SIGNER, second, "内容有误")
    seen = [(e.kind, e.release_id, e.document_ids) for e in _events(any_db)]
    assert seen == [("published", first, ("p1",)), ("published", second, ("p2",)),
                    ("removed", first, ("p1",)), ("removed", second, ("p2",))]
    ids = [e.id for e in _events(any_db)]
    assert ids == sorted(ids)


def test_an_import_appends_its_publications(any_db, tmp_path):
    from policies.jsonl import write_documents

    path = tmp_path / "corpus.jsonl"
    write_documents(path, [make_policy("p1"), make_interpretation("i1", interprets="p1")])
    report = import_file(Releases(any_db, Hooks()), path)
    assert [(e.kind, e.document_ids) for e in _events(any_db)] == \
        [("published", tuple(sorted(("p1", "i1"))))] and report.imported == 2


def test_a_hook_that_raises_leaves_the_publication_and_the_other_hooks(any_db):
    releases = Releases(any_db, Hooks())
    told = []

    def broken(infos):
        raise RuntimeError("index away")
    releases.hooks.published += [broken, told.extend]
    release_id = publish(releases, make_policy("p1"))
    assert releases.get(release_id)["state"] == "published" and [i.id for i in told] == [release_id]


def test_another_machines_index_follows_within_two_seconds(any_db, tmp_path):
    writer_releases = Releases(any_db, Hooks())
    writer = make_index(any_db, writer_releases, tmp_path / "a")
    reader = make_index(any_db, Releases(any_db, Hooks()), tmp_path / "b")  # not told by hooks
    reader.follow(0.1)
    published = time.monotonic()
    release_id = publish(writer_releases, make_policy("p1", title="关于失业保险金申领的通知",
                                                      text="一、失业保险金按月发放。\n"))
    while reader.event_lag is None and time.monotonic() - published < 2.0:
        time.sleep(0.02)
    assert "p1" in reader.corpus.docs, "the other index did not apply the publication within 2 s"
    assert reader.search.search("失业保险金", k=1)[0].doc_id == "p1"
    assert reader.event_lag < 2.0 and reader.events_behind() == 0
    writer_releases.withdraw(SIGNER, release_id, "内容有误")
    deadline = time.monotonic() + 2.0
    while "p1" in reader.corpus.docs and time.monotonic() < deadline:
        time.sleep(0.02)
    assert "p1" not in reader.corpus.docs and "p1" not in writer.corpus.docs
    reader.close()


def test_catch_up_applies_up_to_an_event_before_the_follower(any_db, tmp_path):
    """A consumer about to search for what an event published (insights re-checks) brings
    its process's index up to that event itself."""
    writer_releases = Releases(any_db, Hooks())
    make_index(any_db, writer_releases, tmp_path / "a")
    reader = make_index(any_db, Releases(any_db, Hooks()), tmp_path / "b")  # no follower
    publish(writer_releases, make_policy("p1", title="关于失业保险金申领的通知",
                                         text="一、失业保险金按月发放。\n"))
    last, = [e.id for e in _events(any_db)]
    assert "p1" not in reader.corpus.docs
    reader.catch_up(last)
    assert "p1" in reader.corpus.docs and reader.event_position == last


def test_a_runner_handles_what_is_published_when_woken(any_db):
    handled = []
    consumer = events.Consumer(any_db, "insights", lambda event: handled.append(event.id),
                               start_at_latest=True)
    consumer.ensure_cursor()
    runner = events.ConsumerRunner(consumer, interval=60)  # only a wake can make it run in time
    releases = Releases(any_db, Hooks())
    releases.hooks.published.append(lambda infos: runner.wake())
    runner.start()
    try:
        time.sleep(0.2)  # its first round: nothing yet
        publish(releases, make_policy("p1"))
        deadline = time.monotonic() + 5
        while not handled and time.monotonic() < deadline:
            time.sleep(0.02)
    finally:
        runner.stop()
    assert handled == [e.id for e in _events(any_db)]


# -- durable consumers ---------------------------------------------------------------------------
class Clock:
    def __init__(self):
        self.now = 1_000_000.0

    def __call__(self):
        return self.now


def test_a_consumer_reads_in_order_once_each(any_db):
    releases = Releases(any_db, Hooks())
    ids = [publish(releases, make_policy(f"p{n}", doc_number=f"洪经管办发〔2026〕{n}号"))
           for n in range(1, 6)]
    seen = []
    consumer = events.Consumer(any_db, "push", lambda e: seen.append(e.release_id), batch=2)
    assert consumer.run_once() == 2 and consumer.run_once() == 2 and consumer.run_once() == 1
    assert consumer.run_once() == 0 and seen == ids
    with any_db.read() as conn:
        assert events.release_progress(conn, ids[-1]) == {"push": "done"}


def test_a_failing_consumer_retries_the_same_event_and_the_later_ones_wait(any_db):
    releases = Releases(any_db, Hooks())
    first = publish(releases, make_policy("p1"))
    second = publish(releases, make_policy("p2", doc_number="洪经管办发〔2026〕2号"))
    clock, seen, failures = Clock(), [], [2]

    def handle(event):
        if event.release_id == first and failures[0]:
            failures[0] -= 1
            raise RuntimeError("模型未加载")
        seen.append(event.release_id)
    consumer = events.Consumer(any_db, "insights", handle, clock=clock)
    assert consumer.run_once() == 0 and seen == []
    with any_db.read() as conn:
        state = events.consumer_states(conn)["insights"]
        assert (state.attempts, state.failed_event) == (1, _events(any_db)[0].id)
        assert "模型未加载" in state.last_error
        assert events.release_progress(conn, first)["insights"].startswith("failed: RuntimeError")
        assert events.release_progress(conn, second)["insights"] == "failed: RuntimeError: 模型未加载"
    assert consumer.run_once() == 0  # not before its back-off
    clock.now += events.backoff(1)
    assert consumer.run_once() == 0 and seen == []  # second failure: waits 2 s now
    clock.now += events.backoff(2)
    assert consumer.run_once() == 2 and seen == [first, second]
    with any_db.read() as conn:
        state = events.consumer_states(conn)["insights"]
        assert (state.attempts, state.failed_event, state.last_error) == (0, None, None)


def test_one_process_at_a_time_holds_a_consumers_lease(any_db):
    releases = Releases(any_db, Hooks())
    publish(releases, make_policy("p1"))
    clock = Clock()
    inside = []

    def handle(event):
        # While the first worker handles the event, a second worker finds the lease taken.
        inside.append(event.id)
        assert other.run_once() == 0
    first = events.Consumer(any_db, "push", handle, clock=clock, owner="worker-1")
    other = events.Consumer(any_db, "push", lambda e: inside.append(("twice", e.id)), clock=clock,
                            owner="worker-2")
    assert first.run_once() == 1 and other.run_once() == 0 and len(inside) == 1


CRASHING = textwrap.dedent("""
    import os, signal, sys
    sys.path.insert(0, {root!r})
    from interpretations import events
    from policies.db import Database

    def handle(event):
        with open({marker!r}, "a") as f:
            f.write(f"{{event.id}}\\n")
        os.kill(os.getpid(), signal.SIGKILL)  # after reading and handling, before the ack

    events.Consumer(Database({url!r}), "push", handle, lease_seconds=1.0).run_once()
""")


def test_a_consumer_killed_between_reading_and_acknowledging_gets_the_event_again(any_db, tmp_path):
    releases = Releases(any_db, Hooks())
    release_id = publish(releases, make_policy("p1"))
    marker = tmp_path / "handled"
    script = CRASHING.format(root=str(ROOT), marker=str(marker), url=any_db.url)
    done = subprocess.run([sys.executable, "-c", script], timeout=120)
    assert done.returncode == -signal.SIGKILL
    event_id = int(marker.read_text().split()[0])
    with any_db.read() as conn:
        assert events.consumer_states(conn)["push"].position == 0  # never acknowledged
    seen = []
    again = events.Consumer(any_db, "push", lambda e: seen.append(e.id))
    deadline = time.monotonic() + 10
    while not seen and time.monotonic() < deadline:  # the dead worker's 1 s lease runs out
        again.run_once()
        time.sleep(0.1)
    assert seen == [event_id]
    with any_db.read() as conn:
        assert events.release_progress(conn, release_id) == {"push": "done"}
    assert os.path.exists(marker)


def test_a_new_consumer_may_start_at_the_latest_event(any_db):
    releases = Releases(any_db, Hooks())
    publish(releases, make_policy("p1"))
    seen = []
    consumer = events.Consumer(any_db, "late", lambda e: seen.append(e.release_id), start_at_latest=True)
    assert consumer.run_once() == 0
    later = publish(releases, make_policy("p2", doc_number="洪经管办发〔2026〕2号"))
    assert consumer.run_once() == 1 and seen == [later]

"""Benchmark of targeted push (issue 6). Prints figures; not a test.

    python bench/bench_push.py [--subscribers 100000] [--send 3000] [--rate 200]
                               [--database-url URL]   (default: a temporary SQLite file)

1. Matching a release against N subscribers and writing its outbox inside the publishing
   transaction: time of the match, of the whole publication, peak Python memory (tracemalloc)
   and the process's max RSS.
2. Sender throughput against the local fake WeChat API at a configured rate (template
   messages): achieved messages/s and duplicates (deliveries per openid + client_msg_id > 1).
"""
from __future__ import annotations

import argparse
import pathlib
import random
import resource
import sys
import tempfile
import time
import tracemalloc

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.push.bulk import add_subscribers  # noqa: E402
from bot.push.matching import match_release  # noqa: E402
from bot.push.outbox import release_stats  # noqa: E402
from bot.push.sender import Sender, SenderSettings  # noqa: E402
from bot.push.service import Push  # noqa: E402
from bot.subscribers import Subscribers  # noqa: E402
from bot.wechat_api import make_client  # noqa: E402
from interpretations.workflow import Actor, Hooks, Releases  # noqa: E402
from policies.db import Database, sqlite_url  # noqa: E402
from policies.model import Document  # noqa: E402
from tests.fake_wechat import FakeWeChat  # noqa: E402

TOPICS = ["就业创业", "社会保险", "税收优惠", "住房保障", "医疗保障", "教育", "养老服务", "科技创新",
          "知识产权", "人才引进", "户籍", "交通出行", "市场监管", "营商环境", "文化旅游", "农业农村"]
GROUPS = ["高校毕业生", "退役军人", "老年人", "残疾人", "农民工", "就业困难人员"]
REGIONS = [None, "江西省南昌市经开区", "江西省南昌市", "广东省广州市", "广东省广州市天河区", "四川省"]
DRAFTER, REVIEWER, SIGNER = Actor("d", "drafter"), Actor("r", "reviewer"), Actor("s", "signer")


def synthetic_people(count: int, rng: random.Random) -> list[dict]:
    people = []
    for i in range(count):
        tags = [(t, "topic") for t in rng.sample(TOPICS, rng.randint(0, 3))]
        tags += [(g, "group") for g in rng.sample(GROUPS, rng.randint(0, 1))]
        person = {"openid": f"oBENCH{i:022d}", "region": rng.choice(REGIONS), "tags": tags}
        if rng.random() < 0.3:
            person.update(kind="enterprise", size_class=rng.choice(["小微", "中型", "大型"]))
            person["tags"].append((person["size_class"], "size"))
        people.append(person)
    return people


def policy(doc_id: str, **fields) -> Document:
    record = {"id": doc_id, "kind": "policy", "title": f"关于{doc_id}的通知", "text": "一、总则\n正文。\n",
              "doc_number": "洪经管办发〔2026〕9号", "issuing_body": "南昌经开区管委会",
              "publish_date": "2026-11-27", "importance": "normal"}
    record.update(fields)
    return Document.from_record(record)


def publish(releases: Releases, doc: Document) -> int:
    release_id = releases.create(DRAFTER, doc)
    releases.submit(DRAFTER, release_id)
    releases.review(REVIEWER, release_id, "bench")
    releases.sign(SIGNER, release_id)
    releases.publish(SIGNER, release_id)
    return release_id


def bench_matching(db: Database, subs: Subscribers, count: int) -> None:
    rng = random.Random(6)
    started = time.perf_counter()
    add_subscribers(db, subs.cipher, synthetic_people(count, rng))
    print(f"setup: {count} subscribers inserted in {time.perf_counter() - started:.1f} s")
    releases = Releases(db, Hooks())
    Push(db, {"PUSH_CHANNEL": "template"}, subs).register(releases.hooks)
    doc = policy("bench-p1", topics=["就业创业", "社会保险"], audience=["个人", "高校毕业生", "小微企业"],
                 region="江西省南昌市经开区")
    release_id = releases.create(DRAFTER, doc)
    releases.submit(DRAFTER, release_id)
    releases.review(REVIEWER, release_id, "bench")
    releases.sign(SIGNER, release_id)
    tracemalloc.start()
    started = time.perf_counter()
    with db.read() as conn:
        matches = match_release(conn, release_id)
    match_seconds = time.perf_counter() - started
    _, match_peak = tracemalloc.get_traced_memory()
    tracemalloc.reset_peak()
    started = time.perf_counter()
    releases.publish(SIGNER, release_id)  # matching again + outbox rows, in the publishing transaction
    publish_seconds = time.perf_counter() - started
    _, publish_peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    stats = release_stats(db, release_id)
    print(f"matching {count} subscribers: {len(matches)} matches in {match_seconds:.2f} s, "
          f"peak Python memory {match_peak / 2**20:.1f} MiB")
    print(f"publish with outbox: {stats['matched']} rows written in {publish_seconds:.2f} s "
          f"(matching + insert, one transaction), peak Python memory {publish_peak / 2**20:.1f} MiB")
    print(f"process max RSS so far: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")
    started = time.perf_counter()
    releases.withdraw(SIGNER, release_id, "bench: revoke before sending")
    print(f"withdrawal cancelled {release_stats(db, release_id)['cancelled']} pending rows in "
          f"{time.perf_counter() - started:.2f} s")


def bench_sender(db: Database, subs: Subscribers, count: int, rate: float) -> None:
    fake = FakeWeChat().start()
    try:
        add_subscribers(db, subs.cipher, [{"openid": f"oSEND{i:023d}", "tags": [("专项推送", "topic")]}
                                          for i in range(count)])
        releases = Releases(db, Hooks())
        Push(db, {"PUSH_CHANNEL": "template"}, subs).register(releases.hooks)
        publish(releases, policy("bench-send", topics=["专项推送"], audience=[]))
        config = {"WECHAT_APPID": fake.appid, "WECHAT_APPSECRET": fake.secret, "WECHAT_API_BASE": fake.url,
                  "PUSH_TEMPLATE_ID": "TPL", "PUSH_RATES": {"template": rate}}
        sender = Sender(db, make_client(config, db), subs, SenderSettings.from_config(config), name="bench")
        started = time.perf_counter()
        report = sender.run(once=True)
        seconds = time.perf_counter() - started
        counts = fake.delivery_counts("/cgi-bin/message/template/send")
        duplicates = sum(c - 1 for c in counts.values() if c > 1)
        print(f"sender at a configured {rate:g}/s: {report.sent} sent in {seconds:.1f} s = "
              f"{report.sent / seconds:.1f} msg/s; deliveries {len(counts)}, duplicates {duplicates}, "
              f"token fetches {fake.token_fetches}")
    finally:
        fake.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--subscribers", type=int, default=100_000)
    parser.add_argument("--send", type=int, default=3_000)
    parser.add_argument("--rate", type=float, default=200.0)
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url = args.database_url or sqlite_url(pathlib.Path(tmp) / "bench.sqlite3")
        db = Database(url)
        db.upgrade()
        print(f"database: {db.engine.dialect.name}")
        subs = Subscribers(db, secret="bench-secret")
        bench_matching(db, subs, args.subscribers)
        bench_sender(db, subs, args.send, args.rate)
        db.dispose()


if __name__ == "__main__":
    main()

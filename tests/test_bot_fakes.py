"""Fakes and helpers for the bot tests (no tests here): a deterministic retriever over a few
hand-made passages, documents written straight into the database, an app with WeChat
configured. The real parts stay real: wechatpy crypto, the Flask app, the database.

The fake retriever measures its own overlap of question and passage (shared character
pairs, with its own short list of question words) and reports it as the hits' coverage
signal; the tests' answer model answers when that coverage reaches one half. Neither uses
the bot's code: what the bot decides from them is what is tested."""
from __future__ import annotations

import dataclasses
import pathlib
import re
import threading
import time

import pytest

from bot.answerability import FEATURES, AnswerModel
from bot.callback_client import TEST_WECHAT_CONFIG
from index.hits import Hit, Signals
from index.query import with_opening
from policies import store
from policies.model import Document

TODAY = "2026-11-27"


def doc(doc_id: str, **fields) -> Document:
    record = {"id": doc_id, "kind": "policy", "title": f"{doc_id}管理办法",
              "text": "第一条 为了规范管理，制定本办法。\n", "doc_number": "穗府办规〔2025〕8号",
              "issuing_body": "广州市人民政府办公厅", "publish_date": "2025-06-01",
              "topics": ["就业创业"], "audience": ["个人"]}
    record.update(fields)
    return Document.from_record(record)


def hit_of(document: Document, text: str, *, article: str | None = None, in_force: bool = True,
           source: str = "text", start: int = 0, ordinal: int = 0) -> Hit:
    return Hit(doc_id=document.id, title=document.title, doc_number=document.doc_number,
               kind=document.kind, interprets=document.interprets, article=article,
               heading_path=(), text=text, score=0.0, status=document.status, in_force=in_force,
               issuing_body=document.issuing_body,
               publish_date=document.publish_date.isoformat() if document.publish_date else None,
               valid_from=document.valid_from.isoformat() if document.valid_from else None,
               valid_until=document.valid_until.isoformat() if document.valid_until else None,
               chunk_id=f"{document.id}#{ordinal}", start=start, end=start + len(text), source=source,
               topics=tuple(document.topics))


QUESTION_WORDS = re.compile("怎么|如何|什么|哪些|哪里|多少|可以|需要|请问|吗|呢|的|了|是|有")


def pairs(text: str) -> set[str]:
    runs = re.findall(r"[\u4e00-\u9fff]+", QUESTION_WORDS.sub(" ", text))
    return {run[i:i + 2] for run in runs for i in range(len(run) - 1)}


def overlap(question: str, text: str) -> float:
    """Share of the question's character pairs that occur in `text`."""
    wanted = pairs(question)
    return sum(1 for p in wanted if p in text) / len(wanted) if wanted else 0.0


def coverage_model(threshold: float = 0.5) -> AnswerModel:
    """The tests' answer model: answers from the first candidate whose coverage reaches
    one half (a steep logistic on coverage alone)."""
    weights = dict.fromkeys(FEATURES, 0.0) | {"coverage": 40.0}
    means = dict.fromkeys(FEATURES, 0.0) | {"coverage": 0.5}
    return AnswerModel(weights, means, dict.fromkeys(FEATURES, 1.0), 0.0, threshold)


def write_coverage_model(directory: pathlib.Path) -> str:
    path = directory / "answer-model.json"
    coverage_model().save(path)
    return str(path)


class FakeSearch:
    """Ranks its passages by its own overlap with the question (reported as the hits'
    coverage); counts calls; can be made slow: `delay` seconds (short overlaps), or held until
    the test opens `gate` (a retrieval that lasts exactly as long as the test needs)."""

    def __init__(self, hits: list[Hit], delay: float = 0.0, gate: threading.Event | None = None):
        self.hits = hits
        self.delay = delay
        self.gate = gate
        self.calls = 0
        self.queries: list[str] = []
        self._lock = threading.Lock()

    def __call__(self, query: str, k: int = 5, *, include_expired: bool = False, releases=None,
                 opening: str | None = None, **_filters) -> list[Hit]:
        message = query  # a follow-up's own words (index.signals: message_coverage)
        if opening:  # a follow-up: read with the question that opened its topic, as the index does
            query = with_opening(query, opening)
        with self._lock:
            self.calls += 1
            self.queries.append(query)
        if self.delay:
            time.sleep(self.delay)
        if self.gate is not None and not self.gate.wait(timeout=60):
            raise TimeoutError("the test never opened the retrieval's gate")
        scored = [(overlap(query, f"{h.title} {h.text}"), h) for h in self.hits
                  if (include_expired or h.in_force)
                  and (releases is None or (h.interprets or h.doc_id) in releases)]
        scored.sort(key=lambda pair: -pair[0])
        return [found_hit(h, query, message, cov, rank)
                for rank, (cov, h) in enumerate(scored[:k]) if cov > 0]


def found_hit(hit: Hit, query: str, message: str, covered: float, rank: int) -> Hit:
    """`hit` as the search returns it for `query` (`message`: a follow-up's own words), with
    coverage `covered` at `rank`."""
    signals = Signals(cosine=None, bm25=10 * covered, bm25_best=10.0, bm25_z=0.0, cosine_z=None,
                      coverage=covered, passage_coverage=overlap(query, hit.text),
                      message_coverage=overlap(message, hit.text),
                      title_coverage=overlap(query, hit.title), unknown_share=0.0,
                      lexical_rank=rank, dense_rank=None, named=False)
    return dataclasses.replace(hit, score=1.0 / (61 + rank), signals=signals)


def slot_fixtures():
    """The `slot` (module) and `search` (each test's own FakeSearch in it) fixtures of a module
    whose tests share an app: `slot, search = slot_fixtures()` at the module's top level."""

    @pytest.fixture(scope="module")
    def slot():
        return SearchSlot(world_hits())

    @pytest.fixture
    def search(slot):
        return slot.fresh()

    return slot, search


def bot_app(data_dir, slot, **options):
    """An app of the bot with this slot as its retriever, for a module-scoped fixture to
    `yield from`; its database is closed afterwards."""
    from server import start

    app = start(create_bot_app(data_dir, slot, **options))
    yield app
    app.extensions["policybot"].close()


class SearchSlot:
    """The retriever of an app that a module's tests share (an app costs seconds): a test that
    counts retrievals puts its own fresh FakeSearch in, so no test sees another's calls."""

    def __init__(self, hits: list[Hit]):
        self.hits = hits
        self.search = FakeSearch(hits)

    def fresh(self) -> FakeSearch:
        self.search = FakeSearch(self.hits)
        return self.search

    def __call__(self, query: str, k: int = 5, **options) -> list[Hit]:
        return self.search(query, k, **options)


def late_deliveries(bot) -> threading.Semaphore:
    """Released once for each late answer the bot has finished delivering (a customer-service
    message sent or the answer kept): the test waits on it instead of sleeping."""
    done = threading.Semaphore(0)
    deliver = bot.deliver_late

    def observed(openid, answer):
        try:
            deliver(openid, answer)
        finally:
            done.release()
    bot.deliver_late = observed
    return done


def publish(db, *documents: Document) -> None:
    with db.write() as conn:
        for document in documents:
            store.insert_document(conn, document, visibility="public")


# The passive-reply budget of the test apps. At the product's 4 s a reply that is late on a
# crowded machine (2 shared cores, a niced suite beside a benchmark) comes back as `success`
# and fails a test about the reply's content: the simulator test did so once in a random-order
# run (seed 1003) while passing alone in 0.1 s. Tests about the budget set their own
# (test_bot_budget.py: 0.2 s with a slow search); bench/bench_bot.py measures the speed.
TEST_TIME_BUDGET = 60.0


def create_bot_app(tmp_path, search, **options):
    """An app of the bot (built, not started) that answers from `search`, a fake retriever."""
    from server import create_app

    return create_app(bot_config(tmp_path, **options), bot_search=search)


def bot_config(tmp_path, *, safe: bool = True, **extra) -> dict:
    tmp_path.mkdir(parents=True, exist_ok=True)
    config = {**TEST_WECHAT_CONFIG, "TESTING": True, "DATA_DIR": str(tmp_path / "instance"),
              "LOAD_DEMO": False, "INDEX_EMBEDDER": "hash", "INDEX_BACKGROUND": False,
              "PUBLIC_URL": "https://zc.example.gov.cn",
              "BOT_ANSWER_MODEL": write_coverage_model(tmp_path),
              "BOT_TIME_BUDGET": TEST_TIME_BUDGET}
    if not safe:
        config.pop("WECHAT_AES_KEY")
    config.update(extra)
    return config


# A small world: an in-force policy with an interpretation, an expired policy with a
# successor, and an expired one without.
UNEMPLOYMENT = doc("gz_unemp", title="广州市失业保险金申领办法", topics=["社会保险"],
                   text="第一条 为了保障失业人员基本生活，制定本办法。\n"
                        "第五条 失业保险金申领需要提交身份证和失业登记证明等材料。\n")
UNEMPLOYMENT_FAQ = doc("gz_unemp_jd", kind="interpretation", interprets="gz_unemp",
                       title="失业保险金申领热点问答", doc_number=None, interpretation_form="faq",
                       text="问：失业保险金怎么申领？\n答：可通过广东政务服务网在线申领失业保险金。\n")
OLD_HUKOU = doc("gz_hukou_2019", title="广州市积分制入户管理办法（2019）", status="expired",
                valid_until="2024-06-30", doc_number="穗府办规〔2019〕1号",
                text="第六条 积分制入户的申请条件是在本市合法稳定就业并缴纳社会保险满4年。\n")
NEW_HUKOU = doc("gz_hukou_2025", title="广州市积分制入户管理办法", supersedes="gz_hukou_2019",
                text="第六条 积分制入户的申请条件是在本市合法稳定就业并缴纳社会保险。\n")
OLD_SUBSIDY = doc("gz_subsidy_2019", title="广州市见习补贴办法", status="expired", valid_until="2024-10-15",
                  text="第三条 见习补贴的标准为每人每月1000元。\n")


def world_hits() -> list[Hit]:
    return [
        hit_of(
            UNEMPLOYMENT,
            "第五条 失业保险金申领需要提交身份证和失业登记证明等材料。",
            article="第五条",
            start=22,
            ordinal=1,
        ),
        hit_of(
            UNEMPLOYMENT_FAQ,
            "问：失业保险金怎么申领？\n答：可通过广东政务服务网在线申领失业保险金。",
            source="faq",
        ),
        hit_of(
            OLD_HUKOU,
            "第六条 积分制入户的申请条件是在本市合法稳定就业并缴纳社会保险满4年。",
            article="第六条",
            in_force=False,
        ),
        hit_of(OLD_SUBSIDY, "第三条 见习补贴的标准为每人每月1000元。", article="第三条", in_force=False),
    ]


def world_documents() -> list[Document]:
    return [UNEMPLOYMENT, UNEMPLOYMENT_FAQ, OLD_HUKOU, NEW_HUKOU, OLD_SUBSIDY]

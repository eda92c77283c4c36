"""Search over published content: filters, boosts, incremental publish/retire, modes."""
import time

import pytest

from index.embedders import HashEmbedder
from index.retrieval import SearchError
from tests.conftest import SIGNER, make_interpretation, make_policy
from tests.test_index_support import make_index, publish

PENSION = ("第一条 为了保障退休人员的基本生活，制定本办法。\n"
           "第二条 参加基本养老保险的个人，达到法定退休年龄时累计缴费满十五年的，按月领取基本养老金。\n"
           "第三条 基本养老金由统筹养老金和个人账户养老金组成。\n")
UNEMPLOYMENT = ("一、申领条件\n失业人员符合条件的，可以申领失业保险金。\n"
                "二、领取标准\n失业保险金按月发放，标准为最低工资的90%。\n")


@pytest.fixture
def svc(db, releases):
    return make_index(db, releases)


def test_everyday_question_finds_the_official_article(svc, releases):
    publish(releases, make_policy("pension", title="养老保险待遇办法", text=PENSION,
                                  doc_number="穗人社规〔2026〕3号"))
    publish(releases, make_policy("jobless", title="失业保险金申领指南", text=UNEMPLOYMENT,
                                  doc_number="穗人社规〔2026〕4号"))
    assert svc.search.search("退休金每个月怎么领", k=3)[0].doc_id == "pension"
    hits = svc.search.search("退休金每个月怎么领", k=3, mode="bm25")  # 退休金 → 基本养老金 (synonyms.tsv)
    assert hits[0].article == "第二条"
    assert hits[0].status == "effective" and hits[0].in_force
    assert hits[0].doc_number == "穗人社规〔2026〕3号"
    assert svc.search.search("失业了能领多少钱", k=1)[0].doc_id == "jobless"


def test_doc_number_or_title_in_the_question_puts_that_document_first(svc, releases):
    publish(releases, make_policy("pension", title="养老保险待遇办法", text=PENSION,
                                  doc_number="穗人社规〔2026〕3号"))
    publish(releases, make_policy("jobless", title="失业保险金申领指南", text=UNEMPLOYMENT,
                                  doc_number="穗人社规〔2026〕4号"))
    assert svc.search.search("穗人社规[2026]4号 养老金怎么领", k=1)[0].doc_id == "jobless"
    assert svc.search.search("《失业保险金申领指南》里的养老金", k=1)[0].doc_id == "jobless"


def test_expired_content_hidden_by_default_and_labelled_on_request(svc, releases):
    publish(releases, make_policy("old", title="2023年稳岗补贴通知", valid_until="2024-12-31",
                                  text="一、补贴标准\n稳岗补贴按企业缴纳失业保险费的50%返还。\n"))
    publish(releases, make_policy("new", title="2026年稳岗补贴通知",
                                  text="一、补贴标准\n稳岗补贴按企业缴纳失业保险费的60%返还。\n"))
    assert {h.doc_id for h in svc.search.search("稳岗补贴标准", k=5)} == {"new"}
    labelled = {h.doc_id: h for h in svc.search.search("稳岗补贴标准", k=5, include_expired=True)}
    assert set(labelled) == {"old", "new"}
    assert labelled["old"].in_force is False and labelled["old"].valid_until == "2024-12-31"
    assert labelled["new"].in_force is True


def test_an_interpretation_stands_as_its_policy_does(svc, releases):
    """The 解读 of a policy that has run out is not current either, whatever its own record."""
    policy = make_policy("old", title="2023年稳岗补贴办法", valid_until="2024-12-31",
                         text="第一条 稳岗补贴按企业缴纳失业保险费的50%返还。\n")
    publish(releases, policy, [make_interpretation("old-i", interprets="old", title="稳岗补贴办法解读",
                                                   text="一、主要内容\n稳岗补贴按缴费的一半返还企业。\n")])
    assert svc.search.search("稳岗补贴返还多少", k=5) == []
    labelled = {h.doc_id: h for h in svc.search.search("稳岗补贴返还多少", k=5, include_expired=True)}
    assert labelled["old-i"].in_force is False
    assert labelled["old-i"].valid_until == "2024-12-31"


def test_filters_by_audience_topic_region_and_issuing_body(svc, releases):
    publish(releases, make_policy("a", title="高校毕业生就业补贴", audience=["高校毕业生"],
                                  topics=["就业创业"], region="广东省广州市", issuing_body="广州市人社局",
                                  text="一、补贴对象\n高校毕业生就业补贴每人3000元。\n"))
    publish(releases, make_policy("b", title="企业就业补贴", audience=["企业"], topics=["营商环境"],
                                  region="江西省南昌市", issuing_body="南昌市人社局",
                                  text="一、补贴对象\n企业吸纳就业补贴每人3000元。\n"))
    search = lambda **f: {h.doc_id for h in svc.search.search("就业补贴", k=5, **f)}
    assert search() == {"a", "b"}
    assert search(audience="高校毕业生") == {"a"}
    assert search(topic="营商环境") == {"b"}
    assert search(region="广东省广州市天河区") == {"a"}
    assert search(issuing_body="南昌市人社局") == {"b"}


def test_interpretation_and_faq_preferred_and_followed_by_their_policy(svc, releases):
    policy = make_policy("p", title="创业担保贷款管理办法", importance="major",
                         text="第一条 为规范创业担保贷款，制定本办法。\n"
                              "第二条 个人创业担保贷款额度最高30万元。\n第三条 贷款期限最长3年。\n")
    faq = make_interpretation("i", interprets="p", title="创业担保贷款管理办法解读",
                              interpretation_form="faq",
                              text="问：创业担保贷款额度最高多少？\n答：个人创业担保贷款额度最高30万元。\n",
                              faq=[{"q": "创业担保贷款额度最高多少？",
                                    "a": "个人创业担保贷款额度最高30万元。"}])
    publish(releases, policy, [faq])
    hits = svc.search.search("创业担保贷款额度最高多少", k=3)
    assert hits[0].doc_id == "i" and hits[0].kind == "interpretation"
    assert hits[0].interprets == "p"
    assert "p" in [h.doc_id for h in hits[:3]]


def test_publish_is_searchable_at_once_and_retire_relabels(svc, releases):
    assert svc.search.search("人才公寓", k=3) == []
    started = time.perf_counter()
    release = publish(releases, make_policy("flat", title="人才公寓申请公告",
                                            text="一、申请条件\n在本区工作的人才可申请人才公寓。\n"))
    hits = svc.search.search("人才公寓", k=3)
    assert time.perf_counter() - started < 2.0
    assert hits and hits[0].doc_id == "flat"
    sparse = svc.corpus.sparse
    releases.retire(SIGNER, release, "expired", "到期")
    assert svc.corpus.sparse is sparse  # a retirement only relabels: BM25 is not rebuilt
    assert svc.search.search("人才公寓", k=3) == []
    hit = svc.search.search("人才公寓", k=3, include_expired=True)[0]
    assert hit.doc_id == "flat" and hit.status == "expired" and not hit.in_force


def test_withdrawn_release_leaves_the_index(svc, releases):
    release = publish(releases, make_policy("w", title="临时通知", text="一、事项\n暂停办理居住证业务。\n"))
    assert svc.search.search("居住证", k=3, include_expired=True)[0].doc_id == "w"
    releases.withdraw(SIGNER, release, "内容有误")
    assert svc.search.search("居住证", k=3, include_expired=True) == []
    assert "w" not in svc.corpus.docs


def test_modes_and_bad_input(svc, releases):
    publish(releases, make_policy("jobless", title="失业保险金申领指南", text=UNEMPLOYMENT))
    for mode in ("hybrid", "bm25", "dense"):
        assert svc.search.search("失业保险金", k=2, mode=mode)[0].doc_id == "jobless"
    with pytest.raises(SearchError, match="unknown mode"):
        svc.search.search("失业", mode="magic")
    with pytest.raises(SearchError, match="empty"):
        svc.search.search("   ")
    with pytest.raises(SearchError, match="positive"):
        svc.search.search("失业", k=0)


class CountingEmbedder(HashEmbedder):
    """The hash embedder, counting the query texts it encodes."""

    def __init__(self):
        super().__init__()
        self.encoded: list[str] = []

    def embed_queries(self, texts: list[str]):
        self.encoded += texts
        return super().embed_queries(texts)


def test_a_follow_up_is_read_with_its_opening_question_for_one_encoding(db, releases):
    embedder = CountingEmbedder()
    svc = make_index(db, releases, embedder=embedder)
    publish(releases, make_policy("pension", title="养老保险待遇办法", text=PENSION))
    publish(releases, make_policy("jobless", title="失业保险金申领指南", text=UNEMPLOYMENT))
    opening, follow_up = "失业保险金怎么申领", "每月多少"
    svc.search.search(opening, k=3)
    alone = svc.search.search(follow_up, k=3)
    embedder.encoded.clear()
    hits = svc.search.search(follow_up, k=3, opening=opening)
    assert embedder.encoded == []  # both questions' vectors were cached: no longer text encoded
    assert alone[0].doc_id == "pension"  # by itself the follow-up could be about either
    assert hits[0].doc_id == "jobless" and hits[0].text.startswith("二、领取标准")
    assert hits[0].signals.coverage == 1.0  # the opening question's words count as the question's
    dense = svc.search.search(follow_up, k=3, opening=opening, mode="dense")
    assert dense[0].doc_id == "jobless"


def test_query_vectors_given_in_advance_are_used_and_outlive_the_recent_ones(db, releases):
    """Benchmarks and training give the vectors of their questions once (index.retrieval.
    QueryVectors.give): searched, those questions embed nothing, however many other questions
    pass through the bounded cache of recent ones; `forget` makes every question pay again."""
    embedder = CountingEmbedder()
    svc = make_index(db, releases, embedder=embedder)
    publish(releases, make_policy("jobless", title="失业保险金申领指南", text=UNEMPLOYMENT))
    queries = svc.search.retrieval.queries
    queries.size = 2
    [given] = svc.search.retrieval.dense_texts(["失业保险金怎么申领"])
    queries.give([given], HashEmbedder().embed_queries([given]))
    for other in ("每月多少", "养老金", "营业执照", "每月多少"):
        svc.search.search(other, k=1)
    assert embedder.encoded == ["每月多少", "养老金", "营业执照", "每月多少"]  # two kept: evicted
    embedder.encoded.clear()
    assert svc.search.search("失业保险金怎么申领", k=1)[0].doc_id == "jobless" and embedder.encoded == []
    queries.forget()
    svc.search.search("失业保险金怎么申领", k=1)
    assert embedder.encoded == [given]


def test_embed_queries_normalised(svc):
    vectors = svc.search.embed_queries(["失业保险", "养老金"])
    assert vectors.shape == (2, svc.embedder.dim)
    assert abs(float((vectors ** 2).sum(axis=1)[0]) - 1.0) < 1e-5


def test_catches_up_with_publications_made_while_not_listening(db, releases):
    publish(releases, make_policy("early", title="早先发布的通知", text="一、内容\n办理营业执照须知。\n"))
    svc = make_index(db, releases)
    assert svc.search.search("营业执照", k=1)[0].doc_id == "early"
    assert svc.search.ready()


def test_hnsw_index_selectable_and_removal_respected(db, releases):
    from tests.test_index_support import make_index as make
    svc = make(db, releases, faiss_kind="hnsw")
    assert svc.corpus.dense.kind == "hnsw"
    publish(releases, make_policy("jobless", title="失业保险金申领指南", text=UNEMPLOYMENT))
    release = publish(releases, make_policy("pension", title="养老保险待遇办法", text=PENSION))
    assert svc.search.search("基本养老金", k=1, mode="dense")[0].doc_id == "pension"
    releases.withdraw(SIGNER, release, "撤回")
    assert {h.doc_id for h in svc.search.search("基本养老金", k=5, mode="dense")} == {"jobless"}


def test_document_support_pools_evidence_by_document():
    from index.fusion import document_support
    scores = {1: 0.5, 2: 0.4, 3: 0.45, 4: 0.1}
    doc_of = {1: "a", 2: "b", 3: "b", 4: "b"}
    pooled = document_support(scores, doc_of, 0.5, 2)
    assert pooled[3] > pooled[1]  # b has two good chunks, a only one
    assert document_support(scores, doc_of, 0.0, 2) == scores


def test_another_worker_sees_a_publication_within_two_seconds(db, releases):
    from interpretations.workflow import Hooks, Releases
    from tests.test_index_support import make_index as make
    publisher = make(db, releases)
    other_worker = make(db, Releases(db, Hooks()))  # not told by hooks: another process
    publish(releases, make_policy("flat", title="人才公寓申请公告",
                                  text="一、申请条件\n在本区工作的人才可申请人才公寓。\n"))
    assert publisher.search.search("人才公寓", k=1)[0].doc_id == "flat"
    deadline = time.monotonic() + 2.0
    while time.monotonic() < deadline and not other_worker.search.search("人才公寓", k=1):
        time.sleep(0.1)
    assert other_worker.search.search("人才公寓", k=1)[0].doc_id == "flat"


def test_convex_fusion_normalises_each_signal():
    import numpy as np

    from index.fusion import convex
    mixed = convex(np.array([0.9, 0.8, 0.7]), np.array([0.0, 10.0, 5.0]), 0.8)
    assert np.allclose(mixed, [0.8, 0.4 + 0.2, 0.0 + 0.1])
    assert np.allclose(convex(np.array([0.5]), np.array([3.0]), 0.8), [0.0])
    waiting = convex(np.array([0.9, np.nan, 0.7]), np.array([0.0, 10.0, 5.0]), 0.8)  # no vector yet
    assert np.allclose(waiting, [0.8, 0.8 * 1.0 + 0.2, 0.0 + 0.1])  # its BM25 stands in for it


def test_a_document_still_waiting_for_its_vectors_ranks_by_its_words(svc, releases):
    publish(releases, make_policy("old", title="住房保障通知",
                                  text="一、保障对象\n本区住房困难家庭可申请公共租赁住房。\n"))
    svc.background = "manual"  # from now on vectors wait (as they do for ~1 s behind a real model)
    publish(releases, make_policy("new", title="人才公寓配租公告",
                                  text="一、配租对象\n在本区工作的人才可申请蓝鲸湾人才公寓。\n"))
    assert svc.corpus.rows_without_vectors()
    assert svc.search.search("蓝鲸湾人才公寓配租", k=1)[0].doc_id == "new"


def test_rrf_selectable(svc, releases):
    publish(releases, make_policy("jobless", title="失业保险金申领指南", text=UNEMPLOYMENT))
    svc.search.retrieval.tuning.method = "rrf"
    assert svc.search.search("失业保险金", k=1)[0].doc_id == "jobless"


def test_no_query_error_or_missing_document_while_publishing_and_reindexing(svc, releases):
    import threading
    publish(releases, make_policy("base", title="稳岗补贴通知", text="一、补贴标准\n稳岗补贴按比例返还。\n"))
    problems, stop = [], threading.Event()

    def searcher():
        while not stop.is_set():
            try:
                if "base" not in {h.doc_id for h in svc.search.search("稳岗补贴", k=20)}:
                    problems.append("base missing")
            except Exception as error:  # noqa: BLE001 - any error is the failure
                problems.append(repr(error))

    thread = threading.Thread(target=searcher)
    thread.start()
    try:
        for n in range(4):
            release = publish(releases, make_policy(f"p{n}", title=f"补贴通知{n}",
                                                    text=f"一、标准\n稳岗补贴第{n}批发放。\n"))
            svc.rebuild()
            releases.withdraw(SIGNER, release, "撤回")
    finally:
        stop.set()
        thread.join()
    assert problems == []


def test_a_passage_covers_a_question_word_said_in_its_official_form(svc, releases):
    """jieba keeps 坐地铁 whole and the statute says 城市轨道交通: the passage that says it
    covers more of the question than one that only shares 65岁 and 免费 (which to quote:
    bot.answer.choose_passage)."""
    publish(releases, make_policy("elders", title="老年人优待办法", text=(
        "第一条 为了弘扬中华民族敬老传统美德，保障老年人合法权益，制定本办法。\n"
        "第六条 年满60周岁不满65周岁的老年人持本市老年人优待凭证乘坐市内线路公共汽（电）车、"
        "过江轮渡和城市轨道交通，享受半价优惠。65周岁以上老年人持优待凭证免费享受前款优待。\n"
        "第九条 本市收费公园和文化场馆，对满60周岁不满65周岁的老年人实行半票优惠，"
        "对65周岁以上的老年人实行免费，在指定公共体育场馆享受门票优惠和优先通道服务。\n")))
    hits = {h.article: h for h in svc.search.search("65岁以上坐地铁免费吗", k=5, mode="bm25")}
    assert hits["第六条"].signals.passage_coverage > hits["第九条"].signals.passage_coverage


def test_a_follow_ups_own_words_are_counted_apart_from_its_topics(svc, releases):
    """「网上能申请吗？」 after 「公租房申请要什么条件」: read with its topic, every passage of
    the rules says 公共租赁住房 and 申请, and 条件 marks the wrong one; the message's own words
    (网上, 申请 without the topic) point at how to apply (bot.answer.choose_passage ranks a
    follow-up's passages by them)."""
    publish(releases, make_policy("rental", title="公共租赁住房管理办法", text=(
        "第八条 申请公共租赁住房的家庭，应当同时符合下列条件：具有本市户籍，家庭人均收入低于规定标准。\n"
        "第十条 申请公共租赁住房的，由申请人到户籍所在地街道办事处提出申请，也可以网上申请。\n"
        "第二十条 承租公共租赁住房的家庭，应当按时缴纳租金。\n")))
    hits = {h.article: h for h in svc.search.search("网上能申请吗？", k=5, mode="bm25",
                                             opening="公租房申请要什么条件")}
    place, conditions = hits["第十条"].signals, hits["第八条"].signals
    assert place.message_coverage > conditions.message_coverage
    assert place.message_coverage > place.passage_coverage  # the topic's words weigh in there
    alone = svc.search.search("公租房申请要什么条件", k=5, mode="bm25")[0].signals
    assert alone.message_coverage == alone.passage_coverage  # not a follow-up: one question


class Lensed(HashEmbedder):
    """A hash embedder with a lens that turns every question vector the other way round."""

    def lens_of(self, vector):
        return -vector


def test_the_answer_decision_reads_the_cosine_through_the_lens_and_the_ranking_stays(db, releases):
    """With a tuned model's lens (index/tuned.py) the search ranks by its own vectors as
    before; each hit's cosine, which the answer decision reads, is the passage's cosine to the
    lens vector; how far it stood out among the candidates (cosine_z) stays the search's."""
    plain = make_index(db, releases, embedder=HashEmbedder(64))
    publish(releases, make_policy("law", title="职工权益保障条例",
                                  text="第一条 退休人员按月领取基本养老金。\n第二条 拖欠工资可以投诉。\n"))
    lensed = make_index(db, releases, embedder=Lensed(64))
    before = plain.search.search("退休 养老金", k=3)
    after = lensed.search.search("退休 养老金", k=3)
    assert [h.chunk_id for h in after] == [h.chunk_id for h in before]
    assert [h.score for h in after] == [h.score for h in before]
    for old, new in zip(before, after, strict=True):
        assert new.signals.cosine == pytest.approx(-old.signals.cosine, abs=1e-6)
        assert new.signals.cosine_z == pytest.approx(old.signals.cosine_z, abs=1e-9)
    assert any(abs(h.signals.cosine) > 1e-3 for h in before)


def test_a_reply_that_found_nothing_offers_the_topics_of_the_documents_found_near_it(db, svc, releases):
    """The hits carry their documents' topics (as indexed at publication): the topics offered
    are those most of the nearby documents share (ties in the order of the hits that bring
    them), read without a database round trip; only when they name fewer than three does the
    catalogue fill in."""
    import datetime as dt

    import sqlalchemy as sa

    from bot.library import Library

    publish(releases, make_policy("pension", title="养老保险待遇办法", text=PENSION,
                                  topics=["社会保障", "养老服务", "退休"], doc_number="穗人社规〔2026〕3号"))
    publish(releases, make_policy("jobless", title="失业保险金申领指南", text=UNEMPLOYMENT,
                                  topics=["社会保障", "就业创业"], doc_number="穗人社规〔2026〕4号"))
    publish(releases, make_policy("parks", title="公园管理办法", text="第一条 公园免费开放。\n",
                                  topics=["文化旅游"], doc_number="穗府规〔2026〕9号"))
    topics = {"pension": ("社会保障", "养老服务", "退休"), "jobless": ("社会保障", "就业创业"),
              "parks": ("文化旅游",)}
    found = svc.search.search("养老保险和失业保险", k=10)
    assert {h.doc_id for h in found} >= {"pension", "jobless"}
    assert all(h.topics == topics[h.doc_id] for h in found)
    hits = [h for h in found if h.doc_id != "parks"]
    reads = []
    sa.event.listen(db.engine, "begin", lambda conn: reads.append(1))
    library, today = Library(db), dt.date.today()
    jobless_first = sorted(hits, key=lambda h: h.doc_id != "jobless")
    assert library.closest_topics(jobless_first, today) == ["社会保障", "就业创业", "养老服务", "退休"]
    pension_first = sorted(hits, key=lambda h: h.doc_id != "pension")  # ties: the better hit's first
    assert library.closest_topics(pension_first, today) == ["社会保障", "养老服务", "退休", "就业创业"]
    assert not reads
    few = [h for h in hits if h.doc_id == "jobless"]
    assert set(library.closest_topics(few, today)) == {"社会保障", "就业创业", "养老服务", "退休", "文化旅游"}


def test_a_follow_ups_own_words_are_counted_without_its_single_characters(svc, releases):
    """Read with its topic, 「可以在网上办吗」 says 网上 and 办: the office list says 办 only inside
    办公电话, which is no sign that it speaks to the message; the passage on filing online says
    网上. A message with no word longer than one character keeps its single characters."""
    publish(releases, make_policy("online", title="房屋租赁登记备案指引", text=(
        "第一条 网上备案当事人可以通过房屋租赁信息服务平台自行打印备案证明。\n")))
    publish(releases, make_policy("offices", title="房屋租赁登记备案受理点", text=(
        "第一条 长兴街备案受理点，办公电话：37218645，地址：天河区长兴路289号。\n")))
    # a third document says 办 as a word of its own, so that the corpus knows it
    publish(releases, make_policy("window", title="居住证签注", text="第一条 签注可到社区窗口办。\n"))
    opening = "租的房子要备案吗"
    by_doc = {h.doc_id: h.signals for h in svc.search.search("可以在网上办吗", k=5, mode="bm25",
                                                             opening=opening)}
    assert by_doc["online"].message_coverage > 0
    assert by_doc["offices"].message_coverage == 0.0
    alone = {h.doc_id: h.signals for h in svc.search.search("办吗", k=5, mode="bm25", opening=opening)}
    assert alone["offices"].message_coverage > 0  # 办 is all it says


def test_what_a_message_names_is_counted_apart_from_its_asking_words_and_official_terms(svc, releases):
    """「养老金什么时候涨」 names 养老金: the pension rules say it as the message does; the
    unemployment FAQ says it only in an official term (养老保险费, data/index/synonyms.tsv), which
    counts for its coverage but not literally. 「多久能批下来」 names nothing the corpus knows but
    its asking word 多久: a passage saying 多久 covers the message; it names nothing
    (bot.conversation: a shared asking word does not make a follow-up a new question)."""
    publish(releases, make_policy("pension", title="基本养老金调整通知", text=(
        "第一条 自2025年1月1日起，为退休人员提高基本养老金水平。\n")))
    publish(releases, make_policy("unemployment", title="失业保险常见问题", text=(
        "第一条 领取失业保险金期间，由失业保险基金支付其养老保险费。\n"
        "第二条 失业保险金能领多久？缴费满一年的，领取期限为一个月。\n")))
    by_doc = {h.doc_id: h.signals for h in svc.search.search("养老金什么时候涨", k=5, mode="bm25")}
    pension, unemployment = by_doc["pension"], by_doc["unemployment"]
    assert pension.subject_coverage == pension.subject_literal == 1.0 and pension.subject_otherwise == 0.0
    assert unemployment.subject_coverage == unemployment.subject_otherwise == 1.0
    assert unemployment.subject_literal == 0.0
    assert pension.subject_title == 1.0 and unemployment.subject_title == 0.0  # whose subject it is
    period = svc.search.search("多久能批下来？", k=5, mode="bm25")[0].signals
    assert period.message_coverage > 0  # its 多久; what it names: nothing, so all of it is said
    assert period.subject_coverage == period.subject_literal == 1.0 and period.subject_otherwise == 0.0
    # a modal and its verb (能领) and a single character (钱) are what it asks, not what it names
    from index.signals import names
    assert [w for w in ("能领", "钱", "多少", "生育津贴", "养老金") if names(w)] == ["生育津贴", "养老金"]
    # a word no document uses, said through its official term, is not said "otherwise"
    unknown = {h.doc_id: h.signals for h in svc.search.search("退休金什么时候涨", k=5, mode="bm25")}
    assert unknown["pension"].subject_coverage == 1.0 and unknown["pension"].subject_otherwise == 0.0

"""The places a resident asks about (index/places.py), and the answer decision's feature that
a local document covers none of them."""
import pytest

from index.places import Gazetteer, default

LETTER_FROM_SHENZHEN = ("您好！我老家是河源的，2019年就到深圳宝安一家电子厂上班，社保一直在交，"
                        "今年打算在这边定下来，想把户口迁过去。听说要求跟广州不一样，"
                        "请问深圳落户要什么条件？")


@pytest.fixture(scope="module")
def places() -> Gazetteer:
    return default()


@pytest.mark.parametrize(("question", "asked"), [
    (LETTER_FROM_SHENZHEN, {"深圳"}),      # 老家是河源的: where she is from; 广州: the story
    ("我在深圳上班，广州的积分入户要多少分？", {"广州"}),
    ("我户口在广西 在广州上班被裁了 能在这边办失业登记吗", {"广州"}),
    ("身份证丢了，户口在河南老家，我在广州有居住证", {"广州"}),
    ("我是湖南人，在东莞打工，能交社保吗", {"东莞"}),
    ("我係澳门人喺天河返工，个女升初中可以填几多个志愿？", set()),
    ("我哋係香港后生开嘅公司，喺天河做到小升规，区里有冇奖励？", set()),
    ("我妈广州户口，一个人住，我在深圳上班，她能申请上门服务吗", {"广州", "深圳"}),
    ("广州人社局的电话是多少", {"广州"}),
    ("南昌经开区对新落户的企业有没有厂房租金补贴", {"南昌"}),
    ("老人坐公交免费吗", set()),
    ("中山公园门票老人免费吗？祝国家长治久安", set()),             # everyday words, no place
    ("中山市的居住证能在广州用吗", {"中山市", "广州"}),
])
def test_the_places_a_question_asks_about_leave_out_where_the_writer_is_from(places, question, asked):
    assert places.asked(question) == asked


@pytest.mark.parametrize(("question", "region", "elsewhere"), [
    (LETTER_FROM_SHENZHEN, "广东省广州市", True),
    (LETTER_FROM_SHENZHEN, "广东省", False),            # a province-wide document covers 深圳
    (LETTER_FROM_SHENZHEN, "全国", False),              # national law applies everywhere
    ("南昌经开区对新落户的企业有没有厂房租金补贴", "广东省广州市天河区", True),
    ("南昌经开区对新落户的企业有没有厂房租金补贴", "江西省南昌市经开区", False),
    ("我户口在广西 在广州上班被裁了", "广东省广州市", False),
    ("老人坐公交免费吗", "广东省广州市", False),          # no place asked: no evidence
    ("成都的社保能转到广州吗", "广东省广州市", False),      # one of the places it asks about
    ("深圳落户要什么条件", "某地", False),                 # a region it does not know
])
def test_a_local_document_is_elsewhere_when_it_covers_none_of_the_places_asked(places, question, region,
                                                                             elsewhere):
    assert places.elsewhere(places.asked(question), region) is elsewhere


def test_the_answer_decision_reads_whether_the_release_is_for_another_place():
    from bot.answerability import candidates
    from index.hits import Hit

    def hit(doc_id: str, region: str, score: float) -> Hit:
        return Hit(doc_id=doc_id, title=doc_id, doc_number=None, kind="policy", interprets=None,
                   article=None, heading_path=(), text="申请迁入户口应当具备的条件", score=score,
                   status="effective", in_force=True, issuing_body=None, publish_date=None,
                   valid_from=None, valid_until=None, chunk_id=f"{doc_id}#0", start=0, end=10,
                   source="text", region=region)
    hits = [hit("gz_hukou", "广东省广州市", 0.9), hit("hukou_law", "全国", 0.8)]
    for question, local in (("想把户口迁到深圳要什么条件", 1.0), ("想把户口迁到广州要什么条件", 0.0)):
        found = {c.doc_id: c.features["elsewhere"] for c in candidates(question, hits)}
        assert found == {"gz_hukou": local, "hukou_law": 0.0}

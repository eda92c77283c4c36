"""满意 / 不满意 on the H5 policy page, recorded against the answer whose link opened it: a
real WeChat message through the callback (wechatpy's crypto), the reference its reply's link
carries, the form, the POST, and the refusals (malformed or unknown reference, bad rating)."""
from __future__ import annotations

import itertools
import re
from urllib.parse import urlsplit

import pytest
import sqlalchemy as sa
from test_bot_fakes import FakeSearch, create_bot_app, publish, world_documents, world_hits

from bot.callback_client import WeChatSender, text_xml
from bot.questionlog import question_log
from bot.textlimit import URL

PUBLIC = "https://zc.example.gov.cn"
_MSG_IDS = itertools.count(5 * 10**6)
_REFS = (f"TestRef{n:05d}" for n in itertools.count())
ASKS = "这条答复对您有帮助吗？"
THANKS = "感谢您的评价"


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    from server import start

    app = start(create_bot_app(tmp_path_factory.mktemp("h5feedback"), FakeSearch(world_hits())))
    publish(app.extensions["policybot"].db, *world_documents())
    yield app
    app.extensions["policybot"].db.dispose()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def logged(app):
    """A logged answer with a reference of its own: (log id, ref)."""
    ref = next(_REFS)
    log_id = app.extensions["policybot"].questions.record(
        "o_page", "wechat", "失业保险金怎么申领", [{"doc_id": "gz_unemp_jd"}], 0.9, True, answer_ref=ref)
    return log_id, ref


def rating_of(app, log_id):
    return app.extensions["policybot"].questions.get(log_id).rating


def rate(client, ref, rating, doc_id="gz_unemp"):
    data = {k: v for k, v in (("r", ref), ("rating", rating)) if v is not None}
    return client.post(f"/p/{doc_id}/feedback", data=data)


def test_a_wechat_answer_links_with_its_reference_and_the_page_rates_that_question(app, client):
    sender = WeChatSender.from_app(app)
    response = sender.post(client, text_xml("o_h5rater", "失业保险金怎么申领", msg_id=next(_MSG_IDS)))
    reply = sender.reply_text(response)
    main = next(u for u in URL.findall(reply) if "?r=" in u)
    assert reply.count("?r=") == 1 and reply.count("全文：" + main) == 1
    parts = urlsplit(main)
    ref = parts.query.removeprefix("r=")
    assert parts.path == "/p/gz_unemp" and parts.fragment == "jd-gz_unemp_jd"
    assert re.fullmatch(r"[A-Za-z0-9_-]{12}", ref)
    page = client.get(f"{parts.path}?{parts.query}").get_data(as_text=True)
    assert ASKS in page and f'name="r" value="{ref}"' in page
    done = rate(client, ref, "unsatisfied")  # no flush here: the page waits for the log itself
    assert done.status_code == 303
    assert done.headers["Location"] == f"/p/gz_unemp?r={ref}&rated=1#feedback"
    latest = app.extensions["policybot"].questions.latest_for("o_h5rater", within_seconds=600)
    assert latest.rating == "unsatisfied" and latest.question == "失业保险金怎么申领"
    with app.extensions["policybot"].db.read() as conn:
        row = conn.execute(sa.select(question_log).where(question_log.c.answer_ref == ref)).mappings().one()
    assert row["id"] == latest.id
    thanked = client.get(done.headers["Location"]).get_data(as_text=True)
    assert THANKS in thanked and "修改评价" in thanked


def test_each_answer_has_its_own_reference(app, client):
    sender = WeChatSender.from_app(app)
    refs = set()
    for _ in range(3):
        reply = sender.reply_text(sender.post(client, text_xml("o_many", "失业保险金怎么申领",
                                                                msg_id=next(_MSG_IDS))))
        refs.add(re.search(r"\?r=([A-Za-z0-9_-]+)", reply).group(1))
    assert len(refs) == 3


@pytest.mark.parametrize("rating", ["satisfied", "unsatisfied"])
def test_a_good_reference_records_the_rating(app, client, logged, rating):
    log_id, ref = logged
    response = rate(client, ref, rating)
    assert response.status_code == 303 and rating_of(app, log_id) == rating


def test_the_last_rating_wins_on_the_page_and_in_the_chat(app, client, logged):
    log_id, ref = logged
    assert rate(client, ref, "satisfied").status_code == 303
    assert rate(client, ref, "unsatisfied").status_code == 303
    assert rating_of(app, log_id) == "unsatisfied"
    app.extensions["policybot"].questions.feedback(log_id, "satisfied")  # e.g. a later reply "1"
    assert rate(client, ref, "unsatisfied").status_code == 303
    assert rating_of(app, log_id) == "unsatisfied"


def test_an_unknown_reference_gets_a_plain_404_and_records_nothing(app, client, logged):
    log_id, _ = logged
    response = rate(client, "NoSuchRef000", "satisfied")
    html = response.get_data(as_text=True)
    assert response.status_code == 404 and "没有找到这条答复" in html and 'role="alert"' in html
    assert "广州市失业保险金申领办法" in html and ASKS not in html  # the document is still there
    assert rating_of(app, log_id) is None


@pytest.mark.parametrize("ref", [None, "", "short", "TestRef000000", "TestRef0000!", "' OR 1=1 --",
                                 "TestRef0000\n", "ＴestRef00000", "a" * 200])
def test_a_malformed_reference_is_refused_before_the_database(app, client, monkeypatch, ref):
    def no_database(*_a, **_kw):
        raise AssertionError("the database must not see a malformed reference")
    monkeypatch.setattr(app.extensions["policybot"].questions, "rate_answer", no_database)
    response = rate(client, ref, "satisfied")
    html = response.get_data(as_text=True)
    assert response.status_code == 400 and "评价链接不完整" in html and ASKS not in html


@pytest.mark.parametrize("rating", [None, "", "great", "SATISFIED", "满意", "1"])
def test_a_bad_rating_is_refused_and_the_form_stays(app, client, logged, rating):
    log_id, ref = logged
    response = rate(client, ref, rating)
    html = response.get_data(as_text=True)
    assert response.status_code == 400 and "请选择「满意」或「不满意」" in html
    assert ASKS in html and f'name="r" value="{ref}"' in html  # nothing lost: try again
    assert rating_of(app, log_id) is None


def test_without_a_reference_the_page_has_no_form(client, logged):
    _, ref = logged
    for url in ("/p/gz_unemp", "/p/gz_unemp?r=", "/p/gz_unemp?r=bad%20ref", "/p/gz_unemp?rated=1"):
        html = client.get(url).get_data(as_text=True)
        assert ASKS not in html and THANKS not in html and "/feedback" not in html, url
    html = client.get(f"/p/gz_unemp?r={ref}").get_data(as_text=True)
    assert ASKS in html and THANKS not in html


def test_the_form_is_plain_html_under_the_strict_csp(client, logged):
    _, ref = logged
    response = client.get(f"/p/gz_unemp?r={ref}")
    html = response.get_data(as_text=True)
    start = html.index('<section class="feedback')
    form = html[start:html.index("</section>", start)]
    assert '<form method="post" action="/p/gz_unemp/feedback"' in form
    assert 'value="satisfied">满意</button>' in form and 'value="unsatisfied">不满意</button>' in form
    assert "<script" not in form and "onclick" not in form
    csp = response.headers["Content-Security-Policy"]
    assert "form-action 'self'" in csp and "unsafe-inline" not in csp
    posted = rate(client, ref, "satisfied")
    assert "Content-Security-Policy" in posted.headers


def test_feedback_on_a_document_that_is_not_public_is_404(client, logged):
    _, ref = logged
    assert rate(client, ref, "satisfied", doc_id="no_such_doc").status_code == 404

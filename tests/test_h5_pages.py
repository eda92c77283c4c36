"""Public H5 pages: policy page with article anchors and interpretations, banners for
expired/superseded content, the 现行有效目录 with filters, search; escaping and CSP."""
from __future__ import annotations

import json

import pytest
from test_bot_fakes import FakeSearch, create_bot_app

from interpretations.importer import import_file

NASTY_TITLE = '关于<script>window.__xss=1</script>的通知'
RECORDS = [
    {
        "id": "gz_unemp",
        "kind": "policy",
        "title": "广州市失业保险金申领办法",
        "doc_number": "穗府办规〔2025〕8号",
        "issuing_body": "广州市人民政府办公厅",
        "publish_date": "2025-06-01",
        "topics": ["社会保险"],
        "audience": ["个人"],
        "text": "第一章 总则\n第一条 为了保障失业人员基本生活，制定本办法。\n"
        "第五条 失业保险金申领需要提交身份证和失业登记证明。\n",
    },
    {
        "id": "gz_unemp_jd",
        "kind": "interpretation",
        "interprets": "gz_unemp",
        "title": "失业保险金申领热点问答",
        "interpretation_form": "faq",
        "topics": ["社会保险"],
        "text": "问：失业保险金怎么申领？\n答：可通过广东政务服务网在线申领失业保险金。\n",
    },
    {
        "id": "gz_hukou_2019",
        "kind": "policy",
        "title": "广州市积分制入户管理办法（2019）",
        "status": "expired",
        "valid_until": "2024-06-30",
        "topics": ["户籍"],
        "issuing_body": "广州市人民政府办公厅",
        "text": "第六条 申请条件是在本市合法稳定就业。\n",
    },
    {
        "id": "gz_hukou_2019_jd",
        "kind": "interpretation",
        "interprets": "gz_hukou_2019",
        "title": "积分制入户管理办法（2019）解读",
        "interpretation_form": "text",
        "topics": ["户籍"],
        "text": "一、主要内容\n申请人需在本市稳定就业。\n",
    },
    {
        "id": "gz_hukou_2025",
        "kind": "policy",
        "title": "广州市积分制入户管理办法",
        "supersedes": "gz_hukou_2019",
        "topics": ["户籍"],
        "issuing_body": "广州市来穗人员服务管理局",
        "publish_date": "2025-07-01",
        "text": "第六条 申请条件是在本市合法稳定就业并缴纳社会保险。\n",
    },
    {
        "id": "xss_doc",
        "kind": "policy",
        "title": NASTY_TITLE,
        "topics": ["政务服务"],
        "source_url": "javascript:alert(1)",
        "doc_number": '<img src=x onerror="window.__xss=2">',
        "text": '一、<img src=x onerror="window.__xss=3">\n'
        '<a href="javascript:window.__xss=4">点我</a>\n]]><!-- -->\n',
    },
]


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    from server import start

    tmp = tmp_path_factory.mktemp("h5")
    app = start(create_bot_app(tmp, FakeSearch([])))
    corpus = tmp / "docs.jsonl"
    corpus.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in RECORDS) + "\n", encoding="utf-8")
    import_file(app.extensions["policybot"].releases, corpus)
    yield app
    app.extensions["policybot"].db.dispose()


def test_policy_page_has_metadata_article_anchors_and_interpretations(app):
    response = app.test_client().get("/p/gz_unemp")
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    for expected in ("广州市失业保险金申领办法", "穗府办规〔2025〕8号", "广州市人民政府办公厅", "现行有效",
                     'id="a-第五条"', 'id="jd-gz_unemp_jd"', "失业保险金申领热点问答", "<aside", "<main"):
        assert expected in html, expected
    csp = response.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp and "frame-ancestors 'none'" in csp


def test_expired_and_superseded_policy_has_a_banner_linking_the_successor(app):
    html = app.test_client().get("/p/gz_hukou_2019").get_data(as_text=True)
    assert 'role="alert"' in html and "本文件已失效" in html
    assert 'href="/p/gz_hukou_2025"' in html and "《广州市积分制入户管理办法》" in html
    assert 'role="alert"' not in app.test_client().get("/p/gz_hukou_2025").get_data(as_text=True)


def test_an_interpretation_page_stands_as_its_policy_does(app):
    html = app.test_client().get("/p/gz_hukou_2019_jd").get_data(as_text=True)
    assert 'role="alert"' in html and "已失效（有效期至2024-06-30）" in html


def test_unknown_or_draft_documents_are_not_shown(app):
    missing = app.test_client().get("/p/no_such_doc")
    assert missing.status_code == 404
    assert "未找到该页面" in missing.get_data(as_text=True) and "/catalogue" in missing.get_data(as_text=True)
    assert "Content-Security-Policy" in missing.headers


def test_catalogue_lists_what_is_in_force_and_filters(app):
    client = app.test_client()
    html = client.get("/catalogue").get_data(as_text=True)
    assert "广州市积分制入户管理办法》" in html and "（2019）" not in html
    assert "失业保险金申领热点问答" not in html  # policies only
    assert (
        '<option value="户籍">户籍</option>' in html and '<option value="广州市来穗人员服务管理局">' in html
    )
    filtered = client.get("/catalogue?topic=户籍").get_data(as_text=True)
    assert "积分制入户" in filtered and "失业保险金申领办法" not in filtered
    by_body = client.get("/catalogue", query_string={"issuing_body": "广州市人民政府办公厅"}).get_data(
        as_text=True
    )
    assert "失业保险金申领办法" in by_body and "积分制入户管理办法》" not in by_body


def test_search_page_uses_the_search_service(app):
    html = app.test_client().get("/search?q=失业保险金申领").get_data(as_text=True)
    assert "广州市失业保险金申领办法" in html or "失业保险金申领热点问答" in html
    assert "检索服务暂不可用" not in html


def test_script_like_document_text_is_escaped(app):
    html = app.test_client().get("/p/xss_doc").get_data(as_text=True)
    assert "<script>window.__xss" not in html and "&lt;script&gt;" in html
    assert "<img src=x" not in html and 'href="javascript:' not in html

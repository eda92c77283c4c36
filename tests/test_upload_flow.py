"""Uploads through the portal as a drafter uses them: a 印发 notice with an attached 办法 gets
its signature date (and says why), an interpretation .docx fills its sections and Q&A with
nothing stored twice and inherits its policy's topics, issuing body and validity, and the
interpretation fields show only on an interpretation upload."""
from __future__ import annotations

import io
import re

import pytest
from upload_samples import (
    INTERPRETATION_FAQ,
    INTERPRETATION_SECTIONS,
    NOTICE_EXPECTED,
    interpretation_docx,
    notice_docx,
)

from index.chunking import chunk_document
from portal.testing import app_config, csrf, login_as, make_staff


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    from server import create_app, start

    app = start(create_app(app_config(tmp_path_factory.mktemp("uploadflow"))))
    drafter = make_staff(app, "li.drafter", "drafter", "区人社局")
    client = app.test_client()
    login_as(client, app, drafter)
    yield app, client
    app.extensions["policybot"].db.dispose()


def upload(client, name: str, data: bytes) -> str:
    reply = client.post("/staff/uploads", data={"csrf_token": csrf(client), "file": (io.BytesIO(data), name)})
    assert reply.status_code == 303, reply.text
    return reply.headers["Location"]


def field(page: str, name: str) -> str:
    match = re.search(rf'name="{name}"[^>]*value="([^"]*)"', page) or \
        re.search(rf'name="{name}"[^>]*>([^<]*)</textarea>', page)
    return match.group(1) if match else ""


def form_values(page: str) -> dict:
    names = set(re.findall(r'name="([^"]+)"', page)) - {"csrf_token"}
    return {name: field(page, name) for name in names}


def test_notice_with_attached_measures_gets_the_signature_date(world):
    app, client = world
    page = client.get(upload(client, "关于印发补贴办法的通知.docx", notice_docx())).text
    for name in ("title", "doc_number", "issuing_body", "publish_date", "valid_from", "valid_until"):
        assert field(page, name) == NOTICE_EXPECTED[name], name
    assert "落款「南昌经济技术开发区管理委员会办公室」下的日期 2026年11月20日" in page
    assert "作为解读时" not in page and 'name="section_政策背景"' not in page and 'name="faq"' not in page
    recognised = page.split('id="office-contacts"')[1].split("</p>")[0]
    assert "0791-88161234" in recognised  # an office's published line, not a finding
    assert "按解读处理" in page


def test_interpretation_fills_sections_and_questions_once_and_inherits(world):
    app, client = world
    svc = app.extensions["policybot"]
    notice_page = client.get(upload(client, "通知.docx", notice_docx()))
    values = {**form_values(notice_page.text), "target": "new", "topics": "就业创业、高校毕业生",
              "audience": "高校毕业生", "region": "江西省南昌市经开区", "importance": "major"}
    values["text"] = field(notice_page.text, "text")
    upload_id = notice_page.request.path.rsplit("/", 1)[-1]
    reply = client.post(f"/staff/uploads/{upload_id}/use", data={"csrf_token": csrf(client), **values})
    release_id = int(reply.headers["Location"].rsplit("/", 1)[-1])

    page = client.get(upload(client, "政策解读.docx", interpretation_docx())).text
    assert "识别为政策解读" in page and 'name="section_政策背景"' in page and "作为解读时" not in page
    assert field(page, "title") == "《南昌经开区高校毕业生就业创业补贴办法》政策解读"
    for name, text in INTERPRETATION_SECTIONS.items():
        assert field(page, f"section_{name}") == text
    assert field(page, "faq").count("问：") == len(INTERPRETATION_FAQ)
    assert f'<option value="{release_id}">' in page  # the release of the policy it explains is offered
    values = {name: value for name, value in form_values(page).items() if value}
    values.update(target=str(release_id), interpretation_form="text", text=field(page, "text"))
    values.pop("topics", None), values.pop("valid_until", None)  # left blank: inherited
    upload_id = re.search(r"/staff/uploads/([0-9a-f]{32})/use", page).group(1)
    reply = client.post(f"/staff/uploads/{upload_id}/use", data={"csrf_token": csrf(client), **values})
    assert reply.status_code == 303, reply.text
    interp = next(d for d in svc.releases.get(release_id)["documents"] if not d.is_policy)
    assert {s["name"]: s["text"] for s in interp.sections} == INTERPRETATION_SECTIONS
    assert list(interp.faq) == INTERPRETATION_FAQ
    assert interp.topics == ("就业创业", "高校毕业生") and interp.valid_until.isoformat() == "2027-12-31"
    assert interp.issuing_body == "南昌经济技术开发区人力资源和社会保障局"  # its own, kept
    assert "已沿用政策的" in client.get(reply.headers["Location"]).text
    # nothing stored twice: each section sentence and each answer is in exactly one chunk
    chunks = [c.text for c in chunk_document(interp)]
    for text in [*INTERPRETATION_SECTIONS.values(), *(p["a"] for p in INTERPRETATION_FAQ)]:
        first = text.split("\n")[0][:30]
        assert sum(first in chunk for chunk in chunks) == 1, first


def test_a_title_with_doubled_brackets_is_stored_once_bracketed(world):
    app, client = world
    svc = app.extensions["policybot"]
    data = {"csrf_token": csrf(client), "title": "《《某办法》政策解读》", "text": "正文。",
            "importance": "normal"}
    reply = client.post("/staff/releases", data=data)
    release_id = int(reply.headers["Location"].rsplit("/", 1)[-1])
    assert svc.releases.get(release_id)["documents"][0].title == "《某办法》政策解读"
    page = client.get(f"/staff/releases/{release_id}").text  # quoted as GB/T 15834 has it
    assert "《〈某办法〉政策解读》" in page and "《《" not in page

"""The content model validates records and says what is wrong."""
import pytest

from policies.model import Document, InvalidDocument
from tests.conftest import make_policy


def test_every_problem_of_a_record_is_reported_at_once():
    with pytest.raises(InvalidDocument) as error:
        Document.from_record({"id": "x", "kind": "rule", "title": " ", "text": "t",
                              "valid_from": "2026-02-30", "topics": "就业", "importance": "huge"})
    problems = error.value.problems
    assert any("missing field 'title'" in p for p in problems)
    assert any("bad date in 'valid_from'" in p for p in problems)
    assert any("'topics' must be a list" in p for p in problems)
    assert any("unknown importance" in p for p in problems)
    assert any("unknown kind 'rule'" in p for p in problems)


@pytest.mark.parametrize("fields, reason", [
    ({"kind": "interpretation"}, "must name the policy it interprets"),
    ({"valid_from": "2026-05-01", "valid_until": "2026-04-01"}, "valid_until is before valid_from"),
    ({"supersedes": "p1"}, "cannot supersede itself"),
    ({"sections": [{"name": "前言", "text": "x"}]}, "section '前言'"),
    ({"media": [{"kind": "video", "url": "javascript:alert(1)"}]}, "media link"),
    ({"faq": [{"q": "问"}]}, "faq pair 1"),
])
def test_inconsistent_records_are_refused(fields, reason):
    record = {**make_policy("p1").to_record(), **fields}
    with pytest.raises(InvalidDocument, match=reason):
        Document.from_record(record)


def test_unknown_fields_are_ignored_and_missing_optional_fields_are_empty():
    doc = Document.from_record({"id": "p", "kind": "policy", "title": "标题", "text": "正文",
                                "something_new": 1})
    assert doc.topics == () and doc.status == "effective" and doc.importance == "normal"


def test_content_hash_ignores_lifecycle_status_but_not_content():
    policy = make_policy("p1")
    assert policy.replace(status="expired").content_hash() == policy.content_hash()
    assert policy.replace(text=policy.text + "。").content_hash() != policy.content_hash()


def test_in_force_follows_status_and_validity_window():
    import datetime as dt

    policy = make_policy("p1", valid_from="2026-01-01", valid_until="2026-12-31")
    assert policy.in_force(dt.date(2026, 12, 31))
    assert not policy.in_force(dt.date(2027, 1, 1))
    assert not policy.in_force(dt.date(2025, 12, 31))
    assert not policy.replace(status="repealed").in_force(dt.date(2026, 6, 1))

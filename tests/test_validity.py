"""One validity rule (policies.status) for every surface: the words, the SQL catalogue clause
and the document's own check agree on every day; an interpretation stands as its policy."""
from __future__ import annotations

import datetime as dt
from types import SimpleNamespace

import sqlalchemy as sa
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from policies.status import Validity
from policies.tables import documents
from policies.validity import in_force_clause
from tests.conftest import make_interpretation, make_policy

TODAY = dt.date(2026, 11, 30)
NOW = dt.datetime(2026, 11, 30, 12, 0, tzinfo=dt.UTC)
days = st.one_of(st.none(), st.dates(dt.date(2025, 1, 1), dt.date(2028, 12, 31)))
statuses = st.sampled_from(["effective", "expired", "repealed", "amended"])


def test_the_words_for_each_standing():
    word = lambda status, start=None, end=None, successor=None: Validity(status, start, end).word(
        TODAY, successor)
    assert word("effective") == "现行有效"
    assert word("effective", end=dt.date(2027, 12, 31)) == "现行有效（有效期至2027-12-31）"
    assert word("effective", start=dt.date(2027, 1, 1)) == "尚未施行（2027-01-01起施行）"
    assert word("effective", end=dt.date(2026, 11, 29)) == "已失效（有效期至2026-11-29）"
    assert word("effective", end=TODAY) == "现行有效（有效期至2026-11-30）"  # its last day counts
    assert word("expired") == "已失效"
    assert word("repealed") == "已废止"
    assert word("amended") == "已被修订"
    assert word("amended", successor="新办法") == "已被修订（见《新办法》）"


def test_an_interpretation_takes_its_policys_status_and_dates():
    policy = make_policy("p", valid_until="2026-06-30")
    interpretation = make_interpretation("i", interprets="p")  # its own record: effective, no dates
    assert interpretation.in_force(TODAY)
    standing = Validity.of(interpretation, policy)
    assert not standing.in_force(TODAY)
    assert standing.word(TODAY) == "已失效（有效期至2026-06-30）"
    repealed = make_policy("p", status="repealed")
    assert Validity.of(interpretation, repealed).word(TODAY) == "已废止"


def test_iso_strings_as_the_index_keeps_them_read_as_dates():
    meta = SimpleNamespace(status="effective", valid_from="2027-01-01", valid_until=None)
    assert Validity.of(meta) == Validity("effective", dt.date(2027, 1, 1))


@settings(max_examples=100, deadline=None)
@given(status=statuses, start=days, end=days, today=st.dates(dt.date(2025, 1, 1), dt.date(2028, 12, 31)))
def test_every_caller_agrees_on_every_day(status, start, end, today):
    """The rule, the document's check, the catalogue's SQL clause and the words: one answer."""
    assume(not (start and end and start > end))  # a document refuses such dates
    rule = Validity(status, start, end)
    doc = make_policy("p", status=status, valid_from=start and start.isoformat(),
                      valid_until=end and end.isoformat())
    assert doc.in_force(today) == rule.in_force(today) == _sql_in_force(status, start, end, today)
    assert rule.word(today).startswith("现行有效") == rule.in_force(today)
    assert rule.word(today).startswith("尚未施行") == (rule.state(today) == "upcoming")


def _sql_in_force(status, start, end, today) -> bool:
    """policies.validity.in_force_clause evaluated by SQLite on one row."""
    engine = _sql_in_force.engine
    with engine.begin() as conn:
        conn.execute(documents.delete())
        conn.execute(documents.insert().values(
            id="p", kind="policy", title="t", text="x", status=status, visibility="public",
            valid_from=start, valid_until=end, content_hash="h", topics=[], audience=[], faq=[],
            sections={}, media=[], created_at=NOW, updated_at=NOW))
        return conn.execute(sa.select(sa.func.count()).select_from(documents)
                            .where(in_force_clause(today))).scalar_one() == 1


def _engine():
    engine = sa.create_engine("sqlite://")
    documents.metadata.create_all(engine, tables=[documents])
    return engine


_sql_in_force.engine = _engine()  # type: ignore[attr-defined]

"""Import and export of the JSONL interchange format, with the real demo corpus."""
import datetime as dt
import json

import pytest
import sqlalchemy as sa

from interpretations import audit
from interpretations.coverage import interpretation_coverage
from interpretations.importer import ImportRefused, import_file
from policies import store
from policies.tables import documents
from policies.validity import catalogue, catalogue_count, catalogue_topics
from tests.conftest import DEMO, make_interpretation, make_policy
from tests.test_workflow import published


def demo_records():
    return [json.loads(line) for line in DEMO.read_text(encoding="utf-8").splitlines()]


def snapshot(db):
    with db.read() as conn:
        rows = conn.execute(sa.select(documents).order_by(documents.c.id)).mappings()
        return [{k: v for k, v in r.items() if k not in ("created_at", "updated_at")} for r in rows]


def write_lines(path, records):
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" if isinstance(r, dict) else r
                            for r in records), encoding="utf-8")
    return path


def test_demo_import_export_reimport_is_lossless(app, tmp_path):
    runner = app.test_cli_runner()
    result = runner.invoke(args=["import", str(DEMO)])
    assert result.exit_code == 0, result.output
    print(result.output.strip())
    assert "imported 139, unchanged 0" in result.output
    db = app.extensions["policybot"].db
    before = snapshot(db)
    out = tmp_path / "export.jsonl"
    assert runner.invoke(args=["export", str(out)]).exit_code == 0
    exported = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert sorted(exported, key=lambda r: r["id"]) == sorted(demo_records(), key=lambda r: r["id"])
    again = runner.invoke(args=["import", str(out)])
    assert "imported 0, unchanged 139" in again.output
    assert snapshot(db) == before
    with db.read() as conn:
        assert audit.verify(conn).entries == 136  # one entry per imported release


def test_demo_counts_statuses_and_missing_interpretations(app):
    svc = app.extensions["policybot"]
    report = import_file(svc.releases, DEMO)
    states = [info.state for info in report.releases]
    print(f"releases {len(states)}: published {states.count('published')}, retired {states.count('retired')}")
    assert (len(states), states.count("retired")) == (136, 9)  # 8 expired + 1 repealed
    with svc.db.read() as conn:
        coverage = interpretation_coverage(conn, dt.date(2026, 11, 27))
        in_force = catalogue(conn, dt.date(2026, 11, 27))
    print(f"in force {len(in_force)}, 解读率 {coverage.interpreted}/{coverage.major}, "
          f"解读缺失 {[d.id for d in coverage.missing]}")
    assert "ncjkq_2024_zwgk_yaodian" in {d.id for d in coverage.missing}
    assert {"gz_36b", "gz_33"} <= {d.id for d in in_force}
    with svc.db.read() as conn:  # the light queries the bot uses agree with the full list
        assert catalogue_count(conn, dt.date(2026, 11, 27)) == len(in_force)
        assert sorted(catalogue_topics(conn, dt.date(2026, 11, 27))) == sorted(
            list(d.topics) for d in in_force
        )


BAD_LINES = [
    ("not json", "{not json\n", "not valid JSON"),
    ("missing field", {"id": "x1", "kind": "policy", "title": "无正文"}, "missing field 'text'"),
    ("bad date", {"id": "x2", "kind": "policy", "title": "t", "text": "t", "publish_date": "2024/06/24"},
     "bad date in 'publish_date'"),
    ("unknown target", {"id": "x3", "kind": "interpretation", "title": "t", "text": "t",
                        "interprets": "nowhere"}, "unknown 'interprets' target 'nowhere'"),
    ("duplicate", {"id": "ncjkq_2024_zwgk_yaodian", "kind": "policy", "title": "t", "text": "t"},
     "duplicate id (first on line 1)"),
    ("unknown status", {"id": "x4", "kind": "policy", "title": "t", "text": "t", "status": "valid"},
     "unknown status"),
]


def test_a_file_with_bad_lines_is_refused_whole_with_line_numbers(app, tmp_path):
    good = demo_records()[:40]
    path = write_lines(tmp_path / "bad.jsonl", good + [bad for _, bad, _ in BAD_LINES])
    result = app.test_cli_runner().invoke(args=["import", str(path)])
    print(result.output)
    assert result.exit_code == 1
    for number, (_, _, reason) in enumerate(BAD_LINES, start=len(good) + 1):
        assert f"line {number}" in result.output and reason in result.output
    assert snapshot(app.extensions["policybot"].db) == []


def test_skip_invalid_imports_the_rest_and_drops_dependants(app, tmp_path):
    records = demo_records()
    gz36b = next(r for r in records if r["id"] == "gz_36b")
    broken = dict(gz36b, publish_date="yesterday")
    path = write_lines(tmp_path / "some-bad.jsonl", [r if r["id"] != "gz_36b" else broken for r in records])
    result = app.test_cli_runner().invoke(args=["import", "--skip-invalid", str(path)])
    assert result.exit_code == 0, result.output
    assert "imported 137" in result.output  # gz_36b and its interpretation gz_36 left out
    assert "unknown 'interprets' target 'gz_36b' (that line is invalid)" in result.output


def test_changed_content_under_an_existing_id_is_refused(app, tmp_path):
    releases = app.extensions["policybot"].releases
    import_file(releases, write_lines(tmp_path / "a.jsonl", [make_policy("p1").to_record()]))
    with pytest.raises(ImportRefused, match="1 problem") as refused:
        import_file(releases, write_lines(tmp_path / "b.jsonl", [make_policy("p1", title="改").to_record()]))
    assert "immutable" in str(refused.value.errors[0])


def test_interpretations_for_a_policy_imported_earlier_form_a_supplement(app, tmp_path):
    releases = app.extensions["policybot"].releases
    import_file(
        releases, write_lines(tmp_path / "a.jsonl", [make_policy("p1", importance="major").to_record()])
    )
    report = import_file(releases, write_lines(tmp_path / "b.jsonl", [make_interpretation("i1").to_record()]))
    [info] = report.releases
    assert info.policy_id is None and info.document_ids == ("i1",)
    with releases.db.read() as conn:
        assert interpretation_coverage(conn, dt.date(2026, 11, 27)).missing == []


def test_import_is_no_way_around_the_rules_for_new_releases(app):
    """Imported publications are records; a new draft still needs the whole workflow."""
    releases = app.extensions["policybot"].releases
    release_id = published(releases)
    with releases.db.read() as conn:
        assert store.get_visibility(conn, "p1") == "public"
    assert releases.get(release_id)["provenance"] == "workflow"


@pytest.mark.postgres
def test_demo_round_trip_on_postgresql(pg_url, tmp_path):
    from server import create_app, start

    app = start(create_app({"TESTING": True, "DATA_DIR": str(tmp_path / "pg"), "LOAD_DEMO": False,
                            "DATABASE_URL": pg_url}))
    runner = app.test_cli_runner()
    assert "imported 139" in runner.invoke(args=["import", str(DEMO)]).output
    out = tmp_path / "export.jsonl"
    runner.invoke(args=["export", str(out)])
    exported = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert sorted(exported, key=lambda r: r["id"]) == sorted(demo_records(), key=lambda r: r["id"])
    assert "unchanged 139" in runner.invoke(args=["import", str(out)]).output
    assert runner.invoke(args=["verify-audit"]).exit_code == 0
    app.extensions["policybot"].db.dispose()

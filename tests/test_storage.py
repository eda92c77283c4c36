"""Storage on SQLite and on PostgreSQL: migrations, documents, the append-only audit log."""
import pytest
import sqlalchemy as sa

from interpretations import audit
from interpretations.workflow import Hooks, Releases
from policies import store
from tests.conftest import DRAFTER, REVIEWER, SIGNER, make_interpretation, make_policy


def test_migrations_are_idempotent_and_match_the_models(any_db):
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    import migrations_models  # noqa: F401  (imports every table module)
    from policies.db import metadata

    any_db.upgrade()  # a second run applies nothing
    with any_db.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), metadata)
    assert diff == [], f"models and migrations differ: {diff}"


def test_a_document_round_trips_through_the_database(any_db):
    policy = make_policy("p1", topics=["就业创业", "社会保险"], valid_until="2027-12-31",
                         faq=[{"q": "谁可以申请？", "a": "高校毕业生。"}])
    with any_db.write() as conn:
        store.insert_document(conn, policy)
    with any_db.read() as conn:
        assert store.get_document(conn, "p1") == policy


def test_the_audit_log_refuses_update_and_delete(any_db):
    with any_db.write() as conn:
        audit.append(conn, actor="a", role="admin", action="test", release_id=None,
                     from_state=None, to_state=None)
    for statement in ("UPDATE audit_log SET actor = 'mallory'", "DELETE FROM audit_log"):
        with pytest.raises(sa.exc.DBAPIError, match="append-only"):
            with any_db.write() as conn:
                conn.exec_driver_sql(statement)
    with any_db.read() as conn:
        assert audit.verify(conn).ok


def test_a_full_release_publishes_on_both_databases(any_db):
    releases = Releases(any_db, Hooks())
    release_id = releases.create(DRAFTER, make_policy("p1", importance="major"),
                                 [make_interpretation("i1", "p1")])
    releases.submit(DRAFTER, release_id)
    releases.review(REVIEWER, release_id, "无涉密及个人信息")
    releases.sign(SIGNER, release_id)
    releases.publish(SIGNER, release_id)
    with any_db.read() as conn:
        assert {store.get_visibility(conn, i) for i in ("p1", "i1")} == {"public"}
        assert audit.verify(conn).entries == 5

"""Alembic revisions plus the repeatable sql/: up, down, up again, and idempotent."""

import threading

from api import migrations
from tests.helpers import operator_call

SNAPSHOT = """
select
    (select array_agg(format('%I.%I', n.nspname, c.relname))
       from pg_class c join pg_namespace n on n.oid = c.relnamespace
      where n.nspname in ('iam', 'policy', 'api') and c.relkind in ('r', 'v', 'i')),
    (select array_agg(p.oid::regprocedure::text || '#' || p.oid)
       from pg_proc p where p.pronamespace::regnamespace::text in ('api', 'iam')),
    (select array_agg(format('%I.%I', schemaname, tablename) || ':' || policyname)
       from pg_policies where schemaname in ('iam', 'policy')),
    (select version_num from meta.alembic_version),
    (select digest || applied_at from meta.sql_state)
"""


def snapshot(url: str) -> tuple:
    row = operator_call(url, SNAPSHOT, None)[0]
    return (*(sorted(v) for v in row[:3]), *row[3:])


def schemas(url: str) -> set[str]:
    rows = operator_call(
        url, "select nspname from pg_namespace where nspname in ('iam', 'policy', 'api')"
    )
    return {r[0] for r in rows}


def test_upgrade_downgrade_upgrade_on_an_empty_database(empty_db):
    url = empty_db.admin
    assert migrations.upgrade(url) is True
    assert schemas(url) == {"iam", "policy", "api"}
    first = snapshot(url)
    assert first[3] == migrations.head_revision()
    assert len(operator_call(url, "select * from api.list_models()")) == 16

    migrations.downgrade(url, "base")
    assert schemas(url) == set()
    assert operator_call(url, "select count(*) from meta.alembic_version") == [(0,)]

    assert migrations.upgrade(url) is True
    again = snapshot(url)
    # Same objects by name (new oids, naturally), same revision.
    strip = lambda procs: [p.split("#")[0] for p in procs]  # noqa: E731
    assert (again[0], strip(again[1]), again[2], again[3]) == (
        first[0], strip(first[1]), first[2], first[3],
    )  # fmt: skip


def test_running_upgrade_head_again_is_a_no_op(db):
    before = snapshot(db.admin)
    assert migrations.upgrade(db.admin) is False
    assert snapshot(db.admin) == before  # not even re-created functions (same oids)


def test_downgrade_some_revisions_then_upgrade_again(db):
    migrations.downgrade(db.admin, "0001")
    assert operator_call(db.admin, "select count(*) from policy.models") == [(0,)]
    assert operator_call(db.admin, "select to_regclass('policy.budget_usage')") == [(None,)]
    assert migrations.upgrade(db.admin) is True
    assert operator_call(db.admin, "select count(*) from api.list_models()") == [(16,)]


def test_concurrent_upgrades_are_serialised(empty_db):
    errors: list[BaseException] = []

    def run():
        try:
            migrations.upgrade(empty_db.admin)
        except BaseException as exc:  # collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert snapshot(empty_db.admin)[3] == migrations.head_revision()


def test_existing_keys_keep_what_they_could_call_and_admin_grants_nothing(db):
    """Revision 0013. Before it nothing read a key's scopes: an `inference` key could call
    embeddings too, and a key with only `admin` could call models."""
    migrations.downgrade(db.admin, "0012")
    operator_call(db.admin, "select api.create_team('t1')")
    operator_call(
        db.admin,
        "insert into iam.api_keys (digest, prefix, name, team_id, scopes, status, revoked_at) "
        "select sha256(convert_to(v.name, 'UTF8')), 'sk-aigw-xxxx', v.name, t.id, "
        "       v.scopes::text[], v.status, v.revoked_at::timestamptz "
        "  from iam.teams t, (values ('chat', '{inference}', 'active', null), "
        "                            ('chat-admin', '{inference,admin}', 'active', null), "
        "                            ('admin', '{admin}', 'active', null), "
        "                            ('old-admin', '{admin}', 'revoked', '2020-01-01')) "
        "       as v (name, scopes, status, revoked_at)",
    )
    assert migrations.upgrade(db.admin) is True
    assert operator_call(
        db.admin,
        "select name, scopes, status, revoked_at < '2021-01-01' from iam.api_keys order by name",
    ) == [
        ("admin", [], "revoked", False),  # never meant to call models: revoked now
        ("chat", ["inference", "embeddings"], "active", None),
        ("chat-admin", ["inference", "embeddings"], "active", None),
        ("old-admin", [], "revoked", True),
    ]
    ((default,),) = operator_call(
        db.admin,
        "select column_default from information_schema.columns "
        "where table_schema = 'iam' and table_name = 'api_keys' and column_name = 'scopes'",
    )
    assert "'inference'" in default and "'embeddings'" in default


def test_the_request_log_is_repartitioned_under_built_analytics_views(db, tmp_path):
    """dbt's views over events.requests follow a renamed table: revision 0021 (and its
    downgrade) drops them, and the next build creates them again over the new table."""
    from api import analytics

    operator_call(db.admin, "select api.create_team('views')")
    assert analytics.build(db.admin, work_dir=tmp_path).ok
    views = "select count(*) from pg_views where schemaname = 'analytics'"
    assert operator_call(db.admin, views)[0][0] > 5
    migrations.downgrade(db.admin, "0020")  # drops them, or it could not swap the table
    assert operator_call(db.admin, "select to_regclass('events.requests_default')") == [(None,)]
    # a view of dbt's over the plain table, as a database at revision 0020 has them
    operator_call(
        db.admin,
        "create view analytics.stg_events__requests as select request_id from events.requests;"
        " alter view analytics.stg_events__requests owner to aigw_dbt",
    )
    assert migrations.upgrade(db.admin) is True
    assert operator_call(db.admin, "select to_regclass('events.requests_default')") != [(None,)]
    assert operator_call(db.admin, "select to_regclass('analytics.daily_cost')") != [(None,)]
    assert analytics.build(db.admin, work_dir=tmp_path).ok
    assert operator_call(db.admin, views)[0][0] > 5

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
    assert len(operator_call(url, "select * from api.list_models()")) == 13

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
    assert operator_call(db.admin, "select count(*) from api.list_models()") == [(13,)]


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

"""The request log partitioned by month (revision 0021): events land in their month's
partition or the default one, a replayed batch is still counted once, partitions are
created ahead idempotently, and the revision moves the rows both ways."""

import asyncio
import time
from datetime import UTC, datetime

import asyncpg
import psycopg
import pytest

from api import migrations
from api.events.transports import RequestLogTransport
from jobs.event_partitions import create_partitions
from tests.helpers import operator_call
from tests.test_events import event


def month_start(months_from_now: int) -> datetime:
    now = datetime.now(UTC)
    index = now.year * 12 + now.month - 1 + months_from_now
    return datetime(index // 12, index % 12 + 1, 1, tzinfo=UTC)


def partition_name(months_from_now: int) -> str:
    start = month_start(months_from_now)
    return f"events.requests_y{start.year}m{start.month:02d}"


def at(months_from_now: int, day: int = 15) -> float:
    return month_start(months_from_now).replace(day=day, hour=12).timestamp()


async def record(db, events) -> None:
    log = RequestLogTransport(db.app)
    try:
        await log.send([e.as_dict() for e in events])
    finally:
        await log.close()


def placement(db) -> dict[str, int]:
    rows = operator_call(
        db.admin, "select tableoid::regclass::text, count(*) from events.requests group by 1"
    )
    return dict(rows)


def partitions(db) -> set[str]:
    rows = operator_call(
        db.admin,
        "select inhrelid::regclass::text from pg_inherits"
        " where inhparent = 'events.requests'::regclass",
    )
    return {r[0] for r in rows}


def test_the_migration_leaves_this_and_next_months_partitions_and_a_default(db):
    assert {partition_name(0), partition_name(1), "events.requests_default"} <= partitions(db)
    (key,) = operator_call(
        db.admin,
        "select array_agg(a.attname::text order by k.n) from pg_index i"
        " cross join unnest(i.indkey) with ordinality k (attnum, n)"
        " join pg_attribute a on a.attrelid = i.indrelid and a.attnum = k.attnum"
        " where i.indrelid = 'events.requests'::regclass and i.indisprimary",
    )[0]
    assert key == ["request_id", "started_at"]


async def test_events_land_in_their_months_and_a_replayed_batch_counts_once(db):
    operator_call(db.admin, "select api.create_event_partitions(2)")
    batch = [
        event(started_at=at(0)),
        event(started_at=at(0, 1)),
        event(started_at=at(1)),
        event(started_at=at(2, 28)),
        event(started_at=at(-30)),  # long before any partition: the default takes it
        event(started_at=at(40)),  # far ahead: the default too
    ]
    await record(db, batch)
    await record(db, batch)  # sent again (a lost acknowledgement): nothing changes
    await record(db, batch[:2] + [event(started_at=at(0))])
    assert placement(db) == {
        partition_name(0): 3,
        partition_name(1): 1,
        partition_name(2): 1,
        "events.requests_default": 2,
    }
    price = operator_call(db.admin, "select policy.cost_usd('gpt-4o', 1000, 500, 0)")[0][0]
    assert operator_call(db.admin, "select sum(cost_usd) from events.requests") == [(price * 7,)]


async def test_creating_partitions_is_idempotent_and_takes_over_what_the_default_held(db):
    conn = await asyncpg.connect(db.app)  # the services' role, as the job runs
    try:
        assert await create_partitions(conn, 2) == 1  # this and next month came with 0021
        assert await create_partitions(conn, 2) == 0
        # Two gateways starting at once: serialised, each partition made once.
        other = await asyncpg.connect(db.app)
        created = await asyncio.gather(create_partitions(conn, 4), create_partitions(other, 4))
        await other.close()
        assert sorted(created) == [0, 2]
        early = event(started_at=at(6))  # before its month's partition exists
        await record(db, [early])
        assert placement(db) == {"events.requests_default": 1}
        assert await create_partitions(conn, 6) == 2
        assert placement(db) == {partition_name(6): 1}
        await record(db, [early])  # and a replay of it is still skipped
        assert placement(db) == {partition_name(6): 1}
        with pytest.raises(asyncpg.PostgresError, match="between 0 and 24"):
            await create_partitions(conn, 100)
        # Old events (a backfill) wait in the default partition until their months exist.
        old = [event(started_at=at(-3)), event(started_at=at(-5))]
        await record(db, old)
        assert placement(db)["events.requests_default"] == 2
        since = datetime.fromtimestamp(at(-5), UTC)
        assert await conn.fetchval("select api.create_event_partitions(0, $1)", since) == 5
        placed = placement(db)
        assert "events.requests_default" not in placed
        assert placed[partition_name(-3)] == placed[partition_name(-5)] == 1
        with pytest.raises(asyncpg.PostgresError, match="at most 240"):
            await conn.fetchval(
                "select api.create_event_partitions(0, $1)", datetime(1990, 1, 1, tzinfo=UTC)
            )
    finally:
        await conn.close()


def test_every_partition_is_under_row_level_security_and_closed_to_the_services(db):
    operator_call(db.admin, "select api.create_event_partitions(3)")
    rows = operator_call(
        db.admin,
        "select c.oid::regclass::text, c.relrowsecurity, c.relforcerowsecurity from pg_class c"
        " where c.oid = 'events.requests'::regclass or c.oid in"
        " (select inhrelid from pg_inherits where inhparent = 'events.requests'::regclass)",
    )
    assert len(rows) == 6 and all(enabled and forced for _, enabled, forced in rows), rows
    with psycopg.connect(db.app) as conn:
        for name in (partition_name(0), "events.requests_default"):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute(f"select count(*) from {name}")  # noqa: S608 (our own names)
            conn.rollback()


async def test_the_revision_moves_the_rows_down_and_up_again(db):
    batch = [event(started_at=at(m)) for m in (-14, -2, 0, 0, 1)]
    await record(db, batch)
    before = operator_call(db.admin, "select request_id from events.requests order by 1")
    migrations.downgrade(db.admin, "0019")
    assert operator_call(db.admin, "select relkind from pg_class where oid = 'events.requests'::regclass") == [("r",)]  # fmt: skip
    assert operator_call(db.admin, "select request_id from events.requests order by 1") == before
    migrations.upgrade(db.admin)
    assert operator_call(db.admin, "select request_id from events.requests order by 1") == before
    placed = placement(db)
    assert placed[partition_name(0)] == 2 and placed[partition_name(-14)] == 1
    assert "events.requests_default" not in placed
    await record(db, batch)  # recorded before the move: still counted once
    assert sum(placement(db).values()) == 5


def test_a_starting_gateway_creates_the_coming_months(gateway):
    deadline = time.monotonic() + 10
    while partition_name(2) not in partitions(gateway.db):  # 0021 made this and next month's
        assert time.monotonic() < deadline, partitions(gateway.db)
        time.sleep(0.05)

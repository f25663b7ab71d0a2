"""Budgets: reserve the worst case before the provider call, settle the real cost after.

Driven as the gateway drives them: connected as aigw_app, many connections at once.
"""

import asyncio
import random
from decimal import Decimal

import asyncpg
import pytest

from tests.helpers import operator_call

# gpt-4o: 2.50 USD / 1M input tokens, 10.00 USD / 1M output tokens (seeded prices).
INPUT_PRICE, OUTPUT_PRICE = Decimal("2.50") / 10**6, Decimal("10.00") / 10**6


def cost(input_tokens: int, output_tokens: int) -> Decimal:
    return input_tokens * INPUT_PRICE + output_tokens * OUTPUT_PRICE


@pytest.fixture
def team(db):
    operator_call(db.admin, "select api.create_team('t1')")
    (key_id,) = operator_call(db.admin, "select id from api.issue_key('t1', 'k')")[0]
    return db, key_id


async def reserve(conn, key_id, input_tokens=1000, max_tokens=1000, model="gpt-4o"):
    return await conn.fetchrow(
        "select * from api.reserve_budget($1, $2, $3, $4)", key_id, model, input_tokens, max_tokens
    )


def ledger(db) -> list[tuple]:
    return operator_call(
        db.admin, "select scope, hard_limit_usd, spent_usd, reserved_usd from api.list_budgets()"
    )


async def test_reserve_then_settle_moves_the_cost_from_reserved_to_spent(team):
    db, key_id = team
    operator_call(db.admin, "select api.set_budget('t1', 'month', 1)")
    conn = await asyncpg.connect(db.app)
    try:
        held = await reserve(conn, key_id)
        assert held["amount_usd"] == cost(1000, 1000)
        assert ledger(db) == [("team", 1, 0, cost(1000, 1000))]
        actual = await conn.fetchval("select api.settle_budget($1, 1000, 200)", held[0])
        assert actual == cost(1000, 200)
        assert ledger(db) == [("team", 1, cost(1000, 200), 0)]
        # Settling again (a retry after a lost reply) changes nothing.
        assert await conn.fetchval("select api.settle_budget($1, 1000, 900)", held[0]) == actual
        assert ledger(db) == [("team", 1, cost(1000, 200), 0)]
    finally:
        await conn.close()


async def test_a_hostile_max_tokens_is_clamped_to_the_models_max_output(team):
    db, key_id = team
    conn = await asyncpg.connect(db.app)
    try:
        held = await reserve(conn, key_id, input_tokens=10, max_tokens=999_999_999)
        default = await reserve(conn, key_id, input_tokens=10, max_tokens=None)
    finally:
        await conn.close()
    assert held["amount_usd"] == cost(10, 16384)  # gpt-4o's max output
    assert default["amount_usd"] == cost(10, 4096)  # the policy default


async def test_an_exhausted_budget_refuses_and_writes_nothing(team):
    db, key_id = team
    operator_call(db.admin, "select api.set_budget('t1', 'day', 0.02)")
    conn = await asyncpg.connect(db.app)
    try:
        await reserve(conn, key_id)  # 0.0125 of 0.02
        with pytest.raises(asyncpg.PostgresError) as refused:
            await reserve(conn, key_id)
        assert refused.value.sqlstate == "AIG07"
        # One request alone costing more than the budget is refused with a clear reason.
        with pytest.raises(asyncpg.PostgresError) as too_big:
            await reserve(conn, key_id, max_tokens=16384)
        assert "more than the team budget" in str(too_big.value)
    finally:
        await conn.close()
    assert ledger(db) == [("team", Decimal("0.02"), 0, cost(1000, 1000))]
    assert operator_call(db.admin, "select count(*) from policy.budget_reservations") == [(1,)]


async def test_key_and_owner_budgets_apply_alongside_the_team_budget(team):
    db, key_id = team
    operator_call(db.admin, "select api.set_budget('t1', 'month', 100)")
    operator_call(db.admin, "select api.set_budget('t1', 'month', 0.02, %s)", (key_id,))
    (other_key,) = operator_call(db.admin, "select id from api.issue_key('t1', 'other')")[0]
    conn = await asyncpg.connect(db.app)
    try:
        await reserve(conn, key_id)
        with pytest.raises(asyncpg.PostgresError) as refused:
            await reserve(conn, key_id)
        assert refused.value.sqlstate == "AIG07"
        assert "key budget exhausted" in str(refused.value)
        await reserve(conn, other_key)  # the other key has only the team budget
    finally:
        await conn.close()


async def test_last_periods_spend_does_not_count(team):
    db, key_id = team
    (budget_id,) = operator_call(db.admin, "select api.set_budget('t1', 'day', 0.02)")[0]
    operator_call(
        db.admin,
        "insert into policy.budget_usage (budget_id, period_start, spent_usd) "
        "values (%s, policy.period_start('day', now() - interval '1 day'), 0.02)",
        (budget_id,),
    )
    conn = await asyncpg.connect(db.app)
    try:
        await reserve(conn, key_id)
    finally:
        await conn.close()


async def test_stale_reservations_are_charged_their_reserved_maximum(team):
    db, key_id = team
    operator_call(db.admin, "select api.set_budget('t1', 'month', 1)")
    conn = await asyncpg.connect(db.app)
    try:
        held = await reserve(conn, key_id)
        operator_call(
            db.admin,
            "update policy.budget_reservations set created_at = now() - interval '1 hour'",
        )
        assert await conn.fetchval("select api.release_stale_reservations()") == 1
        assert await conn.fetchval("select api.release_stale_reservations()") == 0
    finally:
        await conn.close()
    assert ledger(db) == [("team", 1, held["amount_usd"], 0)]


@pytest.mark.timeout(120)
async def test_200_concurrent_requests_never_overspend_the_budget(team):
    db, key_id = team
    per_request = cost(1000, 1000)
    limit = per_request * 50  # room for about fifty requests
    operator_call(db.admin, "select api.set_budget('t1', 'month', %s)", (limit,))
    rng = random.Random(3)
    outputs = [rng.randint(700, 1000) for _ in range(200)]

    async def one_request(pool, output_tokens: int) -> bool:
        async with pool.acquire() as conn:
            try:
                held = await reserve(conn, key_id)
            except asyncpg.PostgresError as exc:
                assert exc.sqlstate == "AIG07"
                return False
        await asyncio.sleep(0.005)  # the provider call
        async with pool.acquire() as conn:
            await conn.fetchval("select api.settle_budget($1, 1000, $2)", held[0], output_tokens)
        return True

    pools = [await asyncpg.create_pool(db.app, min_size=10, max_size=10) for _ in range(2)]
    try:
        served = await asyncio.gather(
            *(one_request(pools[i % 2], out) for i, out in enumerate(outputs))
        )
    finally:
        for pool in pools:
            await pool.close()

    ((_, _, spent, reserved),) = ledger(db)
    settled = operator_call(db.admin, "select sum(actual_usd) from policy.budget_reservations")
    assert reserved == 0
    assert spent == settled[0][0]
    assert spent <= limit + per_request
    # Real costs were below the reserved maximum, so at least fifty were served.
    assert 50 <= sum(served) < 200


async def test_settling_without_token_counts_is_refused(team):
    db, key_id = team
    conn = await asyncpg.connect(db.app)
    try:
        held = await reserve(conn, key_id)
        with pytest.raises(asyncpg.PostgresError) as refused:
            await conn.fetchval("select api.settle_budget($1, null, null)", held[0])
        assert refused.value.sqlstate == "AIG06"
        with pytest.raises(asyncpg.PostgresError):
            await conn.fetchval("select api.release_stale_reservations('-1 hour')")
    finally:
        await conn.close()

"""Budgets: reserve the worst case before the provider call, settle the real cost after.

Driven as the gateway drives them: connected as aigw_app, many connections at once.
"""

import asyncio
import json
import random
import time
from collections import Counter
from decimal import Decimal

import asyncpg
import httpx
import pytest

from api.gateway import bounds
from tests.helpers import budgets_settled, operator_call

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


async def test_a_reservation_is_capped_by_the_models_limits_and_defaults_to_them(team):
    db, key_id = team
    conn = await asyncpg.connect(db.app)
    try:
        hostile = await reserve(conn, key_id, input_tokens=10**9, max_tokens=999_999_999)
        default = await reserve(conn, key_id, input_tokens=10, max_tokens=None)
        unbounded = await reserve(conn, key_id, input_tokens=None, max_tokens=10)
        choices = await conn.fetchrow(
            "select * from api.reserve_budget($1, 'gpt-4o', 10, 100, p_choices => 8)", key_id
        )
    finally:
        await conn.close()
    # No prompt and no answer is longer than gpt-4o's context window (128k tokens).
    assert hostile["amount_usd"] == cost(128_000, 128_000)
    # Without max_tokens a model may produce its maximum output (16,384 for gpt-4o).
    assert default["amount_usd"] == cost(10, 16_384)
    # An input without a bound (a document, a file) holds the whole context window.
    assert unbounded["amount_usd"] == cost(128_000, 10)
    assert choices["amount_usd"] == cost(10, 800)  # n = 8: eight answers


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


# -- through the gateway: a reservation bounds what the request really costs ------------

PDF = "JVBERi0xLjQKJcOkw7zDtsOfCg=="  # a few bytes of PDF: the provider bills its pages


def _images(n: int, wire: str) -> list[dict]:
    if wire == "openai":
        part = {"type": "image_url", "image_url": {"url": "https://example.com/i.png"}}
    else:
        part = {"type": "image", "source": {"type": "url", "url": "https://example.com/i.png"}}
    return [dict(part) for _ in range(n)]


# name: (wire, model, body, how the mock bills: MockState fields)
EXPENSIVE = {
    "1,000 images, max_tokens 1": (
        "openai",
        "gpt-4o",
        {"max_tokens": 1, "messages": [{"role": "user", "content": _images(1000, "openai")}]},
        {},
    ),
    "20 images at the highest provider rule": (
        "anthropic",
        "claude-sonnet-4-6",
        {"max_tokens": 1, "messages": [{"role": "user", "content": _images(20, "anthropic")}]},
        {"image_tokens": 4784},
    ),
    "n = 8, every output token used": (
        "openai",
        "gpt-4o",
        {"n": 8, "max_tokens": 2000, "messages": [{"role": "user", "content": "Write."}]},
        {"fill_output": True},
    ),
    "a thinking budget above max_tokens": (
        "anthropic",
        "claude-sonnet-4-6",
        {
            "max_tokens": 1024,
            "thinking": {"type": "enabled", "budget_tokens": 20000},
            "messages": [{"role": "user", "content": "Think."}],
        },
        {"fill_output": True},
    ),
    "documents": (
        "anthropic",
        "claude-sonnet-4-6",
        {
            "max_tokens": 1,
            "messages": [
                {
                    "role": "user",
                    "content": [
                        {
                            "type": "document",
                            "source": {
                                "type": "base64",
                                "media_type": "application/pdf",
                                "data": PDF,
                            },
                        }
                    ]
                    * 2,
                }
            ],
        },
        {"document_tokens": 60000},
    ),
    "50 tools and the provider's tool prompt": (
        "openai",
        "gpt-4o",
        {
            "max_tokens": 4000,
            "tool_choice": "none",
            "tools": [
                {
                    "type": "function",
                    "function": {"name": f"t{i}", "parameters": {"type": "object"}},
                }
                for i in range(50)
            ],
            "messages": [{"role": "user", "content": "Use no tool."}],
        },
        {"tools_tokens": 346, "fill_output": True},
    ),
    "cached input priced above fresh input": (
        "openai",
        "gpt-4o-mini",
        {"max_tokens": 1, "messages": [{"role": "user", "content": "lorem ipsum " * 4000}]},
        {"cached_fraction": 1.0},
    ),
}


@pytest.mark.timeout(300)
@pytest.mark.parametrize("kind", sorted(EXPENSIVE))
async def test_200_concurrent_expensive_requests_never_pass_a_hard_limit(gateway, kind):
    wire, model, body, billing = EXPENSIVE[kind]
    limit = Decimal("1.00")
    gateway.operator("select api.set_budget('t1', 'month', %s)", (limit,))
    # An operator may price reading the prompt cache above fresh input; the bound follows.
    gateway.operator("select api.set_price('gpt-4o-mini', 0.15, 0.60, 5.00)")
    for name, value in billing.items():
        setattr(gateway.mock, name, value)
    gateway.mock.latency_s = 0.3  # the requests overlap, as concurrent traffic does
    if wire == "openai":
        url, headers = (
            f"{gateway.url}/v1/chat/completions",
            {"authorization": f"Bearer {gateway.key}"},
        )
    else:
        url, headers = f"{gateway.url}/anthropic/v1/messages", {"x-api-key": gateway.key}
    headers["anthropic-beta"] = "interleaved-thinking-2025-05-14"
    await asyncio.sleep(0.3)  # the budget reaches the gateway's principal cache

    raw = json.dumps({"model": model, **body}).encode()
    limits = httpx.Limits(max_connections=200, max_keepalive_connections=200)
    async with httpx.AsyncClient(limits=limits, timeout=60) as client:
        answers = await asyncio.gather(
            *(
                client.post(
                    url, content=raw, headers={**headers, "content-type": "application/json"}
                )
                for _ in range(200)
            )
        )
    statuses = Counter(a.status_code for a in answers)
    assert set(statuses) <= {200, 429}, statuses
    assert statuses[200] >= 1, "the budget serves at least the first request"
    refusals = [a.json() for a in answers if a.status_code == 429]
    assert all("budget" in json.dumps(r) for r in refusals)

    # Every lease settled and released: what the requests cost is all in the ledger.
    ((_, hard_limit, spent, reserved),) = budgets_settled(gateway.db.admin, timeout=30)
    served = [e for e in gateway.events.events if e.status == 200]
    assert len(served) == statuses[200]
    assert spent == sum(Decimal(str(e.cost_usd)) for e in served).quantize(spent)
    # Each request cost at most its bound, as the gateway priced it to admit it ...
    sent = json.loads(raw)
    bound = (bounds.openai_chat if wire == "openai" else bounds.anthropic_messages)(sent, raw)
    worst = gateway.gateway.registry.prices[model].worst_case(bound)
    assert all(0 < Decimal(str(e.cost_usd)) <= worst for e in served), (worst, served[:3])
    # ... so the fleet never spent past the hard limit, however many ran at once.
    assert reserved == 0
    assert hard_limit == limit and 0 < spent <= limit


def test_the_bound_prices_media_by_kind_not_by_bytes():
    photo = "A" * 5_000_000  # a 5 MB image, base64: billed by its pixels
    body = {
        "max_tokens": 100,
        "messages": [
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "What is this?"},
                    {"type": "image", "source": {"type": "base64", "data": photo}},
                ],
            }
        ],
    }
    raw = json.dumps(body).encode()
    bound = bounds.anthropic_messages(body, raw)
    assert bounds.IMAGE_TOKENS <= bound.input_tokens < bounds.IMAGE_TOKENS + 1000
    assert bound.output_tokens == 100 and bound.choices == 1
    # In a tool result too.
    body["messages"][0]["content"] = [
        {"type": "tool_result", "tool_use_id": "t", "content": body["messages"][0]["content"]}
    ]
    assert bounds.anthropic_messages(body, json.dumps(body).encode()).input_tokens < 7000
    # Text is one token per byte at most, whatever the script.
    text = {"messages": [{"role": "user", "content": "日本語のテキスト" * 100}]}
    raw_text = json.dumps(text, ensure_ascii=False).encode()
    assert bounds.openai_chat(text, raw_text).input_tokens == len(raw_text)
    # What has no bound: a document, a file, a server-side tool, web search.
    document = {"messages": [{"role": "user", "content": [{"type": "document"}]}]}
    assert bounds.anthropic_messages(document, json.dumps(document).encode()).input_tokens is None
    search = {"messages": text["messages"], "tools": [{"type": "web_search_20250305"}]}
    assert bounds.anthropic_messages(search, raw_text).input_tokens is None
    assert bounds.openai_chat({**text, "web_search_options": {}}, raw_text).input_tokens is None
    client_tool = {"messages": text["messages"], "tools": [{"type": "bash_20250124"}]}
    assert bounds.anthropic_messages(client_tool, raw_text).input_tokens == (
        len(raw_text) + bounds.TOOLS_TOKENS
    )
    # n and best_of multiply the output; a long-context beta widens the window.
    assert bounds.openai_chat({**text, "n": 3, "max_tokens": 7}, raw_text).choices == 3
    assert bounds.anthropic_messages(body, raw, "context-1m-2025-08-07").context_window == 10**6


# -- leases: what a gateway process holds of a budget ------------------------------------


async def test_a_lease_holds_a_share_settles_extends_and_releases(team):
    db, key_id = team
    ((budget_id,),) = operator_call(db.admin, "select api.set_budget('t1', 'month', 10)")
    ((team_id,),) = operator_call(db.admin, "select id from iam.teams where name = 't1'")
    conn = await asyncpg.connect(db.app)
    try:
        lease = await conn.fetchrow(
            "select * from api.lease_budget($1, $2, 0.01, 0.05)", team_id, [budget_id]
        )
        assert lease["amount_usd"] == Decimal("0.5")  # 5 % of the 10 USD left
        assert ledger(db) == [("team", 10, 0, Decimal("0.5"))]
        # Spend settles into the ledger; the lease holds what is left of it.
        settled = await conn.fetchrow("select * from api.settle_lease($1, 0.2)", lease["lease_id"])
        assert (settled["amount_usd"], settled["state"]) == (Decimal("0.3"), "held")
        assert ledger(db) == [("team", 10, Decimal("0.2"), Decimal("0.3"))]
        # Extended by at least what is asked, a share of what is left if more.
        extended = await conn.fetchrow(
            "select * from api.settle_lease($1, 0, p_extend_min_usd => 1)", lease["lease_id"]
        )
        assert extended["amount_usd"] == Decimal("1.3") and extended["state"] == "held"
        too_much = await conn.fetchrow(
            "select * from api.settle_lease($1, 0.3, p_extend_min_usd => 100)", lease["lease_id"]
        )
        assert too_much["state"] == "exhausted"  # the spend still settled
        assert ledger(db) == [("team", 10, Decimal("0.5"), Decimal("1.0"))]
        released = await conn.fetchrow(
            "select * from api.settle_lease($1, 0.1, p_release => true)", lease["lease_id"]
        )
        assert released["state"] == "released"
        assert ledger(db) == [("team", 10, Decimal("0.6"), 0)]
        gone = await conn.fetchrow("select * from api.settle_lease($1, 0.1)", lease["lease_id"])
        assert gone["state"] == "gone"
        assert ledger(db) == [("team", 10, Decimal("0.6"), 0)]  # nothing settled twice
        # A minimum the budget cannot cover is refused; so are another team's budgets.
        with pytest.raises(asyncpg.PostgresError) as refused:
            await conn.fetchrow("select * from api.lease_budget($1, $2, 9.5)", team_id, [budget_id])
        assert refused.value.sqlstate == "AIG07"
        operator_call(db.admin, "select api.create_team('t2')")
        ((other,),) = operator_call(db.admin, "select id from iam.teams where name = 't2'")
        with pytest.raises(asyncpg.PostgresError) as foreign:
            await conn.fetchrow("select * from api.lease_budget($1, $2, 0.01)", other, [budget_id])
        assert foreign.value.sqlstate == "AIG04"
    finally:
        await conn.close()


async def test_a_lease_nobody_renews_is_charged_what_it_still_held(team):
    db, _ = team
    ((budget_id,),) = operator_call(db.admin, "select api.set_budget('t1', 'month', 10)")
    ((team_id,),) = operator_call(db.admin, "select id from iam.teams where name = 't1'")
    conn = await asyncpg.connect(db.app)
    try:
        lease = await conn.fetchrow(
            "select * from api.lease_budget($1, $2, 0.01, 0.05)", team_id, [budget_id]
        )
        await conn.fetchrow("select * from api.settle_lease($1, 0.1)", lease["lease_id"])
        assert await conn.fetchval("select api.release_stale_reservations('1 minute')") == 0
        operator_call(
            db.admin,
            "update policy.budget_reservations set expires_at = now() - interval '2 minutes'",
        )
        assert await conn.fetchval("select api.release_stale_reservations('1 minute')") == 1
        # The process that held it may have spent all of it: charged in full.
        assert ledger(db) == [("team", 10, Decimal("0.5"), 0)]
        late = await conn.fetchrow("select * from api.settle_lease($1, 0.2)", lease["lease_id"])
        assert late["state"] == "gone"
    finally:
        await conn.close()


def test_a_price_change_reaches_what_the_gateway_charges_at_once(gateway):
    gateway.operator("select api.set_budget('t1', 'month', 10)")
    time.sleep(0.3)
    body = {"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 20}
    headers = {"authorization": f"Bearer {gateway.key}"}
    assert httpx.post(f"{gateway.url}/v1/chat/completions", json=body, headers=headers).is_success
    gateway.operator("select api.set_price('gpt-4o', 25.00, 100.00, 12.50)")  # ten times
    time.sleep(0.5)  # the notification reaches the gateway
    assert httpx.post(f"{gateway.url}/v1/chat/completions", json=body, headers=headers).is_success
    first, second = (e.cost_usd for e in gateway.events.events)
    assert second == pytest.approx(10 * first)
    ((_, _, spent, _),) = budgets_settled(gateway.db.admin)
    assert spent == Decimal(str(first)) + Decimal(str(second))

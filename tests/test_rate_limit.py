"""Rate limits in a real Redis, from one and from several worker processes."""

import subprocess
import sys
import textwrap

import pytest
import redis.asyncio as redis

from api.gateway.rate_limit import Limit, RateLimiter

MINUTE = 60_000
T0 = 1_000 * MINUTE  # the start of some window


@pytest.fixture
async def limiter(redis_url):
    client = redis.from_url(redis_url)
    yield RateLimiter(client)
    await client.aclose()


async def test_requests_are_admitted_up_to_the_limit_then_refused_with_retry_after(limiter):
    limits = [Limit("team", "t1", "requests", 3)]
    decisions = [
        await limiter.acquire(limits, tokens=0, tag="t1", now_ms=T0 + 1000) for _ in range(4)
    ]
    assert [d.allowed for d in decisions] == [True, True, True, False]
    assert [d.remaining["requests"] for d in decisions] == [2, 1, 0, 0]
    refused = decisions[-1]
    assert refused.retry_after_s == 59  # until the window ends
    assert refused.refused_by == limits[0]
    assert refused.headers() == {
        "x-ratelimit-limit-requests": "3",
        "x-ratelimit-remaining-requests": "0",
        "retry-after": "59",
    }


async def test_a_refusal_by_one_limit_counts_against_none(limiter):
    team_rpm = Limit("team", "t1", "requests", 100)
    key_rpm = Limit("key", "k1", "requests", 1)
    assert (await limiter.acquire([team_rpm, key_rpm], tokens=0, tag="t1", now_ms=T0)).allowed
    refused = await limiter.acquire([team_rpm, key_rpm], tokens=0, tag="t1", now_ms=T0)
    assert not refused.allowed and refused.refused_by == key_rpm
    other_key = await limiter.acquire([team_rpm], tokens=0, tag="t1", now_ms=T0)
    assert other_key.remaining["requests"] == 98  # 100 - 2 admitted, not 3


async def test_tokens_are_charged_as_estimated_then_settled_to_real_usage(limiter):
    tpm = [Limit("team", "t1", "tokens", 1000)]
    first = await limiter.acquire(tpm, tokens=800, tag="t1", now_ms=T0)
    assert first.allowed and first.remaining["tokens"] == 200
    assert not (await limiter.acquire(tpm, tokens=300, tag="t1", now_ms=T0)).allowed
    await limiter.settle_tokens(first, 150)  # the answer was short
    second = await limiter.acquire(tpm, tokens=300, tag="t1", now_ms=T0)
    assert second.allowed and second.remaining["tokens"] == 1000 - 150 - 300


async def test_a_request_larger_than_the_limit_is_told_waiting_will_not_help(limiter):
    decision = await limiter.acquire(
        [Limit("team", "t1", "tokens", 100)], tokens=500, tag="t1", now_ms=T0
    )
    assert not decision.allowed and decision.retry_after_s is None
    assert "retry-after" not in decision.headers()


async def test_the_window_slides(limiter):
    rpm = [Limit("team", "t1", "requests", 10)]
    for _ in range(10):
        assert (await limiter.acquire(rpm, tokens=0, tag="t1", now_ms=T0 + 59_000)).allowed
    # A quarter into the next window, 3/4 of the previous window still counts: 7 used.
    admitted = 0
    for _ in range(10):
        if (await limiter.acquire(rpm, tokens=0, tag="t1", now_ms=T0 + MINUTE + 15_000)).allowed:
            admitted += 1
    assert admitted == 3


WORKER = textwrap.dedent(
    """
    import asyncio, sys
    import redis.asyncio as redis
    from api.gateway.rate_limit import Limit, RateLimiter

    async def main(url, attempts, now_ms):
        client = redis.from_url(url)
        limiter = RateLimiter(client)
        limits = [Limit("team", "shared", "requests", 50), Limit("team", "shared", "tokens", 10**6)]
        results = await asyncio.gather(*(
            limiter.acquire(limits, tokens=10, tag="shared", now_ms=now_ms) for _ in range(attempts)
        ))
        print(sum(d.allowed for d in results))
        await client.aclose()

    asyncio.run(main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3])))
    """
)


def test_several_worker_processes_share_one_limit_exactly(redis_url):
    workers = [
        subprocess.Popen(
            [sys.executable, "-c", WORKER, redis_url, "100", str(T0 + 5_000)],
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(3)
    ]
    admitted = [int(w.communicate(timeout=60)[0]) for w in workers]
    assert all(w.returncode == 0 for w in workers)
    assert sum(admitted) == 50


async def evalsha_calls(client) -> int:
    stats = await client.info("commandstats")
    return int(stats.get("cmdstat_evalsha", {}).get("calls", 0))


async def test_large_request_limits_are_leased_and_never_exceeded_by_the_fleet(redis_url):
    """Two processes share a 1,000-RPM team limit: each leases 20 requests at a time, so
    Redis sees one call in 20, and together they admit 1,000 requests and no more."""
    clients = [redis.from_url(redis_url) for _ in range(2)]
    workers = [RateLimiter(c, processes=1) for c in clients]
    limits = [Limit("team", "big", "requests", 1000)]
    before = await evalsha_calls(clients[0])
    admitted = 0
    for i in range(1200):
        decision = await workers[i % 2].acquire(limits, tokens=0, tag="big", now_ms=T0 + 10)
        admitted += decision.allowed
        if i == 99:
            assert await evalsha_calls(clients[0]) - before <= 12  # 100 requests, ~10 calls
    # leases never over-admit; near the limit each falls back to exact single requests
    assert admitted == 1000
    for c in clients:
        await c.aclose()


async def test_a_single_request_near_the_limit_takes_no_lease(limiter):
    """1,010 RPM leases 20 at a time: after 1,000 the next lease does not fit, and the
    requests that follow are admitted one by one, exactly up to the limit."""
    limits = [Limit("team", "odd", "requests", 1010)]
    admitted = 0
    for _ in range(1100):
        decision = await limiter.acquire(limits, tokens=0, tag="odd", now_ms=T0 + 10)
        admitted += decision.allowed
    assert admitted == 1010


async def test_a_fallback_mid_window_starts_from_what_this_process_was_admitted(redis_url):
    """Redis admitted 30 of this process's requests, then went away: the process's share
    of a 60-RPM limit over two processes is 30, and it is already spent."""
    client = redis.from_url(redis_url)
    limiter = RateLimiter(client, processes=2)
    limits = [Limit("team", "fall", "requests", 60)]
    for _ in range(30):
        assert (await limiter.acquire(limits, tokens=0, tag="fall", now_ms=T0 + 10)).allowed
    limiter.breaker.failed(ConnectionError("redis went away"))
    decision = await limiter.acquire(limits, tokens=0, tag="fall", now_ms=T0 + 20)
    assert decision.local and not decision.allowed
    await client.aclose()


async def test_a_small_limit_is_never_leased(limiter, redis_url):
    limits = [Limit("team", "small", "requests", 60)]
    client = redis.from_url(redis_url)
    before = await evalsha_calls(client)
    for _ in range(5):
        assert (await limiter.acquire(limits, tokens=0, tag="small", now_ms=T0)).allowed
    assert await evalsha_calls(client) - before == 5
    await client.aclose()

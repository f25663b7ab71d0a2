"""Several gateway worker processes over one database and one Redis: budgets and rate
limits hold across them, under 200 concurrent requests."""

import asyncio
import os
import subprocess
import sys
import time
from decimal import Decimal

import httpx
import pytest

from api.embedded import free_port
from tests.helpers import budgets_settled, operator_call

WORKERS = 2
REQUESTS = 200


@pytest.fixture
def workers(db, redis_url, mock_upstream):
    mock_url, _ = mock_upstream
    operator_call(db.admin, "select api.create_team('t1')")
    (key,) = operator_call(db.admin, "select key from api.issue_key('t1', 'load')")[0]
    env = {
        **os.environ,
        "DATABASE_URL": db.admin,
        "REDIS_URL": redis_url,
        "AIGW_MOCK_PROVIDER_URL": mock_url,
        # These tests are about sharing through a healthy Redis: on a loaded machine a
        # burst of 200 can delay a Redis reply past the default half second, and the
        # workers would (rightly) fall back to their per-process shares.
        "AIGW_REDIS_TIMEOUT_S": "5",
    }
    env.pop("AIGW_ENV", None)
    ports = [free_port() for _ in range(WORKERS)]
    processes = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "uvicorn",
                "--factory",
                "api.app:from_environment",
                "--port",
                str(port),
                "--log-level",
                "warning",
            ],
            env=env,
        )  # fmt: skip
        for port in ports
    ]
    try:
        for port in ports:
            deadline = time.monotonic() + 60
            while True:
                try:
                    if httpx.get(f"http://127.0.0.1:{port}/healthz").status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                assert time.monotonic() < deadline, "worker did not start"
                time.sleep(0.1)
        yield [f"http://127.0.0.1:{port}" for port in ports], key
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            process.wait(30)


async def burst(urls: list[str], key: str, body: dict) -> list[httpx.Response]:
    limits = httpx.Limits(max_connections=REQUESTS)
    async with httpx.AsyncClient(timeout=60, limits=limits) as client:
        return await asyncio.gather(
            *(
                client.post(
                    f"{urls[i % len(urls)]}/v1/chat/completions",
                    json=body,
                    headers={"authorization": f"Bearer {key}"},
                )
                for i in range(REQUESTS)
            )
        )


def wait_clear_of_a_minute_boundary() -> None:
    # The limit is per minute: start the burst well inside one.
    while time.time() % 60 > 50:
        time.sleep(0.5)


@pytest.mark.timeout(180)
async def test_a_budget_holds_across_workers_under_200_concurrent_requests(
    db, workers, mock_upstream
):
    urls, key = workers
    # The provider takes a moment, so the requests hold their worst cases at the same
    # time (a gateway quick enough to settle each before the next arrives would never
    # meet the budget: their real cost is tiny).
    mock_upstream[1].latency_s = 0.5
    body = {"model": "gpt-4o", "max_tokens": 1000, "messages": [{"role": "user", "content": "hi"}]}
    # Each request holds its worst case: 1000 output tokens of gpt-4o (0.01 USD) and the
    # body's bytes as input tokens (under 120: 0.0003 USD).
    per_request = Decimal("0.0103")
    limit = per_request * 50
    operator_call(db.admin, "select api.set_budget('t1', 'month', %s)", (limit,))
    responses = await burst(urls, key, body)
    statuses = [r.status_code for r in responses]
    assert set(statuses) <= {200, 429}
    refused = [r.json()["error"]["code"] for r in responses if r.status_code == 429]
    assert set(refused) == {"insufficient_quota"}
    served = statuses.count(200)
    assert served >= 50  # real answers cost far less than the worst case reserved

    # Each worker settles its leases' spend in batches and releases them when idle.
    ((_, _, spent, reserved),) = budgets_settled(db.admin)
    assert reserved == 0
    assert spent <= limit  # no request cost more than it reserved, on either worker
    # The ledger and the event log agree on what was spent, request by request.
    deadline = time.monotonic() + 20
    while True:
        ((recorded, cost),) = operator_call(
            db.admin, "select count(*), sum(cost_usd) from events.requests where status = 200"
        )
        if recorded >= served or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.1)
    assert recorded == served and cost == spent


@pytest.mark.timeout(180)
async def test_a_rate_limit_is_shared_exactly_by_the_workers(db, workers):
    urls, key = workers
    operator_call(db.admin, "select api.set_team_policy('t1', null, 50, null)")
    await asyncio.sleep(0.3)  # the policy change reaches the workers by NOTIFY
    wait_clear_of_a_minute_boundary()
    body = {"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]}
    responses = await burst(urls, key, body)
    statuses = [r.status_code for r in responses]
    assert statuses.count(200) == 50
    assert statuses.count(429) == REQUESTS - 50
    limited = next(r for r in responses if r.status_code == 429)
    assert limited.json()["error"]["code"] == "rate_limit_exceeded"
    assert int(limited.headers["retry-after"]) >= 1


@pytest.mark.timeout(120)
def test_a_revoked_key_stops_on_every_worker_within_a_second(db, workers):
    urls, key = workers
    body = {"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]}
    headers = {"authorization": f"Bearer {key}"}
    for url in urls:  # the key is now cached by every worker
        assert httpx.post(f"{url}/v1/chat/completions", json=body, headers=headers).is_success
    (key_id,) = operator_call(db.admin, "select id from api.list_keys()")[0]
    operator_call(db.admin, "select api.revoke_key(%s)", (key_id,))
    revoked_at = time.monotonic()
    pending = set(urls)
    while pending:
        for url in list(pending):
            response = httpx.post(f"{url}/v1/chat/completions", json=body, headers=headers)
            if response.status_code == 401:
                pending.discard(url)
        assert time.monotonic() - revoked_at < 1.0, f"still served by {pending} after 1 s"

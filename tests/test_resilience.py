"""Failure decided, not improvised: Redis away, a provider storm."""

import time
from urllib.parse import urlsplit, urlunsplit

import httpx

from api.app import create_app
from api.gateway.config import load_config
from tests.faults import FaultProxy
from tests.helpers import operator_call, serving

BODY = {"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]}


def proxied_redis(url: str) -> tuple[FaultProxy, str]:
    parts = urlsplit(url)
    proxy = FaultProxy((parts.hostname, parts.port or 6379))
    auth = parts.netloc.rsplit("@", 1)[0] + "@" if "@" in parts.netloc else ""
    return proxy, urlunsplit((parts.scheme, f"{auth}127.0.0.1:{proxy.port}", parts.path, "", ""))


def test_with_redis_away_requests_are_served_and_limits_still_hold(
    db, redis_url, mock_upstream, caplog
):
    mock_url, _ = mock_upstream
    operator_call(db.admin, "select api.create_team('t1')")
    operator_call(db.admin, "select api.set_team_policy('t1', null, 1000, null)")
    operator_call(db.admin, "select api.set_cache_policy('t1', 'exact')")
    key = operator_call(db.admin, "select key from api.issue_key('t1', 'k')")[0][0]
    limited = operator_call(db.admin, "select id, key from api.issue_key('t1', 'limited')")[0]
    operator_call(db.admin, "select api.set_key_limits(%s, 5, null)", (limited[0],))
    proxy, url = proxied_redis(redis_url)
    app = create_app(db.app, url, gateway_config=load_config(env={}, mock_provider_url=mock_url))
    try:
        with serving(app) as base, httpx.Client(base_url=base, timeout=10) as client:
            headers = {"authorization": f"Bearer {key}"}
            assert (
                client.post("/v1/chat/completions", json=BODY, headers=headers).status_code == 200
            )
            proxy.down()
            started = time.monotonic()
            codes = [
                client.post("/v1/chat/completions", json=BODY, headers=headers).status_code
                for _ in range(200)
            ]
            elapsed = time.monotonic() - started
            served = codes.count(200) / len(codes)
            assert served >= 0.99, codes
            assert elapsed < 20  # a breaker, not a timeout per request
            # The limits still hold, per process, while Redis is away.
            limited_headers = {"authorization": f"Bearer {limited[1]}"}
            limited_codes = [
                client.post("/v1/chat/completions", json=BODY, headers=limited_headers).status_code
                for _ in range(7)
            ]
            assert limited_codes == [200] * 5 + [429] * 2
            proxy.up()
            time.sleep(1.2)  # the breaker lets one request probe Redis again
            response = client.post("/v1/chat/completions", json=BODY, headers=headers)
            assert response.status_code == 200
    finally:
        proxy.close()
    warnings = [r.getMessage() for r in caplog.records if r.name == "aigw.gateway"]
    assert sum("redis unavailable" in w for w in warnings) == 1
    assert any("redis is back" in w for w in warnings)


def test_a_provider_storm_costs_few_extra_attempts(gateway):
    httpx.post(f"{gateway.mock_url}/_mock/faults", json={"fault": "status=503", "count": 10_000})
    before = gateway.mock.requests
    headers = {"authorization": f"Bearer {gateway.key}"}
    started = time.monotonic()
    codes = [
        httpx.post(f"{gateway.url}/v1/chat/completions", json=BODY, headers=headers).status_code
        for _ in range(100)
    ]
    elapsed = time.monotonic() - started
    attempts = gateway.mock.requests - before
    assert set(codes) <= {502, 503}
    assert attempts <= 1.2 * len(codes), attempts
    assert elapsed < 30  # every client answered well within its timeout


def test_metrics_count_requests_tokens_cache_and_overhead(gateway):
    headers = {"authorization": f"Bearer {gateway.key}"}
    for _ in range(3):
        httpx.post(f"{gateway.url}/v1/chat/completions", json=BODY, headers=headers)
    httpx.post(f"{gateway.url}/v1/chat/completions", json=BODY)  # 401
    time.sleep(0.3)  # events are counted as they are emitted, after the answer
    text = httpx.get(f"{gateway.url}/metrics").text
    samples = {
        line.rsplit(" ", 1)[0]: float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line and not line.startswith("#")
    }
    ok = 'aigw_requests_total{endpoint="/v1/chat/completions",model="gpt-4o",status="200"}'
    assert samples[ok] == 3
    refused = 'aigw_requests_total{endpoint="/v1/chat/completions",model="",status="401"}'
    assert samples[refused] == 1
    assert samples['aigw_tokens_total{direction="output",model="gpt-4o"}'] > 0
    assert samples['aigw_cache_total{status="bypass"}'] == 3  # the 401 never reached it
    overhead = 'aigw_overhead_seconds_count{endpoint="/v1/chat/completions"}'
    assert samples[overhead] == 3
    assert samples['aigw_dependency_up{dependency="redis"}'] == 1
    assert gateway.key not in text

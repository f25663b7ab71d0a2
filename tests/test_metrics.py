"""/metrics: bounded whatever callers send, and readable only by whoever should scrape it."""

import random
import string

import httpx

from api.app import create_app
from api.gateway.metrics import may_scrape
from tests.helpers import serving


def test_no_caller_can_grow_or_break_the_metrics(gateway):
    headers = {"authorization": f"Bearer {gateway.key}"}
    hello = [{"role": "user", "content": "hi"}]
    httpx.post(
        f"{gateway.url}/v1/chat/completions",
        json={"model": "gpt-4o", "messages": hello},
        headers=headers,
    )
    before = httpx.get(f"{gateway.url}/metrics")
    assert before.status_code == 200
    rng = random.Random(7)
    with httpx.Client(timeout=30) as client:
        for _ in range(300):
            model = "".join(rng.choices(string.ascii_letters + "\x01\x7f\u00e9\u202e", k=20_000))
            response = client.post(
                f"{gateway.url}/v1/chat/completions",
                json={"model": model, "messages": hello},
                headers=headers,
            )
            assert response.status_code == 404
        # A lone surrogate, an unknown endpoint's events, an alias: all bounded.
        client.post(
            f"{gateway.url}/anthropic/v1/messages",
            content=b'{"model": "\\ud800", "max_tokens": 5, "messages": []}',
            headers={"x-api-key": gateway.key},
        )
        client.post(
            f"{gateway.url}/v1/chat/completions",
            json={"model": "gpt4o", "messages": hello},  # an alias of gpt-4o
            headers=headers,
        )
    after = httpx.get(f"{gateway.url}/metrics")
    assert after.status_code == 200
    assert len(after.content) - len(before.content) < 16_000, len(after.content)
    assert 'model="other"' in after.text
    assert 'aigw_requests_total{endpoint="/v1/chat/completions",model="gpt-4o",status="200"}' in (
        after.text
    )
    assert "\x01" not in after.text and "\u202e" not in after.text


def test_with_a_metrics_token_only_its_bearer_reads_the_metrics(db, redis_url, monkeypatch):
    monkeypatch.setenv("AIGW_METRICS_TOKEN", "scrape-secret-42")
    with serving(create_app(db.app, redis_url)) as base:
        missing = httpx.get(f"{base}/metrics")
        wrong = httpx.get(f"{base}/metrics", headers={"authorization": "Bearer nope"})
        right = httpx.get(f"{base}/metrics", headers={"authorization": "Bearer scrape-secret-42"})
    assert missing.status_code == wrong.status_code == 401
    assert missing.json()["error"]["code"] == "metrics_token_required"
    assert right.status_code == 200 and "aigw_requests" in right.text


def test_without_a_token_only_this_host_may_scrape():
    assert may_scrape("127.0.0.1", None, None) and may_scrape("::1", None, None)
    assert not may_scrape("10.1.2.3", None, None)
    assert not may_scrape("203.0.113.9", "Bearer anything", None)
    assert not may_scrape(None, None, None) and not may_scrape("not-an-ip", None, None)
    # With a token, the address does not matter: the token does.
    assert not may_scrape("127.0.0.1", None, "t0k3n")
    assert may_scrape("10.1.2.3", "Bearer t0k3n", "t0k3n")

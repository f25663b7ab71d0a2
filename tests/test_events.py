"""The durable event log: every request becomes one row of events.requests, through
outages of the database, never twice."""

import time
import uuid
from dataclasses import replace

import httpx
import pytest

from api.app import create_app
from api.events import writer as writer_module
from api.events.writer import EventWriter
from api.gateway.accounting import RequestEvent
from api.gateway.config import load_config
from tests.faults import proxied_postgres
from tests.helpers import operator_call, serving


def event(**kw) -> RequestEvent:
    base = RequestEvent(
        request_id="req_" + uuid.uuid4().hex,
        endpoint="/v1/chat/completions",
        wire="openai",
        status=200,
        started_at=time.time(),
        model_requested="gpt-4o",
        model_served="gpt-4o",
        input_tokens=1000,
        output_tokens=500,
    )
    return replace(base, **kw)


def recorded(db) -> list[tuple]:
    return operator_call(db.admin, "select request_id, status, cost_usd from events.requests")


def wait_for_rows(db, count: int, timeout: float = 10) -> list[tuple]:
    deadline = time.monotonic() + timeout
    while True:
        rows = recorded(db)
        if len(rows) >= count or time.monotonic() > deadline:
            return rows
        time.sleep(0.05)


async def test_events_are_written_once_and_priced(db, tmp_path):
    writer = EventWriter(db.app, tmp_path)
    await writer.start()
    events = [event() for _ in range(1200)]  # more than one batch
    for e in events:
        writer.emit(e)
    writer.emit(events[0])  # the same request again: not counted twice
    await writer.flush()
    await writer.stop()
    rows = recorded(db)
    assert len(rows) == 1200
    assert {r[0] for r in rows} == {e.request_id for e in events}
    price = operator_call(db.admin, "select policy.cost_usd('gpt-4o', 1000, 500, 0)")[0][0]
    assert {r[2] for r in rows} == {price}


async def test_events_wait_through_an_outage_and_arrive_once(db, tmp_path, monkeypatch):
    monkeypatch.setattr(writer_module, "MEMORY_LIMIT", 100)  # so some wait on disk
    proxy, url = proxied_postgres(db.app)
    try:
        writer = EventWriter(url, tmp_path)
        await writer.start()
        writer.emit(event())
        await writer.flush()
        proxy.down()
        sent = [event(status=s) for s in [200, 401, 429, 503] * 75]
        for e in sent:
            writer.emit(e)
        await writer.flush()  # cannot: the database is away
        assert len(recorded(db)) == 1
        assert writer.spool.exists() and len(writer.queue) <= 100
        proxy.up()
        await writer.flush()
        rows = recorded(db)
        assert len(rows) == 301 and len({r[0] for r in rows}) == 301
        await writer.stop()
    finally:
        proxy.close()


async def test_a_writer_stopped_while_the_database_is_away_sends_its_spool_next_time(db, tmp_path):
    proxy, url = proxied_postgres(db.app)
    try:
        first = EventWriter(url, tmp_path)
        await first.start()
        proxy.down()
        for _ in range(50):
            first.emit(event())
        await first.stop(timeout_s=0.5)
        assert first.spool.exists()
        proxy.up()
        second = EventWriter(url, tmp_path)
        await second.start()
        await second.flush()
        await second.stop()
        assert len(recorded(db)) == 50
        assert not second.spool.exists()
    finally:
        proxy.close()


async def test_a_malformed_event_is_refused_and_the_rest_recorded(db, tmp_path):
    writer = EventWriter(db.app, tmp_path)
    await writer.start()
    good = [event() for _ in range(3)]
    writer.emit(good[0])
    writer.emit(event(status=None))  # status is required
    writer.emit(good[1])
    writer.emit(good[2])
    await writer.flush()
    await writer.stop()
    assert {r[0] for r in recorded(db)} == {e.request_id for e in good}
    assert writer.rejected == 1


@pytest.fixture
def gateway_writing_events(db, redis_url, mock_upstream, tmp_path):
    """A gateway with the default, durable event sink, its database behind a fault proxy."""
    mock_url, _ = mock_upstream
    proxy, url = proxied_postgres(db.app)
    operator_call(db.admin, "select api.create_team('t1')")
    key = operator_call(db.admin, "select key from api.issue_key('t1', 'k')")[0][0]
    app = create_app(
        url,
        redis_url,
        gateway_config=load_config(env={}, mock_provider_url=mock_url),
        spool_dir=tmp_path,
    )
    try:
        with serving(app) as served:
            yield served, key, proxy, app
    finally:
        proxy.close()


def test_through_a_database_outage_every_answered_request_is_recorded_once(
    db, gateway_writing_events
):
    url, key, proxy, app = gateway_writing_events
    headers = {"authorization": f"Bearer {key}"}
    body = {"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]}
    statuses = []
    for _ in range(20):
        statuses.append(httpx.post(f"{url}/v1/chat/completions", json=body, headers=headers))
    statuses.append(httpx.post(f"{url}/v1/chat/completions", json=body))  # 401
    proxy.down()
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline:  # before and after cached principals expire
        statuses.append(httpx.post(f"{url}/v1/chat/completions", json=body, headers=headers))
        time.sleep(0.05)
    proxy.up()
    for _ in range(10):
        statuses.append(httpx.post(f"{url}/v1/chat/completions", json=body, headers=headers))
    codes = [r.status_code for r in statuses]
    assert 200 in codes and 401 in codes and 503 in codes  # refusals are events too
    rows = wait_for_rows(db, len(statuses), timeout=15)
    assert len(rows) == len(statuses)
    assert len({r[0] for r in rows}) == len(rows)
    assert sorted(r[1] for r in rows) == sorted(codes)


async def test_a_cache_hit_is_free_and_records_what_it_saved(db, tmp_path):
    writer = EventWriter(db.app, tmp_path)
    await writer.start()
    hit = event(input_tokens=0, output_tokens=0, cost_usd=0.0, cache="hit-exact")
    hit.saved_input_tokens, hit.saved_output_tokens = 1000, 500
    writer.emit(hit)
    await writer.flush()
    await writer.stop()
    row = operator_call(db.admin, "select cost_usd, saved_usd, cache from events.requests")[0]
    price = operator_call(db.admin, "select policy.cost_usd('gpt-4o', 1000, 500, 0)")[0][0]
    assert row == (0, price, "hit-exact")


async def test_concurrent_flushes_neither_lose_nor_double(db, tmp_path):
    import asyncio

    writer = EventWriter(db.app, tmp_path)
    await writer.start()
    events = [event() for _ in range(2000)]
    for e in events:
        writer.emit(e)
    await asyncio.gather(writer.flush(), writer.flush(), writer.flush())
    await writer.stop()
    assert {r[0] for r in recorded(db)} == {e.request_id for e in events}
    assert writer.written == 2000

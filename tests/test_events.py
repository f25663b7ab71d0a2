"""The durable event log: every request becomes one row of events.requests, through
outages of the database, never twice. Events travel by the default transport: the
writer queues them in events.queue and the event consumer records them."""

import asyncio
import json
import os
import signal
import socket
import subprocess
import time
import uuid
from collections import Counter
from dataclasses import replace
from urllib.parse import urlsplit

import httpx
import pytest

from api.app import create_app
from api.events import writer as writer_module
from api.events.transports import RequestLogTransport
from api.events.writer import EventWriter
from api.gateway.accounting import RequestEvent
from api.gateway.config import load_config
from jobs import event_consumer
from jobs.event_consumer import PostgresQueue, consume_waiting
from tests.faults import proxied_postgres
from tests.helpers import AIGW, operator_call, serving


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


async def consume(db) -> int:
    """Run the event consumer over what is queued now."""
    queue, log = PostgresQueue(db.app), RequestLogTransport(db.app)
    try:
        return await consume_waiting(queue, log)
    finally:
        await queue.close()
        await log.close()


def queued(db) -> list[tuple]:
    return operator_call(
        db.admin, "select event->>'request_id', dead_letter_reason from events.queue"
    )


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
    assert len(queued(db)) == 1201
    assert await consume(db) == 1201
    rows = recorded(db)
    assert queued(db) == []
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
        await consume(db)
        proxy.down()
        sent = [event(status=s) for s in [200, 401, 429, 503] * 75]
        for e in sent:
            writer.emit(e)
        await writer.flush()  # cannot: the database is away
        assert await consume(db) == 0 and len(recorded(db)) == 1
        assert writer.spool.exists() and len(writer.queue) <= 100
        proxy.up()
        await writer.flush()
        await consume(db)
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
        await consume(db)
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
    assert await consume(db) == 3
    assert {r[0] for r in recorded(db)} == {e.request_id for e in good}
    # the malformed one is set aside in the queue with the reason, not lost
    ((request_id, reason),) = queued(db)
    assert request_id not in {e.request_id for e in good}
    assert "NotNullViolation" in reason
    assert await consume(db) == 0  # and not tried again


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


@pytest.mark.timeout(120)
def test_through_a_database_outage_teams_without_a_budget_are_served_and_all_recorded(
    db, gateway_writing_events
):
    url, key, proxy, app = gateway_writing_events
    operator_call(db.admin, "select api.create_team('t2')")
    operator_call(db.admin, "select api.set_budget('t2', 'month', 100)")
    budget_key = operator_call(db.admin, "select key from api.issue_key('t2', 'k')")[0][0]
    free, budgeted = {"authorization": f"Bearer {key}"}, {"authorization": f"Bearer {budget_key}"}
    body = {"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]}
    answers: list[tuple[str, str, int]] = []  # (phase, team, status)
    late: list[int] = []  # the budgeted team's answers past the lease's 10 s

    def send(client, phase: str, since: float | None = None) -> None:
        for team, headers in (("free", free), ("budget", budgeted)):
            status = client.post(f"{url}/v1/chat/completions", json=body, headers=headers)
            answers.append((phase, team, status.status_code))
            if team == "budget" and since is not None and time.monotonic() - since > 11:
                late.append(status.status_code)

    with httpx.Client(timeout=30) as client:
        for _ in range(10):
            send(client, "before")
        answers.append(
            ("before", "nobody", client.post(f"{url}/v1/chat/completions", json=body).status_code)
        )
        proxy.down()
        down = time.monotonic()
        deadline = down + 20  # far past the one second cached principals had
        while time.monotonic() < deadline:
            send(client, "outage", since=down)
            time.sleep(0.05)
        proxy.up()
        time.sleep(1.5)  # the gateway finds the database again
        for _ in range(10):
            send(client, "after")

    def statuses(phase: str, team: str) -> list[int]:
        return [s for p, t, s in answers if p == phase and t == team]

    assert statuses("before", "free") == statuses("before", "budget") == [200] * 10
    assert statuses("before", "nobody") == [401]
    outage_free = statuses("outage", "free")
    assert len(outage_free) > 100
    assert outage_free.count(200) / len(outage_free) >= 0.99, Counter(outage_free)
    # The budgeted team is served from what its gateway had leased, for at most 10 s,
    # then refused: money is never spent unaccounted.
    assert set(statuses("outage", "budget")) <= {200, 503}
    assert late and set(late) == {503}
    assert statuses("after", "free") == statuses("after", "budget") == [200] * 10
    rows = wait_for_rows(db, len(answers), timeout=30)
    assert len(rows) == len(answers)  # every answered request recorded, once
    assert len({r[0] for r in rows}) == len(rows)
    assert sorted(r[1] for r in rows) == sorted(s for _, _, s in answers)


def test_the_stale_window_is_bounded(db, gateway_writing_events):
    """Past AIGW_AUTH_STALE_S a cached principal is no longer served while the database is
    away: an outage cannot keep a key alive for ever (it may have been revoked)."""
    url, key, proxy, app = gateway_writing_events
    authenticator = app.state.gateway.authenticator
    authenticator.stale_s = 2.0
    headers = {"authorization": f"Bearer {key}"}
    body = {"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]}
    assert httpx.post(f"{url}/v1/chat/completions", json=body, headers=headers).status_code == 200
    proxy.down()
    time.sleep(1.5)
    assert httpx.post(f"{url}/v1/chat/completions", json=body, headers=headers).status_code == 200
    time.sleep(1.5)
    late = httpx.post(f"{url}/v1/chat/completions", json=body, headers=headers)
    assert late.status_code == 503 and late.json()["error"]["code"] == "authentication_unavailable"
    proxy.up()


async def test_a_cache_hit_is_free_and_records_what_it_saved(db, tmp_path):
    writer = EventWriter(db.app, tmp_path)
    await writer.start()
    hit = event(input_tokens=0, output_tokens=0, cost_usd=0.0, cache="hit-exact")
    hit.saved_input_tokens, hit.saved_output_tokens = 1000, 500
    writer.emit(hit)
    await writer.flush()
    await writer.stop()
    await consume(db)
    row = operator_call(db.admin, "select cost_usd, saved_usd, cache from events.requests")[0]
    price = operator_call(db.admin, "select policy.cost_usd('gpt-4o', 1000, 500, 0)")[0][0]
    assert row == (0, price, "hit-exact")


async def test_concurrent_flushes_neither_lose_nor_double(db, tmp_path):
    writer = EventWriter(db.app, tmp_path)
    await writer.start()
    events = [event() for _ in range(2000)]
    for e in events:
        writer.emit(e)
    await asyncio.gather(writer.flush(), writer.flush(), writer.flush())
    await writer.stop()
    await consume(db)
    assert {r[0] for r in recorded(db)} == {e.request_id for e in events}
    assert writer.written == 2000


async def queue_events(db, tmp_path, count: int) -> list[RequestEvent]:
    writer = EventWriter(db.app, tmp_path)
    await writer.start()
    events = [event() for _ in range(count)]
    for e in events:
        writer.emit(e)
    await writer.stop()
    return events


async def test_consumers_in_parallel_share_the_queue_and_record_each_event_once(db, tmp_path):
    events = await queue_events(db, tmp_path, 3000)
    counts = await asyncio.gather(*(consume(db) for _ in range(3)))
    assert sum(counts) == 3000  # SKIP LOCKED: no event claimed by two consumers
    rows = recorded(db)
    assert sorted(r[0] for r in rows) == sorted(e.request_id for e in events)
    assert queued(db) == []


async def test_a_consumer_that_dies_mid_batch_leaves_its_events_to_the_next(db, tmp_path):
    events = await queue_events(db, tmp_path, 40)
    dying = PostgresQueue(db.app)
    claimed = await dying.receive(25, 0)
    assert len(claimed) == 25
    # another consumer skips the held rows and records the rest
    assert await consume(db) == 15
    dying.reset()  # the process is gone: its connection, claim and locks with it
    assert await consume(db) == 25
    rows = recorded(db)
    assert sorted(r[0] for r in rows) == sorted(e.request_id for e in events)


async def test_events_stay_queued_while_the_request_log_cannot_take_them(db, tmp_path):
    events = await queue_events(db, tmp_path, 10)
    queue = PostgresQueue(db.app)
    away = RequestLogTransport("postgresql://aigw_app@127.0.0.1:1/nowhere")
    batch = await queue.receive(100, 0)
    with pytest.raises(event_consumer.TransportUnavailable):
        await event_consumer.consume_batch(queue, away, batch)
    await queue.close()
    assert len(queued(db)) == 10 and recorded(db) == []
    assert await consume(db) == 10
    assert {r[0] for r in recorded(db)} == {e.request_id for e in events}


async def test_a_waiting_consumer_wakes_when_events_arrive(db, tmp_path):
    queue = PostgresQueue(db.app)
    try:
        assert await queue.receive(10, 0) == []
        waiting = asyncio.create_task(queue.receive(10, 60))
        await asyncio.sleep(0.2)
        assert not waiting.done()
        started = time.monotonic()
        await queue_events(db, tmp_path, 3)
        batch = await asyncio.wait_for(waiting, 30)
        assert len(batch) == 3
        assert time.monotonic() - started < 30  # the notification, not the 60 s timeout
        await queue.abandon(batch)
    finally:
        await queue.close()


def test_aigw_events_consume_records_the_queue_until_stopped(db, tmp_path):
    environment = {
        k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL", "AIGW_ENV")
    }
    environment.update({"DATABASE_URL": db.admin, "AIGW_APP_DATABASE_URL": db.app})
    consumer = subprocess.Popen(
        [*AIGW, "events", "consume"],
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        events = asyncio.run(queue_events(db, tmp_path, 50))
        rows = wait_for_rows(db, 50, timeout=30)
        assert sorted(r[0] for r in rows) == sorted(e.request_id for e in events)
        # the batch leaves the queue when the consumer's claim commits, just after
        deadline = time.monotonic() + 10
        while queued(db) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert queued(db) == []
    finally:
        consumer.send_signal(signal.SIGINT)
        output, _ = consumer.communicate(timeout=30)
    assert consumer.returncode == 0, output
    assert "event queue" in output


def metric(url: str, name: str) -> float:
    for line in httpx.get(f"{url}/metrics").text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    raise AssertionError(f"{name} not in /metrics")


def test_with_an_external_consumer_the_gateway_only_queues(
    db, redis_url, mock_upstream, tmp_path, monkeypatch
):
    monkeypatch.setenv("AIGW_EVENTS_CONSUMER", "external")
    mock_url, _ = mock_upstream
    operator_call(db.admin, "select api.create_team('t1')")
    key = operator_call(db.admin, "select key from api.issue_key('t1', 'k')")[0][0]
    app = create_app(
        db.app,
        redis_url,
        gateway_config=load_config(env={}, mock_provider_url=mock_url),
        spool_dir=tmp_path,
    )
    body = {"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]}
    with serving(app) as url:
        for _ in range(5):
            answer = httpx.post(
                f"{url}/v1/chat/completions", json=body, headers={"authorization": f"Bearer {key}"}
            )
            assert answer.status_code == 200
        deadline = time.monotonic() + 10
        while len(queued(db)) < 5 and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(1)  # nothing in the gateway records them
        assert len(queued(db)) == 5 and recorded(db) == []
        assert metric(url, "aigw_events_queued") == 5
        assert asyncio.run(consume(db)) == 5
        assert metric(url, "aigw_events_queued") == 0
    assert len(recorded(db)) == 5


ODD_TEXTS = {
    "NUL": "a\x00b",
    "control characters": "\x01\x07\x1b[31m\x7f\x85",
    "a lone surrogate": "\ud800",
    "a reversed surrogate pair": "\udc00\ud800",
    "a 1 MB string": "m" * 1_000_000,
    "non-ASCII": "模型 \u200d🤖",
}


def odd_body(value: str) -> bytes:
    """JSON as a client may send it: json.dumps writes a lone surrogate as \\ud800."""
    return json.dumps(
        {
            "model": value,
            "messages": [{"role": "user", "content": value}],
            "max_tokens": 5,
            "metadata": {"session_id": value, "user_id": f"user_x_session_{value}"},
        }
    ).encode()


def test_nothing_a_request_carries_keeps_it_out_of_the_event_log(db, gateway_writing_events):
    url, key, _, _ = gateway_writing_events
    sent = 0
    with httpx.Client(timeout=30) as client:
        for value in ODD_TEXTS.values():
            for path, auth in (
                ("/v1/chat/completions", {"authorization": f"Bearer {key}"}),
                ("/anthropic/v1/messages", {"x-api-key": key}),
            ):
                response = client.post(
                    f"{url}{path}",
                    content=odd_body(value),
                    headers={**auth, "content-type": "application/json"},
                )
                assert response.status_code in (400, 404), response.text
                sent += 1
                # The same value as the session of a request for a known model.
                good = json.loads(odd_body("gpt-4o"))
                good["metadata"]["session_id"] = value
                response = client.post(
                    f"{url}{path}",
                    content=json.dumps(good).encode(),
                    headers={**auth, "content-type": "application/json"},
                )
                # Strict JSON has no lone surrogates: that body is refused, and recorded.
                strict = not any("\ud800" <= c <= "\udfff" for c in value)
                assert response.status_code == (200 if strict else 400), response.text
                sent += 1
    # Header bytes HTTP lets a client send (obs-text: read as Latin-1, C1 controls among
    # them), and 8 KB of them; the HTTP parser itself refuses NUL, DEL and other controls.
    for value in (b"\x80\x85\x9f\xff", b"\xc3\xa9t\xc3\xa9", b"s" * 8000):
        with socket.create_connection(urlsplit(url)[1].split(":")) as raw:  # type: ignore[arg-type]
            body = json.dumps({"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]})
            raw.sendall(
                b"POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\nconnection: close\r\n"
                b"authorization: Bearer " + key.encode() + b"\r\n"
                b"x-aigw-session-id: " + value + b"\r\n"
                b"content-type: application/json\r\n"
                b"content-length: " + str(len(body)).encode() + b"\r\n\r\n" + body.encode()
            )
            answer = raw.recv(65536)
        assert answer.startswith(b"HTTP/1.1 200"), answer[:200]
        sent += 1
    rows = wait_for_rows(db, sent, timeout=20)
    assert len(rows) == sent  # every request recorded: none dropped for its content
    assert operator_call(db.admin, "select count(*) from events.queue") == [(0,)]
    stored = operator_call(
        db.admin, "select model_requested, session_id from events.requests order by started_at"
    )
    for model, session in stored:
        for text in (model, session):
            assert text is None or (len(text) <= 256 and "\x00" not in text), repr(text)[:80]
    assert any(s and "\ufffd" in s for _, s in stored)  # replaced, not dropped
    assert ("模型 \u200d🤖", "模型 \u200d🤖") in stored or any(
        m == "模型 \u200d🤖" for m, _ in stored
    )


async def test_an_event_with_unrecordable_text_is_scrubbed_by_the_writer_not_dropped(db, tmp_path):
    # Capture cleans every text; the writer still never drops an event for its content.
    writer = EventWriter(db.app, tmp_path)
    await writer.start()
    odd = event(model_requested="gpt\x00-4o\ud800", session_id="s" * 10_000 + "\x00")
    fine = event()
    writer.emit(odd)
    writer.emit(fine)
    await writer.flush()
    await writer.stop()
    assert writer.rejected == 0
    assert await consume(db) == 2
    rows = operator_call(
        db.admin, "select request_id, model_requested, length(session_id) from events.requests"
    )
    assert sorted(rows) == sorted(
        [(odd.request_id, "gpt\ufffd-4o\ufffd", 4096), (fine.request_id, "gpt-4o", None)]
    )

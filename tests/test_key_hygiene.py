"""No issued key ever appears in a log line, an error body, a database column or Redis,
whatever traffic the gateway sees (valid, mistyped, revoked, streamed, cached)."""

import logging

import anthropic
import httpx
import openai
import redis

from api.events.writer import EventWriter
from tests.helpers import operator_call


async def record_events(gateway, tmp_path) -> int:
    """What the gateway emitted, through the durable writer into events.requests."""
    writer = EventWriter(gateway.db.app, tmp_path)
    await writer.start()
    for event in list(gateway.events.events):
        writer.emit(event)
    await writer.flush()
    await writer.stop()
    return writer.written


async def test_keys_appear_nowhere(gateway, redis_url, caplog, tmp_path):
    caplog.set_level(logging.DEBUG)
    operator_call(gateway.db.admin, "select api.set_cache_policy('t1', 'semantic')")
    revoked_id, revoked = operator_call(
        gateway.db.admin, "select id, key from api.issue_key('t1', 'old')"
    )[0]
    operator_call(gateway.db.admin, "select api.revoke_key(%s)", (revoked_id,))
    key = gateway.key
    keys = [key, revoked]
    mistyped = key[:-1] + ("A" if key[-1] != "A" else "B")
    bodies: list[str] = []

    client = openai.OpenAI(base_url=f"{gateway.url}/v1", api_key=key, max_retries=0)
    messages = [{"role": "user", "content": "Summarise this quarter in one sentence."}]
    for _ in range(2):  # a miss, then a cache hit
        client.chat.completions.create(model="gpt-4o", messages=messages, temperature=0)
    list(client.chat.completions.create(model="gpt-4o", messages=messages, stream=True))
    client.embeddings.create(model="text-embedding-3-small", input="x")
    anthropic.Anthropic(
        base_url=f"{gateway.url}/anthropic", api_key=key, max_retries=0
    ).messages.create(model="claude-sonnet-4-6", max_tokens=20, messages=messages)

    url = f"{gateway.url}/v1/chat/completions"
    body = {"model": "gpt-4o", "messages": messages}
    for presented in (mistyped, revoked, key[:20], key + "x", f"Bearer {key}"):
        for headers in ({"authorization": f"Bearer {presented}"}, {"x-api-key": presented}):
            bodies.append(httpx.post(url, json=body, headers=headers).text)
    bodies.append(
        httpx.post(
            f"{gateway.url}/anthropic/v1/messages",
            json={"model": "nope", "max_tokens": 1, "messages": messages},
            headers={"x-api-key": key},
        ).text
    )
    bodies.append(httpx.post(url, content=b"{not json", headers={"authorization": key}).text)

    assert await record_events(gateway, tmp_path) >= 15

    secrets = [*keys, mistyped]
    secrets += [s.removeprefix("sk-aigw-") for s in secrets]
    logged = "\n".join(r.getMessage() + " " + str(r.args) for r in caplog.records)
    assert caplog.records  # debug logging did capture the traffic
    for secret in secrets:
        assert secret not in logged
        assert all(secret not in b for b in bodies)

    tables = operator_call(
        gateway.db.admin,
        "select format('%%I.%%I', schemaname, tablename) from pg_tables "
        "where schemaname in ('iam', 'policy', 'cache', 'events', 'meta')",
    )
    assert len(tables) >= 15
    for (table,) in tables:
        dump = "\n".join(
            r[0] for r in operator_call(gateway.db.admin, f"select t::text from {table} t")
        )
        for secret in secrets:
            assert secret not in dump, table

    r = redis.Redis.from_url(redis_url)
    stored = []
    for name in r.scan_iter(count=1000):
        stored.append(name.decode(errors="replace"))
        if r.type(name) == b"string":
            stored.append(r.get(name).decode(errors="replace"))
    r.close()
    assert stored  # rate limits and the cache are in there
    dumped = "\n".join(stored)
    for secret in secrets:
        assert secret not in dumped

"""The response cache through the real gateway: Redis (exact), PostgreSQL + pgvector
(semantic), the mock provider counting what reaches it, the official SDKs as clients."""

import asyncio
import concurrent.futures
import time

import anthropic
import httpx
import openai
import psycopg
import pytest
import redis.asyncio as redis

from tests.helpers import operator_call

QUESTION = [{"role": "user", "content": "Summarise this quarter in one sentence."}]
PARAPHRASE = [{"role": "user", "content": "Please summarize this quarter in one sentence"}]
NEAR_MISS = [{"role": "user", "content": "Summarise last quarter in one sentence."}]


def oa(gw, key=None) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{gw.url}/v1", api_key=key or gw.key, max_retries=0)


def an(gw, key=None) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=f"{gw.url}/anthropic", api_key=key or gw.key, max_retries=0)


def set_policy(gw, team="t1", mode="exact", scope="team", ttl=3600, threshold=0.9, **kw):
    operator_call(
        gw.db.admin,
        "select api.set_cache_policy(%s, %s, %s, %s, %s, %s, %s)",
        (
            team,
            mode,
            scope,
            ttl,
            threshold,
            kw.get("max_temperature", 1.0),
            kw.get("tool_turns", False),
        ),
    )
    wait_for_policy(gw)


def wait_for_policy(gw) -> None:
    """The gateway learns of policy changes by NOTIFY, which drops its principal cache."""
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline:
        if not gw.gateway.authenticator._cache:
            return
        time.sleep(0.01)


def chat(gw, messages, key=None, headers=None, **params) -> httpx.Response:
    body = {"model": "gpt-4o", "messages": messages, **params}
    return httpx.post(
        f"{gw.url}/v1/chat/completions",
        json=body,
        headers={"authorization": f"Bearer {key or gw.key}", **(headers or {})},
        timeout=30,
    )


def settle(gw) -> None:
    """Let background stores finish: they run after the answer has been sent."""
    deadline = time.monotonic() + 5
    time.sleep(0.02)
    while gw.gateway.cache._background or gw.gateway._background:
        assert time.monotonic() < deadline
        time.sleep(0.01)


def upstream_calls(gw) -> int:
    return gw.mock.by_path.get("/chat/completions", 0) + gw.mock.by_path.get(
        "/v1/chat/completions", 0
    )


def test_with_the_cache_off_every_request_goes_to_the_provider(gateway):
    first, second = chat(gateway, QUESTION), chat(gateway, QUESTION)
    assert first.headers["x-aigw-cache"] == second.headers["x-aigw-cache"] == "bypass"
    assert upstream_calls(gateway) == 2


def test_an_identical_request_is_answered_from_redis(gateway):
    set_policy(gateway, mode="exact")
    first = chat(gateway, QUESTION, temperature=0)
    settle(gateway)
    second = chat(gateway, QUESTION, temperature=0)
    assert first.headers["x-aigw-cache"] == "miss"
    assert second.headers["x-aigw-cache"] == "hit-exact"
    assert second.json()["choices"] == first.json()["choices"]
    assert second.json()["id"] != first.json()["id"]
    assert upstream_calls(gateway) == 1


def test_answers_finishing_together_are_all_stored_with_their_ttl(gateway, redis_url):
    """Stores are written in pipelines of whatever is waiting: none may be lost."""
    set_policy(gateway, mode="exact", ttl=600)
    questions = [[{"role": "user", "content": f"Question number {i}?"}] for i in range(40)]
    with concurrent.futures.ThreadPoolExecutor(20) as pool:
        first = list(pool.map(lambda q: chat(gateway, q, temperature=0), questions))
    assert {r.headers["x-aigw-cache"] for r in first} == {"miss"}
    settle(gateway)
    with concurrent.futures.ThreadPoolExecutor(20) as pool:
        again = list(pool.map(lambda q: chat(gateway, q, temperature=0), questions))
    assert {r.headers["x-aigw-cache"] for r in again} == {"hit-exact"}
    assert [r.json()["choices"] for r in again] == [r.json()["choices"] for r in first]
    assert upstream_calls(gateway) == 40

    async def ttls() -> list[int]:
        client = redis.from_url(redis_url)
        keys = [key async for key in client.scan_iter(match="aigw:cache:*")]
        values = [await client.ttl(key) for key in keys]
        await client.aclose()
        return values

    stored = asyncio.run(ttls())
    assert len(stored) == 40 and all(0 < t <= 600 for t in stored)


@pytest.mark.parametrize(
    "change",
    [
        {"temperature": 0.5},
        {"top_p": 0.5},
        {"max_tokens": 7},
        {"seed": 42},
        {"stop": ["\n"]},
        {"response_format": {"type": "json_object"}},
        {"tools": [{"type": "function", "function": {"name": "f", "parameters": {}}}]},
        {"messages": [{"role": "system", "content": "Be terse."}, *QUESTION]},
        {"messages": [{"role": "user", "content": "Summarise this quarter in one sentence!"}]},
        {"model": "gpt-4o-mini"},
    ],
    ids=lambda c: next(iter(c)),
)
def test_any_change_that_can_change_the_answer_misses(gateway, change):
    set_policy(gateway, mode="exact")
    base = {"temperature": 0}
    assert chat(gateway, QUESTION, **base).headers["x-aigw-cache"] == "miss"
    settle(gateway)
    params = {**base, **change}
    messages = params.pop("messages", QUESTION)
    if "model" in params:
        response = httpx.post(
            f"{gateway.url}/v1/chat/completions",
            json={"messages": messages, **params},
            headers={"authorization": f"Bearer {gateway.key}"},
        )
    else:
        response = chat(gateway, messages, **params)
    assert response.status_code == 200, response.text
    assert response.headers["x-aigw-cache"] == "miss"
    # and what does not change the answer does not miss
    assert chat(gateway, QUESTION, user="someone", **base).headers["x-aigw-cache"] == "hit-exact"


def test_teams_never_share_entries_exact_or_semantic(gateway):
    set_policy(gateway, mode="semantic")
    operator_call(gateway.db.admin, "select api.create_team('t2')")
    set_policy(gateway, team="t2", mode="semantic")
    other_key = operator_call(gateway.db.admin, "select key from api.issue_key('t2', 'k2')")[0][0]
    chat(gateway, QUESTION, temperature=0)
    settle(gateway)
    assert chat(gateway, QUESTION, temperature=0).headers["x-aigw-cache"] == "hit-exact"
    assert chat(gateway, PARAPHRASE, temperature=0).headers["x-aigw-cache"] == "hit-semantic"
    # Team t2: the identical prompt and the paraphrase both miss.
    assert chat(gateway, QUESTION, key=other_key, temperature=0).headers["x-aigw-cache"] == "miss"
    settle(gateway)
    second = chat(gateway, PARAPHRASE, key=other_key, temperature=0)
    assert second.headers["x-aigw-cache"] == "hit-semantic"  # its own entry, just stored
    rows = operator_call(
        gateway.db.admin,
        "select t.name, count(*) from cache.semantic_entries e join iam.teams t on t.id = e.team_id "
        "group by t.name order by t.name",
    )
    assert rows == [("t1", 1), ("t2", 1)]


def test_row_level_security_hides_other_teams_entries_even_from_a_wrong_query(gateway):
    """The lookup's own WHERE names the team; RLS would hide the rows even if it did not."""
    set_policy(gateway, mode="semantic")
    chat(gateway, QUESTION, temperature=0)
    settle(gateway)
    t1 = operator_call(gateway.db.admin, "select id from iam.teams where name = 't1'")[0][0]
    operator_call(gateway.db.admin, "select api.create_team('t3')")
    t3 = operator_call(gateway.db.admin, "select id from iam.teams where name = 't3'")[0][0]
    for team, expected in ((t1, 1), (t3, 0), (None, 0)):
        with psycopg.connect(gateway.db.admin) as conn:
            conn.execute("set local role aigw_internal")
            if team:
                conn.execute("select set_config('aigw.cache_team', %s, true)", (str(team),))
            seen = conn.execute("select count(*) from cache.semantic_entries").fetchone()[0]
            assert seen == expected
            conn.rollback()


def test_semantic_hits_paraphrases_but_not_near_misses(gateway):
    set_policy(gateway, mode="semantic")
    first = chat(gateway, QUESTION, temperature=0)
    assert first.headers["x-aigw-cache"] == "miss"
    settle(gateway)
    hit = chat(gateway, PARAPHRASE, temperature=0)
    assert hit.headers["x-aigw-cache"] == "hit-semantic"
    assert hit.json()["choices"][0]["message"] == first.json()["choices"][0]["message"]
    # 0.93 similar, but "last" is not "this": the guard refuses it.
    assert chat(gateway, NEAR_MISS, temperature=0).headers["x-aigw-cache"] == "miss"
    # A different earlier conversation is a different context.
    other_context = [{"role": "system", "content": "Answer in French."}, *PARAPHRASE]
    assert chat(gateway, other_context, temperature=0).headers["x-aigw-cache"] == "miss"
    assert upstream_calls(gateway) == 3


def test_semantic_respects_the_temperature_bound_and_tool_turns(gateway):
    set_policy(gateway, mode="semantic", max_temperature=0.3)
    chat(gateway, QUESTION, temperature=0)
    settle(gateway)
    # Too hot (and no temperature means the provider default, 1.0): no semantic match.
    assert chat(gateway, PARAPHRASE, temperature=0.9).headers["x-aigw-cache"] == "miss"
    assert chat(gateway, PARAPHRASE).headers["x-aigw-cache"] == "miss"
    tool_turns = [
        *QUESTION,
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}
            ],
        },
        {"role": "tool", "tool_call_id": "c1", "content": "42"},
        {"role": "user", "content": "And in one sentence?"},
    ]
    chat(gateway, tool_turns, temperature=0)
    settle(gateway)
    count = operator_call(gateway.db.admin, "select count(*) from cache.semantic_entries")[0][0]
    assert count == 1  # the tool-turn conversation was not stored semantically


def test_client_cache_controls(gateway):
    set_policy(gateway, mode="exact")
    chat(gateway, QUESTION, temperature=0)
    settle(gateway)
    no_cache = chat(gateway, QUESTION, headers={"cache-control": "no-cache"}, temperature=0)
    assert no_cache.headers["x-aigw-cache"] == "bypass"
    no_store = chat(
        gateway, [{"role": "user", "content": "new"}], headers={"x-aigw-cache": "no-store"}
    )
    assert no_store.headers["x-aigw-cache"] == "bypass"
    settle(gateway)
    again = chat(gateway, [{"role": "user", "content": "new"}])
    assert again.headers["x-aigw-cache"] == "miss"  # no-store kept nothing
    # no-cache fetched a fresh answer and stored it: the next plain request hits
    assert chat(gateway, QUESTION, temperature=0).headers["x-aigw-cache"] == "hit-exact"
    assert upstream_calls(gateway) == 4


def test_streams_are_stored_when_complete_and_replayed_as_sse_both_ways(gateway):
    set_policy(gateway, mode="exact")
    client = oa(gateway)
    streamed = list(
        client.chat.completions.create(
            model="gpt-4o",
            messages=QUESTION,
            temperature=0,
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    text = "".join(c.choices[0].delta.content or "" for c in streamed if c.choices)
    settle(gateway)
    # The streamed answer serves a whole request…
    whole = client.chat.completions.with_raw_response.create(
        model="gpt-4o", messages=QUESTION, temperature=0
    )
    assert whole.headers["x-aigw-cache"] == "hit-exact"
    assert whole.parse().choices[0].message.content == text
    # …and a streaming one, as several chunks with usage when asked for.
    with client.chat.completions.with_streaming_response.create(
        model="gpt-4o",
        messages=QUESTION,
        temperature=0,
        stream=True,
        stream_options={"include_usage": True},
    ) as response:
        assert response.headers["x-aigw-cache"] == "hit-exact"
        chunks = list(response.parse())
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == text
    assert len([c for c in chunks if c.choices and c.choices[0].delta.content]) > 1
    assert chunks[-1].usage.completion_tokens == streamed[-1].usage.completion_tokens
    assert upstream_calls(gateway) == 1


def test_anthropic_sdk_whole_and_streamed_hits_with_tool_use(gateway):
    set_policy(gateway, mode="exact")
    client = an(gateway)
    params = {
        "model": "claude-sonnet-4-6",
        "max_tokens": 100,
        "messages": [{"role": "user", "content": "What is the weather? Use the get_weather tool"}],
        "tools": [{"name": "get_weather", "input_schema": {"type": "object", "properties": {}}}],
    }
    first = client.messages.create(**params)
    settle(gateway)
    with client.messages.stream(**params) as stream:
        events = list(stream)
        replayed = stream.get_final_message()
    assert [b.type for b in replayed.content] == [b.type for b in first.content]
    assert replayed.content == first.content
    assert replayed.stop_reason == first.stop_reason
    assert any(e.type == "content_block_delta" for e in events)
    raw = client.messages.with_raw_response.create(**params)
    assert raw.headers["x-aigw-cache"] == "hit-exact"
    assert raw.parse().content == first.content


def test_a_stream_cut_short_is_not_cached(gateway):
    set_policy(gateway, mode="exact")
    httpx.post(f"{gateway.mock_url}/_mock/faults", json={"fault": "cut-after=2", "count": 1})
    response = chat(gateway, QUESTION, temperature=0, stream=True)
    assert response.status_code == 200
    settle(gateway)
    assert chat(gateway, QUESTION, temperature=0).headers["x-aigw-cache"] == "miss"


def test_purge_retires_exact_and_semantic_entries_at_once(gateway):
    set_policy(gateway, mode="semantic")
    chat(gateway, QUESTION, temperature=0)
    settle(gateway)
    assert chat(gateway, QUESTION, temperature=0).headers["x-aigw-cache"] == "hit-exact"
    deleted = operator_call(gateway.db.admin, "select api.purge_cache('t1')")[0][0]
    assert deleted == 1
    wait_for_policy(gateway)
    assert chat(gateway, QUESTION, temperature=0).headers["x-aigw-cache"] == "miss"
    settle(gateway)
    assert chat(gateway, PARAPHRASE, temperature=0).headers["x-aigw-cache"] == "hit-semantic"


def test_hits_cost_nothing_and_savings_are_queryable(gateway):
    set_policy(gateway, mode="semantic")
    first = chat(gateway, QUESTION, temperature=0).json()
    settle(gateway)
    chat(gateway, QUESTION, temperature=0)
    chat(gateway, PARAPHRASE, temperature=0)
    chat(gateway, QUESTION, temperature=0, headers={"cache-control": "no-store"})
    settle(gateway)
    events = list(gateway.events.events)
    assert [e.cache for e in events] == ["miss", "hit-exact", "hit-semantic", "bypass"]
    for hit in events[1:3]:
        assert (hit.input_tokens, hit.output_tokens, hit.cost_usd) == (0, 0, 0.0)
        assert hit.saved_output_tokens == first["usage"]["completion_tokens"]
        assert hit.model_served == "gpt-4o"  # priced as that model's answer
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        rows = operator_call(gateway.db.admin, "select * from api.cache_stats('t1')")
        if rows and rows[0][1] == 4:
            break
        time.sleep(0.1)
    team, requests, exact, semantic, misses, bypasses, hit_rate, saved = rows[0]
    assert (team, requests, exact, semantic, misses, bypasses) == ("t1", 4, 1, 1, 1, 1)
    assert float(hit_rate) == pytest.approx(2 / 3, abs=1e-4)
    price = operator_call(
        gateway.db.admin,
        "select policy.cost_usd('gpt-4o', %s, %s, 0)",
        (first["usage"]["prompt_tokens"], first["usage"]["completion_tokens"]),
    )[0][0]
    assert float(saved) == pytest.approx(2 * float(price), rel=1e-6)


def test_an_unreachable_cache_is_a_miss_not_an_error(gateway, caplog):
    set_policy(gateway, mode="exact")
    cache = gateway.gateway.cache
    real = cache.redis
    cache.redis = redis.from_url("redis://127.0.0.1:1", socket_connect_timeout=0.2)  # nothing there
    try:
        answers = [chat(gateway, QUESTION, temperature=0) for _ in range(3)]
        settle(gateway)
    finally:
        cache.redis = real
    assert [r.status_code for r in answers] == [200] * 3
    assert [r.headers["x-aigw-cache"] for r in answers] == ["bypass"] * 3
    assert upstream_calls(gateway) == 3
    warnings = [r for r in caplog.records if "redis unavailable" in r.getMessage()]
    assert len(warnings) == 1  # once per outage, not per request


def test_errors_say_bypass_too(gateway):
    response = chat(gateway, QUESTION, key="sk-aigw-wrong")
    assert response.status_code == 401
    assert response.headers["x-aigw-cache"] == "bypass"
    bad = httpx.post(
        f"{gateway.url}/anthropic/v1/messages",
        json={"model": "claude-sonnet-4-6", "messages": []},
        headers={"x-api-key": gateway.key},
    )
    assert bad.status_code == 400 and bad.headers["x-aigw-cache"] == "bypass"


async def test_the_provider_embedder_goes_through_the_router(mock_upstream):
    from api.cache.embedder import DIMENSIONS, ProviderEmbedder
    from api.gateway.config import load_config
    from api.gateway.upstream import Upstream, upstream_session

    mock_url, state = mock_upstream
    config = load_config(env={}, mock_provider_url=mock_url)
    async with upstream_session() as http:
        embedder = ProviderEmbedder("text-embedding-3-small", Upstream(config, http))
        first = await embedder.embed("Summarise this quarter.")
        again = await embedder.embed("Summarise this quarter.")
        other = await embedder.embed("Something else entirely.")
    assert len(first) == DIMENSIONS
    assert sum(x * x for x in first) == pytest.approx(1, abs=1e-5)
    assert first == again != other
    assert embedder.name == "provider:text-embedding-3-small"
    assert state.by_path.get("/embeddings", 0) + state.by_path.get("/v1/embeddings", 0) == 3

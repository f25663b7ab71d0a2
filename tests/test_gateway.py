"""The inference gateway, driven by the official OpenAI and Anthropic SDKs through a real
server, against the mock provider."""

import dataclasses
import json
import socket
import sys
import time
from decimal import Decimal

import aiohttp
import anthropic
import httpx
import openai
import pydantic
import pytest

from api.app import create_app
from api.gateway import openai_api
from api.gateway.accounting import MemorySink
from api.gateway.config import load_config
from api.gateway.service import ascii_json_length
from tests.helpers import budgets_settled, operator_call, serving

TOOL_OPENAI = {
    "type": "function",
    "function": {"name": "get_weather", "parameters": {"type": "object", "properties": {}}},
}
TOOL_ANTHROPIC = {"name": "get_weather", "input_schema": {"type": "object", "properties": {}}}
HELLO = [{"role": "user", "content": "Hello there"}]
WEATHER = [{"role": "user", "content": "Use get_weather: Oslo"}]  # the mock calls the tool


def oa(gw, key=None, **kw) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{gw.url}/v1", api_key=key or gw.key, max_retries=0, **kw)


def an(gw, key=None) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=f"{gw.url}/anthropic", api_key=key or gw.key, max_retries=0)


def wait_for_events(gw, count: int, timeout: float = 5.0) -> list:
    deadline = time.monotonic() + timeout
    while len(gw.events.events) < count:
        assert time.monotonic() < deadline, f"{len(gw.events.events)} events, expected {count}"
        time.sleep(0.01)
    return list(gw.events.events)


# -- the happy paths, both dialects, both directions -----------------------------------


def test_openai_sdk_chat_plain_and_streaming(gateway):
    client = oa(gateway)
    plain = client.chat.completions.create(model="gpt-4o", messages=HELLO)
    assert plain.model == "gpt-4o"
    assert plain.choices[0].message.content.startswith("[mock gpt-4o] You said: Hello there")
    chunks = list(
        client.chat.completions.create(
            model="gpt-4o", messages=HELLO, stream=True, stream_options={"include_usage": True}
        )
    )
    streamed = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert streamed == plain.choices[0].message.content
    assert chunks[-1].usage.completion_tokens == plain.usage.completion_tokens
    # Without include_usage the client gets no usage chunk (we still read one upstream).
    bare = list(client.chat.completions.create(model="gpt-4o", messages=HELLO, stream=True))
    assert all(c.usage is None for c in bare)
    events = wait_for_events(gateway, 3)
    assert [e.output_tokens for e in events] == [plain.usage.completion_tokens] * 3
    assert all(e.path == "native" and e.status == 200 for e in events)
    assert gateway.mock.last_headers["x-aigw-team"] == events[0].team_id


async def test_openai_async_sdk_tools_and_embeddings(gateway):
    client = openai.AsyncOpenAI(base_url=f"{gateway.url}/v1", api_key=gateway.key, max_retries=0)
    response = await client.chat.completions.create(
        model="gpt-4o-mini", messages=WEATHER, tools=[TOOL_OPENAI]
    )
    assert response.choices[0].message.tool_calls[0].function.name == "get_weather"
    embedded = await client.embeddings.create(model="text-embedding-3-small", input=["a", "b"])
    assert len(embedded.data) == 2 and embedded.usage.prompt_tokens > 0
    await client.close()
    events = wait_for_events(gateway, 2)
    assert events[0].tool_calls == 1
    assert events[1].endpoint == "/v1/embeddings"


def test_anthropic_sdk_messages_streaming_tools_and_count_tokens(gateway):
    client = an(gateway)
    message = client.messages.create(
        model="claude-sonnet-4-6", max_tokens=256, system="Be brief.", messages=HELLO
    )
    assert message.content[0].text.startswith("[mock claude-sonnet-4-6] You said: Hello there")
    with client.messages.stream(
        model="claude-sonnet-4-6", max_tokens=256, system="Be brief.", messages=HELLO
    ) as stream:
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
    assert text == message.content[0].text
    assert final.usage.output_tokens == message.usage.output_tokens
    tool = client.messages.create(
        model="claude-haiku-4-5", max_tokens=64, tools=[TOOL_ANTHROPIC], messages=WEATHER
    )
    assert tool.stop_reason == "tool_use"
    counted = client.messages.count_tokens(model="claude-sonnet-4-6", messages=HELLO)
    assert counted.input_tokens > 0
    events = wait_for_events(gateway, 4)
    assert [e.output_tokens > 0 for e in events[:3]] == [True, True, True]
    assert events[0].wire == "anthropic" and events[0].path == "native"


def test_either_dialect_reaches_either_provider_through_litellm(gateway):
    openai_to_claude = oa(gateway).chat.completions.create(
        model="claude-sonnet-4-6", messages=HELLO
    )
    assert openai_to_claude.choices[0].message.content.startswith("[mock claude-sonnet-4-6]")
    anthropic_to_gpt = an(gateway).messages.create(model="gpt-4o", max_tokens=64, messages=HELLO)
    assert anthropic_to_gpt.content[0].text.startswith("[mock gpt-4o]")
    with an(gateway).messages.stream(model="gpt-4o", max_tokens=64, messages=HELLO) as stream:
        assert "".join(stream.text_stream) == anthropic_to_gpt.content[0].text
    events = wait_for_events(gateway, 3)
    assert [e.path for e in events] == ["litellm"] * 3
    assert all(e.output_tokens > 0 for e in events)


def test_the_translated_path_loads_no_module_per_call(gateway):
    """Once warm, a translated call finds every module it needs already loaded (litellm's
    Anthropic adapter used to retry a failing import of its proxy server on each call)."""
    calls = [
        lambda: oa(gateway).chat.completions.create(model="claude-sonnet-4-6", messages=HELLO),
        lambda: an(gateway).messages.create(model="gpt-4o", max_tokens=64, messages=HELLO),
    ]
    for call in calls:
        call()
    looked_up = []

    class Spy:  # asked only for modules not loaded yet
        def find_spec(self, name, path=None, target=None):
            looked_up.append(name)

    sys.meta_path.insert(0, Spy())
    try:
        for call in calls * 2:
            call()
    finally:
        sys.meta_path.pop(0)
    assert looked_up == []


def test_aliases_resolve_to_the_canonical_model(gateway):
    response = oa(gateway).chat.completions.create(model="claude-sonnet", messages=HELLO)
    assert response.model == "claude-sonnet-4-6"


def test_models_lists_what_the_team_may_use_and_says_it_is_mock(gateway):
    listed = oa(gateway).models.list()
    assert len(listed.data) == 16  # the spec's twelve, the current Claude three, an embedding model
    assert all(m.owned_by == "aigw-mock-provider" for m in listed.data)
    gateway.operator("select api.set_team_policy('t1', array['gpt-4o', 'claude-haiku-4-5'])")
    time.sleep(0.2)  # the policy change reaches the gateway by NOTIFY
    assert sorted(m.id for m in oa(gateway).models.list().data) == ["claude-haiku-4-5", "gpt-4o"]


# -- refusals, in the caller's dialect -------------------------------------------------


def test_bad_keys_are_refused_with_401_in_each_dialect(gateway):
    typo = gateway.key[:-1] + ("A" if gateway.key[-1] != "A" else "B")
    for key in (typo, "sk-not-ours", "sk-aigw-" + "x" * 36):
        with pytest.raises(openai.AuthenticationError) as refused:
            oa(gateway, key).chat.completions.create(model="gpt-4o", messages=HELLO)
        assert refused.value.body["code"] == "invalid_api_key"
        with pytest.raises(anthropic.AuthenticationError) as refused_a:
            an(gateway, key).messages.create(model="gpt-4o", max_tokens=5, messages=HELLO)
        assert refused_a.value.body["error"]["type"] == "authentication_error"
    missing = httpx.post(f"{gateway.url}/v1/chat/completions", json={"model": "gpt-4o"})
    assert missing.status_code == 401 and "Missing API key" in missing.json()["error"]["message"]
    assert gateway.mock.requests == 0


def test_a_revoked_key_stops_working_within_a_second(gateway):
    client = oa(gateway)
    client.chat.completions.create(model="gpt-4o", messages=HELLO)  # now cached
    gateway.operator("select api.revoke_key(%s)", (gateway.key_id,))
    revoked_at = time.monotonic()
    while True:
        try:
            client.chat.completions.create(model="gpt-4o", messages=HELLO)
        except openai.AuthenticationError as exc:
            assert "revoked" in exc.message
            break
        assert time.monotonic() - revoked_at < 1.0, "revoked key still served after 1 s"
        time.sleep(0.02)


def test_model_policy_unknown_404_not_allowed_403(gateway):
    with pytest.raises(openai.NotFoundError) as unknown:
        oa(gateway).chat.completions.create(model="gpt-99", messages=HELLO)
    assert unknown.value.body["code"] == "model_not_found"
    gateway.operator("select api.set_team_policy('t1', array['gpt-4o'])")
    time.sleep(0.2)
    with pytest.raises(openai.PermissionDeniedError) as denied:
        oa(gateway).chat.completions.create(model="claude-sonnet-4-6", messages=HELLO)
    assert denied.value.body["code"] == "model_not_allowed"
    with pytest.raises(anthropic.PermissionDeniedError) as denied_a:
        an(gateway).messages.create(model="claude-sonnet-4-6", max_tokens=5, messages=HELLO)
    assert denied_a.value.body["error"]["type"] == "permission_error"
    # A disabled model is refused the same way, for everyone.
    gateway.operator("select api.set_model_enabled('gpt-4o', false)")
    time.sleep(0.2)
    with pytest.raises(openai.PermissionDeniedError):
        oa(gateway).chat.completions.create(model="gpt-4o", messages=HELLO)


def test_a_key_calls_only_what_its_scopes_name(gateway):
    """inference: chat completions, Anthropic messages and count_tokens; embeddings:
    /v1/embeddings; either: the model list. A refusal is a 403 in the caller's dialect,
    recorded like any other."""
    issue = "select key from api.issue_key('t1', %s, p_scopes => %s)"
    ((chat_key,),) = gateway.operator(issue, ("chat", ["inference"]))
    ((embed_key,),) = gateway.operator(issue, ("embed", ["embeddings"]))
    sdk_message = {"model": "claude-sonnet-4-6", "messages": HELLO}

    assert oa(gateway, chat_key).chat.completions.create(model="gpt-4o", messages=HELLO).choices
    assert an(gateway, chat_key).messages.count_tokens(**sdk_message).input_tokens > 0
    with pytest.raises(openai.PermissionDeniedError) as refused:
        oa(gateway, chat_key).embeddings.create(model="text-embedding-3-small", input="a")
    assert refused.value.body["code"] == "insufficient_scope"
    assert "needs the 'embeddings' scope" in refused.value.message

    assert oa(gateway, embed_key).embeddings.create(model="text-embedding-3-small", input="a").data
    with pytest.raises(openai.PermissionDeniedError) as refused:
        oa(gateway, embed_key).chat.completions.create(model="gpt-4o", messages=HELLO)
    assert "needs the 'inference' scope" in refused.value.message
    with pytest.raises(anthropic.PermissionDeniedError) as refused_a:
        an(gateway, embed_key).messages.create(max_tokens=5, **sdk_message)
    assert refused_a.value.body["error"]["type"] == "permission_error"
    with pytest.raises(anthropic.PermissionDeniedError):
        an(gateway, embed_key).messages.count_tokens(**sdk_message)

    for key in (chat_key, embed_key):
        assert [m.id for m in oa(gateway, key).models.list().data]
    events = wait_for_events(gateway, 7)
    assert [(e.endpoint, e.status, e.error_type) for e in events if e.status != 200] == [
        ("/v1/embeddings", 403, "insufficient_scope"),
        ("/v1/chat/completions", 403, "insufficient_scope"),
        ("/anthropic/v1/messages", 403, "insufficient_scope"),
        ("/anthropic/v1/messages/count_tokens", 403, "insufficient_scope"),
    ]
    assert gateway.mock.requests == 3  # what was refused never reached the provider


def test_a_key_whose_scopes_grant_nothing_lists_no_models(gateway):
    """A scope the gateway does not know (the retired `admin`, written in SQL) grants
    nothing, not even the model list."""
    ((key,),) = gateway.operator("select key from api.issue_key('t1', 'odd')")
    gateway.operator("update iam.api_keys set scopes = '{admin}' where name = 'odd'")
    with pytest.raises(openai.PermissionDeniedError) as refused:
        oa(gateway, key).models.list()
    assert "the key's scopes: none" in refused.value.message


def test_bad_requests_are_400_in_each_dialect(gateway):
    response = httpx.post(
        f"{gateway.url}/v1/chat/completions",
        content=b"{not json",
        headers={"authorization": f"Bearer {gateway.key}"},
    )
    assert (
        response.status_code == 400 and response.json()["error"]["type"] == "invalid_request_error"
    )
    with pytest.raises(openai.BadRequestError):
        oa(gateway).chat.completions.create(model="gpt-4o", messages=[])
    response = httpx.post(
        f"{gateway.url}/anthropic/v1/messages",
        json={"model": "gpt-4o", "messages": HELLO},
        headers={"x-api-key": gateway.key},
    )
    assert response.status_code == 400
    assert response.json() == {
        "type": "error",
        "error": {
            "type": "invalid_request_error",
            "message": "max_tokens: a positive integer is required.",
        },
    }


def test_a_body_over_the_limit_is_413_in_each_dialect_and_never_forwarded(gateway, monkeypatch):
    monkeypatch.setattr(openai_api, "MAX_BODY_BYTES", 64 * 1024)
    big = {
        "model": "gpt-4o",
        "max_tokens": 8,
        "messages": [{"role": "user", "content": "x" * 70_000}],
    }
    payload = json.dumps(big).encode()

    def chunked():  # no Content-Length: the limit holds as the body arrives
        for i in range(0, len(payload), 8192):
            yield payload[i : i + 8192]

    answers = [
        httpx.post(
            f"{gateway.url}/v1/chat/completions",
            content=payload,
            headers={"authorization": f"Bearer {gateway.key}"},
        ),
        httpx.post(
            f"{gateway.url}/v1/chat/completions",
            content=chunked(),
            headers={"authorization": f"Bearer {gateway.key}"},
        ),
        httpx.post(
            f"{gateway.url}/anthropic/v1/messages",
            content=payload,
            headers={"x-api-key": gateway.key},
        ),
    ]
    assert [a.status_code for a in answers] == [413, 413, 413]
    assert "chunked" in answers[1].request.headers.get("transfer-encoding", "")
    assert answers[0].json()["error"]["code"] == "request_too_large"
    assert answers[2].json()["error"]["type"] == "request_too_large"
    assert "larger than 64 KiB" in answers[0].json()["error"]["message"]
    assert gateway.mock.requests == 0
    events = wait_for_events(gateway, 3)  # the refusals are events like any other
    assert [e.status for e in events] == [413, 413, 413]
    # and a body under the limit still goes through
    ok = httpx.post(
        f"{gateway.url}/v1/chat/completions",
        json={"model": "gpt-4o", "messages": HELLO},
        headers={"authorization": f"Bearer {gateway.key}"},
    )
    assert ok.status_code == 200


def test_rate_limits_answer_429_with_retry_after_and_ratelimit_headers(gateway):
    gateway.operator("select api.set_team_policy('t1', null, 2, null)")
    time.sleep(0.2)
    client = oa(gateway)
    first = client.chat.completions.with_raw_response.create(model="gpt-4o", messages=HELLO)
    assert first.headers["x-ratelimit-limit-requests"] == "2"
    assert first.headers["x-ratelimit-remaining-requests"] == "1"
    client.chat.completions.create(model="gpt-4o", messages=HELLO, stream=True).close()
    with pytest.raises(openai.RateLimitError) as limited:
        client.embeddings.create(model="text-embedding-3-small", input="x")  # every endpoint counts
    assert limited.value.body["code"] == "rate_limit_exceeded"
    assert 1 <= int(limited.value.response.headers["retry-after"]) <= 60
    with pytest.raises(anthropic.RateLimitError):
        an(gateway).messages.create(model="gpt-4o", max_tokens=5, messages=HELLO)


def test_an_exhausted_budget_answers_429_insufficient_quota(gateway):
    gateway.operator("select api.set_budget('t1', 'month', 0.05)")
    time.sleep(0.2)
    client = oa(gateway)
    # gpt-4o's worst case at max_tokens=4000 is ~0.04 USD: one fits, a second does not
    # while the first holds its reservation; settled at its real (tiny) cost, it frees.
    client.chat.completions.create(model="gpt-4o", messages=HELLO, max_tokens=4000)
    with pytest.raises(openai.RateLimitError) as refused:
        client.chat.completions.create(model="gpt-4o", messages=HELLO, max_tokens=16000)
    assert refused.value.body["code"] == "insufficient_quota"
    ((_, _, spent, reserved),) = budgets_settled(gateway.db.admin)
    assert reserved == 0 and 0 < spent < 0.001


def test_upstream_faults_are_retried_then_reported_in_dialect(gateway):
    httpx.post(f"{gateway.mock_url}/_mock/faults", json={"fault": "status=503", "count": 1})
    ok = oa(gateway).chat.completions.create(model="gpt-4o", messages=HELLO)
    assert ok.choices
    events = wait_for_events(gateway, 1)
    assert events[0].upstream_attempts == 2

    httpx.post(f"{gateway.mock_url}/_mock/faults", json={"fault": "status=503", "count": 10})
    before = gateway.mock.requests
    with pytest.raises(openai.InternalServerError) as failed:
        oa(gateway).chat.completions.create(model="claude-haiku-4-5", messages=HELLO)
    assert failed.value.status_code == 503
    assert gateway.mock.requests - before == 3  # 1 + num_retries, never more
    with pytest.raises(anthropic.InternalServerError) as failed_a:
        an(gateway).messages.create(model="claude-haiku-4-5", max_tokens=5, messages=HELLO)
    assert failed_a.value.body["error"]["type"] == "overloaded_error"


def test_a_provider_400_is_passed_on_not_retried(gateway):
    httpx.post(f"{gateway.mock_url}/_mock/faults", json={"fault": "status=400", "count": 1})
    before = gateway.mock.requests
    with pytest.raises(openai.BadRequestError):
        oa(gateway).chat.completions.create(model="gpt-4o", messages=HELLO)
    assert gateway.mock.requests - before == 1


def test_fallback_then_cooldown_of_a_failing_deployment(gateway):
    # config.yaml: gpt-4o falls back to azure-gpt-4o; 3 failures in a row cool a deployment.
    client = oa(gateway)
    for n in range(1, 4):
        httpx.post(f"{gateway.mock_url}/_mock/faults", json={"fault": "status=503", "count": 1})
        assert client.chat.completions.create(model="gpt-4o", messages=HELLO).choices
        event = wait_for_events(gateway, n)[-1]
        assert (event.model_served, event.upstream_attempts) == ("azure-gpt-4o", 2)
    assert gateway.gateway.upstream.cooling_down() == ["gpt-4o#0"]
    before = gateway.mock.requests
    client.chat.completions.create(model="gpt-4o", messages=HELLO)
    event = wait_for_events(gateway, 4)[-1]
    assert (event.model_served, event.upstream_attempts) == ("azure-gpt-4o", 1)
    assert gateway.mock.requests - before == 1  # the cooling deployment was not tried


def test_a_client_that_disconnects_mid_stream_is_charged_for_what_was_produced(gateway):
    gateway.operator("select api.set_budget('t1', 'month', 10)")
    gateway.mock.chunk_delay_s = 0.2
    time.sleep(0.2)
    with httpx.stream(
        "POST",
        f"{gateway.url}/v1/chat/completions",
        json={"model": "gpt-4o", "messages": HELLO, "stream": True},
        headers={"authorization": f"Bearer {gateway.key}"},
    ) as response:
        for line in response.iter_lines():
            if '"content":"' in line and '"content":""' not in line:
                break  # one chunk of content, then hang up
    event = wait_for_events(gateway, 1, timeout=10)[-1]
    assert event.client_disconnected
    assert 0 < event.output_tokens < 15
    ((_, _, spent, reserved),) = budgets_settled(gateway.db.admin)
    assert reserved == 0 and spent > 0


def test_every_request_makes_one_event_rejected_ones_too(gateway):
    client = oa(gateway)
    client.chat.completions.create(
        model="gpt-4o", messages=HELLO, extra_headers={"x-aigw-session-id": "s-1"}
    )
    with pytest.raises(openai.AuthenticationError):
        oa(gateway, "sk-aigw-" + "y" * 36).chat.completions.create(model="gpt-4o", messages=HELLO)
    with pytest.raises(openai.NotFoundError):
        client.chat.completions.create(model="nope", messages=HELLO)
    events = wait_for_events(gateway, 3)
    time.sleep(0.1)
    assert len(gateway.events.events) == 3
    assert [e.status for e in events] == [200, 401, 404]
    assert events[0].session_id == "s-1" and events[0].key_id == gateway.key_id
    assert events[1].key_id is None and events[1].error_type == "invalid_api_key"
    assert events[2].model_requested == "nope" and events[2].error_type == "model_not_found"


def test_the_session_comes_from_the_header_or_else_the_clients_metadata(gateway):
    session = "4f3c2a1b-9d8e-4c7b-a6f5-0e1d2c3b4a59"
    claude_code_user = f"user_{'ab' * 32}_account_{'cd' * 16}_session_{session}"
    oa(gateway).chat.completions.create(
        model="gpt-4o", messages=HELLO, metadata={"session_id": "nightly-run-7"}
    )
    an(gateway).messages.create(
        model="gpt-4o", max_tokens=8, messages=HELLO, metadata={"user_id": claude_code_user}
    )
    an(gateway).messages.create(
        model="gpt-4o",
        max_tokens=8,
        messages=HELLO,
        metadata={"user_id": claude_code_user},
        extra_headers={"x-aigw-session-id": "from-header"},  # the header wins
    )
    an(gateway).messages.create(
        model="gpt-4o", max_tokens=8, messages=HELLO, metadata={"user_id": "just-a-user"}
    )
    oa(gateway).chat.completions.create(
        model="gpt-4o", messages=HELLO, extra_headers={"x-aigw-session-id": "x" * 500}
    )
    events = wait_for_events(gateway, 5)
    assert [e.session_id for e in events] == [
        "nightly-run-7",
        session,
        "from-header",
        None,
        "x" * 128,
    ]


def test_the_sessions_and_clients_of_claude_code_codex_and_the_sdks_are_recorded(gateway):
    claude_code = "c4a4b881-bbea-4e89-91ac-859e20262774"
    user_id = json.dumps({"device_id": "ab" * 32, "account_uuid": "", "session_id": claude_code})
    key = {"x-api-key": gateway.key, "authorization": f"Bearer {gateway.key}"}
    hello = {"model": "claude-haiku-4-5", "max_tokens": 8, "messages": HELLO}
    # Claude Code: its header, and the JSON in metadata.user_id when the header is absent.
    calls = [
        ("/anthropic/v1/messages", {"x-claude-code-session-id": claude_code,
                                    "user-agent": "claude-cli/2.1.332 (external, sdk-cli)"}, {}),
        ("/anthropic/v1/messages", {"user-agent": "claude-cli/2.1.332 (external, cli)"},
         {"metadata": {"user_id": user_id}}),
        # Codex: session-id (and thread-id, the same thread).
        ("/v1/chat/completions", {"session-id": "01a2374d-7d42", "thread-id": "01a2374d-7d42",
                                  "user-agent": "codex_exec/0.171.0 (Debian 12.0.0; x86_64)"}, {}),
        ("/v1/chat/completions", {"thread-id": "thread-only"}, {}),
        # Ours wins over every client's.
        ("/v1/chat/completions", {"x-aigw-session-id": "ours", "session-id": "theirs"}, {}),
        # Not JSON, or JSON without a session: none.
        ("/anthropic/v1/messages", {"user-agent": "Mozilla/5.0 (X11)"},
         {"metadata": {"user_id": "{not json"}}),
        ("/anthropic/v1/messages", {}, {"metadata": {"user_id": json.dumps({"device_id": "x"})}}),
    ]  # fmt: skip
    for path, headers, extra in calls:
        response = httpx.post(
            f"{gateway.url}{path}", json={**hello, **extra}, headers={**key, **headers}
        )
        assert response.status_code == 200, response.text
    oa(gateway).chat.completions.create(model="gpt-4o", messages=HELLO)  # the OpenAI SDK
    events = wait_for_events(gateway, len(calls) + 1)
    assert [(e.session_id, e.client) for e in events] == [
        (claude_code, "claude-cli"),
        (claude_code, "claude-cli"),
        ("01a2374d-7d42", "codex"),
        ("thread-only", "python-httpx"),
        ("ours", "python-httpx"),
        (None, "mozilla"),
        (None, "python-httpx"),
        (None, "openai-python"),
    ]


def test_anthropic_clients_may_check_the_gateway_is_there(gateway):
    for path in ("/anthropic", "/anthropic/", "/anthropic/api/hello"):
        assert httpx.head(f"{gateway.url}{path}").status_code == 200
    assert httpx.head(f"{gateway.url}/anthropic/nothing").status_code == 404


def test_a_caller_supplied_upstream_url_is_never_followed(gateway):
    # A trap server that would record any request the gateway sent it.
    hits = []

    async def trap(scope, receive, send):
        if scope["type"] != "http":
            return
        hits.append(scope["path"])
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"{}"})

    with serving(trap) as trap_url:
        for model in ("gpt-4o", "claude-sonnet-4-6"):  # native and litellm paths
            response = oa(gateway).chat.completions.create(
                model=model,
                messages=HELLO,
                extra_body={"api_base": trap_url, "base_url": trap_url, "api_key": "x"},
            )
            assert response.choices[0].message.content.startswith("[mock ")
        anthropic_to_gpt = an(gateway).messages.create(
            model="gpt-4o", max_tokens=10, messages=HELLO, extra_body={"api_base": trap_url}
        )
        assert anthropic_to_gpt.content
    assert hits == []


def test_images_are_passed_through_in_both_dialects(gateway):
    pixel = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
    message = an(gateway).messages.create(
        model="claude-sonnet-4-6",
        max_tokens=64,
        messages=[
            {
                "role": "user",
                "content": [
                    {
                        "type": "image",
                        "source": {"type": "base64", "media_type": "image/png", "data": pixel},
                    },
                    {"type": "text", "text": "What is this?"},
                ],
            }
        ],
    )
    assert "What is this?" in message.content[0].text
    response = oa(gateway).chat.completions.create(
        model="gpt-4o",
        messages=[
            {
                "role": "user",
                "content": [
                    {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{pixel}"}},
                    {"type": "text", "text": "What is this?"},
                ],
            }
        ],
    )
    assert response.choices[0].message.content.startswith("[mock gpt-4o]")
    events = wait_for_events(gateway, 2)
    assert all(e.input_tokens >= 85 for e in events)  # the image was counted upstream


def test_an_upstream_timeout_is_retried_then_answered_504(db, redis_url, mock_upstream):
    mock_url, state = mock_upstream
    config = load_config(env={}, mock_provider_url=mock_url)
    config = dataclasses.replace(
        config, settings=dataclasses.replace(config.settings, timeout_s=0.3, retry_after_s=0)
    )
    operator_call(db.admin, "select api.create_team('t1')")
    (key,) = operator_call(db.admin, "select key from api.issue_key('t1', 'k')")[0]
    httpx.post(f"{mock_url}/_mock/faults", json={"fault": "timeout", "count": 10})
    with serving(create_app(db.app, redis_url, gateway_config=config, events=MemorySink())) as url:
        client = openai.OpenAI(base_url=f"{url}/v1", api_key=key, max_retries=0)
        started = time.monotonic()
        with pytest.raises(openai.APIStatusError) as native:
            client.chat.completions.create(model="gpt-4o-mini", messages=HELLO)
        elapsed = time.monotonic() - started
        assert native.value.status_code == 504
        assert state.requests == 3 and elapsed < 3  # bounded: 1 + num_retries attempts
        # The litellm path (OpenAI format to an Anthropic deployment) times out the same way.
        with pytest.raises(openai.APIStatusError) as translated:
            client.chat.completions.create(model="claude-haiku-4-5", messages=HELLO)
        assert translated.value.status_code == 504
        assert state.requests == 6


def test_when_no_reservation_can_be_made_the_request_fails_closed(gateway):
    gateway.operator("select api.set_budget('t1', 'month', 10)")
    time.sleep(0.2)
    # The lease function becomes unavailable to the service (as when the database
    # refuses): the gateway must not call the provider unaccounted.
    gateway.operator(
        "revoke execute on function api.lease_budget(uuid, uuid[], numeric, numeric, interval) from aigw_service"
    )
    before = gateway.mock.requests
    with pytest.raises(openai.InternalServerError) as refused:
        oa(gateway).chat.completions.create(model="gpt-4o", messages=HELLO)
    assert refused.value.status_code == 503
    assert refused.value.body["code"] == "budget_unavailable"
    assert gateway.mock.requests == before
    assert wait_for_events(gateway, 1)[-1].status == 503


def test_an_unexpected_failure_after_admission_is_500_in_dialect_recorded_and_released(
    gateway, monkeypatch
):
    gateway.operator("select api.set_budget('t1', 'month', 10)")
    time.sleep(0.2)

    async def broken(*args, **kwargs):  # the HTTP client library fails in a way nobody expects
        raise RuntimeError("unexpected")

    monkeypatch.setattr(aiohttp.ClientSession, "post", broken)
    with pytest.raises(openai.InternalServerError) as failed:
        oa(gateway).chat.completions.create(model="gpt-4o", messages=HELLO)
    assert failed.value.status_code == 500
    assert failed.value.body["code"] == "internal_error"
    with pytest.raises(anthropic.InternalServerError) as failed_a:
        an(gateway).messages.create(model="claude-haiku-4-5", max_tokens=5, messages=HELLO)
    assert failed_a.value.status_code == 500
    assert failed_a.value.body["error"]["type"] == "api_error"

    events = wait_for_events(gateway, 2)
    assert [(e.status, e.error_type, e.key_id) for e in events] == [
        (500, "internal_error", gateway.key_id)
    ] * 2
    assert {e.model_requested for e in events} == {"gpt-4o", "claude-haiku-4-5"}
    # Both requests held a budget reservation; neither is left for the stale sweep.
    deadline = time.monotonic() + 5
    while gateway.operator("select reserved_usd from api.list_budgets()") != [(0,)]:
        assert time.monotonic() < deadline, "a reservation was left held"
        time.sleep(0.05)


def test_a_client_gone_while_sending_its_body_is_recorded_and_is_not_a_500(gateway, caplog):
    host, port = gateway.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port))) as sock:
        sock.sendall(
            b"POST /v1/chat/completions HTTP/1.1\r\nhost: gateway\r\n"
            b"content-type: application/json\r\ncontent-length: 1000\r\n"
            + f"authorization: Bearer {gateway.key}\r\n\r\n".encode()
            + b'{"model": "gpt-4o", "mess'
        )
    (event,) = wait_for_events(gateway, 1)
    assert (event.status, event.error_type, event.client_disconnected) == (
        499,
        "client_disconnected",
        True,
    )
    assert event.key_id == gateway.key_id
    assert "unexpected error" not in caplog.text
    time.sleep(0.2)
    assert len(gateway.events.events) == 1


def test_the_prompt_estimate_reads_a_body_as_ascii_json():
    """Other scripts count as json.dumps writes them (escaped), not as their UTF-8 bytes."""
    body = {"model": "gpt-4o", "messages": [{"role": "user", "content": "你好，世界 ¿qué tal? 👋"}]}
    raw = json.dumps(body, ensure_ascii=False).encode()
    assert ascii_json_length(raw) == len(json.dumps(body)) > len(raw)
    assert ascii_json_length(json.dumps(body).encode()) == len(json.dumps(body))


def test_a_bad_stream_options_is_400_and_reserves_nothing(gateway):
    gateway.operator("select api.set_budget('t1', 'month', 10)")
    time.sleep(0.2)
    response = httpx.post(
        f"{gateway.url}/v1/chat/completions",
        json={"model": "gpt-4o", "messages": HELLO, "stream": True, "stream_options": [1]},
        headers={"authorization": f"Bearer {gateway.key}"},
    )
    assert response.status_code == 400
    assert gateway.operator("select count(*) from policy.budget_reservations") == [(0,)]


def test_a_callers_bad_requests_do_not_cool_a_deployment_down(gateway):
    httpx.post(f"{gateway.mock_url}/_mock/faults", json={"fault": "status=400", "count": 5})
    for _ in range(5):
        with pytest.raises(openai.BadRequestError):
            oa(gateway).chat.completions.create(model="gpt-4o-mini", messages=HELLO)
    assert gateway.gateway.upstream.cooling_down() == []
    assert oa(gateway).chat.completions.create(model="gpt-4o-mini", messages=HELLO).choices


def test_a_client_gone_before_the_first_byte_is_still_settled(gateway):
    gateway.operator("select api.set_budget('t1', 'month', 10)")
    gateway.mock.latency_s = 1.0
    time.sleep(0.2)
    with pytest.raises(httpx.ReadTimeout):
        httpx.post(
            f"{gateway.url}/v1/chat/completions",
            json={"model": "gpt-4o", "messages": HELLO, "stream": True},
            headers={"authorization": f"Bearer {gateway.key}"},
            timeout=0.3,
        )
    # One event, and the reservation settled (not left for the stale sweep at its maximum).
    assert len(wait_for_events(gateway, 1, timeout=10)) == 1
    deadline = time.monotonic() + 5
    while gateway.operator("select reserved_usd from api.list_budgets()") != [(0,)]:
        assert time.monotonic() < deadline, "the reservation was never settled"
        time.sleep(0.05)


# Bodies litellm cannot translate for the other dialect's provider: well-formed JSON with
# the right structure, wrong in what litellm expects inside it.
UNTRANSLATABLE = [
    ("openai", "claude-haiku-4-5", {"messages": [{"role": "user", "content": [{"type": "x"}]}]}),
    ("openai", "claude-haiku-4-5", {"messages": HELLO, "tools": [{"type": "function"}]}),
    ("openai", "claude-haiku-4-5", {"messages": HELLO, "response_format": {"type": "json_schema"}}),
    ("openai", "claude-haiku-4-5", {"messages": [{"role": "tool", "content": "x"}]}),
    ("anthropic", "gpt-4o-mini", {"messages": HELLO, "tool_choice": {"type": "weird"}}),
]


@pytest.mark.parametrize(("wire", "model", "body"), UNTRANSLATABLE)
def test_a_request_litellm_cannot_translate_is_one_400_and_cools_nothing(
    gateway, wire, model, body
):
    upstream = gateway.gateway.upstream
    settings = gateway.gateway.config.settings
    before_mock, before_attempts = gateway.mock.requests, upstream.attempts
    for n in range(settings.allowed_fails + 2):  # more than it takes to cool a deployment
        if wire == "openai":
            with pytest.raises(openai.BadRequestError) as refused:
                oa(gateway).chat.completions.create(model=model, **body)
            assert refused.value.body["code"] == "untranslatable_request"
        else:
            with pytest.raises(anthropic.BadRequestError) as refused:
                an(gateway).messages.create(model=model, max_tokens=5, **body)
            assert refused.value.body["error"]["type"] == "invalid_request_error"
        assert "could not be translated" in refused.value.message
        assert upstream.attempts - before_attempts == n + 1  # attempted once, never retried
    assert gateway.mock.requests == before_mock  # nothing reached the provider
    assert upstream.cooling_down() == []
    # Everyone else (and this caller, with a good request) is served at once.
    if wire == "openai":
        assert oa(gateway).chat.completions.create(model=model, messages=HELLO).choices
    else:
        assert an(gateway).messages.create(model=model, max_tokens=5, messages=HELLO).content
    events = wait_for_events(gateway, settings.allowed_fails + 3)
    assert [e.status for e in events] == [400] * (settings.allowed_fails + 2) + [200]
    assert events[-1].upstream_attempts == 1


def test_malformed_messages_are_refused_before_anything_is_attempted(gateway):
    attempts = gateway.gateway.upstream.attempts
    for messages in ([None], [{"role": "user", "content": 5}], [{"content": "x"}], ["hi"]):
        with pytest.raises(openai.BadRequestError) as refused:
            oa(gateway).chat.completions.create(model="claude-haiku-4-5", messages=messages)
        assert "messages[0]" in refused.value.message
        with pytest.raises(anthropic.BadRequestError) as refused_a:
            an(gateway).messages.create(model="gpt-4o-mini", max_tokens=5, messages=messages)
        assert "messages.0" in refused_a.value.message
    with pytest.raises(anthropic.BadRequestError):
        an(gateway).messages.create(
            model="gpt-4o-mini", max_tokens=5, messages=HELLO, system=[{"text": "no type"}]
        )
    assert gateway.gateway.upstream.attempts == attempts


@pytest.mark.parametrize(
    ("wire", "changes", "named"),
    [
        ("openai", {"max_tokens": -1}, "max_tokens"),
        ("openai", {"max_tokens": 1.5}, "max_tokens"),
        ("openai", {"max_completion_tokens": 16385}, "max_completion_tokens"),  # gpt-4o: 16,384
        ("openai", {"temperature": 2.5}, "temperature"),
        ("openai", {"n": 0}, "'n'"),
        ("openai", {"n": 129}, "'n'"),
        ("openai", {"top_p": "high"}, "top_p"),
        ("anthropic", {"max_tokens": 0}, "max_tokens"),
        ("anthropic", {"max_tokens": "5"}, "max_tokens"),
        ("anthropic", {"max_tokens": 16385}, "max_tokens"),
        ("anthropic", {"temperature": 1.5}, "temperature"),
        ("anthropic", {"thinking": {"type": "enabled", "budget_tokens": 10}}, "budget_tokens"),
    ],
)
def test_parameters_out_of_the_providers_ranges_are_400_in_dialect(gateway, wire, changes, named):
    gateway.operator("select api.set_budget('t1', 'month', 10)")
    body = {"model": "gpt-4o", "messages": HELLO, "max_tokens": 5, **changes}
    if wire == "openai":
        url, headers = (
            f"{gateway.url}/v1/chat/completions",
            {"authorization": f"Bearer {gateway.key}"},
        )
    else:
        url, headers = f"{gateway.url}/anthropic/v1/messages", {"x-api-key": gateway.key}
    response = httpx.post(url, json=body, headers=headers)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["type"] == "invalid_request_error" and named in error["message"]
    assert ("code" in error) == (wire == "openai")
    assert gateway.mock.requests == 0
    assert gateway.operator("select count(*) from policy.budget_reservations") == [(0,)]


@pytest.mark.parametrize("wire", ["openai", "anthropic"])
def test_a_stream_cut_short_is_charged_for_what_it_produced_in_either_dialect(gateway, wire):
    gateway.operator("select api.set_budget('t1', 'month', 10)")
    # 800 characters in 20 chunks of 40, 0.2 s apart: the client leaves after 120.
    gateway.mock.fill_output, gateway.mock.chunks, gateway.mock.chunk_delay_s = True, 20, 0.2
    time.sleep(0.2)
    if wire == "openai":
        url, headers = (
            f"{gateway.url}/v1/chat/completions",
            {"authorization": f"Bearer {gateway.key}"},
        )
    else:
        url, headers = f"{gateway.url}/anthropic/v1/messages", {"x-api-key": gateway.key}
    body = {"model": "claude-haiku-4-5", "messages": HELLO, "max_tokens": 200, "stream": True}
    received = 0
    with httpx.stream("POST", url, json=body, headers=headers) as response:
        for line in response.iter_lines():
            data = json.loads(line[5:]) if line.startswith("data: {") else {}
            delta = (data.get("choices") or [{}])[0].get("delta") or data.get("delta") or {}
            received += len(delta.get("content") or delta.get("text") or "")
            if received >= 100:
                break  # hang up mid-answer
    event = wait_for_events(gateway, 1, timeout=10)[-1]
    assert event.client_disconnected and event.status == 200
    # What was produced: the 120 characters received, and a chunk or two more in flight.
    assert received == 120
    assert 30 <= event.output_tokens <= 60, event.output_tokens
    ((_, _, spent, reserved),) = budgets_settled(gateway.db.admin)
    assert reserved == 0 and spent >= Decimal(event.output_tokens) * 5 / 10**6  # haiku: $5/M out


# Found by fuzzing the model endpoints with schema-invalid bodies: each was a 502 (the mock
# provider's 500, or litellm's own failure retried) that cooled its model down.
FUZZED = [
    ("/v1/chat/completions", {"model": "claude-sonnet-4-6", "messages": [[{}]]}),
    ("/v1/chat/completions", {"model": "claude-sonnet-4-6", "messages": [None]}),
    (
        "/v1/chat/completions",
        {"model": "claude-sonnet-4-6", "messages": HELLO, "tools": [{"type": "function"}]},
    ),
    ("/v1/chat/completions", {"model": "gpt-4o", "messages": [[{}]]}),
    ("/anthropic/v1/messages", {"model": "gpt-4o", "max_tokens": 5, "messages": [[1]]}),
    (
        "/anthropic/v1/messages",
        {
            "model": "gpt-4o",
            "max_tokens": 5,
            "messages": [{"role": "user", "content": [{"type": "text"}]}],
        },
    ),
    (
        "/anthropic/v1/messages",
        {"model": "gpt-4o", "max_tokens": 5, "messages": [{"content": "x"}]},
    ),
    ("/anthropic/v1/messages", {"model": "claude-sonnet-4-6", "max_tokens": 5, "messages": [[1]]}),
]


def test_the_fuzzers_findings_are_400s_that_cool_nothing(gateway):
    headers = {"authorization": f"Bearer {gateway.key}", "x-api-key": gateway.key}
    for path, body in FUZZED * 2:
        response = httpx.post(f"{gateway.url}{path}", json=body, headers=headers)
        assert response.status_code == 400, (path, body, response.text)
        assert ("type" in response.json()) == path.startswith("/anthropic")
    assert gateway.gateway.upstream.cooling_down() == []


# -- the SDKs' tool loops and structured outputs, forwarded and translated ---------------

CITY = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}


@pytest.mark.parametrize("model", ["gpt-4o", "claude-haiku-4-5"])  # forwarded, translated
def test_an_openai_sdk_tool_round_trip_ends_in_an_answer(gateway, model):
    client = oa(gateway)
    tools = [{"type": "function", "function": {"name": "get_weather", "parameters": CITY}}]
    messages = [{"role": "user", "content": "Use get_weather: Oslo"}]
    first = client.chat.completions.create(model=model, messages=messages, tools=tools)
    (call,) = first.choices[0].message.tool_calls
    assert json.loads(call.function.arguments) == {"city": "Oslo"}
    messages += [
        first.choices[0].message.model_dump(exclude_none=True),
        {"role": "tool", "tool_call_id": call.id, "content": "sunny"},
    ]
    final = client.chat.completions.create(model=model, messages=messages, tools=tools)
    assert final.choices[0].finish_reason == "stop"
    assert "get_weather tool returned: sunny" in final.choices[0].message.content


@pytest.mark.parametrize("model", ["claude-haiku-4-5", "gpt-4o"])  # forwarded, translated
def test_an_anthropic_sdk_tool_round_trip_ends_in_an_answer(gateway, model):
    client = an(gateway)
    tools = [{"name": "get_weather", "input_schema": CITY}]
    messages = [{"role": "user", "content": "Use get_weather: Oslo"}]
    first = client.messages.create(model=model, max_tokens=200, messages=messages, tools=tools)
    (use,) = [b for b in first.content if b.type == "tool_use"]
    assert first.stop_reason == "tool_use" and use.input == {"city": "Oslo"}
    messages += [
        {"role": "assistant", "content": [b.model_dump(exclude_none=True) for b in first.content]},
        {
            "role": "user",
            "content": [{"type": "tool_result", "tool_use_id": use.id, "content": "sunny"}],
        },
    ]
    final = client.messages.create(model=model, max_tokens=200, messages=messages, tools=tools)
    assert final.stop_reason == "end_turn"
    assert "get_weather tool returned: sunny" in final.content[0].text


class Forecast(pydantic.BaseModel):
    city: str
    celsius: int


@pytest.mark.parametrize("model", ["gpt-4o", "claude-haiku-4-5"])  # forwarded, translated
def test_structured_outputs_are_parsed_by_the_openai_sdk(gateway, model):
    parsed = oa(gateway).chat.completions.parse(
        model=model, messages=[{"role": "user", "content": "Forecast"}], response_format=Forecast
    )
    assert isinstance(parsed.choices[0].message.parsed, Forecast)


@pytest.mark.parametrize("model", ["claude-haiku-4-5", "gpt-4o"])  # forwarded, translated
def test_structured_outputs_are_parsed_by_the_anthropic_sdk(gateway, model):
    schema = {**Forecast.model_json_schema(), "additionalProperties": False}
    message = an(gateway).messages.create(
        model=model,
        max_tokens=200,
        messages=[{"role": "user", "content": "Forecast"}],
        extra_body={"output_format": {"type": "json_schema", "schema": schema}},
    )
    Forecast.model_validate_json(message.content[0].text)

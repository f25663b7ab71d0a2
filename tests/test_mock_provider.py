"""The mock provider, driven by the official OpenAI and Anthropic SDKs over real HTTP."""

import anthropic
import httpx
import openai
import pytest

from api.mock_provider import MockState, create_mock_app
from tests.helpers import serving

TOOL_OPENAI = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Weather for a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
    },
}
TOOL_ANTHROPIC = {
    "name": "get_weather",
    "description": "Weather for a city",
    "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}},
}


@pytest.fixture(scope="module")
def mock():
    state = MockState(chunks=4)
    with serving(create_mock_app(state)) as url:
        yield url, state


@pytest.fixture
def mock_url(mock):
    url, state = mock
    state.faults.clear()
    state.requests = 0
    return url


def openai_client(url: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{url}/v1", api_key="sk-test", max_retries=0)


def anthropic_client(url: str) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=url, api_key="sk-test", max_retries=0)


def test_openai_chat_completion_is_deterministic_labelled_and_counted(mock_url):
    client = openai_client(mock_url)
    messages = [{"role": "user", "content": "Write a Python hello world."}]
    first = client.chat.completions.create(model="gpt-4o", messages=messages)
    second = client.chat.completions.create(model="gpt-4o", messages=messages)
    assert first.choices[0].message.content == second.choices[0].message.content
    assert first.choices[0].message.content.startswith("[mock gpt-4o] You said: Write a Python")
    assert first.usage.total_tokens == first.usage.prompt_tokens + first.usage.completion_tokens
    raw = client.chat.completions.with_raw_response.create(model="gpt-4o", messages=messages)
    assert raw.headers["x-mock-provider"] == "true"


def test_openai_stream_has_chunks_and_a_final_usage_chunk(mock_url):
    client = openai_client(mock_url)
    stream = client.chat.completions.create(
        model="gpt-4o-mini",
        messages=[{"role": "user", "content": "Hello"}],
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    plain = client.chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "Hello"}]
    )
    assert text == plain.choices[0].message.content
    assert len([c for c in chunks if c.choices and c.choices[0].delta.content]) == 4
    assert chunks[-1].choices == [] and chunks[-1].usage.completion_tokens > 0


async def test_openai_async_tool_call(mock_url):
    client = openai.AsyncOpenAI(base_url=f"{mock_url}/v1", api_key="sk-test", max_retries=0)
    response = await client.chat.completions.create(
        model="gpt-4o",
        messages=[{"role": "user", "content": "Weather in Oslo?"}],
        tools=[TOOL_OPENAI],
    )
    call = response.choices[0].message.tool_calls[0]
    assert (response.choices[0].finish_reason, call.function.name) == ("tool_calls", "get_weather")
    await client.close()


def test_openai_embeddings(mock_url):
    result = openai_client(mock_url).embeddings.create(model="emb", input=["a", "b", "a"])
    vectors = [d.embedding for d in result.data]
    assert len(vectors) == 3 and len(vectors[0]) == 64
    assert vectors[0] == vectors[2] != vectors[1]


def test_anthropic_message_stream_tools_and_count_tokens(mock_url):
    client = anthropic_client(mock_url)
    message = client.messages.create(
        model="claude-sonnet-4-6",
        max_tokens=1024,
        system="Be brief.",
        messages=[{"role": "user", "content": "Hello"}],
    )
    assert message.content[0].text.startswith("[mock claude-sonnet-4-6] You said: Hello")
    assert message.stop_reason == "end_turn" and message.usage.output_tokens > 0

    with client.messages.stream(
        model="claude-sonnet-4-6",
        max_tokens=1024,
        system="Be brief.",
        messages=[{"role": "user", "content": "Hello"}],
    ) as stream:
        streamed = "".join(stream.text_stream)
        final = stream.get_final_message()
    assert streamed == message.content[0].text
    assert final.usage.output_tokens == message.usage.output_tokens

    tool = client.messages.create(
        model="claude-haiku-4-5",
        max_tokens=100,
        tools=[TOOL_ANTHROPIC],
        messages=[{"role": "user", "content": "Weather in Oslo?"}],
    )
    assert tool.stop_reason == "tool_use" and tool.content[0].name == "get_weather"

    counted = client.messages.count_tokens(
        model="claude-sonnet-4-6", messages=[{"role": "user", "content": "Hello"}]
    )
    assert counted.input_tokens > 0


def test_injected_status_faults_are_consumed_in_order(mock_url):
    httpx.post(f"{mock_url}/_mock/faults", json={"fault": "status=503", "count": 2})
    client = openai_client(mock_url)
    messages = [{"role": "user", "content": "x"}]
    for _ in range(2):
        with pytest.raises(openai.InternalServerError):
            client.chat.completions.create(model="gpt-4o", messages=messages)
    assert client.chat.completions.create(model="gpt-4o", messages=messages).choices
    assert httpx.get(f"{mock_url}/_mock/stats").json()["requests"] == 3

    with pytest.raises(anthropic.RateLimitError):
        anthropic_client(mock_url).messages.create(
            model="claude-sonnet-4-6",
            max_tokens=10,
            messages=[{"role": "user", "content": "x"}],
            extra_headers={"x-mock-fault": "status=429"},
        )


def test_a_cut_stream_ends_without_finishing(mock_url):
    client = openai_client(mock_url)
    stream = client.chat.completions.create(
        model="gpt-4o",
        messages=[{"role": "user", "content": "Hello there"}],
        stream=True,
        extra_headers={"x-mock-fault": "cut-after=2"},
    )
    chunks = list(stream)
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] is None
    assert len([c for c in chunks if c.choices and c.choices[0].delta.content]) == 2


def test_a_timeout_fault_never_answers(mock_url):
    client = openai.OpenAI(base_url=f"{mock_url}/v1", api_key="x", max_retries=0, timeout=0.5)
    with pytest.raises(openai.APITimeoutError):
        client.chat.completions.create(
            model="gpt-4o",
            messages=[{"role": "user", "content": "x"}],
            extra_headers={"x-mock-fault": "timeout"},
        )


ODD_BODIES = {
    "/v1/chat/completions": [
        {"model": "m", "messages": [None]},
        {"model": "m", "messages": "hello"},
        {"model": "m", "messages": [{"role": "user", "content": "x"}], "tools": [7]},
        {"model": "m", "messages": [{"role": "user", "content": [5]}], "stream": True},
        {"model": "m", "messages": [{"role": "user", "content": "x"}], "response_format": "j"},
    ],
    "/v1/messages": [
        {"model": "m", "max_tokens": 5, "messages": [None]},
        {"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": 5}]},
        {"model": "m", "max_tokens": 5, "messages": [{"role": "user"}], "tools": ["x"]},
        {"model": "m", "max_tokens": 5, "messages": [], "tool_choice": "any", "tools": [{}]},
    ],
    "/v1/embeddings": [{"model": "m", "input": 5}, {"model": "m", "input": [None]}],
    "/v1/messages/count_tokens": [{"model": "m", "messages": [{"content": {"a": []}}]}],
}


@pytest.mark.parametrize("path", sorted(ODD_BODIES))
def test_odd_input_is_a_400_like_a_real_provider_never_a_500(mock_url, path):
    for body in ODD_BODIES[path]:
        response = httpx.post(f"{mock_url}{path}", json=body)
        assert response.status_code == 400, (body, response.text)
        error = response.json()["error"]
        assert error["message"], body
    # Not JSON a strict parser accepts (a lone surrogate): refused, not a crash.
    response = httpx.post(
        f"{mock_url}{path}",
        content=b'{"model": "m", "messages": [{"role": "user", "content": "\\ud800"}]}',
    )
    assert response.status_code == 400

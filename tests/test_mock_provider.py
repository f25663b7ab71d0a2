"""The mock provider, driven by the official OpenAI and Anthropic SDKs over real HTTP."""

import json
from typing import Literal

import anthropic
import httpx
import jsonschema
import openai
import pytest
from pydantic import BaseModel

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
        messages=[{"role": "user", "content": "Use get_weather: Oslo"}],
        tools=[TOOL_OPENAI],
    )
    call = response.choices[0].message.tool_calls[0]
    assert (response.choices[0].finish_reason, call.function.name) == ("tool_calls", "get_weather")
    await client.close()


def test_openai_embeddings(mock_url):
    result = openai_client(mock_url).embeddings.create(
        model="text-embedding-3-small", input=["a", "b", "a"]
    )
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
        messages=[{"role": "user", "content": "Call get_weather for Oslo"}],
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
    "/v1/embeddings": [
        {"model": "m-embed", "input": 5},
        {"model": "m-embed", "input": [None]},
        {"model": "gpt-4o", "input": "a chat model does not embed"},
    ],
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


# -- the mock behaves like a model: real tool loops end, structured outputs fit -------

TRIP = {
    "type": "object",
    "properties": {
        "city": {"type": "string"},
        "days": {"type": "integer", "minimum": 1, "maximum": 14},
        "when": {"type": "string", "format": "date"},
        "mode": {"enum": ["train", "plane"]},
        "stops": {"type": "array", "items": {"$ref": "#/$defs/stop"}, "minItems": 2},
        "budget": {"anyOf": [{"type": "number", "exclusiveMinimum": 0}, {"type": "null"}]},
    },
    "required": ["city", "days", "when", "mode", "stops", "budget"],
    "additionalProperties": False,
    "$defs": {
        "stop": {
            "type": "object",
            "properties": {
                "name": {"type": "string", "minLength": 3},
                "nights": {"type": "integer"},
            },
            "required": ["name", "nights"],
            "additionalProperties": False,
        }
    },
}
PLAN_TRIP_OPENAI = {"type": "function", "function": {"name": "plan_trip", "parameters": TRIP}}
PLAN_TRIP_ANTHROPIC = {"name": "plan_trip", "input_schema": TRIP}


def test_openai_tool_loop_ends_in_an_answer(mock_url):
    client = openai_client(mock_url)
    tools = [TOOL_OPENAI, PLAN_TRIP_OPENAI]
    # Tools offered, none asked for: an answer.
    plain = client.chat.completions.create(
        model="gpt-4o", messages=[{"role": "user", "content": "Hello"}], tools=tools
    )
    assert plain.choices[0].finish_reason == "stop" and plain.choices[0].message.content
    # Asked for by name: a call whose arguments fit the tool's schema.
    messages = [{"role": "user", "content": "Use plan_trip: Bergen"}]
    first = client.chat.completions.create(model="gpt-4o", messages=messages, tools=tools)
    call = first.choices[0].message.tool_calls[0]
    assert first.choices[0].finish_reason == "tool_calls" and call.function.name == "plan_trip"
    arguments = json.loads(call.function.arguments)
    jsonschema.validate(arguments, TRIP)
    assert arguments["city"] == "Bergen"
    # The tool's result: the model answers from it and stops.
    messages += [
        first.choices[0].message.model_dump(exclude_none=True),
        {"role": "tool", "tool_call_id": call.id, "content": "Booked: 3 nights"},
    ]
    final = client.chat.completions.create(model="gpt-4o", messages=messages, tools=tools)
    assert final.choices[0].finish_reason == "stop"
    assert "plan_trip tool returned: Booked: 3 nights" in final.choices[0].message.content
    # Forced: required, or a named function; never: none.
    hello = [{"role": "user", "content": "Hello"}]
    forced = client.chat.completions.create(
        model="gpt-4o", messages=hello, tools=tools, tool_choice="required"
    )
    assert forced.choices[0].message.tool_calls[0].function.name == "get_weather"
    named = client.chat.completions.create(
        model="gpt-4o",
        messages=hello,
        tools=tools,
        tool_choice={"type": "function", "function": {"name": "plan_trip"}},
    )
    assert named.choices[0].message.tool_calls[0].function.name == "plan_trip"
    never = client.chat.completions.create(
        model="gpt-4o", messages=messages[:1], tools=tools, tool_choice="none"
    )
    assert never.choices[0].message.tool_calls is None
    # Another conversation, another call id.
    again = client.chat.completions.create(
        model="gpt-4o", messages=[{"role": "user", "content": "Use plan_trip: Oslo"}], tools=tools
    )
    assert again.choices[0].message.tool_calls[0].id != call.id


def test_anthropic_tool_loop_ends_in_an_answer_streamed_too(mock_url):
    client = anthropic_client(mock_url)
    tools = [TOOL_ANTHROPIC, PLAN_TRIP_ANTHROPIC]
    messages = [{"role": "user", "content": "Please call plan_trip: Tromsø"}]
    with client.messages.stream(
        model="claude-sonnet-4-6", max_tokens=500, tools=tools, messages=messages
    ) as stream:
        first = stream.get_final_message()
    (use,) = [b for b in first.content if b.type == "tool_use"]
    assert first.stop_reason == "tool_use" and use.name == "plan_trip"
    jsonschema.validate(use.input, TRIP)
    messages += [
        {"role": "assistant", "content": [b.model_dump() for b in first.content]},
        {
            "role": "user",
            "content": [{"type": "tool_result", "tool_use_id": use.id, "content": "Booked"}],
        },
    ]
    final = client.messages.create(
        model="claude-sonnet-4-6", max_tokens=500, tools=tools, messages=messages
    )
    assert final.stop_reason == "end_turn"
    assert "plan_trip tool returned: Booked" in final.content[0].text
    forced = client.messages.create(
        model="claude-sonnet-4-6",
        max_tokens=500,
        tools=tools,
        tool_choice={"type": "any"},
        messages=[{"role": "user", "content": "Hi"}],
    )
    assert forced.stop_reason == "tool_use" and forced.content[0].id != use.id


class Trip(BaseModel):
    city: str
    days: int
    mode: Literal["train", "plane"]


def test_structured_outputs_fit_their_schema_and_parse_in_both_sdks(mock_url):
    parsed = openai_client(mock_url).chat.completions.parse(
        model="gpt-4o",
        messages=[{"role": "user", "content": "Plan a trip"}],
        response_format=Trip,
    )
    trip = parsed.choices[0].message.parsed
    assert isinstance(trip, Trip) and trip.mode == "train"
    message = anthropic_client(mock_url).messages.create(
        model="claude-sonnet-4-6",
        max_tokens=500,
        messages=[{"role": "user", "content": "Plan a trip"}],
        extra_body={"output_format": {"type": "json_schema", "schema": TRIP}},
    )
    jsonschema.validate(json.loads(message.content[0].text), TRIP)


def test_a_schema_the_mock_cannot_satisfy_is_a_400(mock_url):
    impossible = {
        "type": "object",
        "properties": {"code": {"type": "string", "pattern": "^[A-Z]{3}$"}},
    }
    response = httpx.post(
        f"{mock_url}/v1/chat/completions",
        json={
            "model": "gpt-4o",
            "messages": [{"role": "user", "content": "x"}],
            "response_format": {
                "type": "json_schema",
                "json_schema": {"name": "c", "schema": impossible},
            },
        },
    )
    assert response.status_code == 400
    assert "'pattern' is not supported" in response.json()["error"]["message"]
    response = httpx.post(
        f"{mock_url}/v1/messages",
        json={
            "model": "claude-sonnet-4-6",
            "max_tokens": 10,
            "tools": [{"name": "f", "input_schema": {"$ref": "#/$defs/missing"}}],
            "tool_choice": {"type": "any"},
            "messages": [{"role": "user", "content": "x"}],
        },
    )
    assert response.status_code == 400 and "does not resolve" in response.text

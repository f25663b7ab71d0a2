"""What each request's event carries for session classification and per-PR cost: the
number of messages, whether the last turn is a tool result, the tools offered and the
request's tags (api/gateway/signals.py), through the real SDKs, and into the event log."""

import json
import time

import anthropic
import httpx
import openai
import pytest

from api.app import create_app
from api.gateway import signals
from api.gateway.config import load_config
from tests.helpers import operator_call, serving

TOOL = {
    "type": "function",
    "function": {"name": "lookup", "parameters": {"type": "object", "properties": {}}},
}
ANTHROPIC_TOOL = {"name": "lookup", "input_schema": {"type": "object", "properties": {}}}


def oa(gw) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{gw.url}/v1", api_key=gw.key, max_retries=0)


def an(gw) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=f"{gw.url}/anthropic", api_key=gw.key, max_retries=0)


def last_event(gw, count: int, timeout: float = 5.0):
    deadline = time.monotonic() + timeout
    while len(gw.events.events) < count:
        assert time.monotonic() < deadline, f"{len(gw.events.events)} events, expected {count}"
        time.sleep(0.02)
    return gw.events.events[-1]


def test_openai_chat_counts_messages_tools_and_a_tool_result_last(gateway):
    client = oa(gateway)
    client.chat.completions.create(
        model="gpt-4o",
        messages=[{"role": "user", "content": "hi"}],
        extra_headers={"x-aigw-tags": "pr=org/repo#123, env=ci"},
    )
    first = last_event(gateway, 1)
    assert (first.message_count, first.last_turn_tool_result, first.tools_offered) == (1, False, 0)
    assert json.loads(first.tags) == {"pr": "org/repo#123", "env": "ci"}
    client.chat.completions.create(
        model="gpt-4o",
        messages=[
            {"role": "system", "content": "be brief"},
            {"role": "user", "content": "look it up"},
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "id": "call_1",
                        "type": "function",
                        "function": {"name": "lookup", "arguments": "{}"},
                    }
                ],
            },
            {"role": "tool", "tool_call_id": "call_1", "content": "42"},
        ],
        tools=[TOOL, {**TOOL, "function": {**TOOL["function"], "name": "other"}}],
        # OpenAI's metadata values are strings: the header's form
        metadata={"tags": "repo=org/repo,job:build"},
    )
    second = last_event(gateway, 2)
    assert (second.message_count, second.last_turn_tool_result, second.tools_offered) == (
        4,
        True,
        2,
    )
    assert json.loads(second.tags) == {"repo": "org/repo", "job": "build"}
    # The tags are the gateway's: the provider never sees them.
    assert b"org/repo" not in gateway.mock.last_body


def test_anthropic_messages_count_a_tool_result_block_and_take_metadata_tags(gateway):
    client = an(gateway)
    client.messages.create(
        model="claude-sonnet-4-6",
        max_tokens=20,
        messages=[{"role": "user", "content": "hi"}],
        tools=[ANTHROPIC_TOOL],
        metadata={"user_id": "u1", "tags": ["pr=org/repo#7", "ci"]},
    )
    first = last_event(gateway, 1)
    assert (first.message_count, first.last_turn_tool_result, first.tools_offered) == (1, False, 1)
    assert json.loads(first.tags) == {"pr": "org/repo#7", "ci": ""}
    sent = json.loads(gateway.mock.last_body)
    assert sent["metadata"] == {"user_id": "u1"}  # the rest of the metadata goes on
    client.messages.create(
        model="claude-sonnet-4-6",
        max_tokens=20,
        messages=[
            {"role": "user", "content": "look it up"},
            {
                "role": "assistant",
                "content": [{"type": "tool_use", "id": "tu_1", "name": "lookup", "input": {}}],
            },
            {
                "role": "user",
                "content": [{"type": "tool_result", "tool_use_id": "tu_1", "content": "42"}],
            },
        ],
        tools=[ANTHROPIC_TOOL],
        extra_headers={"x-aigw-tags": "pr=org/repo#8"},
        metadata={"tags": {"pr": "org/repo#7", "env": "dev"}},
    )
    second = last_event(gateway, 2)
    assert (second.message_count, second.last_turn_tool_result) == (3, True)
    # Named in both: the header wins
    assert json.loads(second.tags) == {"pr": "org/repo#8", "env": "dev"}


def test_the_responses_api_counts_input_items(gateway):
    client = oa(gateway)
    client.responses.create(model="gpt-4o", input="hello")
    first = last_event(gateway, 1)
    assert (first.message_count, first.last_turn_tool_result, first.tags) == (1, False, None)
    client.responses.create(
        model="gpt-4o",
        input=[
            {"type": "message", "role": "user", "content": "look it up"},
            {"type": "function_call", "call_id": "c1", "name": "lookup", "arguments": "{}"},
            {"type": "function_call_output", "call_id": "c1", "output": "42"},
        ],
        tools=[{"type": "function", "name": "lookup", "parameters": {"type": "object"}}],
    )
    second = last_event(gateway, 2)
    assert (second.message_count, second.last_turn_tool_result, second.tools_offered) == (
        3,
        True,
        1,
    )


BAD_TAGS = [
    ({"x-aigw-tags": ",".join(f"k{i}=v" for i in range(300))}, None, "more than 20 tags"),
    ({"x-aigw-tags": "pr=a\tb"}, None, "control characters"),
    ({"x-aigw-tags": "bad key=1"}, None, "'bad key' is not a valid key"),
    ({"x-aigw-tags": "k" * 65 + "=1"}, None, "is not a valid key"),
    ({}, {"tags": {"pr": "x" * 201}}, "longer than 200"),
    ({}, {"tags": {"pr": "a\nb"}}, "control characters"),
    ({}, {"tags": [f"k{i}=v" for i in range(21)]}, "more than 20 tags"),
    ({}, {"tags": {"pr": {"nested": 1}}}, "must be a string"),
    ({}, {"tags": 7}, "must be an object"),
]


@pytest.mark.parametrize(("headers", "metadata", "problem"), BAD_TAGS)
def test_tags_out_of_bounds_are_a_400_in_each_dialect_and_only_the_refusal_is_recorded(
    gateway, headers, metadata, problem
):
    extra = {"metadata": metadata} if metadata else {}
    with pytest.raises(openai.BadRequestError) as refused:
        oa(gateway).chat.completions.create(
            model="gpt-4o",
            messages=[{"role": "user", "content": "hi"}],
            extra_headers=headers,
            extra_body=extra,
        )
    error = refused.value.body
    assert problem in error["message"] and error["code"] == "invalid_tags"
    with pytest.raises(anthropic.BadRequestError) as refused:
        an(gateway).messages.create(
            model="claude-sonnet-4-6",
            max_tokens=20,
            messages=[{"role": "user", "content": "hi"}],
            extra_headers=headers,
            extra_body=extra,
        )
    body = refused.value.body
    assert body["type"] == "error" and body["error"]["type"] == "invalid_request_error"
    assert problem in body["error"]["message"]
    assert gateway.mock.requests == 0  # nothing was sent on
    time.sleep(0.2)
    events = list(gateway.events.events)
    assert [(e.status, e.error_type, e.tags) for e in events] == [(400, "invalid_tags", None)] * 2


def test_parse_tags_bounds():
    assert signals.parse_tags(None, None) is None
    assert signals.parse_tags(" , ", {"tags": []}) is None
    assert signals.parse_tags("team:ml=yes", None) == '{"team:ml":"yes"}'
    twenty = ",".join(f"k{i}=v" for i in range(20))
    assert len(json.loads(signals.parse_tags(twenty, None))) == 20
    with pytest.raises(Exception, match="more than 20"):
        signals.parse_tags(twenty, {"tags": {"one": "more"}})
    assert signals.parse_tags(None, {"tags": {"n": 12}}) == '{"n":"12"}'
    # Header bytes are read as Latin-1: UTF-8 is read back as the client meant it.
    assert signals.header_text("owner=José".encode().decode("latin-1")) == "owner=José"
    assert signals.header_text("x=\xff") == "x=\xff"


@pytest.fixture
def gateway_recording(db, redis_url, mock_upstream, tmp_path):
    """A gateway with the durable event writer and its in-process consumer."""
    mock_url, _ = mock_upstream
    operator_call(db.admin, "select api.create_team('t1')")
    key = operator_call(db.admin, "select key from api.issue_key('t1', 'k')")[0][0]
    app = create_app(
        db.app,
        redis_url,
        gateway_config=load_config(env={}, mock_provider_url=mock_url),
        spool_dir=tmp_path,
    )
    with serving(app) as url:
        yield url, key


def test_the_signals_reach_the_event_log(db, gateway_recording):
    url, key = gateway_recording
    client = anthropic.Anthropic(base_url=f"{url}/anthropic", api_key=key, max_retries=0)
    client.messages.create(
        model="claude-sonnet-4-6",
        max_tokens=20,
        messages=[{"role": "user", "content": "hi"}],
        tools=[ANTHROPIC_TOOL, {**ANTHROPIC_TOOL, "name": "other"}],
        extra_headers={"x-aigw-tags": "pr=org/repo#123,env=ci"},
    )
    refused = httpx.post(
        f"{url}/v1/chat/completions",
        headers={"authorization": f"Bearer {key}", "x-aigw-tags": "x=a\tb"},
        json={"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]},
    )
    assert refused.status_code == 400 and "control characters" in refused.text
    query = (
        "select status, message_count, last_turn_tool_result, tools_offered, tags"
        " from events.requests order by status"
    )
    deadline = time.monotonic() + 15
    while len(rows := operator_call(db.admin, query)) < 2:
        assert time.monotonic() < deadline, rows
        time.sleep(0.1)
    assert rows == [
        (200, 1, False, 2, {"pr": "org/repo#123", "env": "ci"}),
        (400, None, None, None, None),
    ]
    by_tag = operator_call(
        db.admin, "select count(*) from events.requests where tags->>'pr' = 'org/repo#123'"
    )
    assert by_tag == [(1,)]

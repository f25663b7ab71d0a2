"""The OpenAI Responses API through the gateway, driven by the OpenAI SDK: whole and
streamed, forwarded to an OpenAI-format deployment or translated for an Anthropic one,
function tools, stored responses continued with previous_response_id under the team's
row-level security, and the keys, budgets, cache and events every model call has."""

import time

import httpx
import openai
import pytest
from pydantic import BaseModel

from tests.helpers import operator_call

WEATHER = {
    "type": "function",
    "name": "get_weather",
    "description": "Weather for a city",
    "parameters": {
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
        "additionalProperties": False,
    },
}
# gpt-4o is served natively (an OpenAI-format deployment), claude-haiku-4-5 through litellm.
MODELS = ["gpt-4o", "claude-haiku-4-5"]


def client(gateway, key=None) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{gateway.url}/v1", api_key=key or gateway.key, max_retries=0)


def wait_for_events(gateway, count: int, timeout: float = 5.0) -> list:
    deadline = time.monotonic() + timeout
    while len(gateway.events.events) < count:
        assert time.monotonic() < deadline, f"{len(gateway.events.events)} events, not {count}"
        time.sleep(0.01)
    return list(gateway.events.events)


@pytest.mark.parametrize("model", MODELS)
def test_a_response_whole_and_streamed(gateway, model):
    sdk = client(gateway)
    whole = sdk.responses.create(model=model, input="Hello there", instructions="Be brief.")
    assert whole.id.startswith("resp_") and whole.model == model
    assert whole.output_text.startswith(f"[mock {model}] You said: Hello there")
    assert whole.usage.input_tokens > 0 and whole.usage.output_tokens > 0
    with sdk.responses.stream(model=model, input="Hello there", instructions="Be brief.") as stream:
        kinds = [event.type for event in stream]
        streamed = stream.get_final_response()
    assert kinds[0] == "response.created" and kinds[-1] == "response.completed"
    assert "response.output_text.delta" in kinds
    assert streamed.output_text == whole.output_text
    assert streamed.id.startswith("resp_") and streamed.id != whole.id
    events = wait_for_events(gateway, 2)
    assert [(e.endpoint, e.status, e.stream) for e in events] == [
        ("/v1/responses", 200, False),
        ("/v1/responses", 200, True),
    ]
    assert events[0].path == ("native" if model == "gpt-4o" else "litellm")
    assert events[1].output_tokens == whole.usage.output_tokens
    # The ids are the gateway's, whole and streamed, whatever the provider called them.
    assert [whole.id, streamed.id] == ["resp_" + e.request_id.removeprefix("req_") for e in events]
    time.sleep(0.3)  # stored off the response path
    assert client(gateway).responses.retrieve(streamed.id).output_text == whole.output_text


@pytest.mark.parametrize("model", MODELS)
def test_a_function_call_round_trip_continued_by_previous_response_id(gateway, model):
    sdk = client(gateway)
    first = sdk.responses.create(model=model, input="Use get_weather: Oslo", tools=[WEATHER])
    (call,) = [item for item in first.output if item.type == "function_call"]
    assert call.name == "get_weather" and call.arguments == '{"city": "Oslo"}'
    # The next turn names only what is new: the stored turn supplies the rest.
    final = sdk.responses.create(
        model=model,
        previous_response_id=first.id,
        input=[{"type": "function_call_output", "call_id": call.call_id, "output": "sunny, 21°C"}],
        tools=[WEATHER],
    )
    assert "get_weather tool returned: sunny, 21°C" in final.output_text
    assert final.previous_response_id == first.id
    items = httpx.get(
        f"{gateway.url}/v1/responses/{final.id}/input_items",
        headers={"authorization": f"Bearer {gateway.key}"},
    ).json()["data"]
    assert [i.get("type") for i in items] == ["message", "function_call", "function_call_output"]


def test_stored_responses_are_the_teams_own(gateway):
    sdk = client(gateway)
    kept = sdk.responses.create(model="gpt-4o", input="Remember me")
    time.sleep(0.3)  # stored off the response path
    assert sdk.responses.retrieve(kept.id).output_text == kept.output_text
    operator_call(gateway.db.admin, "select api.create_team('t2')")
    ((other_key,),) = operator_call(gateway.db.admin, "select key from api.issue_key('t2', 'k')")
    other = client(gateway, other_key)
    with pytest.raises(openai.NotFoundError) as hidden:
        other.responses.retrieve(kept.id)
    assert hidden.value.body["code"] == "response_not_found"
    with pytest.raises(openai.BadRequestError) as refused:
        other.responses.create(model="gpt-4o", previous_response_id=kept.id, input="Go on")
    assert refused.value.body["code"] == "previous_response_not_found"
    with pytest.raises(openai.NotFoundError):
        other.responses.delete(kept.id)
    assert sdk.responses.retrieve(kept.id).id == kept.id  # still there for its team
    # store: false keeps nothing; a deleted response is gone.
    unkept = sdk.responses.create(model="gpt-4o", input="Forget me", store=False)
    time.sleep(0.3)
    with pytest.raises(openai.NotFoundError):
        sdk.responses.retrieve(unkept.id)
    sdk.responses.delete(kept.id)
    with pytest.raises(openai.NotFoundError):
        sdk.responses.retrieve(kept.id)
    with pytest.raises(openai.BadRequestError):
        sdk.responses.create(model="gpt-4o", previous_response_id=kept.id, input="Go on")
    assert gateway.operator("select count(*) from conversations.responses") == [(0,)]


class Trip(BaseModel):
    city: str
    days: int


@pytest.mark.parametrize("model", MODELS)
def test_structured_outputs_parse_through_the_responses_api(gateway, model):
    parsed = client(gateway).responses.parse(model=model, input="Plan a trip", text_format=Trip)
    assert isinstance(parsed.output_parsed, Trip)


def test_a_budget_reserves_and_settles_a_response_and_the_cache_serves_it(gateway):
    gateway.operator("select api.set_budget('t1', 'month', 10)")
    gateway.operator("select api.set_cache_policy('t1', 'exact')")
    time.sleep(0.3)
    sdk = client(gateway)
    first = sdk.responses.create(model="gpt-4o", input="Cache me", store=False)
    time.sleep(0.3)
    again = sdk.responses.with_raw_response.create(model="gpt-4o", input="Cache me", store=False)
    assert again.headers["x-aigw-cache"] == "hit-exact"
    assert again.parse().output_text == first.output_text and again.parse().id != first.id
    with sdk.responses.stream(model="gpt-4o", input="Cache me", store=False) as stream:
        assert stream.get_final_response().output_text == first.output_text
    assert gateway.mock.by_path.get("/v1/responses") == 1
    deadline = time.monotonic() + 5
    while gateway.operator("select reserved_usd from api.list_budgets()") != [(0,)]:
        assert time.monotonic() < deadline, "the reservation was never settled"
        time.sleep(0.05)
    ((spent,),) = gateway.operator("select spent_usd from api.list_budgets()")
    assert spent > 0


@pytest.mark.parametrize(
    ("body", "named"),
    [
        ({"input": []}, "input"),
        ({"input": [5]}, "input[0]"),
        ({"input": "x", "max_output_tokens": 0}, "max_output_tokens"),
        ({"input": "x", "temperature": 3}, "temperature"),
        ({"input": "x", "background": True}, "background"),
        ({"input": "x", "conversation": "conv_1"}, "conversation"),
        ({"input": "x", "previous_response_id": "resp_" + "0" * 32}, "not found"),
        ({"input": "x", "previous_response_id": 7}, "previous_response_id"),
    ],
)
def test_bad_responses_requests_are_400s_in_openais_shape(gateway, body, named):
    response = httpx.post(
        f"{gateway.url}/v1/responses",
        json={"model": "gpt-4o", **body},
        headers={"authorization": f"Bearer {gateway.key}"},
    )
    assert response.status_code == 400, response.text
    assert named in response.json()["error"]["message"]
    assert gateway.mock.requests == 0

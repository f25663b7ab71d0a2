"""Guardrails enforced by the gateway, through a real server, driven by the OpenAI and
Anthropic SDKs against the mock provider (which records what it was sent).

Rules are set in SQL as an operator would, while the gateway runs: each reaches it by
NOTIFY, as in service."""

import json
import time

import anthropic
import httpx
import openai
import pytest

from api.app import create_app
from api.gateway.config import load_config
from tests.helpers import budgets_settled, create_user, operator_call, serving, sign_in

HELLO = [{"role": "user", "content": "Hello there"}]
EMAIL = "jane.doe@example.com"
CARD = "4111 1111 1111 1111"  # passes Luhn
NOT_A_CARD = "4111 1111 1111 1112"  # fails it
IBAN = "DE89 3704 0044 0532 0130 00"  # passes mod-97
NOT_AN_IBAN = "DE89 3704 0044 0532 0130 01"
AWS_KEY = "AKIAIOSFODNN7EXAMPLE"
GITHUB_TOKEN = "ghp_" + "A1b2C3d4E5" * 3 + "abcdef"


def oa(gw, key=None) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{gw.url}/v1", api_key=key or gw.key, max_retries=0)


def an(gw, key=None) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=f"{gw.url}/anthropic", api_key=key or gw.key, max_retries=0)


def team_id(gw, team: str = "t1") -> str:
    return str(gw.operator("select id from iam.teams where name = %s", (team,))[0][0])


def set_rule(gw, name, stage, kind, config, action, team="t1") -> str:
    """Set a rule as an operator, and wait until the gateway enforces it."""
    (rule_id,) = gw.operator(
        "select api.set_guardrail(%s, %s, %s, %s, %s, %s)",
        (team, name, stage, kind, json.dumps(config), action),
    )[0]
    wait_until(lambda: enforced(gw, team, str(rule_id)), f"rule {name} enforced")
    return str(rule_id)


def enforced(gw, team: str | None, rule_id: str) -> bool:
    store = gw.gateway.guardrails
    rules = store.global_rules if team is None else store.for_team(team_id(gw, team))
    return any(r.id == rule_id for stage in (rules.input, rules.output) for r in stage.rules)


def wait_until(condition, what: str, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"not within {timeout} s: {what}"
        time.sleep(0.02)


def last_event(gw, count: int):
    wait_until(lambda: len(gw.events.events) >= count, f"{count} events")
    return list(gw.events.events)[count - 1]


def verdicts(event) -> list[tuple[str, str, str]]:
    return [(v["rule"], v["stage"], v["action"]) for v in json.loads(event.guardrail_verdicts)]


def sent_to_provider(gw) -> str:
    return gw.mock.last_body.decode()


# -- input: block, redact, flag in each dialect -------------------------------------------


def test_a_blocked_request_is_a_400_in_each_dialect_naming_the_rule_and_never_sent(gateway):
    set_rule(gateway, "codenames", "input", "deny_list", {"terms": ["Project Falcon"]}, "block")
    prompt = [{"role": "user", "content": "Tell me about project falcon."}]
    with pytest.raises(openai.BadRequestError) as chat:
        oa(gateway).chat.completions.create(model="gpt-4o", messages=prompt)
    assert chat.value.code == "guardrail_blocked"
    assert chat.value.body["type"] == "invalid_request_error"
    assert "rule codenames" in chat.value.message
    with pytest.raises(anthropic.BadRequestError) as messages:
        an(gateway).messages.create(model="claude-sonnet-4-6", max_tokens=64, messages=prompt)
    assert messages.value.body["type"] == "error"
    assert messages.value.body["error"]["type"] == "invalid_request_error"
    assert "rule codenames" in messages.value.body["error"]["message"]
    with pytest.raises(openai.BadRequestError) as responses:
        oa(gateway).responses.create(model="gpt-4o", input="project FALCON status?")
    assert responses.value.code == "guardrail_blocked"
    # The system prompt and instructions are read too.
    with pytest.raises(anthropic.BadRequestError):
        an(gateway).messages.create(
            model="claude-sonnet-4-6", max_tokens=64, system="Project Falcon rules", messages=HELLO
        )
    with pytest.raises(openai.BadRequestError):
        oa(gateway).responses.create(model="gpt-4o", input="Hi", instructions="Project Falcon")
    assert gateway.mock.requests == 0  # none reached the provider
    for count in range(1, 6):
        event = last_event(gateway, count)
        assert (event.status, event.error_type) == (400, "guardrail_blocked")
        assert event.guardrail_action == "block"
        assert verdicts(event) == [("codenames", "input", "block")]
        assert event.cost_usd is None and event.input_tokens == event.output_tokens == 0
    # What the rule does not match goes through.
    oa(gateway).chat.completions.create(model="gpt-4o", messages=HELLO)
    assert gateway.mock.requests == 1


def test_redaction_rewrites_what_the_provider_sees_in_each_dialect(gateway):
    set_rule(
        gateway, "pii", "input", "pii_redact", {"entities": ["email", "credit_card"]}, "redact"
    )
    text = f"Mail {EMAIL}, card {CARD}, ref {NOT_A_CARD}."
    expected = "Mail [REDACTED:email], card [REDACTED:credit_card], ref " + NOT_A_CARD
    chat = oa(gateway).chat.completions.create(
        model="gpt-4o", messages=[{"role": "user", "content": text}]
    )
    assert expected in sent_to_provider(gateway) and EMAIL not in sent_to_provider(gateway)
    assert "[REDACTED:email]" in chat.choices[0].message.content  # the mock echoes it
    an(gateway).messages.create(
        model="claude-sonnet-4-6",
        max_tokens=64,
        system=f"The user is {EMAIL}.",
        messages=[{"role": "user", "content": [{"type": "text", "text": text}]}],
    )
    sent = json.loads(gateway.mock.last_body)
    assert sent["system"] == "The user is [REDACTED:email]."
    assert sent["messages"][0]["content"][0]["text"].startswith(expected)
    oa(gateway).responses.create(model="gpt-4o", input=text, instructions=f"Reply to {EMAIL}")
    sent = json.loads(gateway.mock.last_body)
    assert sent["instructions"] == "Reply to [REDACTED:email]"
    assert expected in json.dumps(sent["input"])
    # Translated for another provider, the redacted text is what is translated.
    oa(gateway).chat.completions.create(
        model="claude-sonnet-4-6", messages=[{"role": "user", "content": text}]
    )
    assert expected in sent_to_provider(gateway) and EMAIL not in sent_to_provider(gateway)
    for count in range(1, 5):
        event = last_event(gateway, count)
        assert event.status == 200 and event.guardrail_action == "redact"
        assert verdicts(event) == [("pii", "input", "redact")]


def test_tool_results_are_read_and_secrets_blocked_or_redacted(gateway):
    set_rule(gateway, "no-aws", "input", "secrets", {"types": ["aws_access_key"]}, "block")
    set_rule(gateway, "tokens", "input", "secrets", {}, "redact")
    tool_use = {"type": "tool_use", "id": "toolu_1", "name": "env", "input": {}}
    with pytest.raises(anthropic.BadRequestError) as refused:
        an(gateway).messages.create(
            model="claude-sonnet-4-6",
            max_tokens=64,
            tools=[{"name": "env", "input_schema": {"type": "object", "properties": {}}}],
            messages=[
                {"role": "user", "content": "Use env: show"},
                {"role": "assistant", "content": [tool_use]},
                {
                    "role": "user",
                    "content": [
                        {"type": "tool_result", "tool_use_id": "toolu_1", "content": AWS_KEY}
                    ],
                },
            ],
        )
    assert "rule no-aws" in refused.value.body["error"]["message"]
    assert gateway.mock.requests == 0
    call = {"id": "call_1", "type": "function", "function": {"name": "env", "arguments": "{}"}}
    answer = oa(gateway).chat.completions.create(
        model="gpt-4o",
        messages=[
            {"role": "user", "content": "Use env: show"},
            {"role": "assistant", "tool_calls": [call]},
            {"role": "tool", "tool_call_id": "call_1", "content": f"GITHUB={GITHUB_TOKEN}"},
        ],
    )
    assert GITHUB_TOKEN not in sent_to_provider(gateway)
    assert "GITHUB=[REDACTED:github_token]" in sent_to_provider(gateway)
    assert "[REDACTED:github_token]" in answer.choices[0].message.content
    key = "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA\n-----END RSA PRIVATE KEY-----"
    oa(gateway).responses.create(
        model="gpt-4o",
        input=[
            {"type": "message", "role": "user", "content": "Use env: show"},
            {"type": "function_call", "call_id": "c1", "name": "env", "arguments": "{}"},
            {"type": "function_call_output", "call_id": "c1", "output": f"key: {key} end"},
        ],
    )
    assert "key: [REDACTED:private_key] end" in sent_to_provider(gateway)
    assert "MIIEowIBAAKCAQEA" not in sent_to_provider(gateway)


def test_luhn_and_mod_97_decide_what_is_redacted(gateway):
    set_rule(
        gateway, "money", "input", "pii_redact", {"entities": ["credit_card", "iban"]}, "redact"
    )
    text = f"pay {CARD} or {NOT_A_CARD}; to {IBAN} not {NOT_AN_IBAN}"
    oa(gateway).chat.completions.create(
        model="gpt-4o", messages=[{"role": "user", "content": text}]
    )
    sent = json.loads(gateway.mock.last_body)["messages"][0]["content"]
    assert sent == (
        f"pay [REDACTED:credit_card] or {NOT_A_CARD}; to [REDACTED:iban] not {NOT_AN_IBAN}"
    )
    # Nothing valid: nothing redacted, and no verdict.
    oa(gateway).chat.completions.create(
        model="gpt-4o", messages=[{"role": "user", "content": f"{NOT_A_CARD} {NOT_AN_IBAN}"}]
    )
    event = last_event(gateway, 2)
    assert event.guardrail_action is None and event.guardrail_verdicts is None


def test_flag_records_the_verdict_and_lets_the_request_through_unchanged(gateway):
    set_rule(gateway, "salary-talk", "input", "regex", {"pattern": r"\bsalar(y|ies)\b"}, "flag")
    text = "What are the SALARIES of the team?"
    chat = oa(gateway).chat.completions.create(
        model="gpt-4o", messages=[{"role": "user", "content": text}]
    )
    assert text in chat.choices[0].message.content
    assert json.loads(gateway.mock.last_body)["messages"][0]["content"] == text
    event = last_event(gateway, 1)
    assert event.status == 200 and event.guardrail_action == "flag"
    assert verdicts(event) == [("salary-talk", "input", "flag")]


def test_max_input_tokens_blocks_a_prompt_too_large(gateway):
    set_rule(gateway, "size", "input", "max_input_tokens", {"max_tokens": 100}, "block")
    oa(gateway).chat.completions.create(model="gpt-4o", messages=HELLO)
    with pytest.raises(openai.BadRequestError) as refused:
        oa(gateway).chat.completions.create(
            model="gpt-4o", messages=[{"role": "user", "content": "word " * 200}]
        )
    assert "rule size" in refused.value.message
    assert gateway.mock.requests == 1


def test_a_blocked_request_costs_nothing_against_a_budget(gateway):
    gateway.operator("select api.set_budget('t1', 'month', 10)")
    set_rule(gateway, "codenames", "input", "deny_list", {"terms": ["falcon"]}, "block")
    for _ in range(3):
        with pytest.raises(openai.BadRequestError):
            oa(gateway).chat.completions.create(
                model="gpt-4o", messages=[{"role": "user", "content": "falcon " * 5000}]
            )
    [(_, _, spent, reserved)] = budgets_settled(gateway.db.admin)
    assert spent == 0 and reserved == 0
    oa(gateway).chat.completions.create(model="gpt-4o", messages=HELLO)  # a real call costs
    [(_, _, spent, _)] = budgets_settled(gateway.db.admin)
    assert spent > 0
    assert [last_event(gateway, n).cost_usd for n in (1, 2, 3)] == [None, None, None]


# -- output: whole answers --------------------------------------------------------------


def test_output_rules_redact_and_block_whole_answers_in_each_dialect(gateway):
    set_rule(gateway, "pii-out", "output", "pii_redact", {"entities": ["email"]}, "redact")
    prompt = [{"role": "user", "content": f"Write to {EMAIL} today"}]
    chat = oa(gateway).chat.completions.create(model="gpt-4o", messages=prompt)
    assert EMAIL in sent_to_provider(gateway)  # an output rule leaves the request alone
    assert "You said: Write to [REDACTED:email] today" in chat.choices[0].message.content
    message = an(gateway).messages.create(model="claude-sonnet-4-6", max_tokens=64, messages=prompt)
    assert "Write to [REDACTED:email] today" in message.content[0].text
    response = oa(gateway).responses.create(model="gpt-4o", input=f"Write to {EMAIL} today")
    assert "Write to [REDACTED:email] today" in response.output_text
    # What is stored is what was answered.
    stored = oa(gateway).responses.retrieve(response.id)
    assert EMAIL not in stored.output_text
    assert last_event(gateway, 3).guardrail_action == "redact"

    set_rule(gateway, "no-mock", "output", "regex", {"pattern": r"\[mock [a-z0-9.-]+\]"}, "block")
    with pytest.raises(openai.BadRequestError) as chat_refused:
        oa(gateway).chat.completions.create(model="gpt-4o", messages=HELLO)
    assert chat_refused.value.code == "guardrail_blocked"
    assert "answer was blocked by guardrail rule no-mock" in chat_refused.value.message
    with pytest.raises(anthropic.BadRequestError) as message_refused:
        an(gateway).messages.create(model="claude-sonnet-4-6", max_tokens=64, messages=HELLO)
    assert "rule no-mock" in message_refused.value.body["error"]["message"]
    with pytest.raises(openai.BadRequestError):
        oa(gateway).responses.create(model="gpt-4o", input="Hello there")
    event = last_event(gateway, 5)  # (the 4th: the stored response read back)
    # The provider answered and is paid for; the caller got the refusal.
    assert (event.status, event.error_type, event.guardrail_action) == (
        400,
        "guardrail_blocked",
        "block",
    )
    assert event.output_tokens > 0 and event.model_served == "gpt-4o"


def test_a_cached_answer_is_judged_by_the_output_rules_of_today(gateway):
    gateway.operator("select api.set_cache_policy('t1', 'exact')")
    prompt = [{"role": "user", "content": f"Write to {EMAIL} today"}]
    wait_until(
        lambda: (
            oa(gateway)
            .chat.completions.with_raw_response.create(model="gpt-4o", messages=prompt)
            .headers["x-aigw-cache"]
            == "hit-exact"
        ),
        "the answer is cached",
    )
    assert gateway.mock.requests == 1
    set_rule(gateway, "pii-out", "output", "pii_redact", {"entities": ["email"]}, "redact")
    hit = oa(gateway).chat.completions.with_raw_response.create(model="gpt-4o", messages=prompt)
    assert hit.headers["x-aigw-cache"] == "hit-exact"
    assert "Write to [REDACTED:email] today" in hit.parse().choices[0].message.content
    streamed = oa(gateway).chat.completions.create(model="gpt-4o", messages=prompt, stream=True)
    assert "[REDACTED:email]" in "".join(c.choices[0].delta.content or "" for c in streamed)
    set_rule(gateway, "no-mock", "output", "regex", {"pattern": r"\[mock "}, "block")
    with pytest.raises(openai.BadRequestError) as refused:
        oa(gateway).chat.completions.create(model="gpt-4o", messages=prompt)
    assert "rule no-mock" in refused.value.message
    assert gateway.mock.requests == 1  # all of it from the cache


def test_input_rules_apply_to_embeddings(gateway):
    set_rule(gateway, "pii", "input", "pii_redact", {"entities": ["email"]}, "redact")
    oa(gateway).embeddings.create(model="text-embedding-3-small", input=[f"to {EMAIL}", "b"])
    assert json.loads(gateway.mock.last_body)["input"] == ["to [REDACTED:email]", "b"]
    assert last_event(gateway, 1).guardrail_action == "redact"


# -- output: streams --------------------------------------------------------------------


def test_streamed_answers_are_redacted_on_the_fly_across_chunks(gateway):
    gateway.mock.chunks = 40  # two or three characters a chunk: the address is split
    set_rule(gateway, "pii-out", "output", "pii_redact", {"entities": ["email"]}, "redact")
    prompt = [{"role": "user", "content": f"Write to {EMAIL} today"}]
    whole = oa(gateway).chat.completions.create(model="gpt-4o", messages=prompt)
    expected = whole.choices[0].message.content
    assert "[REDACTED:email]" in expected
    chunks = list(oa(gateway).chat.completions.create(model="gpt-4o", messages=prompt, stream=True))
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == expected
    with an(gateway).messages.stream(
        model="claude-sonnet-4-6", max_tokens=64, messages=prompt
    ) as stream:
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
    assert "Write to [REDACTED:email] today" in text and EMAIL not in text
    assert final.content[0].text == text
    with oa(gateway).responses.stream(model="gpt-4o", input=f"Write to {EMAIL} today") as stream:
        deltas = [e.delta for e in stream if e.type == "response.output_text.delta"]
        completed = stream.get_final_response()
    streamed = "".join(deltas)
    assert "Write to [REDACTED:email] today" in streamed and "jane" not in streamed
    assert completed.output_text == streamed
    event = last_event(gateway, 4)
    assert event.stream and event.guardrail_action == "redact" and not event.client_disconnected
    assert verdicts(event) == [("pii-out", "output", "redact")]


def test_a_blocked_stream_ends_with_an_error_event_in_each_dialect(gateway):
    gateway.mock.chunks = 40
    set_rule(gateway, "no-echo", "output", "deny_list", {"terms": ["You said"]}, "block")
    received = []
    with pytest.raises(openai.APIError) as chat:
        for chunk in oa(gateway).chat.completions.create(
            model="gpt-4o", messages=HELLO, stream=True
        ):
            received.extend(c.delta.content or "" for c in chunk.choices)
    assert "rule no-echo" in chat.value.message and chat.value.code == "guardrail_blocked"
    assert "said" not in "".join(received)  # what the rule matched was never sent
    text = []
    with pytest.raises(anthropic.APIStatusError) as messages:  # noqa: SIM117
        with an(gateway).messages.stream(
            model="claude-sonnet-4-6", max_tokens=64, messages=HELLO
        ) as stream:
            text.extend(stream.text_stream)
    assert messages.value.body["error"]["type"] == "invalid_request_error"
    assert "rule no-echo" in messages.value.body["error"]["message"]
    assert "said" not in "".join(text)
    events = list(oa(gateway).responses.create(model="gpt-4o", input="Hello there", stream=True))
    kinds = [e.type for e in events]
    assert kinds[-1] == "error" and "response.completed" not in kinds
    assert events[-1].code == "guardrail_blocked" and "rule no-echo" in events[-1].message
    for count in (1, 2, 3):
        event = last_event(gateway, count)
        assert event.error_type == "guardrail_blocked" and event.guardrail_action == "block"
        assert not event.client_disconnected and event.output_tokens > 0


# -- scope and change -------------------------------------------------------------------


def test_a_teams_rule_never_touches_another_team_and_a_global_rule_touches_all(gateway):
    gateway.operator("select api.create_team('t2')")
    (other,) = gateway.operator("select key from api.issue_key('t2', 'k2')")[0]
    set_rule(gateway, "t1-only", "input", "deny_list", {"terms": ["falcon"]}, "block")
    prompt = [{"role": "user", "content": f"falcon {EMAIL}"}]
    with pytest.raises(openai.BadRequestError):
        oa(gateway).chat.completions.create(model="gpt-4o", messages=prompt)
    oa(gateway, other).chat.completions.create(model="gpt-4o", messages=prompt)
    assert EMAIL in sent_to_provider(gateway)
    set_rule(gateway, "pii-all", "input", "pii_redact", {"entities": ["email"]}, "redact", None)
    wait_until(lambda: enforced(gateway, "t2", gateway_rule_id(gateway, "pii-all")), "global")
    oa(gateway, other).chat.completions.create(model="gpt-4o", messages=prompt)
    assert "falcon [REDACTED:email]" in sent_to_provider(gateway)
    with pytest.raises(openai.BadRequestError):  # t1: its own rule and the global one
        oa(gateway).chat.completions.create(model="gpt-4o", messages=prompt)


def gateway_rule_id(gw, name: str) -> str:
    return str(gw.operator("select id from api.list_guardrails() where name = %s", (name,))[0][0])


def test_a_change_reaches_the_running_gateway_without_a_restart(gateway):
    prompt = [{"role": "user", "content": "about falcon"}]
    client = oa(gateway)
    client.chat.completions.create(model="gpt-4o", messages=prompt)
    (rule_id,) = gateway.operator(
        "select api.set_guardrail('t1', 'birds', 'input', 'deny_list', %s, 'block')",
        (json.dumps({"terms": ["falcon"]}),),
    )[0]

    def refused() -> bool:
        try:
            client.chat.completions.create(model="gpt-4o", messages=prompt)
        except openai.BadRequestError:
            return True
        return False

    wait_until(refused, "the new rule blocks")
    gateway.operator(
        "select api.set_guardrail('t1', 'birds', 'input', 'deny_list', %s, 'flag')",
        (json.dumps({"terms": ["falcon"]}),),
    )
    wait_until(lambda: not refused(), "the rule, now flag only, lets it through")
    gateway.operator(
        "select api.set_guardrail('t1', 'birds', 'input', 'deny_list', %s, 'block')",
        (json.dumps({"terms": ["falcon"]}),),
    )
    wait_until(refused, "blocks again")
    gateway.operator("select api.delete_guardrail(%s)", (rule_id,))
    wait_until(lambda: not refused(), "removed")


# -- bad rules ----------------------------------------------------------------------------


@pytest.fixture
def admin_session(gateway):
    create_user(gateway.db.admin, "root@example.com", roles=(("platform_admin", None),))
    return sign_in(gateway.url, "root@example.com")


@pytest.mark.parametrize(
    "config",
    [
        {"pattern": "(?=secret)"},  # lookahead: RE2 cannot
        {"pattern": r"(a)\1"},  # a backreference
        {"pattern": "((a{100}){100}){100}"},  # a million-state program: refused
        {"pattern": "(unclosed"},
        {"pattern": ""},
    ],
)
def test_an_invalid_or_catastrophic_regex_is_refused_at_save_time_and_nothing_written(
    gateway, admin_session, config
):
    response = httpx.post(
        f"{gateway.url}/admin/guardrails",
        headers=admin_session,
        json={
            "name": "bad",
            "stage": "input",
            "kind": "regex",
            "config": config,
            "action": "block",
        },
    )
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "invalid_guardrail" and "pattern" in error["message"] + json.dumps(
        config
    )
    assert gateway.operator("select count(*) from api.list_guardrails()") == [(0,)]


def test_a_valid_rule_is_saved_over_http_and_enforced(gateway, admin_session):
    response = httpx.post(
        f"{gateway.url}/admin/guardrails",
        headers=admin_session,
        json={
            "team": "t1",
            "name": "named-groups",
            "stage": "input",
            "kind": "regex",
            "config": {"pattern": r"(?P<word>\bzebra\b)"},
            "action": "redact",
        },
    )
    assert response.status_code == 200, response.text
    wait_until(lambda: enforced(gateway, "t1", response.json()["id"]), "enforced")
    oa(gateway).chat.completions.create(
        model="gpt-4o", messages=[{"role": "user", "content": "a ZEBRA crossing"}]
    )
    assert "a [REDACTED:named-groups] crossing" in sent_to_provider(gateway)


def test_a_pathological_pattern_is_linear_time_on_the_hot_path(gateway):
    # (a+)+$ takes exponential time in a backtracking engine on "aaaa…!"; RE2 is linear.
    set_rule(gateway, "nested", "input", "regex", {"pattern": "(a+)+$"}, "flag")
    started = time.perf_counter()
    oa(gateway).chat.completions.create(
        model="gpt-4o", messages=[{"role": "user", "content": "a" * 100_000 + "!"}]
    )
    assert time.perf_counter() - started < 2.0
    assert last_event(gateway, 1).guardrail_action is None  # "…!" does not end in a's
    oa(gateway).chat.completions.create(
        model="gpt-4o", messages=[{"role": "user", "content": "a" * 100_000}]
    )
    assert last_event(gateway, 2).guardrail_action == "flag"  # the rule was live


def test_a_stored_rule_the_gateway_cannot_compile_refuses_rather_than_lets_through(gateway):
    # The SQL check cannot see every limit of RE2; what slips past it fails closed.
    set_rule(gateway, "huge", "input", "regex", {"pattern": "((a{100}){100}){100}"}, "block")
    with pytest.raises(openai.BadRequestError) as refused:
        oa(gateway).chat.completions.create(model="gpt-4o", messages=HELLO)
    assert "rule huge" in refused.value.message and "cannot be compiled" in refused.value.message
    assert gateway.mock.requests == 0


# -- the event log ------------------------------------------------------------------------


def test_the_event_log_records_each_verdict(db, redis_url, mock_upstream, tmp_path):
    mock_url, _ = mock_upstream
    operator_call(db.admin, "select api.create_team('t1')")
    key = operator_call(db.admin, "select key from api.issue_key('t1', 'k')")[0][0]
    operator_call(
        db.admin,
        "select api.set_guardrail(null, 'codenames', 'input', 'deny_list', %s, 'block')",
        (json.dumps({"terms": ["falcon"]}),),
    )
    operator_call(
        db.admin,
        "select api.set_guardrail('t1', 'pii', 'input', 'pii_redact', %s, 'redact')",
        (json.dumps({"entities": ["email"]}),),
    )
    app = create_app(
        db.app,
        redis_url,
        gateway_config=load_config(env={}, mock_provider_url=mock_url),
        spool_dir=tmp_path,
    )
    with serving(app) as url:
        client = openai.OpenAI(base_url=f"{url}/v1", api_key=key, max_retries=0)
        with pytest.raises(openai.BadRequestError):
            client.chat.completions.create(
                model="gpt-4o", messages=[{"role": "user", "content": "falcon"}]
            )
        client.chat.completions.create(
            model="gpt-4o", messages=[{"role": "user", "content": EMAIL}]
        )
        client.chat.completions.create(model="gpt-4o", messages=HELLO)

        def rows():
            return operator_call(
                db.admin,
                "select status, error_type, cost_usd, guardrail_action, guardrail_verdicts"
                " from events.requests order by started_at",
            )

        wait_until(lambda: len(rows()) == 3, "three events recorded", timeout=15)
    (blocked, redacted, plain) = rows()
    assert blocked[:4] == (400, "guardrail_blocked", 0, "block")
    assert [(v["rule"], v["scope"], v["action"]) for v in blocked[4]] == [
        ("codenames", "global", "block")
    ]
    assert redacted[0] == 200 and redacted[2] > 0 and redacted[3] == "redact"
    assert [(v["rule"], v["scope"], v["kind"]) for v in redacted[4]] == [
        ("pii", "team", "pii_redact")
    ]
    assert plain[3:] == (None, None)

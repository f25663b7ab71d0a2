"""config.yaml: LiteLLM proxy's format. What aigw honours changes what the gateway does;
what it does not is refused by name at load; nothing is dropped without a word."""

import collections
import logging
import time

import aiohttp
import anthropic
import httpx
import openai
import pytest

from api.gateway.config import DEFAULT_CONFIG, ConfigError, load_config, routing_order
from api.gateway.upstream import Upstream
from api.mock_provider import create_mock_app
from tests.helpers import serving

LITELLM_CONFIG = """
model_list:
  - model_name: gpt-4o
    litellm_params:
      model: openai/gpt-4o
      api_key: os.environ/OPENAI_API_KEY
      rpm: 600
      timeout: 30
      stream_timeout: 5
      max_retries: 1
    model_info:
      id: primary
      description: the main one
      supports_vision: true
  - model_name: gpt-4o
    litellm_params:
      model: azure/gpt-4o-eu
      api_base: https://example-eu.openai.azure.com
      api_key: os.environ/AZURE_API_KEY
      api_version: "2024-10-21"
      rpm: 200
      order: 2
  - model_name: claude-sonnet-4-6
    litellm_params:
      model: anthropic/claude-sonnet-4-6
      api_key: os.environ/ANTHROPIC_API_KEY
litellm_settings:
  drop_params: true
  num_retries: 3
  request_timeout: 120
  set_verbose: false
  default_fallbacks: ["claude-sonnet-4-6"]
general_settings: {}
router_settings:
  routing_strategy: simple-shuffle
  cooldown_time: 10
  allowed_fails: 2
  stream_timeout: 60
  fallbacks: [{"gpt-4o": ["claude-sonnet-4-6"]}]
  model_group_alias: {"gpt4": "gpt-4o", "gpt-4": {"model": "gpt-4o", "hidden": true}}
"""
KEYS = {"OPENAI_API_KEY": "sk-o", "AZURE_API_KEY": "az", "ANTHROPIC_API_KEY": "sk-a"}


def write(tmp_path, text: str):
    path = tmp_path / "config.yaml"
    path.write_text(text)
    return path


def test_a_litellm_proxy_config_loads_with_what_it_says(tmp_path):
    path = write(tmp_path, LITELLM_CONFIG)
    config = load_config(path, env=KEYS, mock_provider_url="http://127.0.0.1:1")
    primary, eu = config.deployments["gpt-4o"]
    assert (primary.id, primary.wire, primary.api_key, primary.mock) == (
        "primary", "openai", "sk-o", False,
    )  # fmt: skip
    assert (primary.timeout_s, primary.stream_timeout_s, primary.max_retries) == (30, 5, 1)
    assert (eu.id, eu.wire, eu.api_base, eu.extra_params["api_version"]) == (
        "gpt-4o#1", "litellm", "https://example-eu.openai.azure.com", "2024-10-21",
    )  # fmt: skip
    assert (primary.weight, eu.weight, eu.order) == (600, 200, 2)
    assert config.deployments["claude-sonnet-4-6"][0].wire == "anthropic"
    settings = config.settings
    assert (settings.num_retries, settings.timeout_s, settings.stream_timeout_s) == (3, 120, 60)
    assert (settings.cooldown_s, settings.allowed_fails) == (10, 2)
    assert settings.fallbacks == {"gpt-4o": ["claude-sonnet-4-6"]}
    assert settings.fallbacks_of("claude-sonnet-4-6") == []  # a default never names itself
    assert config.canonical("gpt4") == config.canonical("gpt-4") == "gpt-4o"
    assert config.canonical("nope") is None
    assert config.mocked == []
    assert config.notices == (
        "model_list[0].model_info.description: accepted, not used (metadata)",
        "model_list[0].model_info.supports_vision: accepted, not used (capabilities are the "
        "provider's to say)",
        "litellm_settings.set_verbose: accepted, not used (aigw's logs are its own)",
    )


def test_missing_provider_keys_go_to_the_mock_only_when_one_is_offered(tmp_path):
    path = write(tmp_path, LITELLM_CONFIG)
    env = {"OPENAI_API_KEY": "sk-o"}
    config = load_config(path, env=env, mock_provider_url="http://127.0.0.1:9")
    assert config.mocked == ["claude-sonnet-4-6", "gpt-4o"]
    primary, eu = config.deployments["gpt-4o"]
    assert not primary.mock and eu.mock and eu.api_base == "http://127.0.0.1:9/v1"
    assert eu.extra_params == {} and eu.info.model == "azure/gpt-4o-eu"  # as configured
    claude = config.deployments["claude-sonnet-4-6"][0]
    assert (claude.wire, claude.api_base) == ("anthropic", "http://127.0.0.1:9")
    cloud = load_config(path, env=env)  # no mock offered (the cloud): keys stay missing
    assert cloud.mocked == [] and cloud.deployments["claude-sonnet-4-6"][0].api_key is None


def test_the_default_config_has_the_specs_models_the_current_claude_ones_and_an_embedder():
    config = load_config(DEFAULT_CONFIG, env={})
    assert len(config.deployments) == 16
    assert "text-embedding-3-small" in config.deployments
    assert config.notices == ()


def entry(params: str = "", info: str = "", name: str = "a") -> str:
    return (
        f"model_list:\n  - model_name: {name}\n"
        f"    litellm_params: {{model: openai/a{', ' + params if params else ''}}}\n"
        + (f"    model_info: {{{info}}}\n" if info else "")
    )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("model_list: []", "model_list must be a non-empty list"),
        ("model_list:\n  - model_name: x\n    litellm_params: {model: gpt-4o}", "provider/model"),
        (entry() + "router_settings: {fallbacks: [{a: [b]}]}", "names unknown model 'b'"),
        (": not yaml :", "cannot read the model config"),
        # every section and key aigw does not honour is refused by name, saying what to do
        (entry() + "general_settings: {master_key: sk-1}", "general_settings.master_key: aigw has no master key"),
        (entry() + "general_settings: {database_url: x}", "general_settings.database_url: aigw's database is DATABASE_URL"),
        (entry() + "general_settings: {ui_access_mode: all}", "general_settings.ui_access_mode: a LiteLLM proxy server setting"),
        (entry() + "environment_variables: {OPENAI_API_KEY: sk-1}", "environment_variables: not supported: aigw reads secrets from its own environment"),
        (entry() + "guardrails: []", "guardrails: not a section aigw knows"),
        (entry() + "litellm_settings: {success_callback: [langfuse]}", "litellm_settings.success_callback: not supported: aigw records every request in events.requests"),
        (entry() + "litellm_settings: {callbacks: [otel]}", "litellm_settings.callbacks: not supported"),
        (entry() + "litellm_settings: {cache: true}", "litellm_settings.cache: not supported: aigw's response cache is set per team"),
        (entry() + "litellm_settings: {max_budget: 10}", "api.set_budget"),
        (entry() + "litellm_settings: {drop_params: false}", "litellm_settings.drop_params: aigw always drops"),
        (entry() + "litellm_settings: {context_window_fallbacks: [{a: [a]}]}", "litellm_settings.context_window_fallbacks: not supported"),
        (entry() + "litellm_settings: {force_ipv4: true}", "litellm_settings.force_ipv4: not supported by aigw"),
        (entry() + "router_settings: {routing_strategy: least-busy}", "router_settings.routing_strategy: only simple-shuffle"),
        (entry() + "router_settings: {redis_host: localhost}", "aigw's Redis is REDIS_URL"),
        (entry() + "router_settings: {enable_pre_call_checks: true}", "router_settings.enable_pre_call_checks: not supported"),
        (entry() + "router_settings: {num_retries: -1}", "router_settings.num_retries: must be at least 0"),
        (entry() + "router_settings: {timeout: 0}", "router_settings.timeout: must be above 0"),
        (entry() + "litellm_settings: {request_timeout: soon}", "litellm_settings.request_timeout: must be a number"),
        (entry() + "router_settings: {num_retries: 2}\nlitellm_settings: {num_retries: 3}", "litellm_settings.num_retries (3) and router_settings.num_retries (2) differ"),
        (entry(name="'anthropic/*'"), "wildcard routes"),
        (entry(name="GPT-4o"), "model_name 'GPT-4o': model names are lowercase"),
        (entry("temperature: 0.2"), "model_list[0].litellm_params.temperature: not supported (request parameters"),
        (entry("api_version: '1'"), "model_list[0].litellm_params.api_version: not used by openai deployments"),
        (entry("custom_llm_provider: openai"), "name the provider in litellm_params.model"),
        (entry("max_retries: -1"), "litellm_params.max_retries: must be at least 0"),
        (entry("timeout: 0"), "litellm_params.timeout: must be above 0"),
        (entry(info="access_groups: [x]"), "model_info.access_groups: not supported: which teams may call a model"),
        (entry(info="max_input_tokens: many"), "model_info.max_input_tokens: must be a number"),
        (entry() + "  - model_name: a\n    rpm: 3\n    litellm_params: {model: openai/a}", "model_list[1].rpm: not supported"),
    ],
)  # fmt: skip
def test_a_config_aigw_cannot_take_says_what_and_why(tmp_path, text, message):
    with pytest.raises(ConfigError) as refused:
        load_config(write(tmp_path, text), env={})
    assert message in str(refused.value)


def test_every_problem_is_named_at_once(tmp_path):
    text = (
        entry("temperature: 0") + "general_settings: {master_key: x}\nenvironment_variables: {A: b}"
    )
    with pytest.raises(ConfigError) as refused:
        load_config(write(tmp_path, text), env={})
    lines = str(refused.value).splitlines()[1:]
    assert [line.strip().split(":")[0] for line in lines] == [
        "environment_variables",
        "general_settings.master_key",
        "model_list[0].litellm_params.temperature",
    ]


def test_keys_accepted_without_use_are_logged_when_the_gateway_starts(config_gateway, caplog):
    with caplog.at_level(logging.WARNING, logger="aigw.app"):
        config_gateway(entry(name="gpt-4o") + "litellm_settings: {json_logs: true}")
    assert (
        "model config: litellm_settings.json_logs: accepted, not used (aigw's logs are its own)"
        in caplog.text
    )


def test_a_gateway_started_with_models_the_registry_lacks_says_so(config_gateway, caplog):
    with caplog.at_level(logging.WARNING, logger="aigw.app"):
        config_gateway(entry(name="gpt-5") + entry(name="gpt-4o").split("\n", 1)[1])
    assert (
        "models of the config not in the registry, which nobody may call until an operator "
        "registers them (aigw models sync): gpt-5" in caplog.text
    )


# -- routing: simple-shuffle within the lowest order -------------------------------------


def test_deployments_are_drawn_by_weight_within_the_lowest_order(tmp_path):
    text = """
model_list:
  - {model_name: a, litellm_params: {model: openai/a, weight: 9, order: 1}, model_info: {id: heavy}}
  - {model_name: a, litellm_params: {model: openai/a, weight: 1, order: 1}, model_info: {id: light}}
  - {model_name: a, litellm_params: {model: openai/a, weight: 90, order: 2}, model_info: {id: later}}
  - {model_name: b, litellm_params: {model: openai/b, rpm: 10}, model_info: {id: with-rpm}}
  - {model_name: b, litellm_params: {model: openai/b}, model_info: {id: without}}
"""  # fmt: skip
    config = load_config(write(tmp_path, text), env={})
    firsts = collections.Counter(routing_order(config.deployments["a"])[0].id for _ in range(2000))
    assert set(firsts) == {"heavy", "light"}  # order 2 only after every order-1 deployment
    assert 1700 < firsts["heavy"] < 1900  # 9 : 1 (1,800 expected; σ ≈ 13)
    assert {tuple(d.id for d in routing_order(config.deployments["a"]))[2] for _ in range(50)} == {
        "later"
    }
    # rpm weighs when no weight is set; a deployment without it weighs nothing
    assert {routing_order(config.deployments["b"])[0].id for _ in range(200)} == {"with-rpm"}


async def test_default_fallbacks_serve_groups_without_their_own(tmp_path):
    text = """
model_list:
  - {model_name: a, litellm_params: {model: openai/a}}
  - {model_name: b, litellm_params: {model: openai/b}}
  - {model_name: c, litellm_params: {model: openai/c}}
router_settings: {fallbacks: [{a: [b]}]}
litellm_settings: {default_fallbacks: [c]}
"""
    config = load_config(write(tmp_path, text), env={})
    async with aiohttp.ClientSession() as http:
        upstream = Upstream(config, http)
        assert [d.model_name for d in upstream.candidates("a")] == ["a", "b"]
        assert [d.model_name for d in upstream.candidates("b")] == ["b", "c"]
        assert [d.model_name for d in upstream.candidates("c")] == ["c"]


# -- honoured settings change what the gateway does, against the mock provider -----------

HELLO = [{"role": "user", "content": "Hello there"}]


def client(gw, timeout: float = 20) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{gw.url}/v1", api_key=gw.key, max_retries=0, timeout=timeout)


def faults(gw, fault: str, count: int = 20) -> None:
    httpx.post(f"{gw.mock_url}/_mock/faults", json={"fault": fault, "count": count})


def test_litellm_settings_num_retries_is_how_often_a_failure_is_retried(config_gateway):
    gw = config_gateway(
        "model_list:\n  - {model_name: gpt-4o, litellm_params: {model: openai/gpt-4o}}\n"
        "litellm_settings: {num_retries: 4}\nrouter_settings: {retry_after: 0}\n"
    )
    faults(gw, "status=503")
    with pytest.raises(openai.InternalServerError):
        client(gw).chat.completions.create(model="gpt-4o", messages=HELLO)
    assert gw.mock.requests == 5  # 1 + num_retries


def test_a_deployments_max_retries_try_it_again_before_the_router_moves_on(config_gateway):
    gw = config_gateway(
        "model_list:\n"
        "  - {model_name: gpt-4o, litellm_params: {model: openai/gpt-4o, max_retries: 2, order: 1},"
        " model_info: {id: first}}\n"
        "  - {model_name: gpt-4o, litellm_params: {model: openai/gpt-4o, order: 2},"
        " model_info: {id: second}}\n"
        "router_settings: {num_retries: 1, retry_after: 0}\n"
    )
    faults(gw, "status=503", count=3)
    answer = client(gw).chat.completions.create(model="gpt-4o", messages=HELLO)
    assert answer.choices and gw.mock.requests == 4  # first three times, then second
    (event,) = gw.events.events
    assert (event.deployment, event.upstream_attempts) == ("second", 4)


def test_litellm_settings_request_timeout_bounds_each_attempt(config_gateway):
    gw = config_gateway(
        "model_list:\n  - {model_name: gpt-4o, litellm_params: {model: openai/gpt-4o}}\n"
        "litellm_settings: {request_timeout: 0.3, num_retries: 1}\n"
    )
    faults(gw, "timeout")
    started = time.monotonic()
    with pytest.raises(openai.APIStatusError) as timed_out:
        client(gw).chat.completions.create(model="gpt-4o", messages=HELLO)
    assert timed_out.value.status_code == 504
    assert time.monotonic() - started < 3 and gw.mock.requests == 2


def test_a_deployments_timeouts_bound_its_own_attempts(config_gateway):
    gw = config_gateway(
        "model_list:\n"
        "  - {model_name: gpt-4o, litellm_params: {model: openai/gpt-4o, timeout: 0.3}}\n"
        "  - model_name: claude-haiku-4-5\n"
        "    litellm_params: {model: anthropic/claude-haiku-4-5, stream_timeout: 0.3}\n"
        "router_settings: {num_retries: 0}\n"
    )
    faults(gw, "timeout")
    for model, stream in (("gpt-4o", False), ("claude-haiku-4-5", True)):  # native, litellm
        started = time.monotonic()
        with pytest.raises(openai.APIStatusError) as timed_out:
            client(gw).chat.completions.create(model=model, messages=HELLO, stream=stream)
        assert timed_out.value.status_code == 504
        assert time.monotonic() - started < 3, model


# -- which deployments learn the calling team ---------------------------------------------


class HeaderRecorder:
    """An external provider's stand-in: the mock provider, behind a recorder of every
    header each request brings."""

    def __init__(self):
        self.app = create_mock_app()
        self.seen: list[dict[str, str]] = []

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http":
            self.seen.append({k.decode(): v.decode() for k, v in scope["headers"]})
        await self.app(scope, receive, send)


def test_the_team_header_goes_to_our_own_deployments_only(config_gateway):
    recorder = HeaderRecorder()
    with serving(recorder) as provider_url:
        gw = config_gateway(
            """
model_list:
  - model_name: gpt-4o
    litellm_params: {model: openai/gpt-4o, api_key: os.environ/KEY, api_base: os.environ/BASE}
  - model_name: gpt-4o-mini
    litellm_params: {model: openai/gpt-4o-mini, api_key: os.environ/KEY, api_base: os.environ/BASE}
    model_info: {aigw_internal: true}
""",  # fmt: skip
            env={"KEY": "sk-external-provider", "BASE": f"{provider_url}/v1"},
        )
        ((team_id,),) = gw.operator("select id from api.list_teams() where name = 't1'")
        anthropic_client = anthropic.Anthropic(
            base_url=f"{gw.url}/anthropic", api_key=gw.key, max_retries=0
        )
        for model, ours in (("gpt-4o", False), ("gpt-4o-mini", True)):
            recorder.seen.clear()
            client(gw).chat.completions.create(model=model, messages=HELLO)  # forwarded
            anthropic_client.messages.create(model=model, max_tokens=16, messages=HELLO)  # litellm
            assert len(recorder.seen) == 2
            for headers in recorder.seen:
                assert headers["authorization"] == "Bearer sk-external-provider"
                assert headers.get("x-aigw-team") == (str(team_id) if ours else None), model


class CookieSetter(HeaderRecorder):
    """A provider that sets a cookie on every answer (as CDNs in front of some do)."""

    async def __call__(self, scope, receive, send):
        async def with_cookie(message):
            if message["type"] == "http.response.start":
                cookie = (b"set-cookie", b"edge=from-one-team; Path=/")
                message = {**message, "headers": [*message.get("headers", []), cookie]}
            await send(message)

        await super().__call__(scope, receive, with_cookie)


def test_a_cookie_a_provider_sets_never_travels_with_a_later_request(config_gateway):
    recorder = CookieSetter()
    with serving(recorder) as provider_url:
        gw = config_gateway(
            """
model_list:
  - model_name: gpt-4o
    litellm_params: {model: openai/gpt-4o, api_key: os.environ/KEY, api_base: os.environ/BASE}
""",  # fmt: skip
            # by name: a cookie jar keeps no cookie of a bare IP address
            env={
                "KEY": "sk-external-provider",
                "BASE": provider_url.replace("127.0.0.1", "localhost") + "/v1",
            },
        )
        for _ in range(3):  # the pool is shared: each later request would carry it
            client(gw).chat.completions.create(model="gpt-4o", messages=HELLO)
        assert len(recorder.seen) == 3
        assert [h.get("cookie") for h in recorder.seen] == [None, None, None]


# -- the registry reaches running gateways at once ----------------------------------------


def test_a_model_registered_while_gateways_run_is_served_at_once_with_its_limit(config_gateway):
    text = entry(name="gpt-5").replace("openai/a", "openai/gpt-5")
    gateways = [config_gateway(text), config_gateway(text)]  # two processes' worth
    for gw in gateways:  # not in the registry yet: nobody may call it (now cached so)
        with pytest.raises(openai.PermissionDeniedError):
            client(gw).chat.completions.create(model="gpt-5", messages=HELLO)
    gateways[0].operator("select api.register_model('gpt-5', 'openai', 1000, true, 100000)")
    registered = time.monotonic()
    for gw in gateways:
        while True:
            try:
                client(gw).chat.completions.create(model="gpt-5", messages=HELLO, max_tokens=1000)
                break
            except openai.PermissionDeniedError:
                assert time.monotonic() - registered < 1, "not callable a second after"
                time.sleep(0.02)
        with pytest.raises(openai.BadRequestError) as over:  # its registered output limit
            client(gw).chat.completions.create(model="gpt-5", messages=HELLO, max_tokens=1001)
        assert "at most 1000" in over.value.message

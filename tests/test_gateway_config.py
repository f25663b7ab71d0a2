"""config.yaml: LiteLLM proxy's format, read as-is."""

import pytest

from api.gateway.config import DEFAULT_CONFIG, ConfigError, load_config

LITELLM_CONFIG = """
model_list:
  - model_name: gpt-4o
    litellm_params:
      model: openai/gpt-4o
      api_key: os.environ/OPENAI_API_KEY
      rpm: 600
    model_info:
      id: primary
  - model_name: gpt-4o
    litellm_params:
      model: azure/gpt-4o-eu
      api_base: https://example-eu.openai.azure.com
      api_key: os.environ/AZURE_API_KEY
      api_version: "2024-10-21"
  - model_name: claude-sonnet-4-6
    litellm_params:
      model: anthropic/claude-sonnet-4-6
      api_key: os.environ/ANTHROPIC_API_KEY
litellm_settings:
  drop_params: true
  success_callback: ["langfuse"]
general_settings:
  master_key: sk-1234
router_settings:
  routing_strategy: simple-shuffle
  num_retries: 3
  cooldown_time: 10
  fallbacks: [{"gpt-4o": ["claude-sonnet-4-6"]}]
  model_group_alias: {"gpt4": "gpt-4o"}
"""


def test_a_litellm_proxy_config_loads_unchanged(tmp_path):
    path = tmp_path / "config.yaml"
    path.write_text(LITELLM_CONFIG)
    env = {"OPENAI_API_KEY": "sk-o", "AZURE_API_KEY": "az", "ANTHROPIC_API_KEY": "sk-a"}
    config = load_config(path, env=env, mock_provider_url="http://127.0.0.1:1")
    primary, eu = config.deployments["gpt-4o"]
    assert (primary.wire, primary.api_key, primary.mock) == ("openai", "sk-o", False)
    assert (eu.wire, eu.api_base, eu.extra_params["api_version"]) == (
        "litellm", "https://example-eu.openai.azure.com", "2024-10-21",
    )  # fmt: skip
    assert config.deployments["claude-sonnet-4-6"][0].wire == "anthropic"
    assert config.settings.num_retries == 3 and config.settings.cooldown_s == 10
    assert config.settings.fallbacks == {"gpt-4o": ["claude-sonnet-4-6"]}
    assert config.canonical("gpt4") == "gpt-4o" and config.canonical("nope") is None
    assert config.mocked == []


def test_missing_provider_keys_go_to_the_mock_only_when_one_is_offered(tmp_path):
    path = tmp_path / "config.yaml"
    path.write_text(LITELLM_CONFIG)
    env = {"OPENAI_API_KEY": "sk-o"}
    config = load_config(path, env=env, mock_provider_url="http://127.0.0.1:9")
    assert config.mocked == ["claude-sonnet-4-6", "gpt-4o"]
    primary, eu = config.deployments["gpt-4o"]
    assert not primary.mock and eu.mock and eu.api_base == "http://127.0.0.1:9/v1"
    claude = config.deployments["claude-sonnet-4-6"][0]
    assert (claude.wire, claude.api_base) == ("anthropic", "http://127.0.0.1:9")
    cloud = load_config(path, env=env)  # no mock offered (the cloud): keys stay missing
    assert cloud.mocked == [] and cloud.deployments["claude-sonnet-4-6"][0].api_key is None


def test_the_default_config_has_the_specs_models_the_current_claude_ones_and_an_embedder():
    config = load_config(DEFAULT_CONFIG, env={})
    assert len(config.deployments) == 16
    assert "text-embedding-3-small" in config.deployments


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("model_list: []", "model_list must be a non-empty list"),
        ("model_list:\n  - model_name: x\n    litellm_params: {model: gpt-4o}", "provider/model"),
        (
            "model_list:\n  - {model_name: a, litellm_params: {model: openai/a}}\n"
            "router_settings: {fallbacks: [{a: [b]}]}",
            "fallback names unknown model 'b'",
        ),
        (": not yaml :", "cannot read the model config"),
    ],
)
def test_a_broken_config_says_what_is_wrong(tmp_path, text, message):
    path = tmp_path / "config.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message):
        load_config(path, env={})

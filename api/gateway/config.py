"""The model list: which public model names exist and which deployments serve them.

The file is LiteLLM proxy's `config.yaml` format (`model_list` + `router_settings`), so a
team moving from LiteLLM brings its config unchanged. Values `os.environ/NAME` are read
from the environment. Outside the cloud, a deployment whose provider key is not set is
routed to the local mock provider (and marked `mock`, which /v1/models shows).
"""

import os
from dataclasses import dataclass, field
from pathlib import Path

import yaml

DEFAULT_CONFIG = Path(__file__).with_name("config.yaml")

# Providers whose wire format we can forward byte for byte (no translation, no litellm).
OPENAI_COMPATIBLE = {"openai", "hosted_vllm", "openai_compatible"}
ANTHROPIC = {"anthropic"}


class ConfigError(ValueError):
    pass


@dataclass(frozen=True)
class Deployment:
    id: str  # unique within the config: "<model_name>#<n>"
    model_name: str  # the public name (model group)
    provider: str  # the litellm provider prefix: openai, anthropic, azure, ...
    litellm_model: str  # "provider/upstream-model", as litellm expects it
    upstream_model: str  # the provider's own model id
    api_base: str | None
    api_key: str | None
    extra_params: dict  # other litellm_params (api_version, …), for the litellm path
    mock: bool = False

    @property
    def wire(self) -> str:
        """'openai' or 'anthropic' when we forward natively; 'litellm' when it translates."""
        if self.provider in OPENAI_COMPATIBLE:
            return "openai"
        if self.provider in ANTHROPIC:
            return "anthropic"
        return "litellm"


@dataclass(frozen=True)
class RouterSettings:
    num_retries: int = 2
    retry_after_s: float = 0.2
    max_retry_after_s: float = 5.0
    cooldown_s: float = 30.0
    allowed_fails: int = 3
    timeout_s: float = 600.0
    # Retry throttling (gRPC's): a model group holds `retry_tokens` tokens; each failed
    # attempt takes one, each success gives back `retry_token_ratio`; retries (and
    # fallbacks) are made only while more than half remain. A provider storm then costs
    # a handful of extra attempts, not (1 + num_retries) times the traffic.
    retry_tokens: float = 10.0
    retry_token_ratio: float = 0.1
    fallbacks: dict[str, list[str]] = field(default_factory=dict)
    aliases: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class GatewayConfig:
    deployments: dict[str, list[Deployment]]  # by model name, in config order
    settings: RouterSettings

    def canonical(self, name: str) -> str | None:
        """The model group a requested name means (aliases resolved), or None."""
        name = self.settings.aliases.get(name, name)
        return name if name in self.deployments else None

    @property
    def mocked(self) -> list[str]:
        return sorted(name for name, deps in self.deployments.items() if any(d.mock for d in deps))


def _resolve(value, env: dict[str, str]):
    if isinstance(value, str) and value.startswith("os.environ/"):
        return env.get(value.removeprefix("os.environ/")) or None
    return value


def load_config(
    path: Path | str | None = None,
    *,
    env: dict[str, str] | None = None,
    mock_provider_url: str | None = None,
) -> GatewayConfig:
    """Read a LiteLLM-format config. With `mock_provider_url`, deployments that lack their
    provider key (or base URL) are pointed at the mock provider."""
    env = dict(os.environ) if env is None else env
    path = Path(path or env.get("AIGW_CONFIG") or DEFAULT_CONFIG)
    try:
        raw = yaml.safe_load(path.read_text()) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"cannot read the model config {path}: {exc}") from exc
    entries = raw.get("model_list")
    if not isinstance(entries, list) or not entries:
        raise ConfigError(f"{path}: model_list must be a non-empty list")

    deployments: dict[str, list[Deployment]] = {}
    for index, entry in enumerate(entries):
        name = entry.get("model_name") if isinstance(entry, dict) else None
        params = dict(entry.get("litellm_params") or {}) if name else {}
        model = params.pop("model", None)
        if not name or not isinstance(model, str) or "/" not in model:
            raise ConfigError(
                f"{path}: model_list[{index}] needs model_name and litellm_params.model "
                "as 'provider/model' (e.g. openai/gpt-4o)"
            )
        provider, upstream = model.split("/", 1)
        api_key = _resolve(params.pop("api_key", None), env)
        api_base = _resolve(params.pop("api_base", None), env)
        extra = {k: _resolve(v, env) for k, v in params.items()}
        needs_base = provider not in OPENAI_COMPATIBLE | ANTHROPIC | {"gemini", "github"}
        missing = api_key is None or (needs_base and api_base is None)
        mock = bool(mock_provider_url) and missing
        if mock:
            native = provider in ANTHROPIC
            provider = "anthropic" if native else "openai"
            api_base = mock_provider_url if native else f"{mock_provider_url}/v1"
            api_key, extra = "mock", {}
        group = deployments.setdefault(name, [])
        deployments[name].append(
            Deployment(
                id=f"{name}#{len(group)}",
                model_name=name,
                provider=provider,
                litellm_model=f"{provider}/{upstream}",
                upstream_model=upstream,
                api_base=api_base,
                api_key=api_key,
                extra_params=extra,
                mock=mock,
            )
        )

    rs = raw.get("router_settings") or {}
    fallbacks: dict[str, list[str]] = {}
    for item in rs.get("fallbacks") or []:
        for source, targets in dict(item).items():
            fallbacks[source] = list(targets)
    settings = RouterSettings(
        num_retries=int(rs.get("num_retries", 2)),
        retry_after_s=float(rs.get("retry_after", 0.2)),
        max_retry_after_s=float(rs.get("max_retry_after", 5)),
        cooldown_s=float(rs.get("cooldown_time", 30)),
        allowed_fails=int(rs.get("allowed_fails", 3)),
        timeout_s=float(rs.get("timeout", 600)),
        retry_tokens=float(rs.get("retry_budget_tokens", 10)),
        retry_token_ratio=float(rs.get("retry_budget_ratio", 0.1)),
        fallbacks=fallbacks,
        aliases=dict(rs.get("model_group_alias") or {}),
    )
    if settings.num_retries < 0 or settings.allowed_fails < 1 or settings.timeout_s <= 0:
        raise ConfigError(
            f"{path}: router_settings need num_retries >= 0, allowed_fails >= 1, timeout > 0"
        )
    for source, targets in fallbacks.items():
        for target in [source, *targets]:
            if target not in deployments:
                raise ConfigError(f"{path}: fallback names unknown model {target!r}")
    for alias, target in settings.aliases.items():
        if target not in deployments:
            raise ConfigError(f"{path}: alias {alias!r} points at unknown model {target!r}")
    return GatewayConfig(deployments, settings)

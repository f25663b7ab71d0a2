"""The model list: which public model names exist and which deployments serve them.

The file is LiteLLM proxy's `config.yaml` format, so a team moving from LiteLLM brings
its config. Every section and key of it is either honoured, refused when the config is
loaded (a ConfigError naming each key and saying what to do instead), or, for harmless
metadata only, accepted and reported as a notice: nothing is ignored silently. The
README's "The model config" lists which is which. Values `os.environ/NAME` are read from
the environment. Outside the cloud, a deployment whose provider key is not set is routed
to the local mock provider (and marked `mock`, which /v1/models shows).
"""

import math
import os
import random
import re
from dataclasses import dataclass, field, replace
from pathlib import Path

import yaml

DEFAULT_CONFIG = Path(__file__).with_name("config.yaml")

# Providers whose wire format we can forward byte for byte (no translation, no litellm).
OPENAI_COMPATIBLE = {"openai", "hosted_vllm", "openai_compatible"}
ANTHROPIC = {"anthropic"}
# A model group's name is a registry name (policy.models), which teams' allow-lists,
# prices and limits refer to.
MODEL_NAME = re.compile(r"[a-z0-9][a-z0-9._-]{0,62}")
SHUFFLE_METRICS = ("weight", "rpm", "tpm")  # what simple-shuffle weighs by, in this order


class ConfigError(ValueError):
    pass


@dataclass(frozen=True)
class ModelInfo:
    """What the config says of a deployment's model: what registering it takes."""

    model: str  # litellm_params.model as written ("azure_ai/Phi-4"), whatever serves it
    base_model: str | None = None  # the model to look up in litellm's model map instead
    mode: str | None = None  # chat, embedding, …
    max_output_tokens: int | None = None
    context_window_tokens: int | None = None
    # USD per token, as LiteLLM writes them
    input_cost_per_token: float | None = None
    output_cost_per_token: float | None = None
    cache_read_input_token_cost: float | None = None


@dataclass(frozen=True)
class Deployment:
    id: str  # unique within the config: model_info.id, else "<model_name>#<n>"
    model_name: str  # the public name (model group)
    provider: str  # the litellm provider prefix: openai, anthropic, azure, ...
    litellm_model: str  # "provider/upstream-model", as litellm expects it
    upstream_model: str  # the provider's own model id
    api_base: str | None
    api_key: str | None
    extra_params: dict  # the provider's own litellm_params (api_version, …), for litellm
    mock: bool = False
    timeout_s: float | None = None  # litellm_params.timeout; None: the router's
    stream_timeout_s: float | None = None  # each read of a stream; None: the router's
    max_retries: int = 0  # attempts again on this deployment before the router moves on
    order: float = math.inf  # lower is tried first; unset: after every ordered one
    weight: float = 1.0  # its share of its group's traffic within its order (simple-shuffle)
    # One of ours (the mock provider, or model_info.aigw_internal): only these learn which
    # team is calling (the x-aigw-team header); an external provider never does.
    internal: bool = False
    info: ModelInfo | None = None

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
    stream_timeout_s: float | None = None  # each read of a stream; None: timeout_s
    # Retry throttling (gRPC's): a model group holds `retry_tokens` tokens; each failed
    # attempt takes one, each success gives back `retry_token_ratio`; retries (and
    # fallbacks) are made only while more than half remain. A provider storm then costs
    # a handful of extra attempts, not (1 + num_retries) times the traffic.
    retry_tokens: float = 10.0
    retry_token_ratio: float = 0.1
    fallbacks: dict[str, list[str]] = field(default_factory=dict)
    default_fallbacks: list[str] = field(default_factory=list)  # for groups without their own
    aliases: dict[str, str] = field(default_factory=dict)

    def fallbacks_of(self, group: str) -> list[str]:
        if group in self.fallbacks:
            return self.fallbacks[group]
        return [g for g in self.default_fallbacks if g != group]


@dataclass(frozen=True)
class GatewayConfig:
    deployments: dict[str, list[Deployment]]  # by model name, in config order
    settings: RouterSettings
    notices: tuple[str, ...] = ()  # keys accepted and not used, for the start-up log

    def canonical(self, name: str) -> str | None:
        """The model group a requested name means (aliases resolved), or None."""
        name = self.settings.aliases.get(name, name)
        return name if name in self.deployments else None

    @property
    def mocked(self) -> list[str]:
        return sorted(name for name, deps in self.deployments.items() if any(d.mock for d in deps))


def routing_order(deployments: list[Deployment]) -> list[Deployment]:
    """A group's deployments in the order a request tries them: LiteLLM's simple-shuffle.
    The lowest `order` first; within an order, a weighted random draw without
    replacement (Efraimidis-Spirakis: each one's key is u^(1/weight)); weight 0 last."""
    if len(deployments) < 2:
        return deployments

    def key(d: Deployment) -> tuple[float, float]:
        # S311: this spreads load; nothing depends on it being unpredictable.
        draw = random.random() ** (1 / d.weight) if d.weight > 0 else 0.0  # noqa: S311
        return d.order, -draw

    return sorted(deployments, key=key)


# -- what each part of a LiteLLM config means here ----------------------------------------
#
# Honoured keys map to RouterSettings (router_settings and litellm_settings); refused
# ones say why and what to do; NOTICED ones are harmless metadata, accepted and reported.
# Anything else is refused with the section's general message: a key aigw does not know
# is never dropped without a word.

SECTIONS = ("model_list", "router_settings", "litellm_settings", "general_settings",
            "environment_variables")  # fmt: skip

# router_settings key: RouterSettings field, type, least value (and whether it must be
# above it). retry_budget_* and max_retry_after are aigw's own.
ROUTER_KEYS = {
    "num_retries": ("num_retries", int, 0, False),
    "retry_after": ("retry_after_s", float, 0, False),
    "max_retry_after": ("max_retry_after_s", float, 0, False),
    "cooldown_time": ("cooldown_s", float, 0, False),
    "allowed_fails": ("allowed_fails", int, 1, False),
    "timeout": ("timeout_s", float, 0, True),
    "stream_timeout": ("stream_timeout_s", float, 0, True),
    "retry_budget_tokens": ("retry_tokens", float, 0, False),
    "retry_budget_ratio": ("retry_token_ratio", float, 0, False),
}
# litellm_settings keys that mean the same as a router_settings key (LiteLLM's router
# takes its defaults from them).
LITELLM_AS_ROUTER = {
    "num_retries": "num_retries",
    "request_timeout": "timeout",
    "allowed_fails": "allowed_fails",
    "cooldown_time": "cooldown_time",
    "fallbacks": "fallbacks",
    "default_fallbacks": "default_fallbacks",
}

CALLBACKS = (
    "not supported: aigw records every request in events.requests (aigw events list) and "
    "counts it on /metrics; remove it"
)
CACHING = "not supported: aigw's response cache is set per team (aigw cache policy); remove it"
BUDGETS = "not supported: budgets are aigw's, per team, key or user (api.set_budget); remove it"
TEAMS_AND_KEYS = (
    "not supported: teams, keys and their limits live in aigw's database (aigw teams, aigw "
    "keys, api.set_team_policy); remove it"
)
REDIS = "not supported: aigw's Redis is REDIS_URL; remove it"
NO_FALLBACK_KIND = (
    "not supported: only a provider's own failures (an error status, a timeout) fall back "
    "(fallbacks); a request it refuses is answered to the caller; remove it"
)
REFUSED = {
    "router_settings.routing_strategy": (
        "only simple-shuffle is supported (weight, else rpm, else tpm, within the lowest "
        "order); remove it or set simple-shuffle"
    ),
    "router_settings.context_window_fallbacks": NO_FALLBACK_KIND,
    "router_settings.content_policy_fallbacks": NO_FALLBACK_KIND,
    "litellm_settings.context_window_fallbacks": NO_FALLBACK_KIND,
    "litellm_settings.content_policy_fallbacks": NO_FALLBACK_KIND,
    "router_settings.redis_host": REDIS,
    "router_settings.redis_port": REDIS,
    "router_settings.redis_password": REDIS,
    "router_settings.redis_url": REDIS,
    "router_settings.cache_responses": CACHING,
    "router_settings.caching_groups": CACHING,
    "router_settings.provider_budget_config": BUDGETS,
    "litellm_settings.callbacks": CALLBACKS,
    "litellm_settings.success_callback": CALLBACKS,
    "litellm_settings.failure_callback": CALLBACKS,
    "litellm_settings.service_callbacks": CALLBACKS,
    "litellm_settings.cache": CACHING,
    "litellm_settings.cache_params": CACHING,
    "litellm_settings.max_budget": BUDGETS,
    "litellm_settings.budget_duration": BUDGETS,
    "litellm_settings.default_team_settings": TEAMS_AND_KEYS,
    "litellm_settings.key_generation_settings": TEAMS_AND_KEYS,
    "litellm_settings.default_key_generate_params": TEAMS_AND_KEYS,
    "litellm_settings.upperbound_key_generate_params": TEAMS_AND_KEYS,
    "litellm_settings.default_internal_user_params": TEAMS_AND_KEYS,
    "litellm_settings.guardrails": (
        "not supported: aigw's guardrails are registered with api.set_guardrail; remove it"
    ),
    "general_settings.master_key": (
        "aigw has no master key: operators act through the aigw CLI or psql, callers use "
        "keys issued with `aigw keys create`; remove it"
    ),
    "general_settings.database_url": (
        "aigw's database is DATABASE_URL (and AIGW_APP_DATABASE_URL); remove it"
    ),
    "general_settings.store_model_in_db": (
        "aigw's models are this file's, registered in its database by `aigw up` or "
        "`aigw models sync`; remove it"
    ),
    "general_settings.alerting": "not supported: alert on /metrics (Prometheus); remove it",
    "general_settings.custom_auth": (
        "not supported: aigw takes its own keys and Entra ID tokens (OIDC_ISSUER); remove it"
    ),
    "general_settings.enable_jwt_auth": (
        "aigw verifies identity tokens when OIDC_ISSUER and OIDC_CLIENT_ID are set; remove it"
    ),
    "general_settings.max_parallel_requests": (
        "not supported: limit teams and keys with RPM/TPM (api.set_team_policy, "
        "api.set_key_limits); remove it"
    ),
    "general_settings.global_max_parallel_requests": (
        "not supported: limit teams and keys with RPM/TPM (api.set_team_policy, "
        "api.set_key_limits); remove it"
    ),
    "litellm_params.custom_llm_provider": (
        "name the provider in litellm_params.model instead (provider/model)"
    ),
    "litellm_params.max_budget": BUDGETS,
    "litellm_params.budget_duration": BUDGETS,
    "model_info.access_groups": (
        "not supported: which teams may call a model is their allow-list "
        "(api.set_team_policy); remove it"
    ),
}
OTHERWISE = {
    "": "not a section aigw knows (model_list, router_settings, litellm_settings); remove it",
    "router_settings": "not supported by aigw's router; remove it",
    "litellm_settings": "not supported by aigw; remove it",
    "general_settings": (
        "a LiteLLM proxy server setting, which aigw (a server of its own) does not have; remove it"
    ),
    "litellm_params": (
        "not supported (request parameters are the caller's to send, not the config's); remove it"
    ),
    "model_info": "not supported; remove it",
}
NOTICED = {
    "router_settings.set_verbose": "aigw's logs are its own",
    "router_settings.debug_level": "aigw's logs are its own",
    "litellm_settings.set_verbose": "aigw's logs are its own",
    "litellm_settings.json_logs": "aigw's logs are its own",
    "litellm_settings.turn_off_message_logging": "aigw never logs or stores message contents",
    "litellm_settings.redact_user_api_key_info": "aigw never logs keys",
    "model_info.description": "metadata",
    "model_info.metadata": "metadata",
    "model_info.supports_*": "capabilities are the provider's to say",
}
# What litellm_params a deployment may carry beyond those aigw reads itself: provider
# connection settings, passed to litellm for the providers it translates for.
PROVIDER_PARAMS = frozenset({
    "api_version", "organization", "azure_ad_token", "tenant_id", "client_id",
    "client_secret", "azure_scope", "azure_username", "azure_password", "vertex_project",
    "vertex_location", "vertex_credentials", "region_name", "watsonx_region_name",
    "aws_access_key_id", "aws_secret_access_key", "aws_session_token", "aws_region_name",
    "aws_session_name", "aws_profile_name", "aws_role_name", "aws_web_identity_token",
    "aws_sts_endpoint", "aws_external_id", "aws_bedrock_runtime_endpoint",
})  # fmt: skip
DROPS_PARAMS = "always drops a parameter the provider lacks when litellm translates"
NATIVE_PARAMS = frozenset({"organization"})  # sent as OpenAI-Organization when forwarding
DEPLOYMENT_KEYS = frozenset({"model", "api_key", "api_base", "timeout", "stream_timeout",
    "max_retries", "order", "weight", "rpm", "tpm", "drop_params", "input_cost_per_token",
    "output_cost_per_token", "cache_read_input_token_cost"})  # fmt: skip
MODEL_INFO_KEYS = frozenset({"id", "mode", "base_model", "max_tokens", "max_output_tokens",
    "max_input_tokens", "input_cost_per_token", "output_cost_per_token",
    "cache_read_input_token_cost", "aigw_internal"})  # fmt: skip


def _resolve(value, env: dict[str, str]):
    if isinstance(value, str) and value.startswith("os.environ/"):
        return env.get(value.removeprefix("os.environ/")) or None
    return value


class _Reader:
    """Reads one config file, collecting every problem so that one ConfigError names
    them all, and every key accepted without use as a notice."""

    def __init__(self, env: dict[str, str]):
        self.env = env
        self.problems: list[str] = []
        self.notices: list[str] = []

    def section(self, raw: dict, name: str) -> dict:
        value = raw.get(name)
        if value is None:
            return {}
        if not isinstance(value, dict):
            self.problems.append(f"{name}: must be a mapping")
            return {}
        return value

    def unhandled(self, where: str, kind: str, key: str) -> None:
        """A key aigw does not read: a notice when it is harmless metadata, else refused."""
        name = f"{kind}.{key}"
        noticed = NOTICED.get(name) or (
            NOTICED.get(f"{kind}.supports_*") if key.startswith("supports_") else None
        )
        if noticed:
            self.notices.append(f"{where}.{key}: accepted, not used ({noticed})")
        else:
            self.problems.append(f"{where}.{key}: {REFUSED.get(name) or OTHERWISE[kind]}")

    def number(self, value, where: str, kind=float, *, minimum: float = 0, above=False):
        """A number at least (or above) `minimum`, os.environ/ references resolved."""
        value = _resolve(value, self.env)
        try:
            if isinstance(value, bool) or value is None:
                raise ValueError
            number = kind(value)
            if kind is int and number != float(value):
                raise ValueError
        except (TypeError, ValueError):
            self.problems.append(f"{where}: must be a number, not {value!r}")
            return None
        if number < minimum or (above and number == minimum):
            self.problems.append(
                f"{where}: must be {'above' if above else 'at least'} {minimum}, not {number}"
            )
            return None
        return number

    def accepted_as_ours(self, value, where: str, ours, what: str) -> None:
        """A LiteLLM setting that can only say what aigw does anyway."""
        if value != ours:
            self.problems.append(f"{where}: aigw {what} (only {ours!r} is accepted); remove it")


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
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: a model config is a mapping with a model_list")
    entries = raw.get("model_list")
    if not isinstance(entries, list) or not entries:
        raise ConfigError(f"{path}: model_list must be a non-empty list")
    reader = _Reader(env)
    for key in raw:
        if key not in SECTIONS:
            reader.problems.append(f"{key}: {OTHERWISE['']}")
    if reader.section(raw, "environment_variables"):
        reader.problems.append(
            "environment_variables: not supported: aigw reads secrets from its own "
            "environment (Key Vault references in the cloud), never from the config; set "
            "each variable there and name it as os.environ/NAME"
        )
    for key in reader.section(raw, "general_settings"):
        reader.unhandled("general_settings", "general_settings", key)

    deployments: dict[str, list[Deployment]] = {}
    shares: dict[str, list[dict]] = {}  # each deployment's weight, rpm and tpm, by group
    for index, entry in enumerate(entries):
        read = _deployment(reader, index, entry, deployments, mock_provider_url)
        if read is not None:
            deployment, share = read
            deployments.setdefault(deployment.model_name, []).append(deployment)
            shares.setdefault(deployment.model_name, []).append(share)
    ids = [d.id for group in deployments.values() for d in group]
    for duplicate in sorted({i for i in ids if ids.count(i) > 1}):
        reader.problems.append(f"model_info.id {duplicate!r}: names more than one deployment")
    deployments = {name: _weighed(group, shares[name]) for name, group in deployments.items()}
    settings = _router_settings(reader, raw, deployments)
    if reader.problems:
        listed = "\n".join(f"  {problem}" for problem in reader.problems)
        raise ConfigError(f"{path}: what aigw cannot take as it is:\n{listed}")
    return GatewayConfig(deployments, settings, tuple(reader.notices))


def _deployment(
    reader: _Reader, index: int, entry, deployments: dict, mock_provider_url: str | None
) -> tuple[Deployment, dict] | None:
    """One model_list entry, and what simple-shuffle may weigh it by; None if unusable."""
    where = f"model_list[{index}]"
    name = entry.get("model_name") if isinstance(entry, dict) else None
    raw_params = entry.get("litellm_params") if isinstance(entry, dict) else None
    model = raw_params.get("model") if isinstance(raw_params, dict) else None
    if not isinstance(name, str) or not isinstance(model, str) or "/" not in model:
        reader.problems.append(
            f"{where}: needs model_name and litellm_params.model as 'provider/model' "
            "(e.g. openai/gpt-4o)"
        )
        return None
    for key in entry:
        if key not in ("model_name", "litellm_params", "model_info"):
            reader.problems.append(f"{where}.{key}: {OTHERWISE['model_info']}")
    if "*" in name or model.endswith("/*"):
        reader.problems.append(
            f"{where}: wildcard routes ({name!r} → {model!r}) are not supported: list each "
            "model, since teams' allow-lists, prices and limits name each one"
        )
        return None
    if not MODEL_NAME.fullmatch(name):
        reader.problems.append(
            f"{where}.model_name {name!r}: model names are lowercase letters, digits, '.', "
            "'_' and '-' (at most 63), as the model registry names them; use an alias "
            "(router_settings.model_group_alias) for any other spelling"
        )
        return None
    params = dict(raw_params)
    info = entry.get("model_info") or {}
    if not isinstance(info, dict):
        reader.problems.append(f"{where}.model_info: must be a mapping")
        info = {}
    provider, upstream = model.split("/", 1)
    native = provider in OPENAI_COMPATIBLE | ANTHROPIC
    extra = {}
    for key, value in params.items():
        if key in DEPLOYMENT_KEYS:
            continue
        if key in PROVIDER_PARAMS and (not native or key in NATIVE_PARAMS):
            extra[key] = _resolve(value, reader.env)
        elif key in PROVIDER_PARAMS:
            reader.problems.append(
                f"{where}.litellm_params.{key}: not used by {provider} deployments, which "
                "aigw forwards in their own format; remove it"
            )
        else:
            reader.unhandled(f"{where}.litellm_params", "litellm_params", key)
    if "drop_params" in params:
        where_drop = f"{where}.litellm_params.drop_params"
        reader.accepted_as_ours(params["drop_params"], where_drop, True, DROPS_PARAMS)
    for key in info:
        if key not in MODEL_INFO_KEYS:
            reader.unhandled(f"{where}.model_info", "model_info", key)
    internal = info.get("aigw_internal", False)
    if not isinstance(internal, bool):
        reader.problems.append(f"{where}.model_info.aigw_internal: must be true or false")

    def number(source: dict, key: str, kind=float, **bounds):
        part = "litellm_params" if source is params else "model_info"
        if source.get(key) is None:
            return None
        return reader.number(source[key], f"{where}.{part}.{key}", kind, **bounds)

    def cost(key: str):
        return number(info, key) if info.get(key) is not None else number(params, key)

    model_info = ModelInfo(
        model=model,
        base_model=info.get("base_model"),
        mode=info.get("mode"),
        max_output_tokens=number(info, "max_output_tokens", int, minimum=1)
        or number(info, "max_tokens", int, minimum=1),
        context_window_tokens=number(info, "max_input_tokens", int, minimum=1),
        input_cost_per_token=cost("input_cost_per_token"),
        output_cost_per_token=cost("output_cost_per_token"),
        cache_read_input_token_cost=cost("cache_read_input_token_cost"),
    )
    api_key = _resolve(params.get("api_key"), reader.env)
    api_base = _resolve(params.get("api_base"), reader.env)
    needs_base = provider not in OPENAI_COMPATIBLE | ANTHROPIC | {"gemini", "github"}
    missing = api_key is None or (needs_base and api_base is None)
    mock = bool(mock_provider_url) and missing
    if mock:
        anthropic = provider in ANTHROPIC
        provider = "anthropic" if anthropic else "openai"
        api_base = mock_provider_url if anthropic else f"{mock_provider_url}/v1"
        api_key, extra = "mock", {}
    order = number(params, "order", int)
    position = len(deployments.get(name, []))
    deployment = Deployment(
        id=str(info["id"]) if info.get("id") is not None else f"{name}#{position}",
        model_name=name,
        provider=provider,
        litellm_model=f"{provider}/{upstream}",
        upstream_model=upstream,
        api_base=api_base,
        api_key=api_key,
        extra_params=extra,
        mock=mock,
        timeout_s=number(params, "timeout", minimum=0, above=True),
        stream_timeout_s=number(params, "stream_timeout", minimum=0, above=True),
        max_retries=number(params, "max_retries", int) or 0,
        order=math.inf if order is None else order,
        internal=mock or internal is True,
        info=model_info,
    )
    return deployment, {metric: number(params, metric) or 0 for metric in SHUFFLE_METRICS}


def _weighed(group: list[Deployment], shares: list[dict]) -> list[Deployment]:
    """simple-shuffle's weights: the first of weight, rpm, tpm that any deployment of the
    group sets (a deployment without it weighs nothing); none set, all weigh the same."""
    for metric in SHUFFLE_METRICS:
        if any(share[metric] > 0 for share in shares):
            return [
                replace(d, weight=share[metric]) for d, share in zip(group, shares, strict=True)
            ]
    return group


def _router_settings(reader: _Reader, raw: dict, deployments: dict) -> RouterSettings:
    """router_settings and litellm_settings, as one RouterSettings: LiteLLM's router takes
    its defaults from litellm_settings, so a key may be set in either (not differently)."""
    merged: dict = {}  # router_settings key: (where it was set, value)
    for key, value in reader.section(raw, "router_settings").items():
        if key in ROUTER_KEYS or key in ("fallbacks", "default_fallbacks", "model_group_alias"):
            merged[key] = (f"router_settings.{key}", value)
        elif key != "routing_strategy" or value != "simple-shuffle":  # the one aigw has
            reader.unhandled("router_settings", "router_settings", key)
    for key, value in reader.section(raw, "litellm_settings").items():
        where = f"litellm_settings.{key}"
        if key == "drop_params":
            reader.accepted_as_ours(value, where, True, DROPS_PARAMS)
        elif key not in LITELLM_AS_ROUTER:
            reader.unhandled("litellm_settings", "litellm_settings", key)
        elif (same := LITELLM_AS_ROUTER[key]) in merged and merged[same][1] != value:
            reader.problems.append(
                f"{where} ({value!r}) and {merged[same][0]} ({merged[same][1]!r}) differ; keep one"
            )
        else:
            merged[same] = (where, value)

    values: dict = {}
    for key, (where, value) in merged.items():
        if key in ROUTER_KEYS:
            attribute, kind, minimum, above = ROUTER_KEYS[key]
            number = reader.number(value, where, kind, minimum=minimum, above=above)
            if number is not None:
                values[attribute] = number
        elif key == "fallbacks":
            values["fallbacks"] = _fallbacks(reader, value, where, deployments)
        elif key == "default_fallbacks":
            values["default_fallbacks"] = _groups(reader, value, where, deployments)
        else:
            values["aliases"] = _aliases(reader, value, where, deployments)
    return RouterSettings(**values)


def _groups(reader: _Reader, names, where: str, deployments: dict) -> list[str]:
    """A list of model groups of this config."""
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        reader.problems.append(f"{where}: must be a list of model names")
        return []
    for name in names:
        if name not in deployments:
            reader.problems.append(f"{where}: names unknown model {name!r}")
    return list(names)


def _fallbacks(reader: _Reader, items, where: str, deployments: dict) -> dict[str, list[str]]:
    """LiteLLM's [{group: [fallback, …]}, …]."""
    fallbacks: dict[str, list[str]] = {}
    for item in items if isinstance(items, list) else [None]:
        if not isinstance(item, dict):
            reader.problems.append(f"{where}: must be a list of {{model: [fallbacks]}}")
            return {}
        for source, targets in item.items():
            _groups(reader, [source], where, deployments)
            fallbacks[source] = _groups(reader, targets, where, deployments)
    return fallbacks


def _aliases(reader: _Reader, aliases, where: str, deployments: dict) -> dict[str, str]:
    """model_group_alias: name → group, or name → {model: group, hidden: …} (an alias is
    never listed by /v1/models, hidden or not)."""
    if not isinstance(aliases, dict):
        reader.problems.append(f"{where}: must be a mapping of alias to model")
        return {}
    resolved = {}
    for alias, target in aliases.items():
        group = target.get("model") if isinstance(target, dict) else target
        if group not in deployments:
            reader.problems.append(f"{where}: alias {alias!r} points at unknown model {group!r}")
        resolved[alias] = group
    return resolved

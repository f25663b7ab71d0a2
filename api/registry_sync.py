"""The config's models in the model registry: what `aigw up` and `aigw models sync` do.

A model group of the config can be called only once the registry has it: teams'
allow-lists, prices and budgets are the registry's. Writing the registry takes an
operator (the administrative login), which a gateway's own login is not, so `aigw up`
registers what is missing before it serves, `aigw models sync` does it for gateways
that a process manager starts, and a gateway that starts with models missing says so.

A missing model is registered with the provider the config names; its most output
tokens and its context window from the config's model_info, else from litellm's bundled
model map, else a conservative default (large: no real request is refused for it, and a
budget reservation holds enough); its price from the config, else the map, when either
knows it. A group's deployments may differ: the largest limits and the highest prices
are taken, so no reservation falls short. What is registered already, limits and prices
alike, is never changed. A model without a known price stays unpriced and is reported:
teams with budgets cannot use it until an operator sets one (api.set_price).
"""

import contextlib
from dataclasses import astuple, dataclass, field
from decimal import ROUND_CEILING, Decimal

import psycopg

from api.gateway.config import GatewayConfig, ModelInfo

DEFAULT_MAX_OUTPUT_TOKENS = 128_000  # the most any current model produces
DEFAULT_CONTEXT_WINDOW = 1_000_000  # the registry's own default
PRICE_STEP = Decimal("0.000001")  # policy.pricing holds USD per 1M tokens to 6 places


@dataclass(frozen=True)
class Price:
    """USD per million tokens."""

    input: Decimal
    output: Decimal
    cached_input: Decimal


@dataclass(frozen=True)
class NewModel:
    name: str
    provider: str
    max_output_tokens: int
    context_window_tokens: int
    price: Price | None
    source: str  # where its limits and price came from: config, model map, default


@dataclass
class SyncReport:
    registered: list[NewModel] = field(default_factory=list)
    existing: list[str] = field(default_factory=list)  # left exactly as they were
    unpriced: list[str] = field(default_factory=list)  # of the config's models, after it


def per_million(usd_per_token: float) -> Decimal:
    return (Decimal(str(usd_per_token)) * 1_000_000).quantize(PRICE_STEP, ROUND_CEILING)


def model_map_entry(info: ModelInfo) -> dict:
    """What litellm's bundled model map knows of a model (nothing when it is not there)."""
    from api.gateway import translate  # litellm takes seconds to import: only when needed

    litellm = translate.load_litellm()
    for name in filter(None, (info.base_model, info.model)):
        with contextlib.suppress(Exception):  # what litellm raises for a model it lacks
            return dict(litellm.get_model_info(name))
    return {}


def pick(*candidates: tuple[str, object]) -> tuple[object, str | None]:
    """The first value known, and where it came from."""
    for source, value in candidates:
        if value is not None:
            return value, source
    return None, None


def plan(config: GatewayConfig, name: str) -> NewModel:
    """How a model group of the config is to be registered."""
    outputs, windows, prices, sources = [], [], [], set()
    for deployment in config.deployments[name]:
        info, known = deployment.info, model_map_entry(deployment.info)
        embedding = (info.mode or known.get("mode")) == "embedding"
        output, from_output = pick(
            ("config", info.max_output_tokens),
            ("model map", known.get("max_output_tokens") or known.get("max_tokens")),
            ("default", 1 if embedding else None),  # no output tokens: the registry's floor
        )
        window, from_window = pick(
            ("config", info.context_window_tokens), ("model map", known.get("max_input_tokens"))
        )
        costs, from_costs = pick(
            ("config", both(info.input_cost_per_token, info.output_cost_per_token)),
            (
                "model map",
                both(known.get("input_cost_per_token"), known.get("output_cost_per_token")),
            ),
        )
        if costs is not None:  # with the cached-input price of the same source
            cached = (
                info.cache_read_input_token_cost
                if from_costs == "config"
                else known.get("cache_read_input_token_cost")
            )
            # unknown: as dear as any input, so nothing is ever under-charged
            cached = costs[0] if cached is None else cached
            prices.append(Price(*(per_million(c) for c in (*costs, cached))))
        outputs.append(output or DEFAULT_MAX_OUTPUT_TOKENS)
        windows.append(window or DEFAULT_CONTEXT_WINDOW)
        sources |= {from_output or "default", from_window or "default", from_costs or "unpriced"}
    return NewModel(
        name=name,
        provider=config.deployments[name][0].info.model.split("/", 1)[0],
        max_output_tokens=max(outputs),
        context_window_tokens=max(windows),
        price=Price(*map(max, zip(*map(astuple, prices), strict=True))) if prices else None,
        source=", ".join(sorted(sources)),
    )


def both(first, second) -> tuple | None:
    return None if first is None or second is None else (first, second)


def sync(admin_url: str, config: GatewayConfig, *, dry_run: bool = False) -> SyncReport:
    """Register the config's model groups the registry lacks (aliases are not models);
    with `dry_run`, only say what would be."""
    with psycopg.connect(admin_url) as conn:
        rows = conn.execute("select name, input_usd_per_mtok is not null from api.list_models()")
        priced = dict(rows.fetchall())
        report = SyncReport(existing=sorted(set(config.deployments) & set(priced)))
        report.unpriced = [name for name in report.existing if not priced[name]]
        new = [plan(config, name) for name in missing(config, set(priced))]
        if dry_run:
            report.registered = new
        else:
            with conn.transaction():
                for model in new:
                    if register(conn, model):
                        report.registered.append(model)
                    else:
                        report.existing.append(model.name)
    report.unpriced = sorted(report.unpriced + [m.name for m in report.registered if not m.price])
    return report


def register(conn: psycopg.Connection, model: NewModel) -> bool:
    """Register one model, priced when its price is known; False when it was registered
    meanwhile (by someone else, whose it then is)."""
    try:
        with conn.transaction():  # a savepoint
            conn.execute(
                "select api.register_model(%s, %s, %s, true, %s)",
                (model.name, model.provider, model.max_output_tokens, model.context_window_tokens),
            )
    except psycopg.Error as exc:
        if exc.sqlstate == "AIG05":  # already registered
            return False
        raise
    if model.price is not None:  # just registered: no operator has priced it
        conn.execute(
            "select api.set_price(%s, %s, %s, %s)",
            (model.name, model.price.input, model.price.output, model.price.cached_input),
        )
    return True


def missing(config: GatewayConfig, registered: set[str]) -> list[str]:
    """The config's model groups the registry lacks (nobody may call them yet)."""
    return sorted(set(config.deployments) - registered)

"""Prometheus metrics, served on /metrics: what the gateway did, from its events.

`MetricsSink` wraps the event sink: every request event is counted on its way to the
event log, so the metrics and the accounting can never disagree about what happened.
Every label value comes from a bounded set the gateway knows (its endpoints, the model
groups and aliases of its config, its own error codes, HTTP statuses, cache outcomes);
anything else is counted as "other". So no caller can grow the output (a new series per
made-up model name) or break it (a value that cannot be encoded), and no label is ever a
key, a user or a prompt.
"""

import hmac
import ipaddress
import re

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from api.gateway.accounting import EventSink, RequestEvent

LATENCY_BUCKETS = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5,
                   10, 30, 60, 120)  # fmt: skip
OVERHEAD_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0015, 0.002, 0.003, 0.005, 0.01, 0.025,
                    0.05, 0.1)  # fmt: skip


OTHER = "other"
ENDPOINTS = frozenset(
    {
        "/v1/chat/completions",
        "/v1/embeddings",
        "/v1/models",
        "/anthropic/v1/messages",
        "/anthropic/v1/messages/count_tokens",
        "/v1/responses",
        "/v1/responses/{id}",
    }
)
ERROR_CODE = re.compile(r"[a-z_]{1,40}")  # the gateway's own codes look like this
CACHE_OUTCOMES = frozenset({"hit-exact", "hit-semantic", "miss", "bypass"})


class Metrics:
    def __init__(self, models: frozenset[str] = frozenset()) -> None:
        """`models`: the model names a label may carry (the config's groups and aliases)."""
        self.models = models
        self._children: dict = {}
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter(
            "aigw_requests", "Requests answered", ["endpoint", "status", "model"], registry=r
        )
        self.errors = Counter(
            "aigw_errors", "Requests answered with an error", ["endpoint", "type"], registry=r
        )
        self.tokens = Counter(
            "aigw_tokens", "Provider tokens used", ["model", "direction"], registry=r
        )
        self.cost = Counter(
            "aigw_cost_usd", "Provider cost settled against budgets (USD)", ["model"], registry=r
        )
        self.cache = Counter("aigw_cache", "Cache outcomes", ["status"], registry=r)
        self.latency = Histogram(
            "aigw_request_duration_seconds",
            "Time from request to answer (whole answers) or to the end of the stream",
            ["endpoint"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.upstream = Histogram(
            "aigw_upstream_latency_seconds",
            "Provider time: to the whole answer, or to the first byte of a stream",
            ["model"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.overhead = Histogram(
            "aigw_overhead_seconds",
            "The gateway's own time on whole answers: total minus provider time",
            ["endpoint"],
            buckets=OVERHEAD_BUCKETS,
            registry=r,
        )
        self.dependency_up = Gauge(
            "aigw_dependency_up", "1 when a dependency answers", ["dependency"], registry=r
        )
        self.events_waiting = Gauge(
            "aigw_events_waiting", "Request events not yet in the database", registry=r
        )
        self.events_queued = Gauge(
            "aigw_events_queued",
            "Request events in the database's queue, not yet recorded by the consumer",
            registry=r,
        )

    def observe(self, e: RequestEvent) -> None:
        model = e.model_served or e.model_requested or ""
        model = model if not model or model in self.models else OTHER  # "": none asked for
        endpoint = e.endpoint if e.endpoint in ENDPOINTS else OTHER
        child = self._child
        child(self.requests, endpoint, str(e.status), model).inc()
        if e.status >= 400:
            error = e.error_type or "error"
            child(self.errors, endpoint, error if ERROR_CODE.fullmatch(error) else OTHER).inc()
        if e.input_tokens:
            child(self.tokens, model, "input").inc(e.input_tokens)
        if e.output_tokens:
            child(self.tokens, model, "output").inc(e.output_tokens)
        if e.cost_usd:
            child(self.cost, model).inc(e.cost_usd)
        if e.cache:
            child(self.cache, e.cache if e.cache in CACHE_OUTCOMES else OTHER).inc()
        child(self.latency, endpoint).observe(e.latency_ms / 1000)
        if e.upstream_latency_ms is not None:
            child(self.upstream, model).observe(e.upstream_latency_ms / 1000)
            if not e.stream:
                overhead = max(0.0, e.latency_ms - e.upstream_latency_ms) / 1000
                child(self.overhead, endpoint).observe(overhead)

    def _child(self, metric, *labels: str):
        """metric.labels(*labels), remembered: labels() checks and locks on every call,
        and this runs for every request. Label values are bounded (see above), so this
        stays small."""
        key = (id(metric), labels)
        found = self._children.get(key)
        if found is None:
            found = self._children[key] = metric.labels(*labels)
        return found

    def render(self) -> bytes:
        return generate_latest(self.registry)


class MetricsSink:
    """Counts each event, then hands it on."""

    def __init__(self, inner: EventSink, metrics: Metrics):
        self.inner = inner
        self.metrics = metrics

    def emit(self, event: RequestEvent) -> None:
        self.metrics.observe(event)
        self.inner.emit(event)


def may_scrape(client_host: str | None, authorization: str | None, token: str | None) -> bool:
    """Who may read /metrics: with AIGW_METRICS_TOKEN set, whoever presents it as a bearer
    token; without it, only a client on this machine (a scraper in the same pod or on
    the same host). The metrics name every team's models and volumes, so they are not
    for callers of the gateway."""
    if token:
        presented = (authorization or "").removeprefix("Bearer ").strip()
        return hmac.compare_digest(presented.encode(), token.encode())
    try:
        return client_host is not None and ipaddress.ip_address(client_host).is_loopback
    except ValueError:
        return False

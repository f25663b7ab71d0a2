"""The HTTP process: every surface of the product on one origin.

Surfaces arrive with their issues (`/v1`, `/anthropic`, `/auth`, `/admin`, the portals);
this module composes them and owns the shared resources: the aigw_app connection pool
and the Redis client.
"""

import asyncio
import contextlib
import gc
import logging
import os
from contextlib import asynccontextmanager
from pathlib import Path

import asyncpg
import httpx
import redis.asyncio as redis
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect

import portals
from api import admin, auth, dialects, errors, registry_sync
from api.auth import oidc
from api.auth.errors import ApiProblem
from api.auth.oidc_provider import OidcProvider, OidcSettings
from api.cache import embedder as embedders
from api.cache.store import ResponseCache
from api.embedded import app_url_from_admin, default_data_dir
from api.events.transports import PostgresQueueTransport
from api.events.writer import EventWriter
from api.gateway import anthropic_api, openai_api, responses_api, translate
from api.gateway.accounting import EventSink
from api.gateway.breaker import Breaker
from api.gateway.budgets import BudgetLeases
from api.gateway.config import GatewayConfig, load_config
from api.gateway.fast_path import GatewayApp
from api.gateway.guardrails import Guardrails
from api.gateway.metrics import Metrics, MetricsSink, may_scrape
from api.gateway.principals import KeyAuthenticator
from api.gateway.rate_limit import RateLimiter
from api.gateway.registry import ModelRegistry
from api.gateway.service import Gateway
from api.gateway.tokens import TokenSettings, TokenVerifier
from api.gateway.upstream import Upstream, upstream_session
from api.hooks import claude_code as claude_code_hooks
from api.hooks.recorder import HookRecorder
from api.settings import CLOUD_REQUIRED_TO_SERVE, MissingSettingsError, load
from jobs.event_consumer import InProcessConsumer
from jobs.event_partitions import PartitionJob

log = logging.getLogger("aigw.app")

HEALTH_TIMEOUT_SECONDS = 2.0
DATABASE_CONNECT_TIMEOUT_S = 5.0
DATABASE_AWAY = (asyncpg.PostgresError, asyncpg.InterfaceError, OSError, TimeoutError)


def create_app(
    app_database_url: str,
    redis_url: str,
    *,
    gateway_config: GatewayConfig | None = None,
    events: EventSink | None = None,
    token_settings: TokenSettings | None = None,
    oidc_settings: OidcSettings | None = None,
    cache_embedder: str | None = None,
    spool_dir: Path | None = None,
) -> FastAPI:
    """The whole HTTP surface. `gateway_config` defaults to the model list in config.yaml
    (or AIGW_CONFIG); `events` to the durable writer (spooling in `spool_dir`, default
    AIGW_SPOOL_DIR or the user data directory's spool/) into the event queue, with the
    queue's consumer running in-process unless AIGW_EVENTS_CONSUMER=external;
    `cache_embedder` to AIGW_CACHE_EMBEDDER or the local model. Single sign-on
    (/auth/oidc) is on when `oidc_settings` is given."""
    config = gateway_config or load_config()
    settings = load()
    consumer = None
    if events is None:
        spool = spool_dir or settings.spool_dir or default_data_dir() / "spool"
        transport = events_transport(settings)
        events = EventWriter(app_database_url, spool, transport=transport)
        if transport is None and settings.events_consumer == "in-process":
            consumer = InProcessConsumer(app_database_url)
    sink = events
    metrics = Metrics(models=frozenset(config.deployments) | frozenset(config.settings.aliases))
    metrics_token = settings.metrics_token
    embedder_setting = (
        cache_embedder if cache_embedder is not None else os.environ.get("AIGW_CACHE_EMBEDDER", "")
    )

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        for notice in config.notices:  # keys of the model config accepted without use
            log.warning("model config: %s", notice)
        # A bounded connect: while the database is away, a request that needs it (a budget
        # reservation) is refused in seconds, not after asyncpg's default minute.
        app.state.pool = await asyncpg.create_pool(
            app_database_url, min_size=1, max_size=20, timeout=DATABASE_CONNECT_TIMEOUT_S
        )
        if isinstance(sink, EventWriter):
            await sink.start()
        if consumer is not None:
            await consumer.start()
        # Short timeouts: a Redis that hangs must not hold requests (see Breaker).
        app.state.redis = redis.from_url(
            redis_url,
            socket_timeout=settings.redis_timeout_s,
            socket_connect_timeout=settings.redis_timeout_s,
        )
        redis_breaker = Breaker("redis")
        app.state.redis_breaker = redis_breaker
        # Small clients for identity providers (token keys, sign-in); providers of models
        # have their own pool (upstream_session).
        http = httpx.AsyncClient(timeout=httpx.Timeout(10))
        tokens = TokenVerifier(token_settings, http) if token_settings else None
        # Sign-in traffic to the identity provider keeps to a small client of its own.
        sso_http = httpx.AsyncClient(timeout=httpx.Timeout(10)) if oidc_settings else None
        app.state.oidc = OidcProvider(oidc_settings, sso_http) if oidc_settings else None
        authenticator = KeyAuthenticator(
            app.state.pool, app_database_url, tokens, stale_s=settings.auth_stale_s
        )
        registry = ModelRegistry(app.state.pool)
        authenticator.on_models_changed(registry.changed)
        guardrails = Guardrails(app.state.pool)
        authenticator.on_guardrails_changed(guardrails.changed)
        await authenticator.start()
        registered = {row["name"] for row in await registry.load()}
        await guardrails.load()
        if unregistered := registry_sync.missing(config, registered):
            log.warning(
                "models of the config not in the registry, which nobody may call until an "
                "operator registers them (aigw models sync): %s",
                ", ".join(unregistered),
            )
        providers = upstream_session()
        upstream = Upstream(config, providers)
        embedder = embedders.from_setting(embedder_setting, upstream)
        cache = ResponseCache(app.state.redis, app.state.pool, embedder, redis_breaker)
        await cache.start()
        budgets = BudgetLeases(app.state.pool, registry)
        await budgets.start()
        app.state.gateway = Gateway(
            pool=app.state.pool,
            config=config,
            upstream=upstream,
            authenticator=authenticator,
            limiter=RateLimiter(app.state.redis, breaker=redis_breaker),
            events=MetricsSink(sink, metrics),
            registry=registry,
            budgets=budgets,
            cache=cache,
            guardrails=guardrails,
        )
        app.state.hooks = HookRecorder(app.state.pool)
        await app.state.hooks.start()
        partitions = PartitionJob(app.state.pool)  # the request log's months, made ahead
        await partitions.start()
        # litellm takes seconds to import, the embedding model a moment to load: both now,
        # off the event loop, not on a request.
        warm = asyncio.create_task(asyncio.to_thread(translate.load_litellm))
        warm.add_done_callback(lambda _: freeze_heap())
        if isinstance(embedder, embedders.LocalEmbedder):
            await asyncio.to_thread(embedder.load)
        try:
            yield
        finally:
            await app.state.gateway.drain()
            await app.state.hooks.stop()
            await partitions.stop()
            await budgets.stop()  # after the last request: what it spent is settled
            await cache.stop()
            if isinstance(sink, EventWriter):
                await sink.stop()
            if consumer is not None:  # after the writer: it records what the writer sent
                await consumer.stop()
            await authenticator.stop()
            await registry.stop()
            await guardrails.stop()
            await http.aclose()
            await providers.close()
            if sso_http is not None:
                await sso_http.aclose()
            await asyncio.gather(warm, return_exceptions=True)
            gc.unfreeze()  # what this app held may be collected once it is gone
            await app.state.redis.aclose()
            await app.state.pool.close()

    if oidc_settings:
        oidc.redact_access_log()
    # FastAPI, with the model endpoints served ahead of its machinery (fast_path.py)
    app = GatewayApp(
        title="aigw",
        summary="Enterprise AI gateway",
        version="0.1.0",
        lifespan=lifespan,
    )
    # In the cloud every cookie is Secure, whatever Host header a proxy sends.
    app.state.cloud = settings.is_cloud
    # The analytics build (POST /admin/transformation/classify) logs in to the same
    # server and database as aigw_dbt.
    app.state.database_url = app_database_url

    @app.exception_handler(asyncpg.PostgresError)
    async def database_error(request: Request, exc: asyncpg.PostgresError) -> JSONResponse:
        status = errors.http_status(exc.sqlstate)
        message = exc.args[0] if status < 500 and exc.args else "internal error"
        error = {"type": errors.error_type(status), "message": message}
        hint = getattr(exc, "hint", None)
        if hint and status < 500:
            error["hint"] = hint  # what to do next, as the function that refused says
        headers = {"Retry-After": exc.detail} if exc.sqlstate == "AIG08" and exc.detail else None
        return JSONResponse({"error": error}, status_code=status, headers=headers)

    @app.exception_handler(ApiProblem)
    async def api_problem(request: Request, exc: ApiProblem) -> JSONResponse:
        return JSONResponse(exc.body(), status_code=exc.status, headers=exc.headers)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'] if p != 'body') or 'body'}: {e['msg']}"
            for e in exc.errors()[:10]
        )
        message = f"Invalid request: {problems}."
        return dialects.error_response(request.url.path, 422, message, "invalid_input")

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        # No such route, a wrong method, a body refused (api/request_bodies.py)
        return dialects.http_exception_response(request, exc)

    @app.exception_handler(ClientDisconnect)
    async def client_gone(request: Request, exc: ClientDisconnect) -> Response:
        # Gone while sending its body, before any route ran: there is nobody to answer.
        return Response(status_code=499)

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        # The exception goes on to the server's log; the caller gets an answer it can read.
        message = "The server failed to handle the request; it has been logged."
        return dialects.error_response(request.url.path, 500, message, "internal_error")

    app.include_router(openai_api.router)
    app.include_router(responses_api.router)
    app.include_router(auth.router)
    app.include_router(anthropic_api.router)
    app.include_router(anthropic_api.probe)
    app.include_router(admin.router)
    app.include_router(claude_code_hooks.router)
    # The portals' pages, at the same paths for browsers (see portals/__init__.py)
    portals.install(app)

    @app.get(
        "/metrics",
        tags=["health"],
        summary="Prometheus metrics (AIGW_METRICS_TOKEN as a bearer token, or from this host)",
        responses={401: {"description": "No or a wrong metrics token"}},
    )
    async def prometheus_metrics(request: Request) -> Response:
        client = request.client.host if request.client else None
        if not may_scrape(client, request.headers.get("authorization"), metrics_token):
            return JSONResponse(
                {
                    "error": {
                        "type": "authentication_error",
                        "code": "metrics_token_required",
                        "message": "Reading /metrics takes the metrics token: send "
                        "'Authorization: Bearer <AIGW_METRICS_TOKEN>' (without one set, only "
                        "this host may read them).",
                    }
                },
                status_code=401,
            )
        metrics.dependency_up.labels("redis").set(0 if app.state.redis_breaker.down else 1)
        if isinstance(sink, EventWriter):
            metrics.dependency_up.labels("postgres").set(0 if sink.database_down else 1)
            metrics.events_waiting.set(sink.waiting)
            if isinstance(sink.transport, PostgresQueueTransport):
                with contextlib.suppress(*DATABASE_AWAY):  # then the last reading stays
                    depth = app.state.pool.fetchval("select api.event_queue_depth()")
                    metrics.events_queued.set(await asyncio.wait_for(depth, HEALTH_TIMEOUT_SECONDS))
        return Response(metrics.render(), media_type=CONTENT_TYPE_LATEST)

    @app.get(
        "/healthz",
        tags=["health"],
        summary="200 once the database and Redis answer",
        responses={503: {"description": "The database or Redis does not answer (see body)"}},
    )
    async def healthz(request: Request) -> JSONResponse:
        checks = {
            "database": _check(request.app.state.pool.fetchval("select 1")),
            "redis": _check(request.app.state.redis.ping()),
        }
        results = dict(zip(checks, await asyncio.gather(*checks.values()), strict=True))
        healthy = all(result == "ok" for result in results.values())
        return JSONResponse(
            {"status": "ok" if healthy else "unavailable", **results},
            status_code=200 if healthy else 503,
        )

    return app


def freeze_heap() -> None:
    """Exempt everything loaded at start (litellm above all) from the garbage collector.
    Otherwise every full collection walks all of it: measured at 100-230 ms each, a
    stall for every request in flight. What is allocated later is collected as usual."""
    gc.collect()
    gc.freeze()


def events_transport(settings):
    """None (the default: the database's event queue) or the Service Bus transport."""
    if settings.events_transport != "servicebus":
        return None
    if not settings.servicebus_connection_string:
        raise MissingSettingsError(["AZURE_SERVICEBUS_CONNECTION_STRING"])
    from api.events.transports import ServiceBusTransport

    return ServiceBusTransport.from_connection_string(
        settings.servicebus_connection_string, settings.events_queue
    )


async def _check(awaitable) -> str:
    try:
        await asyncio.wait_for(awaitable, HEALTH_TIMEOUT_SECONDS)
    except Exception as exc:  # a health check reports every failure, whatever its kind
        return f"error: {type(exc).__name__}"
    return "ok"


def from_environment() -> FastAPI:
    """For process managers: `uvicorn --factory api.app:from_environment`."""
    settings = load()
    missing = settings.missing(CLOUD_REQUIRED_TO_SERVE) if settings.is_cloud else []
    if missing:
        raise MissingSettingsError(missing)
    if not settings.database_url and not settings.app_database_url:
        raise RuntimeError("set AIGW_APP_DATABASE_URL or DATABASE_URL (or run `aigw up`)")
    if not settings.redis_url:
        raise RuntimeError("set REDIS_URL (or run `aigw up`, which starts an embedded Redis)")
    app_url = settings.app_database_url or app_url_from_admin(settings.database_url)
    # Outside the cloud, models without provider keys may be pointed at a mock provider.
    mock_url = None if settings.is_cloud else os.environ.get("AIGW_MOCK_PROVIDER_URL")
    return create_app(
        app_url,
        settings.redis_url,
        gateway_config=load_config(mock_provider_url=mock_url),
        token_settings=settings.token_settings(),
        oidc_settings=settings.oidc_settings(),
    )

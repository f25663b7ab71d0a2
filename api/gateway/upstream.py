"""Calling providers: one retry / fallback / cooldown mechanism for every path.

A request names a model group. `Upstream.run` tries the group's deployments (in
simple-shuffle's order: the lowest `order` first, a weighted draw within it), then its
fallback groups', with bounded retries (and each deployment's own `max_retries`),
exponential backoff, an upstream's Retry-After honoured up to a cap, and a cooldown for a
deployment that keeps failing. The attempt itself is a function of the deployment: native
forwarding (aiohttp, bytes passed through) when the caller's wire format matches the
deployment's, litellm when it must translate — both raise `UpstreamError`, so both get
exactly the same retries and cooldowns.

Native forwarding uses aiohttp rather than httpx: on the hot path httpx's connection pool
(a scan of every pooled connection per request, anyio cancel scopes per read) cost more
than the rest of the gateway together; aiohttp's connector does the same job for a
fraction, measured in tests/perf/bench_gateway.py.
"""

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

import aiohttp
import orjson

from api import json_output
from api.gateway.config import Deployment, GatewayConfig, routing_order

T = TypeVar("T")

ANTHROPIC_VERSION = "2023-06-01"
RETRYABLE_STATUSES = {408, 409, 429, 500, 502, 503, 504, 529}


class UpstreamError(Exception):
    """A provider attempt failed. `status` is None for timeouts and connection errors;
    kind "request" is a request that could not be sent as it is (litellm could not
    translate it): the caller's problem, never the provider's."""

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        kind: str = "status",  # status | timeout | connect | cooldown | request
        retry_after_s: float | None = None,
        body: bytes = b"",
    ):
        super().__init__(message)
        self.message = message
        self.status = status
        self.kind = kind
        self.retry_after_s = retry_after_s
        self.body = body
        self.attempts = 0  # set by Upstream.run: how many attempts were made in all

    @property
    def retryable(self) -> bool:
        if self.kind == "request":
            return False
        return self.kind in ("timeout", "connect") or self.status in RETRYABLE_STATUSES


def retry_after_seconds(value: str | None) -> float | None:
    try:
        return max(0.0, float(value)) if value else None
    except ValueError:
        return None


@dataclass
class Attempted:
    deployment: Deployment
    attempts: int


class Upstream:
    def __init__(self, config: GatewayConfig, http: aiohttp.ClientSession, clock=time.monotonic):
        self.config = config
        self.http = http
        # Each bounds every wait for the provider (headers, every chunk), not a whole
        # stream: by deployment and by whether the request streams.
        self._timeouts = {
            (d.id, stream): aiohttp.ClientTimeout(
                total=None, connect=10, sock_read=self.timeout_s(d, stream)
            )
            for group in config.deployments.values()
            for d in group
            for stream in (False, True)
        }
        self.clock = clock
        self._failures: dict[str, int] = {}
        self._cooling_until: dict[str, float] = {}
        self._retry_tokens: dict[str, float] = {}  # per model group
        self.attempts = 0  # every upstream attempt, for metrics and tests

    # -- deployment choice -------------------------------------------------------------

    def timeout_s(self, deployment: Deployment, stream: bool) -> float:
        """How long one wait for the provider may take: the deployment's own timeout (its
        stream_timeout for a stream), else the router's."""
        settings = self.config.settings
        timeout = deployment.timeout_s or settings.timeout_s
        if stream:
            return deployment.stream_timeout_s or settings.stream_timeout_s or timeout
        return timeout

    def candidates(self, group: str) -> list[Deployment]:
        """The group's deployments in routing order, then each fallback group's, the ones
        cooling down left out."""
        groups = [group, *self.config.settings.fallbacks_of(group)]
        ordered = [d for g in groups for d in routing_order(self.config.deployments.get(g, []))]
        now = self.clock()
        return [d for d in ordered if self._cooling_until.get(d.id, 0) <= now]

    def _failed(self, deployment: Deployment) -> None:
        count = self._failures.get(deployment.id, 0) + 1
        self._failures[deployment.id] = count
        if count >= self.config.settings.allowed_fails:
            self._cooling_until[deployment.id] = self.clock() + self.config.settings.cooldown_s
            self._failures[deployment.id] = 0

    def _succeeded(self, deployment: Deployment, group: str) -> None:
        self._failures.pop(deployment.id, None)
        settings = self.config.settings
        tokens = self._retry_tokens.get(group, settings.retry_tokens)
        self._retry_tokens[group] = min(settings.retry_tokens, tokens + settings.retry_token_ratio)

    def _may_retry(self, group: str) -> bool:
        """Take a token for a failed attempt; True while retries are still worth making."""
        settings = self.config.settings
        tokens = max(0.0, self._retry_tokens.get(group, settings.retry_tokens) - 1)
        self._retry_tokens[group] = tokens
        return tokens > settings.retry_tokens / 2

    def cooling_down(self) -> list[str]:
        now = self.clock()
        return sorted(d for d, until in self._cooling_until.items() if until > now)

    # -- the one mechanism -------------------------------------------------------------

    async def run(
        self, group: str, attempt: Callable[[Deployment], Awaitable[T]]
    ) -> tuple[T, Attempted]:
        settings = self.config.settings
        candidates = self.candidates(group)
        if not candidates:
            raise UpstreamError(
                f"every deployment of {group} is cooling down after repeated failures",
                status=503,
                kind="cooldown",
                retry_after_s=settings.cooldown_s,
            )
        # The router's 1 + num_retries rounds, each on the next candidate, which is tried
        # 1 + its own max_retries times (LiteLLM's per-deployment client retries).
        rounds = (candidates[n % len(candidates)] for n in range(1 + settings.num_retries))
        plan = [d for d in rounds for _ in range(1 + d.max_retries)]
        max_attempts = len(plan)
        for n, deployment in enumerate(plan):
            self.attempts += 1
            try:
                result = await attempt(deployment)
            except UpstreamError as error:
                error.attempts = n + 1
                if not error.retryable:
                    raise
                # Only the provider's own trouble counts toward a cooldown and the retry
                # budget: a caller's bad request (a 400) must not cost everyone.
                self._failed(deployment)
                if not self._may_retry(group) or n + 1 == max_attempts:
                    raise
                if plan[n + 1].id == deployment.id:
                    # Same deployment again: back off, or wait as long as it asked to.
                    delay = error.retry_after_s
                    if delay is None:
                        delay = settings.retry_after_s * (2**n)
                    await asyncio.sleep(min(delay, settings.max_retry_after_s))
                continue
            self._succeeded(deployment, group)
            return result, Attempted(deployment, n + 1)
        raise AssertionError("unreachable")  # the loop returns or raises

    # -- native forwarding -------------------------------------------------------------

    async def open_native(
        self, deployment: Deployment, path: str, body: dict, *, team_id: str, headers: dict
    ) -> "UpstreamResponse":
        """POST to the deployment in its own wire format; the response is opened for
        streaming and has a success status (else UpstreamError)."""
        base = (deployment.api_base or default_base(deployment)).rstrip("/")
        request_headers = {"content-type": "application/json"}
        if deployment.internal:  # which team calls is ours to know, never a provider's
            request_headers["x-aigw-team"] = team_id
        if deployment.wire == "anthropic":
            request_headers["x-api-key"] = deployment.api_key or ""
            request_headers["anthropic-version"] = headers.get(
                "anthropic-version", ANTHROPIC_VERSION
            )
            if beta := headers.get("anthropic-beta"):
                request_headers["anthropic-beta"] = beta
        else:
            request_headers["authorization"] = f"Bearer {deployment.api_key or ''}"
            if organization := deployment.extra_params.get("organization"):
                request_headers["openai-organization"] = organization
        payload = {**body, "model": deployment.upstream_model}
        try:
            response = await self.http.post(
                base + path,
                data=json_output.dumps(payload),
                headers=request_headers,
                timeout=self._timeouts[deployment.id, bool(body.get("stream"))],
            )
        except TimeoutError as exc:
            raise UpstreamError("upstream timed out", kind="timeout") from exc
        except aiohttp.ClientError as exc:
            raise UpstreamError(
                f"upstream unreachable: {type(exc).__name__}", kind="connect"
            ) from exc
        if response.status >= 400:
            try:
                content = await response.read()
            except (TimeoutError, aiohttp.ClientError):
                content = b""
            finally:
                response.release()
            raise UpstreamError(
                f"upstream answered HTTP {response.status}",
                status=response.status,
                retry_after_s=retry_after_seconds(response.headers.get("retry-after")),
                body=content,
            )
        return UpstreamResponse(response)


def upstream_session() -> aiohttp.ClientSession:
    """The providers' connection pool (create it inside the running event loop)."""
    return aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=1000, limit_per_host=0, ttl_dns_cache=300),
        # The callers' own headers are never forwarded; nothing of ours is either.
        skip_auto_headers=("User-Agent",),
        # A cookie a provider sets is never sent back: the pool is shared by every team,
        # so one team's cookie would travel with another's requests.
        cookie_jar=aiohttp.DummyCookieJar(),
    )


class UpstreamResponse:
    """A provider's answer, read whole or as it arrives, then closed."""

    def __init__(self, response: aiohttp.ClientResponse):
        self._response = response
        self.status_code = response.status
        self.headers = response.headers

    async def aread(self) -> bytes:
        return await self._response.read()

    async def aiter_raw(self) -> AsyncIterator[bytes]:
        try:
            async for chunk in self._response.content.iter_any():
                yield chunk
        except TimeoutError as exc:
            raise UpstreamError("upstream timed out", kind="timeout") from exc
        except aiohttp.ClientError as exc:
            raise UpstreamError("upstream stream broke", status=502) from exc

    async def aclose(self) -> None:
        # back to the pool when read to the end; otherwise the connection is dropped
        self._response.release()


async def read_json(response: UpstreamResponse) -> dict:
    """A whole (non-streamed) upstream answer as JSON; unreadable ones count as a 502, so
    they are retried like any other provider failure."""
    try:
        data = orjson.loads(await response.aread())
    except TimeoutError as exc:
        raise UpstreamError("upstream timed out", kind="timeout") from exc
    except (ValueError, aiohttp.ClientError) as exc:
        raise UpstreamError("unreadable upstream response", status=502) from exc
    finally:
        await response.aclose()
    if not isinstance(data, dict):
        raise UpstreamError("unreadable upstream response", status=502)
    return data


def default_base(deployment: Deployment) -> str:
    if deployment.wire == "anthropic":
        return "https://api.anthropic.com"
    return "https://api.openai.com/v1"


async def aiter_sse_events(chunks: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    """Split a byte stream into whole SSE events (each ending in a blank line)."""
    buffer = b""
    async for chunk in chunks:
        buffer += chunk.replace(b"\r\n", b"\n")
        while (end := buffer.find(b"\n\n")) >= 0:
            yield buffer[: end + 2]
            buffer = buffer[end + 2 :]
    if buffer.strip():
        yield buffer


def sse_data(event: bytes) -> dict | None:
    """The JSON of an SSE event's data lines, or None ([DONE], comments, bad JSON)."""
    data = b"".join(line[5:].lstrip() for line in event.split(b"\n") if line.startswith(b"data:"))
    if not data or data == b"[DONE]":
        return None
    try:
        value = orjson.loads(data)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def litellm_error(exc: Exception) -> UpstreamError:
    """Map an exception raised by litellm to an UpstreamError with the same rules as
    native forwarding.

    litellm raises its own exception types both for what the provider did and for what
    it failed to do itself: a message it cannot translate (an unknown content part, a
    null message) comes out as an "APIConnectionError" with status 500, or as a bare
    TypeError. Counted as the provider's, one tenant's odd request would be retried and
    cool the model down for everyone. So the exception's chain decides: only an HTTP
    status the provider answered, a timeout or a broken connection to it is a provider
    failure; anything else is the request's problem (kind "request": a 400, attempted
    once, never retried, never counted toward a cooldown).
    """
    import httpx

    for link in exception_chain(exc):
        if isinstance(link, httpx.HTTPStatusError):
            response = link.response
            return UpstreamError(
                f"upstream answered HTTP {response.status_code}",
                status=response.status_code,
                retry_after_s=retry_after_seconds(response.headers.get("retry-after")),
                body=response_body(response),
            )
        if isinstance(link, httpx.TimeoutException | TimeoutError):
            return UpstreamError("upstream timed out", kind="timeout")
        if isinstance(link, httpx.TransportError | aiohttp.ClientError | OSError):
            return UpstreamError("upstream unreachable", kind="connect")
    return UpstreamError(request_problem(exc), status=400, kind="request")


def exception_chain(exc: BaseException):
    """The exception, then what caused it (or was being handled when it was raised)."""
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        yield exc
        exc = exc.__cause__ or exc.__context__


def response_body(response) -> bytes:
    """The provider's error body, when litellm read it (a stream's may not be)."""
    try:
        return response.content
    except Exception:  # httpx.ResponseNotRead and the like: there is no body to show
        return b""


MAX_PROBLEM_CHARS = 300
LITELLM_PREFIXES = ("AnthropicException - ", "AnthropicError - ", "OpenAIException - ",
                    "OpenAIError - ")  # fmt: skip


def request_problem(exc: BaseException) -> str:
    """What litellm found wrong with a request, in one line fit to show its sender:
    litellm's own message without its class prefix and traceback; a KeyError (a field
    litellm expected and did not find) is named as the missing field."""
    message, missing = "", None
    for link in exception_chain(exc):
        text = str(getattr(link, "message", None) or link)
        text = text.split("Traceback (most recent call last)")[0].strip().split("\n")[0]
        if text.startswith("litellm.") and ": " in text:
            text = text.split(": ", 1)[1]
        for prefix in LITELLM_PREFIXES:
            text = text.removeprefix(prefix)
        message = message or text.strip()
        if isinstance(link, KeyError) and missing is None:
            missing = str(link)
    if missing is not None and message in ("", missing):
        message = f"missing field {missing}"
    message = message or type(exc).__name__
    if len(message) > MAX_PROBLEM_CHARS:
        message = message[: MAX_PROBLEM_CHARS - 1] + "…"
    return message

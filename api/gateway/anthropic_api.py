"""The Anthropic wire format under /anthropic: `anthropic.Anthropic(base_url=".../anthropic")`
and Claude Code (`ANTHROPIC_BASE_URL`) work unchanged."""

import time
from collections.abc import AsyncIterator

from fastapi import APIRouter, Request
from fastapi.responses import Response

from api.gateway import bounds, errors, translate, validation
from api.gateway.openai_api import json_body
from api.gateway.request_schemas import COUNT_TOKENS, MESSAGES, request_body
from api.gateway.service import Admission, Gateway, Usage, as_int, estimate_tokens, tokens_in
from api.gateway.upstream import aiter_sse_events, read_json
from api.json_output import JSONBody

router = APIRouter(prefix="/anthropic/v1", tags=["Anthropic"])
# What a client checks before it starts (Claude Code: HEAD <base URL>/api/hello): the
# gateway is there. Nothing is authenticated or revealed.
probe = APIRouter(prefix="/anthropic", tags=["Anthropic"], include_in_schema=False)


@probe.head("")
@probe.head("/")
@probe.head("/api/hello")
async def reachable() -> Response:
    return Response(status_code=200)


WIRE = "anthropic"
FORWARDED_HEADERS = ("anthropic-version", "anthropic-beta")


def usage_of(data: dict, usage: Usage) -> None:
    """Read Anthropic-format usage: a message, or the message_start / message_delta events.

    Anthropic's input_tokens leave out prompt-cache reads and writes; both are input we
    are billed for (reads at the cached price, writes at the input price here)."""
    message = data.get("message") if data.get("type") == "message_start" else data
    message = message if isinstance(message, dict) else {}
    u = message.get("usage")
    if isinstance(u, dict):
        if u.get("input_tokens") is not None:
            cache_read = as_int(u.get("cache_read_input_tokens"))
            cache_write = as_int(u.get("cache_creation_input_tokens"))
            usage.input_tokens = as_int(u.get("input_tokens")) + cache_read + cache_write
            usage.cached_input_tokens = cache_read
        if u.get("output_tokens") is not None:
            usage.output_tokens = as_int(u.get("output_tokens"))
    content = message.get("content")
    for block in content if isinstance(content, list) else []:
        if isinstance(block, dict) and block.get("type") == "tool_use":
            usage.tool_calls += 1
    started = data.get("content_block") if data.get("type") == "content_block_start" else None
    if isinstance(started, dict) and started.get("type") == "tool_use":
        usage.tool_calls += 1


async def admit_message(request: Request, gw: Gateway, admission: Admission) -> dict:
    await gw.authenticate(request, admission)
    gw.authorize(admission, "inference")  # messages and count_tokens alike
    body = await json_body(request, admission)
    gw.read_session(admission, body)
    gw.read_signals(request, admission, body, "anthropic")
    validation.anthropic_messages(body.get("messages"), body.get("system"))
    gw.resolve_model(admission, body.get("model"))
    # Counting tokens sends the text to the provider too: the same input rules apply.
    if gw.guard_input(admission, body, ("system", "messages"), tokens_in(admission.body_chars)):
        gw.rebound(admission, body)
    return body


@router.post(
    "/messages",
    summary="Create a message (Anthropic format)",
    openapi_extra=request_body(MESSAGES),
    responses=errors.openapi_responses("anthropic"),
)
async def messages(request: Request) -> Response:
    gw: Gateway = request.app.state.gateway
    admission = gw.begin(request, WIRE)
    try:
        body = await admit_message(request, gw, admission)
        model = admission.model
        validation.anthropic_parameters(body, model, gw.registry.max_output_tokens.get(model))
        admission.stream = bool(body.get("stream"))
        headers = {h: request.headers[h] for h in FORWARDED_HEADERS if h in request.headers}
        beta = headers.get("anthropic-beta")
        await gw.admit(
            admission,
            input_estimate=tokens_in(admission.body_chars),
            bound=lambda: bounds.anthropic_messages(body, admission.body, beta),
            # beta features change answers; the API version only their shape
            cacheable=(body, request.headers, {"anthropic-beta": headers.get("anthropic-beta")}),
        )
    except errors.GatewayError as error:
        gw.reject(admission, error)
        return error.response(WIRE)

    if admission.cache is not None and admission.cache.entry is not None:
        return await gw.serve_cached(admission)
    team_id = admission.principal.team_id

    async def attempt(deployment):
        if deployment.wire == WIRE:
            response = await gw.upstream.open_native(
                deployment, "/v1/messages", body, team_id=team_id, headers=headers
            )
            return response if admission.stream else await read_json(response)
        return await translate.anthropic_messages(
            deployment, body, team_id, gw.upstream.timeout_s(deployment, admission.stream)
        )

    upstream_started = time.perf_counter()
    try:
        result, attempted = await gw.call_upstream(admission, attempt, WIRE)
    except errors.GatewayError as error:
        return error.response(WIRE)
    deployment = attempted.deployment

    if not admission.stream:
        return await gw.answer(
            admission,
            attempted,
            upstream_started,
            lambda: result if deployment.wire == WIRE else dict(result),
            usage_of,
            WIRE,
        )

    source = result.aiter_raw() if deployment.wire == WIRE else stream_bytes(result)
    return gw.stream(
        admission,
        gw.relay(
            admission, aiter_sse_events(source), result, attempted, upstream_started, read_event
        ),
        result,
        attempted,
    )


async def stream_bytes(stream) -> AsyncIterator[bytes]:
    async for chunk in stream:
        yield chunk if isinstance(chunk, bytes) else chunk.encode()


def read_event(data: dict, usage: Usage) -> tuple[int, bool, bool]:
    """How an Anthropic-format stream is read: usage from message_start / message_delta,
    text from content_block_delta, the end from message_stop."""
    usage_of(data, usage)
    produced = 0
    if data.get("type") == "content_block_delta" and isinstance(delta := data.get("delta"), dict):
        for name in ("text", "partial_json", "thinking"):  # text, tool input, thinking
            if isinstance(text := delta.get(name), str):
                produced += len(text)
    elif data.get("type") == "content_block_start":
        block = data.get("content_block")
        name = block.get("name") if isinstance(block, dict) else None
        produced += len(name) if isinstance(name, str) else 0  # a tool call's name
    return produced, data.get("type") == "message_stop", True


@router.post(
    "/messages/count_tokens",
    summary="Count a message's input tokens",
    openapi_extra=request_body(COUNT_TOKENS),
    responses=errors.openapi_responses("anthropic"),
)
async def count_tokens(request: Request) -> Response:
    gw: Gateway = request.app.state.gateway
    admission = gw.begin(request, WIRE)
    try:
        body = await admit_message(request, gw, admission)
        # Counted against the request rate like any call; it costs nothing, so nothing
        # is reserved.
        await gw.admit(admission, input_estimate=0, bound=None)
    except errors.GatewayError as error:
        gw.reject(admission, error)
        return error.response(WIRE)
    team_id = admission.principal.team_id
    headers = {h: request.headers[h] for h in FORWARDED_HEADERS if h in request.headers}

    async def attempt(deployment):
        if deployment.wire == WIRE:
            return await read_json(
                await gw.upstream.open_native(
                    deployment, "/v1/messages/count_tokens", body, team_id=team_id, headers=headers
                )
            )
        # Other providers have no counting endpoint: estimate locally.
        return {
            "input_tokens": estimate_tokens(body["messages"], body.get("system"), body.get("tools"))
        }

    try:
        data, attempted = await gw.call_upstream(admission, attempt, WIRE)
    except errors.GatewayError as error:
        return error.response(WIRE)
    gw.finish(admission, status=200, deployment=attempted.deployment, attempts=attempted.attempts)
    return JSONBody(data, headers=admission.rate_headers)

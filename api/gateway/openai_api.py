"""The OpenAI wire format: /v1/chat/completions, /v1/embeddings, /v1/models."""

import json
import time

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from api import json_input
from api.gateway import bounds, errors, translate, validation
from api.gateway.request_schemas import CHAT_COMPLETION, EMBEDDINGS, request_body
from api.gateway.service import Admission, Gateway, Usage, as_int, ascii_json_length, tokens_in
from api.gateway.upstream import aiter_sse_events, read_json
from api.request_bodies import read_limited

router = APIRouter(prefix="/v1", tags=["OpenAI"])
WIRE = "openai"
# The largest request body taken (the providers' own limits are of this order: 32 MB for
# Anthropic's Messages API).
MAX_BODY_BYTES = 32 * 1024 * 1024


async def json_body(request: Request, admission: Admission) -> dict:
    """The request's JSON object, read up to MAX_BODY_BYTES (a larger body is refused
    before it is all in memory); its length is kept on the admission."""
    raw = await read_limited(request, MAX_BODY_BYTES, errors.too_large)
    admission.body_chars = ascii_json_length(raw)
    if admission.principal is not None and admission.principal.has_budget:
        admission.body = raw  # what the budget's bound is computed from
    try:
        body = json_input.loads(raw)
    except json_input.InvalidJson as exc:
        raise errors.bad_request(str(exc)) from None
    if not isinstance(body, dict):
        raise errors.bad_request("The request body must be a JSON object.")
    return body


def usage_of(data: dict, usage: Usage) -> None:
    """Read OpenAI-format usage (a response, or a stream's final chunk) into `usage`."""
    u = data.get("usage")
    if isinstance(u, dict):
        usage.input_tokens = as_int(u.get("prompt_tokens"))
        usage.output_tokens = as_int(u.get("completion_tokens"))
        details = u.get("prompt_tokens_details")
        if isinstance(details, dict):
            usage.cached_input_tokens = as_int(details.get("cached_tokens"))
    for choice in choices(data):
        message = choice.get("message") or choice.get("delta") or {}
        calls = message.get("tool_calls") if isinstance(message, dict) else None
        for call in calls if isinstance(calls, list) else []:
            if isinstance(call, dict) and call.get("id"):  # a streamed call's id comes once
                usage.tool_calls += 1


def litellm_json(response) -> dict:
    return json.loads(response.model_dump_json(exclude_none=True))


def choices(data: dict) -> list[dict]:
    value = data.get("choices")
    return [c for c in value if isinstance(c, dict)] if isinstance(value, list) else []


@router.post(
    "/chat/completions",
    summary="Create a chat completion (OpenAI format)",
    openapi_extra=request_body(CHAT_COMPLETION),
    responses=errors.openapi_responses("openai"),
)
async def chat_completions(request: Request) -> Response:
    gw: Gateway = request.app.state.gateway
    admission = gw.begin(request, WIRE)
    try:
        await gw.authenticate(request, admission)
        gw.authorize(admission, "inference")
        body = await json_body(request, admission)
        gw.read_session(admission, body)
        gw.read_signals(request, admission, body, "openai")
        validation.openai_messages(body.get("messages"))
        model = gw.resolve_model(admission, body.get("model"))
        validation.openai_parameters(body, model, gw.registry.max_output_tokens.get(model))
        admission.stream = bool(body.get("stream"))
        if not isinstance(body.get("stream_options") or {}, dict):
            raise errors.bad_request("'stream_options' must be an object.")
        if gw.guard_input(admission, body, ("messages",), tokens_in(admission.body_chars)):
            gw.rebound(admission, body)
        await gw.admit(
            admission,
            # from the body's length: the prompt is most of it, and nothing is re-encoded
            input_estimate=tokens_in(admission.body_chars),
            bound=lambda: bounds.openai_chat(body, admission.body),
            cacheable=(body, request.headers, {}),
        )
    except errors.GatewayError as error:
        gw.reject(admission, error)
        return error.response(WIRE)

    wants_usage = bool((body.get("stream_options") or {}).get("include_usage"))
    if admission.cache is not None and admission.cache.entry is not None:
        return await gw.serve_cached(admission, include_usage=wants_usage)
    upstream_body = dict(body)
    if admission.stream:  # always ask for usage: it is what we settle on
        upstream_body["stream_options"] = {
            **(body.get("stream_options") or {}),
            "include_usage": True,
        }
    team_id = admission.principal.team_id

    async def attempt(deployment):
        if deployment.wire == WIRE:
            response = await gw.upstream.open_native(
                deployment, "/chat/completions", upstream_body, team_id=team_id, headers={}
            )
            return response if admission.stream else await read_json(response)
        return await translate.openai_chat(
            deployment, upstream_body, team_id, gw.upstream.timeout_s(deployment, admission.stream)
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
            lambda: result if deployment.wire == WIRE else litellm_json(result),
            usage_of,
            WIRE,
        )

    source = (
        aiter_sse_events(result.aiter_raw())
        if deployment.wire == WIRE
        else translate.chunk_bytes(result)
    )
    return gw.stream(
        admission,
        gw.relay(
            admission, source, result, attempted, upstream_started, stream_reader(wants_usage)
        ),
        result,
        attempted,
    )


def stream_reader(wants_usage: bool):
    """How an OpenAI-format stream is read: usage from the final chunk, text from deltas;
    the usage chunk we asked for on the client's behalf is not forwarded."""

    def read(data: dict, usage: Usage) -> tuple[int, bool, bool]:
        usage_of(data, usage)
        produced = 0
        for choice in choices(data):
            delta = choice.get("delta")
            if isinstance(delta, dict):
                produced += produced_chars(delta)
        forward = wants_usage or not (data.get("usage") and not data.get("choices"))
        return produced, False, forward

    return read


def produced_chars(delta: dict) -> int:
    """The characters a stream's delta produced: text, reasoning, tool-call arguments."""
    chars = 0
    for name in ("content", "reasoning_content", "refusal"):
        if isinstance(text := delta.get(name), str):
            chars += len(text)
    calls = delta.get("tool_calls")
    for call in calls if isinstance(calls, list) else ():
        function = call.get("function") if isinstance(call, dict) else None
        if isinstance(function, dict):
            for name in ("name", "arguments"):
                if isinstance(text := function.get(name), str):
                    chars += len(text)
    return chars


@router.post(
    "/embeddings",
    summary="Create embeddings (OpenAI format)",
    openapi_extra=request_body(EMBEDDINGS),
    responses=errors.openapi_responses("openai"),
)
async def embeddings(request: Request) -> Response:
    gw: Gateway = request.app.state.gateway
    admission = gw.begin(request, WIRE)
    try:
        await gw.authenticate(request, admission)
        gw.authorize(admission, "embeddings")
        body = await json_body(request, admission)
        gw.read_signals(request, admission, body, None)  # tags only
        inputs = body.get("input")
        if not inputs or not isinstance(inputs, str | list):
            raise errors.bad_request("'input' must be a string or an array.")
        gw.resolve_model(admission, body.get("model"))
        if gw.guard_input(admission, body, ("input",), tokens_in(admission.body_chars)):
            gw.rebound(admission, body)
        await gw.admit(
            admission,
            input_estimate=tokens_in(admission.body_chars),
            bound=lambda: bounds.embeddings(admission.body),
        )
    except errors.GatewayError as error:
        gw.reject(admission, error)
        return error.response(WIRE)
    team_id = admission.principal.team_id

    async def attempt(deployment):
        if deployment.wire == WIRE:
            return await read_json(
                await gw.upstream.open_native(
                    deployment, "/embeddings", body, team_id=team_id, headers={}
                )
            )
        return await translate.openai_embeddings(
            deployment, body, team_id, gw.upstream.timeout_s(deployment, stream=False)
        )

    upstream_started = time.perf_counter()
    try:
        result, attempted = await gw.call_upstream(admission, attempt, WIRE)
    except errors.GatewayError as error:
        return error.response(WIRE)
    return await gw.answer(
        admission,
        attempted,
        upstream_started,
        lambda: result if attempted.deployment.wire == WIRE else litellm_json(result),
        usage_of,
        WIRE,
    )


@router.get(
    "/models",
    summary="The models the caller's team may use",
    responses=errors.openapi_responses("openai"),
)
async def models(request: Request) -> Response:
    gw: Gateway = request.app.state.gateway
    admission = gw.begin(request, WIRE)
    try:
        principal = await gw.authenticate(request, admission)
        gw.authorize(admission, None)  # any scope: the list serves either kind of key
    except errors.GatewayError as error:
        gw.reject(admission, error)
        return error.response(WIRE)
    data = []
    for name, deployments in sorted(gw.config.deployments.items()):
        if name not in principal.allowed_models:
            continue
        mock = any(d.mock for d in deployments)
        data.append(
            {
                "id": name,
                "object": "model",
                "created": 0,
                "owned_by": "aigw-mock-provider" if mock else deployments[0].provider,
                "mock": mock,
            }
        )
    return JSONResponse({"object": "list", "data": data})

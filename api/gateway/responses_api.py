"""The OpenAI Responses API: POST /v1/responses (whole and streamed), and the stored
responses: GET and DELETE /v1/responses/{id}, GET /v1/responses/{id}/input_items.

Codex and the OpenAI SDKs' newer code call this API. It takes the same keys, limits,
budgets, cache and events as chat completions. The gateway keeps conversations itself
(sql/conversations.sql): a turn's `previous_response_id` is expanded into the whole input
(the previous turns' input and output) before it is sent, and upstream calls are made
with `store: false`. So a conversation continues on whichever deployment serves its next
turn: forwarded as it is to an OpenAI-format deployment, translated by litellm for the
others. Response ids are the gateway's own (`resp_` and the request id), in whole answers
and in streams alike.
"""

import json
import logging
import time

import asyncpg
import orjson
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from api.database import principal_transaction
from api.gateway import bounds, errors, translate, validation
from api.gateway.openai_api import json_body
from api.gateway.request_schemas import RESPONSE, request_body
from api.gateway.service import Admission, Gateway, Usage, as_int, tokens_in
from api.gateway.upstream import aiter_sse_events, read_json

log = logging.getLogger("aigw.gateway")
router = APIRouter(prefix="/v1", tags=["OpenAI"])
WIRE = "openai"
API = "responses"
PATH = "/v1/responses"
STORED_PATH = "/v1/responses/{id}"
# The events whose `response` object names the response: its id is rewritten to ours.
RESPONSE_EVENTS = frozenset(
    {
        "response.created",
        "response.in_progress",
        "response.queued",
        "response.completed",
        "response.incomplete",
        "response.failed",
    }
)
FINAL_EVENTS = frozenset({"response.completed", "response.incomplete", "response.failed"})
DELTA_EVENTS = frozenset(
    {
        "response.output_text.delta",
        "response.function_call_arguments.delta",
        "response.reasoning_text.delta",
        "response.reasoning_summary_text.delta",
        "response.refusal.delta",
    }
)


def response_id(admission: Admission) -> str:
    return "resp_" + admission.request_id.removeprefix("req_")


def principal_setting(admission: Admission) -> dict:
    """Who the database sees as the caller of the stored-response functions."""
    p = admission.principal
    if p.key_id:
        return {"api_key_id": p.key_id}
    return {"user_id": p.owner_user_id, "team_id": p.team_id}


def usage_of(response: dict, usage: Usage) -> None:
    """A response's usage (input, output, cached input), and the function calls it made."""
    u = response.get("usage")
    if isinstance(u, dict):
        usage.input_tokens = as_int(u.get("input_tokens"))
        usage.output_tokens = as_int(u.get("output_tokens"))
        details = u.get("input_tokens_details")
        if isinstance(details, dict):
            usage.cached_input_tokens = as_int(details.get("cached_tokens"))
    output = response.get("output")
    usage.tool_calls = sum(
        1 for item in output if isinstance(item, dict) and item.get("type") == "function_call"
    ) if isinstance(output, list) else 0  # fmt: skip


async def load_history(gw: Gateway, admission: Admission, previous) -> list:
    """The whole input of the turn before, then its output: what `previous_response_id`
    continues. Another team's response, an expired or unknown one, is not found."""
    if previous is None:
        return []
    try:
        async with principal_transaction(gw.pool, principal_setting(admission)) as conn:
            row = await conn.fetchrow("select * from api.get_stored_response($1)", previous)
    except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError, TimeoutError) as exc:
        log.error("stored responses unavailable: %s", type(exc).__name__)
        raise errors.dependency_unavailable("stored responses") from None
    if row is None:
        raise errors.GatewayError(
            400,
            f"Previous response with id '{errors.echoed(previous)}' not found: it belongs to "
            "another team, was deleted, expired (30 days) or was made with store: false.",
            "invalid_request_error",
            "invalid_request_error",
            "previous_response_not_found",
        )
    stored = json.loads(row["response"])
    output = stored.get("output") if isinstance(stored.get("output"), list) else []
    return [*json.loads(row["input"]), *output]


def as_items(value) -> list:
    return (
        [{"type": "message", "role": "user", "content": value}] if isinstance(value, str) else value
    )


def rewrite(response: dict, admission: Admission, previous, store: bool) -> dict:
    """The response as the gateway answers it: its id, model and conversation fields."""
    response["id"] = response_id(admission)
    response["model"] = admission.model
    response["previous_response_id"] = previous
    response["store"] = store
    return response


@router.post(
    "/responses",
    summary="Create a model response (OpenAI Responses API)",
    responses=errors.openapi_responses("openai"),
    openapi_extra=request_body(RESPONSE),
)
async def create_response(request: Request) -> Response:
    gw: Gateway = request.app.state.gateway
    admission = gw.begin(request, WIRE)
    admission.api = API
    try:
        await gw.authenticate(request, admission)
        gw.authorize(admission, "inference")
        body = await json_body(request, admission)
        gw.read_session(admission, body)
        gw.read_signals(request, admission, body, "responses")
        model = gw.resolve_model(admission, body.get("model"))
        validation.responses_request(body, model, gw.registry.max_output_tokens.get(model))
        admission.stream = bool(body.get("stream"))
        previous = body.get("previous_response_id")
        history = await load_history(gw, admission, previous)
        items = [*history, *as_items(body["input"])]
        store = body.get("store", True) is not False
        # What is sent upstream: the whole conversation, nothing kept there.
        upstream_body = {
            k: v for k, v in body.items() if k not in ("previous_response_id", "input", "store")
        }
        upstream_body["input"], upstream_body["store"] = items, False
        raw = orjson.dumps(items) if history else admission.body
        history_chars = len(raw) if history and raw else 0
        # The whole conversation is judged: a rule added since a turn was stored applies
        # to it too. What is redacted is stored redacted.
        if gw.guard_input(
            admission,
            upstream_body,
            ("instructions", "input"),
            tokens_in(admission.body_chars + history_chars),
        ):
            if history:
                raw = orjson.dumps(items)
            elif admission.body is not None:
                raw = admission.body = orjson.dumps(upstream_body)
        await gw.admit(
            admission,
            input_estimate=tokens_in(admission.body_chars + history_chars),
            bound=lambda: bounds.openai_responses(upstream_body, raw or b""),
            cacheable=(upstream_body, request.headers, {}),
        )
    except errors.GatewayError as error:
        gw.reject(admission, error)
        return error.response(WIRE)

    if store:
        stored_input = items

        async def keep(answer: dict) -> None:
            await store_response(gw, admission, previous, stored_input, answer)

        admission.on_answer = keep
    if admission.cache is not None and admission.cache.entry is not None:
        return await serve_cached(gw, admission, previous, store)
    team_id = admission.principal.team_id

    async def attempt(deployment):
        if deployment.wire == WIRE:
            response = await gw.upstream.open_native(
                deployment, "/responses", upstream_body, team_id=team_id, headers={}
            )
            return response if admission.stream else await read_json(response)
        return await translate.openai_responses(
            deployment, upstream_body, team_id, gw.config.settings.timeout_s
        )

    upstream_started = time.perf_counter()
    try:
        result, attempted = await gw.call_upstream(admission, attempt, WIRE)
    except errors.GatewayError as error:
        return error.response(WIRE)
    native = attempted.deployment.wire == WIRE

    if not admission.stream:
        return await gw.answer(
            admission,
            attempted,
            upstream_started,
            lambda: rewrite(
                result if native else json.loads(result.model_dump_json(exclude_none=True)),
                admission,
                previous,
                store,
            ),
            usage_of,
            WIRE,
        )
    source = (
        aiter_sse_events(result.aiter_raw())
        if native
        else aiter_sse_events(translate.response_event_bytes(result))
    )
    return gw.stream(
        admission,
        gw.relay(
            admission,
            source,
            result,
            attempted,
            upstream_started,
            stream_reader(admission, previous, store),
        ),
        result,
        attempted,
    )


async def serve_cached(gw: Gateway, admission: Admission, previous, store: bool) -> Response:
    entry = admission.cache.entry
    entry["response"] = rewrite(dict(entry["response"]), admission, previous, store)
    return await gw.serve_cached(admission)


def stream_reader(admission: Admission, previous, store: bool):
    """How a Responses stream is read: text and arguments from the delta events, usage
    and the end from the final one; the events that carry the response object are sent
    with the gateway's id for it."""

    def read(data: dict, usage: Usage):
        kind = data.get("type")
        if kind in DELTA_EVENTS:
            delta = data.get("delta")
            return (len(delta) if isinstance(delta, str) else 0), False, True
        if kind in RESPONSE_EVENTS and isinstance(data.get("response"), dict):
            response = rewrite(data["response"], admission, previous, store)
            if kind in FINAL_EVENTS:
                usage_of(response, usage)
            encoded = json.dumps(data, separators=(",", ":"))
            return 0, kind in FINAL_EVENTS, f"event: {kind}\ndata: {encoded}\n\n".encode()
        return 0, False, True

    return read


async def store_response(gw: Gateway, admission: Admission, previous, items, answer) -> None:
    """Keep a complete answer for previous_response_id and GET, before the client has
    it all (so it may continue from it at once); a failure is logged, and the answer is
    sent all the same."""
    try:
        async with principal_transaction(gw.pool, principal_setting(admission)) as conn:
            await conn.execute(
                "select api.store_response($1, $2, $3, $4::jsonb, $5::jsonb)",
                answer.get("id") or response_id(admission),
                admission.model,
                previous,
                orjson.dumps(items).decode(),
                orjson.dumps(answer).decode(),
            )
    except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError, TimeoutError) as exc:
        log.error("a response could not be stored: %s", type(exc).__name__)


# -- the stored responses ---------------------------------------------------------------


async def stored(request: Request, response_id_: str, query: str, *args):
    """Run `query` on a stored response as the caller; the admission is recorded."""
    gw: Gateway = request.app.state.gateway
    admission = gw.begin(request, WIRE)
    admission.endpoint = STORED_PATH
    try:
        await gw.authenticate(request, admission)
        gw.authorize(admission, "inference")
        async with principal_transaction(gw.pool, principal_setting(admission)) as conn:
            row = await conn.fetchrow(query, response_id_, *args)
    except errors.GatewayError as error:
        gw.reject(admission, error)
        return admission, None, error
    except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError, TimeoutError) as exc:
        log.error("stored responses unavailable: %s", type(exc).__name__)
        error = errors.dependency_unavailable("stored responses")
        gw.reject(admission, error)
        return admission, None, error
    return admission, row, None


def not_found(response_id_: str) -> errors.GatewayError:
    return errors.GatewayError(
        404,
        f"No response found with id '{errors.echoed(response_id_)}'.",
        "invalid_request_error",
        "not_found_error",
        "response_not_found",
    )


@router.get(
    "/responses/{response_id}",
    summary="A stored response (of the caller's team)",
    responses=errors.openapi_responses("openai", 401, 403, 404, 503),
)
async def get_response(request: Request, response_id: str) -> Response:
    admission, row, error = await stored(
        request, response_id, "select response from api.get_stored_response($1)"
    )
    return answer_row(request, admission, error, row, response_id, lambda r: json.loads(r[0]))


@router.get(
    "/responses/{response_id}/input_items",
    summary="The input items of a stored response",
    responses=errors.openapi_responses("openai", 401, 403, 404, 503),
)
async def get_input_items(request: Request, response_id: str) -> Response:
    admission, row, error = await stored(
        request, response_id, "select input from api.get_stored_response($1)"
    )

    def listed(r) -> dict:
        items = json.loads(r[0])
        ids = [i.get("id") for i in items if isinstance(i, dict)]
        return {"object": "list", "data": items, "first_id": ids[0] if ids else None,
                "last_id": ids[-1] if ids else None, "has_more": False}  # fmt: skip

    return answer_row(request, admission, error, row, response_id, listed)


@router.delete(
    "/responses/{response_id}",
    summary="Delete a stored response (of the caller's team)",
    responses=errors.openapi_responses("openai", 401, 403, 404, 503),
)
async def delete_response(request: Request, response_id: str) -> Response:
    admission, row, error = await stored(
        request, response_id, "select api.delete_stored_response($1) where $1 is not null"
    )
    deleted = {"id": response_id, "object": "response.deleted", "deleted": True}
    found = None if row is None or not row[0] else row
    return answer_row(request, admission, error, found, response_id, lambda _: deleted)


def answer_row(request, admission, error, row, response_id_: str, build) -> Response:
    gw: Gateway = request.app.state.gateway
    if error is not None:
        return error.response(WIRE)
    if row is None:
        missing = not_found(response_id_)
        gw.reject(admission, missing)
        return missing.response(WIRE)
    gw.finish(admission, status=200)
    return JSONResponse(build(row))

"""A mock LLM provider: a real HTTP server speaking the OpenAI and Anthropic wire formats.

It stands in for the upstream providers where none can be reached (a laptop without
provider keys, the test suite, benchmarks). Every answer says it is a mock, in its text
and in an `x-mock-provider` header. Answers are deterministic: the same request gets the
same answer, so caching and accounting can be checked exactly.

Faults can be injected for the next N requests (`POST /_mock/faults`), or per request
with an `x-mock-fault` header: `status=503`, `timeout`, `cut-after=3` (end a stream after
three chunks without finishing it). `GET /_mock/stats` counts the requests served.
"""

import asyncio
import hashlib
import json
import math
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from api import json_input, mock_model, mock_responses
from api.cache import replay
from api.gateway import validation
from api.gateway.errors import GatewayError
from api.schema_instance import Unsatisfiable

MOCK_HEADER = {"x-mock-provider": "true"}
EMBEDDING_DIMENSIONS = 64
MAX_EMBEDDING_DIMENSIONS = 3072  # the most any OpenAI embedding model has


@dataclass
class Fault:
    status: int | None = None  # answer with this HTTP status
    timeout: bool = False  # never answer (until the client gives up)
    cut_after: int | None = None  # end a stream after this many chunks, unfinished

    @classmethod
    def parse(cls, spec: str) -> "Fault":
        fault = cls()
        for part in filter(None, (p.strip() for p in spec.split(","))):
            name, _, value = part.partition("=")
            if name == "status":
                fault.status = int(value)
            elif name == "timeout":
                fault.timeout = True
            elif name == "cut-after":
                fault.cut_after = int(value)
            else:
                raise ValueError(f"unknown fault {part!r}")
        return fault


@dataclass
class MockState:
    latency_s: float = 0.0  # before the first byte
    chunk_delay_s: float = 0.0  # between stream chunks
    chunks: int = 8  # content chunks per streamed answer
    faults: list[Fault] = field(default_factory=list)  # consumed one per request
    requests: int = 0
    by_path: dict[str, int] = field(default_factory=dict)
    last_headers: dict[str, str] = field(default_factory=dict)
    last_body: bytes = b""  # what the last request sent: what a provider would have seen
    # How it bills, like a provider: tokens per image and per document part, the hidden
    # tool-use prompt a provider adds when tools are offered, and a share of the prompt
    # read from its prompt cache. `fill_output` bills every output token the request
    # allows (max_tokens for each of n choices, a larger thinking budget): a model that
    # talks until it is cut off, the most a request can cost (the budget tests).
    image_tokens: int = 85
    document_tokens: int = 1500
    tools_tokens: int = 0
    cached_fraction: float = 0.0
    fill_output: bool = False

    def prompt_tokens(self, *parts, tools=None) -> int:
        media = {"image": self.image_tokens, "document": self.document_tokens}
        tokens = sum(count_tokens(part, media) for part in parts)
        return tokens + (count_tokens(tools) + self.tools_tokens if tools else 0)

    def output(self, text: str, limit: int | None, billed_limit: int | None = None):
        """The text as produced within `limit` tokens, its tokens as billed, and whether
        it was cut at the limit."""
        if self.fill_output and limit:
            text = (text + " ") * math.ceil(limit * 4 / (len(text) + 1))
        if limit and count_tokens(text) > limit:
            text = text[: limit * 4]
        tokens = count_tokens(text)
        if self.fill_output and billed_limit and billed_limit > tokens:
            tokens = billed_limit  # thinking the client is not shown is billed too
        return text, tokens, bool(limit) and count_tokens(text) >= limit

    def cached(self, prompt_tokens: int) -> int:
        return int(prompt_tokens * self.cached_fraction)


IMAGE_TYPES = frozenset({"image", "image_url", "input_image"})
DOCUMENT_TYPES = frozenset({"document", "file", "input_file"})


def count_tokens(value, media: dict[str, int] | None = None) -> int:
    """A stable stand-in for a tokenizer: about four characters a token; images and
    documents at a flat price each (`media`, by kind), their data not counted."""
    if value is None:
        return 0
    if isinstance(value, str):
        return max(1, math.ceil(len(value) / 4))
    if isinstance(value, list):
        return sum(count_tokens(v, media) for v in value)
    if isinstance(value, dict):
        kind = value.get("type")
        if kind in IMAGE_TYPES:
            return (media or {}).get("image", 85)
        if kind in DOCUMENT_TYPES:
            return (media or {}).get("document", 1500)
        return sum(count_tokens(v, media) for k, v in value.items() if k not in ("type", "role"))
    return count_tokens(str(value))


def split_chunks(text: str, n: int) -> list[str]:
    size = max(1, math.ceil(len(text) / max(1, n)))
    return [text[i : i + size] for i in range(0, len(text), size)]


def embedding(text: str, dimensions: int) -> list[float]:
    seed = hashlib.sha256(text.encode()).digest()
    raw = [(seed[i % len(seed)] ^ (i * 31 % 251)) / 255.0 - 0.5 for i in range(dimensions)]
    norm = math.sqrt(sum(v * v for v in raw)) or 1.0
    return [v / norm for v in raw]


def sse(data: dict | str, event: str | None = None) -> bytes:
    payload = data if isinstance(data, str) else json.dumps(data, separators=(",", ":"))
    prefix = f"event: {event}\n" if event else ""
    return f"{prefix}data: {payload}\n\n".encode()


def create_mock_app(state: MockState | None = None) -> Starlette:
    state = state or MockState()

    async def begin(request: Request) -> tuple[Fault | None, Response | None]:
        """Count the request, apply latency and any fault; a Response means answer now."""
        state.requests += 1
        state.by_path[request.url.path] = state.by_path.get(request.url.path, 0) + 1
        state.last_headers = {
            k: v for k, v in request.headers.items() if k.startswith(("x-aigw-", "anthropic-"))
        }
        state.last_body = await request.body()  # kept by the request for its handler too
        fault = state.faults.pop(0) if state.faults else None
        if spec := request.headers.get("x-mock-fault"):
            try:
                fault = Fault.parse(spec)
            except ValueError as exc:
                return None, error(request, 400, str(exc))
        if state.latency_s:
            await asyncio.sleep(state.latency_s)
        if fault and fault.timeout:
            await asyncio.sleep(3600)
        if fault and fault.status:
            return fault, error(request, fault.status, f"injected fault: HTTP {fault.status}")
        return fault, None

    def error(request: Request, status: int, message: str) -> JSONResponse:
        headers = dict(MOCK_HEADER)
        if status == 429:
            headers["retry-after"] = "1"
        if request.url.path.startswith("/v1/messages"):
            kind = {429: "rate_limit_error", 529: "overloaded_error"}.get(status, "api_error")
            if status == 400:
                kind = "invalid_request_error"
            body = {"type": "error", "error": {"type": kind, "message": message}}
        else:
            body = {"error": {"message": message, "type": "mock_error", "code": str(status)}}
        return JSONResponse(body, status_code=status, headers=headers)

    async def body_of(request: Request) -> dict | JSONResponse:
        try:
            body = json_input.loads(await request.body())
        except json_input.InvalidJson as exc:
            return error(request, 400, str(exc))
        if not isinstance(body, dict) or not body.get("model"):
            return error(request, 400, "model is required")
        return body

    async def chat_completions(request: Request) -> Response:
        fault, early = await begin(request)
        if early:
            return early
        body = await body_of(request)
        if isinstance(body, Response):
            return body
        validation.openai_messages(body.get("messages"))
        model, messages = body["model"], body["messages"]
        prompt_tokens = state.prompt_tokens(messages, tools=body.get("tools"))
        limit = body.get("max_completion_tokens") or body.get("max_tokens")
        choices = body.get("n") or 1
        created = int(time.time())
        completion_id = "chatcmpl-mock-" + hashlib.sha256(repr(body).encode()).hexdigest()[:12]
        turn = mock_model.openai_turn(body)
        if turn.tool_name:
            arguments = json.dumps(turn.tool_input)
            message = {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "id": turn.tool_id,
                        "type": "function",
                        "function": {"name": turn.tool_name, "arguments": arguments},
                    }
                ],
            }
            finish, text = "tool_calls", arguments
            completion_tokens = count_tokens(text)
        else:
            text, completion_tokens, cut = state.output(turn.text, limit)
            message = {"role": "assistant", "content": text}
            finish = "length" if cut else "stop"
        completion_tokens *= choices
        usage = {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        }
        if cached := state.cached(prompt_tokens):
            usage["prompt_tokens_details"] = {"cached_tokens": cached}
        base = {"id": completion_id, "created": created, "model": model}

        if not body.get("stream"):
            return JSONResponse(
                {
                    **base,
                    "object": "chat.completion",
                    "choices": [
                        {"index": i, "message": message, "finish_reason": finish}
                        for i in range(choices)
                    ],
                    "usage": usage,
                },
                headers=MOCK_HEADER,
            )

        include_usage = bool((body.get("stream_options") or {}).get("include_usage"))

        async def stream() -> AsyncIterator[bytes]:
            chunk = {**base, "object": "chat.completion.chunk"}
            first = {"role": "assistant", "content": ""}
            if message.get("tool_calls"):
                deltas = [{"tool_calls": [{"index": 0, **message["tool_calls"][0]}]}]
            else:
                deltas = [{"content": part} for part in split_chunks(text, state.chunks)]
            sent = 0
            for index in range(choices):  # one choice after the other, as n > 1 streams
                yield sse(
                    {**chunk, "choices": [{"index": index, "delta": first, "finish_reason": None}]}
                )
                for delta in deltas:
                    if state.chunk_delay_s:
                        await asyncio.sleep(state.chunk_delay_s)
                    yield sse(
                        {
                            **chunk,
                            "choices": [{"index": index, "delta": delta, "finish_reason": None}],
                        }
                    )
                    sent += 1
                    if fault and fault.cut_after is not None and sent >= fault.cut_after:
                        return
                yield sse(
                    {
                        **chunk,
                        "choices": [{"index": index, "delta": {}, "finish_reason": finish}],
                    }
                )
            if include_usage:
                yield sse({**chunk, "choices": [], "usage": usage})
            yield sse("[DONE]")

        return StreamingResponse(stream(), media_type="text/event-stream", headers=MOCK_HEADER)

    async def embeddings(request: Request) -> Response:
        _, early = await begin(request)
        if early:
            return early
        body = await body_of(request)
        if isinstance(body, Response):
            return body
        if "embed" not in body["model"]:  # as a provider answers a chat model's name
            return error(request, 400, f"{body['model']} is not an embedding model")
        inputs = body.get("input")
        inputs = [inputs] if isinstance(inputs, str) else list(inputs or [])
        if not inputs or not all(isinstance(i, str) for i in inputs):
            return error(request, 400, "input must be a string or a list of strings")
        dimensions = body.get("dimensions") or EMBEDDING_DIMENSIONS
        if not isinstance(dimensions, int) or not 1 <= dimensions <= MAX_EMBEDDING_DIMENSIONS:
            return error(
                request, 400, f"dimensions must be an integer from 1 to {MAX_EMBEDDING_DIMENSIONS}"
            )
        tokens = count_tokens(inputs)
        return JSONResponse(
            {
                "object": "list",
                "model": body["model"],
                "data": [
                    {"object": "embedding", "index": i, "embedding": embedding(text, dimensions)}
                    for i, text in enumerate(inputs)
                ],
                "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
            },
            headers=MOCK_HEADER,
        )

    async def models(request: Request) -> Response:
        return JSONResponse(
            {"object": "list", "data": [{"id": "mock", "object": "model", "owned_by": "mock"}]},
            headers=MOCK_HEADER,
        )

    async def messages(request: Request) -> Response:
        fault, early = await begin(request)
        if early:
            return early
        body = await body_of(request)
        if isinstance(body, Response):
            return body
        if not isinstance(body.get("max_tokens"), int):
            return error(request, 400, "max_tokens is required")
        validation.anthropic_messages(body.get("messages"), body.get("system"))
        model, turns, system = body["model"], body["messages"], body.get("system")
        input_tokens = state.prompt_tokens(turns, system, tools=body.get("tools"))
        cache_read = state.cached(input_tokens)
        thinking = body.get("thinking") if isinstance(body.get("thinking"), dict) else {}
        billed_limit = max(body["max_tokens"], thinking.get("budget_tokens") or 0)
        message_id = "msg_mock_" + hashlib.sha256(repr(body).encode()).hexdigest()[:12]
        turn = mock_model.anthropic_turn(body)
        if turn.tool_name:
            block = {
                "type": "tool_use",
                "id": turn.tool_id,
                "name": turn.tool_name,
                "input": turn.tool_input,
            }
            stop_reason, text = "tool_use", json.dumps(block["input"])
            output_tokens = count_tokens(text)
        else:
            text, output_tokens, cut = state.output(turn.text, body["max_tokens"], billed_limit)
            block = {"type": "text", "text": text}
            stop_reason = "max_tokens" if cut else "end_turn"
        # Anthropic's input_tokens leave out what was read from the prompt cache.
        usage = {"input_tokens": input_tokens - cache_read, "output_tokens": output_tokens}
        if cache_read:
            usage["cache_read_input_tokens"] = cache_read
        envelope = {
            "id": message_id,
            "type": "message",
            "role": "assistant",
            "model": model,
            "stop_sequence": None,
        }

        if not body.get("stream"):
            return JSONResponse(
                {
                    **envelope,
                    "content": [block],
                    "stop_reason": stop_reason,
                    "usage": usage,
                },
                headers=MOCK_HEADER,
            )

        async def stream() -> AsyncIterator[bytes]:
            start = {
                **envelope,
                "content": [],
                "stop_reason": None,
                "usage": {**usage, "output_tokens": 1},
            }
            yield sse({"type": "message_start", "message": start}, "message_start")
            if block["type"] == "tool_use":
                opening = {**block, "input": {}}
                deltas = [{"type": "input_json_delta", "partial_json": text}]
            else:
                opening = {"type": "text", "text": ""}
                deltas = [
                    {"type": "text_delta", "text": p} for p in split_chunks(text, state.chunks)
                ]
            yield sse(
                {"type": "content_block_start", "index": 0, "content_block": opening},
                "content_block_start",
            )
            for sent, delta in enumerate(deltas, start=1):
                if state.chunk_delay_s:
                    await asyncio.sleep(state.chunk_delay_s)
                yield sse(
                    {"type": "content_block_delta", "index": 0, "delta": delta},
                    "content_block_delta",
                )
                if fault and fault.cut_after is not None and sent >= fault.cut_after:
                    return
            yield sse({"type": "content_block_stop", "index": 0}, "content_block_stop")
            yield sse(
                {
                    "type": "message_delta",
                    "delta": {"stop_reason": stop_reason, "stop_sequence": None},
                    "usage": {"output_tokens": output_tokens},
                },
                "message_delta",
            )
            yield sse({"type": "message_stop"}, "message_stop")

        return StreamingResponse(stream(), media_type="text/event-stream", headers=MOCK_HEADER)

    async def responses(request: Request) -> Response:
        """The Responses API: the same model behind it (mock_model), answered as a
        response object or a stream of response events."""
        fault, early = await begin(request)
        if early:
            return early
        body = await body_of(request)
        if isinstance(body, Response):
            return body
        chat = mock_responses.as_chat(body)
        turn = mock_model.openai_turn(chat)
        input_tokens = state.prompt_tokens(chat["messages"], tools=chat["tools"])
        text, cut = None, False
        if turn.tool_name:
            output_tokens = count_tokens(json.dumps(turn.tool_input))
        else:
            text, output_tokens, cut = state.output(turn.text, body.get("max_output_tokens"))
        usage = mock_responses.usage_of(input_tokens, state.cached(input_tokens), output_tokens)
        output = mock_responses.output_items(turn, text)
        response = mock_responses.response_object(body, output, usage, cut)
        if not body.get("stream"):
            return JSONResponse(response, headers=MOCK_HEADER)
        sequence = replay.responses_event_sequence(
            response, lambda t: split_chunks(t, state.chunks)
        )

        async def stream() -> AsyncIterator[bytes]:
            for sent, (kind, data) in enumerate(sequence, start=1):
                if state.chunk_delay_s and kind.endswith(".delta"):
                    await asyncio.sleep(state.chunk_delay_s)
                yield sse(data, kind)
                if fault and fault.cut_after is not None and sent >= fault.cut_after + 4:
                    return  # (the four events before the first delta do not count)

        return StreamingResponse(stream(), media_type="text/event-stream", headers=MOCK_HEADER)

    async def count_message_tokens(request: Request) -> Response:
        _, early = await begin(request)
        if early:
            return early
        body = await body_of(request)
        if isinstance(body, Response):
            return body
        validation.anthropic_messages(body.get("messages"), body.get("system"))
        tokens = state.prompt_tokens(body["messages"], body.get("system"), tools=body.get("tools"))
        return JSONResponse({"input_tokens": tokens}, headers=MOCK_HEADER)

    async def set_faults(request: Request) -> Response:
        """Queue faults: {"fault": "status=503", "count": 3}; {"clear": true} empties it."""
        body = await request.json()
        if body.get("clear"):
            state.faults.clear()
        if spec := body.get("fault"):
            state.faults.extend(Fault.parse(spec) for _ in range(int(body.get("count", 1))))
        for name in ("latency_s", "chunk_delay_s", "chunks"):
            if name in body:
                setattr(state, name, type(getattr(state, name))(body[name]))
        return JSONResponse({"queued": len(state.faults)})

    async def stats(request: Request) -> Response:
        return JSONResponse(
            {
                "requests": state.requests,
                "by_path": state.by_path,
                "last_headers": state.last_headers,
            }
        )

    async def reset_stats(request: Request) -> Response:
        state.requests = 0
        state.by_path.clear()
        return JSONResponse({"requests": 0})

    def refusing_odd_input(handler):
        """A real provider answers a request it cannot make sense of with a 400, never
        a 500: so does the mock, whatever shape the body's fields have."""

        async def handle(request: Request) -> Response:
            try:
                return await handler(request)
            except GatewayError as exc:  # the structure checks the gateway makes too
                return error(request, 400, exc.message)
            except Unsatisfiable as exc:
                return error(request, 400, f"cannot produce JSON for this schema: {exc}")
            except (TypeError, AttributeError, KeyError, IndexError, ValueError) as exc:
                return error(request, 400, f"invalid request: {type(exc).__name__}: {exc}")

        return handle

    routes = [
        Route("/v1/chat/completions", refusing_odd_input(chat_completions), methods=["POST"]),
        Route("/chat/completions", refusing_odd_input(chat_completions), methods=["POST"]),
        Route("/v1/embeddings", refusing_odd_input(embeddings), methods=["POST"]),
        Route("/embeddings", refusing_odd_input(embeddings), methods=["POST"]),
        Route("/v1/models", models, methods=["GET"]),
        Route("/v1/messages", refusing_odd_input(messages), methods=["POST"]),
        Route("/v1/responses", refusing_odd_input(responses), methods=["POST"]),
        Route("/responses", refusing_odd_input(responses), methods=["POST"]),
        Route(
            "/v1/messages/count_tokens",
            refusing_odd_input(count_message_tokens),
            methods=["POST"],
        ),
        Route("/_mock/faults", set_faults, methods=["POST"]),
        Route("/_mock/stats", stats, methods=["GET"]),
        Route("/_mock/stats", reset_stats, methods=["DELETE"]),
    ]
    app = Starlette(routes=routes)
    app.state.mock = state
    return app

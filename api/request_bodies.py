"""How the FastAPI routes of /auth and /admin read their bodies: no more than their
surface's limit, and as strict JSON (api/json_input.py).

Left to itself FastAPI reads a body whole, whatever its size, and parses it with Python's
json module: a lone surrogate then reaches the database as a str that cannot be encoded,
and deep nesting ends in a RecursionError (both a 500). A route class is FastAPI's
documented hook for both: its handler is given a LimitedJsonRequest, which refuses a body
over the limit before reading it (a declared Content-Length) or as soon as it passes it
(chunked), and parses it strictly. Each refusal is an HTTPException, which FastAPI passes
on untouched and the app answers in the caller's dialect (api/dialects.py).

FastAPI's own `max_body_size` is not used: when a declared Content-Length is over the
limit, Starlette's responder replaces whatever the route answers with a plain-text 413,
and for a route that does not read its body that is after the route has run (a DELETE
deletes, then answers 413).

The model endpoints read theirs with read_limited too, within 32 MiB and answering in
their caller's dialect (api/gateway/openai_api.py).
"""

from collections.abc import Callable, Coroutine
from typing import Any, ClassVar

from fastapi import Request, Response
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException
from starlette.types import Receive, Scope

from api import json_input
from api.gateway.errors import size


class BodyRefused(HTTPException):
    """A request body refused before the route runs; `code` says why."""

    def __init__(self, status: int, message: str, code: str, headers: dict | None = None):
        super().__init__(status, message, headers)
        self.code = code


def too_large(limit: int) -> BodyRefused:
    return BodyRefused(
        413,
        f"The request body is larger than {size(limit)}, the most this endpoint takes.",
        "request_too_large",
        # The rest of the body is not worth reading: the connection ends with the answer.
        {"Connection": "close"},
    )


async def read_limited(
    request: Request, limit: int, refusal: Callable[[int], Exception] = too_large
) -> bytes:
    """The whole body, or refusal(limit) raised before more than about `limit` bytes of
    it are in memory: at once for a declared Content-Length over the limit, else as soon
    as the chunks received pass it."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise refusal(limit)
    chunks, received = [], 0
    async for chunk in request.stream():
        received += len(chunk)
        if received > limit:
            raise refusal(limit)
        chunks.append(chunk)
    return b"".join(chunks)


class LimitedJsonRequest(Request):
    def __init__(self, scope: Scope, receive: Receive, max_body_bytes: int):
        super().__init__(scope, receive)
        self.max_body_bytes = max_body_bytes

    async def body(self) -> bytes:
        if not hasattr(self, "_body"):
            self._body = await read_limited(self, self.max_body_bytes)
        return self._body

    async def json(self) -> Any:
        if not hasattr(self, "_json"):
            try:
                self._json = json_input.loads(await self.body())
            except json_input.InvalidJson as exc:
                raise BodyRefused(400, str(exc), "invalid_json") from None
        return self._json


class JsonRoute(APIRoute):
    """A route whose body is read, within `max_body_bytes`, before anything else runs:
    before authentication and before the endpoint, whether or not it takes a body."""

    max_body_bytes: ClassVar[int]

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handle = super().get_route_handler()
        limit = self.max_body_bytes

        async def read_then_handle(request: Request) -> Response:
            limited = LimitedJsonRequest(request.scope, request.receive, limit)
            await limited.body()
            return await handle(limited)

        return read_then_handle


class SignInRoute(JsonRoute):
    """/auth: an email, a display name, at most two passwords of at most 1,024
    characters, each of which fits even \\u-escaped (12 bytes a character)."""

    max_body_bytes = 32 * 1024


class AdminRoute(JsonRoute):
    """/admin: the largest bodies are guardrail rules and model allow-lists."""

    max_body_bytes = 1024 * 1024

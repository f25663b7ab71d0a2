"""The error dialect a request path speaks, and an error response in it.

/anthropic answers as Anthropic's API does (`{"type": "error", "error": {"type",
"message"}}`), /v1 as OpenAI's (`{"error": {"message", "type", "param", "code"}}`), and
every other path (/auth, /admin, /healthz, …) with the error body of /auth
(api/auth/errors.py), itself OpenAI-compatible. The routes answer their own errors; this
is for what is refused before a route's code runs: an unknown path, a wrong method, a body
too large or not JSON (the app's handlers in api/app.py), a client too slow to send its
request (the HTTP server, api/server.py).
"""

from http import HTTPStatus
from typing import Literal

from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException
from starlette.requests import Request

from api import errors
from api.auth.errors import ApiProblem
from api.gateway.errors import GatewayError

Dialect = Literal["openai", "anthropic", "aigw"]

# Machine-readable codes for the refusals Starlette and FastAPI make themselves.
CODE_BY_STATUS = {
    HTTPStatus.BAD_REQUEST: "invalid_request",
    HTTPStatus.NOT_FOUND: "not_found",
    HTTPStatus.METHOD_NOT_ALLOWED: "method_not_allowed",
    HTTPStatus.REQUEST_TIMEOUT: "request_timeout",
    HTTPStatus.REQUEST_ENTITY_TOO_LARGE: "request_too_large",
    HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE: "request_header_fields_too_large",
}


def dialect_of(path: str) -> Dialect:
    if _under(path, "/anthropic"):
        return "anthropic"
    if _under(path, "/v1"):
        return "openai"
    return "aigw"


def _under(path: str, prefix: str) -> bool:
    return path == prefix or path.startswith(prefix + "/")


def error_response(
    path: str,
    status: int,
    message: str,
    code: str | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    dialect = dialect_of(path)
    code = code or CODE_BY_STATUS.get(status)
    if dialect == "aigw":
        body = ApiProblem(status, message, code).body()
        return JSONResponse(body, status_code=status, headers=headers)
    openai_type = "invalid_request_error" if status < 500 else "api_error"
    anthropic_type = errors.error_type(HTTPStatus(status))
    error = GatewayError(status, message, openai_type, anthropic_type, code, headers or {})
    return error.response(dialect)


def http_exception_response(request: Request, exc: HTTPException) -> JSONResponse:
    """Starlette's and FastAPI's own refusals, in the caller's dialect and in words that
    say what to do; an HTTPException raised with a message of its own keeps it."""
    status, path = exc.status_code, request.url.path
    message = str(exc.detail)
    if message == HTTPStatus(status).phrase:  # Starlette's default: say more
        if status == HTTPStatus.NOT_FOUND:
            message = f"Nothing is served at {path}; /docs lists the endpoints."
        elif status == HTTPStatus.METHOD_NOT_ALLOWED:
            allowed = (exc.headers or {}).get("Allow", "")
            message = f"{path} does not take {request.method}; it takes {allowed}."
    code = getattr(exc, "code", None)  # request_bodies.BodyRefused says why
    return error_response(path, status, message, code, exc.headers)

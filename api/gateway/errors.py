"""Errors in the caller's dialect: OpenAI-shaped on /v1, Anthropic-shaped on /anthropic."""

import json
from dataclasses import dataclass, field

from fastapi.responses import JSONResponse


@dataclass
class GatewayError(Exception):
    status: int
    message: str
    openai_type: str
    anthropic_type: str
    code: str | None = None
    headers: dict[str, str] = field(default_factory=dict)

    def __str__(self) -> str:
        return self.message

    def response(self, wire: str) -> JSONResponse:
        if wire == "anthropic":
            body = {
                "type": "error",
                "error": {"type": self.anthropic_type, "message": self.message},
            }
        else:
            body = {
                "error": {
                    "message": self.message,
                    "type": self.openai_type,
                    "param": None,
                    "code": self.code,
                }
            }
        return JSONResponse(body, status_code=self.status, headers=self.headers)


def unauthenticated(message: str, code: str = "invalid_api_key") -> GatewayError:
    return GatewayError(401, message, "invalid_request_error", "authentication_error", code)


def bad_request(message: str) -> GatewayError:
    return GatewayError(400, message, "invalid_request_error", "invalid_request_error")


def too_large(limit_bytes: int) -> GatewayError:
    return GatewayError(
        413,
        f"The request body is larger than {size(limit_bytes)}. Send less "
        "context (fewer or shorter messages, smaller images).",
        "invalid_request_error",
        "request_too_large",
        "request_too_large",
    )


def size(n: int) -> str:
    return f"{n // 2**20} MiB" if n % 2**20 == 0 else f"{n // 2**10} KiB"


MAX_ECHOED_CHARS = 100  # of a caller's value quoted back in a message


def echoed(value: str) -> str:
    """A caller's value as a message quotes it: at most MAX_ECHOED_CHARS characters."""
    return value if len(value) <= MAX_ECHOED_CHARS else value[: MAX_ECHOED_CHARS - 1] + "…"


def unknown_model(model: str) -> GatewayError:
    return GatewayError(
        404,
        f"The model '{echoed(model)}' does not exist. GET /v1/models lists the models you may use.",
        "invalid_request_error",
        "not_found_error",
        "model_not_found",
    )


def model_not_allowed(model: str) -> GatewayError:
    return GatewayError(
        403,
        f"Your team may not use the model '{model}'. GET /v1/models lists the models you "
        "may use; a team admin can ask for it to be added to the team's allow-list.",
        "permission_error",
        "permission_error",
        "model_not_allowed",
    )


def rate_limited(kind: str, headers: dict[str, str], waiting_helps: bool) -> GatewayError:
    message = f"Rate limit reached for {kind} per minute."
    message += (
        " Retry after the time in the Retry-After header."
        if waiting_helps
        else " This request alone is larger than the limit: send fewer tokens."
    )
    return GatewayError(
        429, message, kind, "rate_limit_error", "rate_limit_exceeded", headers=headers
    )


def budget_exhausted(message: str) -> GatewayError:
    return GatewayError(
        429, message, "insufficient_quota", "rate_limit_error", "insufficient_quota"
    )


def model_unpriced(model: str) -> GatewayError:
    return GatewayError(
        403,
        f"The model '{model}' has no price, so a team with a budget cannot use it: ask a "
        "platform admin to set one (api.set_price, or PUT /admin/pricing).",
        "permission_error",
        "permission_error",
        "model_unpriced",
    )


def upstream_failed(status: int | None, kind: str) -> GatewayError:
    if status == 429:
        return GatewayError(
            429,
            "The model provider is rate limiting us; retries were exhausted. Retry shortly.",
            "rate_limit_exceeded",
            "rate_limit_error",
            "upstream_rate_limited",
            headers={"retry-after": "5"},
        )
    if kind == "timeout":
        return GatewayError(504, "The model provider timed out.", "timeout", "api_error", "timeout")
    if status in (503, 529) or kind == "cooldown":
        return GatewayError(
            503,
            "The model provider is unavailable; retries were exhausted.",
            "api_error",
            "overloaded_error",
            "upstream_unavailable",
            headers={"retry-after": "5"},
        )
    return GatewayError(
        502,
        f"The model provider failed (HTTP {status}); retries were exhausted."
        if status
        else "The model provider could not be reached; retries were exhausted.",
        "api_error",
        "api_error",
        "upstream_error",
    )


def dependency_unavailable(what: str) -> GatewayError:
    return GatewayError(
        503,
        f"The gateway cannot check {what} right now; the request was not sent. Retry shortly.",
        "api_error",
        "overloaded_error",
        f"{what}_unavailable",
        headers={"retry-after": "2"},
    )


def internal_error() -> GatewayError:
    return GatewayError(
        500,
        "The gateway failed to handle the request; it has been logged. Retry, and tell "
        "the platform team if it persists.",
        "api_error",
        "api_error",
        "internal_error",
    )


def bad_upstream_response() -> GatewayError:
    return GatewayError(
        502,
        "The model provider sent a response that could not be read.",
        "api_error",
        "api_error",
        "bad_upstream_response",
    )


# -- for the OpenAPI document: the errors each dialect answers with -------------------

_DESCRIBED = {
    400: "Malformed request",
    401: "Missing, invalid, revoked or expired key",
    403: "The key's team may not use this model (or the key lacks the scope)",
    404: "Unknown model",
    413: "Request too large",
    429: "Rate limit or budget reached: see Retry-After",
    502: "The provider failed",
    503: "A dependency is unavailable (budgets cannot be reserved): retry",
    504: "The provider timed out",
}


def openapi_responses(wire: str, *statuses: int) -> dict:
    """`responses=` for a gateway route: each status with an example in the caller's
    dialect (the shape GatewayError.response writes)."""
    chosen = statuses or tuple(_DESCRIBED)
    documented = {}
    for status in chosen:
        example = GatewayError(status, _DESCRIBED[status], "api_error", "api_error")
        body = example.response(wire).body
        documented[status] = {
            "description": _DESCRIBED[status],
            "content": {"application/json": {"example": json.loads(body)}},
        }
    return documented

"""Errors of the /auth and /admin surfaces: `{"error": {"type", "code", "message"}}`, the
same shape as the OpenAI-style errors of /v1, with a status that says what to do next."""

from http import HTTPStatus

from pydantic import BaseModel

from api import errors


class ErrorDetail(BaseModel):
    type: str
    code: str | None = None
    message: str


class ErrorBody(BaseModel):
    error: ErrorDetail


class ApiProblem(Exception):
    """Raised by a route; the app's handler turns it into the error body."""

    def __init__(
        self,
        status: int,
        message: str,
        code: str | None = None,
        headers: dict[str, str] | None = None,
    ):
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code
        self.headers = headers or {}

    def body(self) -> dict:
        error_type = errors.error_type(HTTPStatus(self.status))
        return {"error": {"type": error_type, "code": self.code, "message": self.message}}


def responses(*statuses: int) -> dict:
    """OpenAPI `responses=` for the errors an endpoint can answer with."""
    described = {
        400: "Malformed request",
        401: "Not signed in, or the session has ended",
        403: "Signed in, but not allowed (or the password must be changed first)",
        404: "Not found, or not visible to you",
        409: "Conflicts with an existing record",
        422: "Invalid input",
        429: "Too many attempts: retry after the Retry-After header's seconds",
        502: "The identity provider failed",
        503: "A dependency (the database) is unavailable",
    }
    return {s: {"model": ErrorBody, "description": described[s]} for s in statuses}

"""The one place where database errors become HTTP statuses.

api.* functions raise custom SQLSTATEs (see sql/iam.sql); a few standard ones can reach
the surface too, and the whole of class 22 (data exception: a value the database cannot
take, such as a NUL in text, a number out of range or a time outside its calendar, and
asyncpg's own refusals of arguments it cannot encode, 22000). Anything else is a server
error.
"""

from http import HTTPStatus

STATUS_BY_SQLSTATE = {
    "AIG01": HTTPStatus.UNAUTHORIZED,  # no or unknown credential
    "AIG02": HTTPStatus.UNAUTHORIZED,  # credential revoked, expired or disabled
    "AIG03": HTTPStatus.FORBIDDEN,
    "AIG04": HTTPStatus.NOT_FOUND,
    "AIG05": HTTPStatus.CONFLICT,
    "AIG06": HTTPStatus.UNPROCESSABLE_ENTITY,
    "AIG07": HTTPStatus.TOO_MANY_REQUESTS,  # budget exhausted (OpenAI: insufficient_quota)
    "AIG08": HTTPStatus.TOO_MANY_REQUESTS,  # sign-in throttled (detail: seconds to wait)
    "42501": HTTPStatus.FORBIDDEN,  # insufficient_privilege (incl. a row-level security check)
    "23505": HTTPStatus.CONFLICT,  # unique_violation
    "23514": HTTPStatus.UNPROCESSABLE_ENTITY,  # check_violation
    "57014": HTTPStatus.SERVICE_UNAVAILABLE,  # query_canceled (statement timeout)
}
# Class 22, data exception: the value came from the caller, so the caller can fix it.
DATA_EXCEPTION_CLASS = "22"

# Stable machine-readable names for the error bodies of both wire formats.
ERROR_TYPE_BY_STATUS = {
    HTTPStatus.BAD_REQUEST: "invalid_request_error",
    HTTPStatus.UNAUTHORIZED: "authentication_error",
    HTTPStatus.FORBIDDEN: "permission_error",
    HTTPStatus.NOT_FOUND: "not_found_error",
    HTTPStatus.METHOD_NOT_ALLOWED: "invalid_request_error",
    HTTPStatus.REQUEST_TIMEOUT: "invalid_request_error",
    HTTPStatus.CONFLICT: "conflict_error",
    HTTPStatus.REQUEST_ENTITY_TOO_LARGE: "request_too_large",
    HTTPStatus.UNPROCESSABLE_ENTITY: "invalid_request_error",
    HTTPStatus.TOO_MANY_REQUESTS: "rate_limit_error",
    HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE: "invalid_request_error",
    HTTPStatus.SERVICE_UNAVAILABLE: "overloaded_error",
}


def http_status(sqlstate: str | None) -> HTTPStatus:
    sqlstate = sqlstate or ""
    if sqlstate.startswith(DATA_EXCEPTION_CLASS):
        return HTTPStatus.UNPROCESSABLE_ENTITY
    return STATUS_BY_SQLSTATE.get(sqlstate, HTTPStatus.INTERNAL_SERVER_ERROR)


def error_type(status: HTTPStatus) -> str:
    return ERROR_TYPE_BY_STATUS.get(status, "api_error")

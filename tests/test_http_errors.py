"""Every failure on every surface is a 4xx in the caller's dialect, never a 500 and never
FastAPI's own `{"detail": ...}`: unknown routes and wrong methods. Over real HTTP,
against the real app and database."""

import httpx


def assert_aigw_error(response: httpx.Response, status: int, *, code: str | None = None):
    """The error body of /auth and /admin (and the OpenAI-compatible surfaces)."""
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"}, body
    assert {"type", "message"} <= set(body["error"]), body
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]
    if code:
        assert body["error"]["code"] == code, body


def assert_openai_error(response: httpx.Response, status: int):
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"}, body
    assert set(body["error"]) == {"message", "type", "param", "code"}, body


def assert_anthropic_error(response: httpx.Response, status: int):
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"type", "error"} and body["type"] == "error", body
    assert set(body["error"]) == {"type", "message"}, body


# -- unknown routes and wrong methods: each surface in its own dialect -------------------

OPENAI_ROUTING = [
    ("GET", "/v1/no-such-endpoint", 404),
    ("POST", "/v1/no-such-endpoint", 404),
    ("GET", "/v1/chat/completions", 405),
    ("DELETE", "/v1/models", 405),
]
ANTHROPIC_ROUTING = [
    ("GET", "/anthropic/v1/no-such-endpoint", 404, "not_found_error"),
    ("POST", "/anthropic/v1/no-such-endpoint", 404, "not_found_error"),
    ("GET", "/anthropic/v1/messages", 405, "invalid_request_error"),
    ("PUT", "/anthropic/v1/messages/count_tokens", 405, "invalid_request_error"),
]
AIGW_ROUTING = [
    ("GET", "/admin/no-such-page", 404, "not_found"),
    ("DELETE", "/admin/teams", 405, "method_not_allowed"),
    ("GET", "/auth/no-such-page", 404, "not_found"),
    ("GET", "/auth/login", 405, "method_not_allowed"),
    ("GET", "/no-such-page", 404, "not_found"),
    ("POST", "/healthz", 405, "method_not_allowed"),
]


def test_unknown_routes_and_wrong_methods_are_answered_in_each_surfaces_dialect(gateway):
    for method, path, status in OPENAI_ROUTING:
        response = httpx.request(method, f"{gateway.url}{path}")
        assert_openai_error(response, status)
        assert response.json()["error"]["type"] == "invalid_request_error"
        assert status == 404 or response.headers["allow"]
    for method, path, status, error_type in ANTHROPIC_ROUTING:
        response = httpx.request(method, f"{gateway.url}{path}")
        assert_anthropic_error(response, status)
        assert response.json()["error"]["type"] == error_type
    for method, path, status, code in AIGW_ROUTING:
        response = httpx.request(method, f"{gateway.url}{path}")
        assert_aigw_error(response, status, code=code)
        assert path in response.json()["error"]["message"]


def test_an_unexpected_failure_is_a_500_in_the_callers_dialect(gateway):
    async def fails():
        raise RuntimeError("a bug")

    for path in ("/admin/fails", "/anthropic/v1/fails"):
        gateway.app.add_api_route(path, fails)
    aigw = httpx.get(f"{gateway.url}/admin/fails")
    assert_aigw_error(aigw, 500, code="internal_error")
    assert "a bug" not in aigw.text
    assert_anthropic_error(httpx.get(f"{gateway.url}/anthropic/v1/fails"), 500)

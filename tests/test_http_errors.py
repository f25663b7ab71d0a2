"""Every failure on every surface is a 4xx in the caller's dialect, never a 500 and never
FastAPI's own `{"detail": ...}`: bodies that are not strict JSON (lone surrogates, deep
nesting), unknown routes and wrong methods. Over real HTTP,
against the real app and database."""

import httpx
import pytest

from tests.helpers import create_user, sign_in

ADMIN_EMAIL = "errors-admin@example.com"


@pytest.fixture
def admin(gateway) -> dict:
    create_user(gateway.db.admin, ADMIN_EMAIL, roles=(("platform_admin", None),))
    return sign_in(gateway.url, ADMIN_EMAIL)


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


# -- bodies that are not strict JSON: refused before anything reaches the database ------

# Each holds the JSON escape \ud800: half of a UTF-16 pair, which decodes to no character.
SURROGATE_BODIES = [
    (
        "PUT",
        "/admin/policies/t1",
        r'{"allowed_models": ["\ud800"], "rpm_limit": 1, "tpm_limit": 1}',
    ),
    ("POST", "/admin/api-keys", r'{"team": "t1\ud800", "name": "k2"}'),
    (
        "POST",
        "/admin/guardrails",
        r'{"team": "t1\ud800", "name": "g", "stage": "input", "kind": "block_pattern", '
        r'"config": {"pattern": "\ud800"}, "action": "block"}',
    ),
    ("POST", "/auth/login", r'{"email": "a\ud800@example.com", "password": "x"}'),
]
DEEP_BODIES = {
    "100k nested arrays": b"[" * 100_000 + b"]" * 100_000,
    "50k nested objects": b'{"a":' * 50_000 + b"1" + b"}" * 50_000,
}
JSON = {"content-type": "application/json"}


def test_a_lone_surrogate_is_400_in_the_error_shape_and_writes_nothing(gateway, admin):
    written = "select count(*) from audit.events"
    before = gateway.operator(written)
    for method, path, body in SURROGATE_BODIES:
        response = httpx.request(
            method, f"{gateway.url}{path}", content=body.encode(), headers={**admin, **JSON}
        )
        assert_aigw_error(response, 400, code="invalid_json")
        assert "surrogate" in response.json()["error"]["message"]
    assert gateway.operator(written) == before


def test_deep_nesting_on_admin_and_auth_is_refused_in_the_error_shape(gateway, admin):
    for body in DEEP_BODIES.values():
        too_deep = httpx.post(f"{gateway.url}/admin/teams", content=body, headers={**admin, **JSON})
        assert_aigw_error(too_deep, 400, code="invalid_json")
        assert "nested more than 1024 levels" in too_deep.json()["error"]["message"]
        # Sign-in bodies are small: these are too large before they are too deep.
        too_large = httpx.post(f"{gateway.url}/auth/login", content=body, headers=JSON)
        assert_aigw_error(too_large, 413, code="request_too_large")
    small_but_deep = b"[" * 2000 + b"]" * 2000
    too_deep = httpx.post(f"{gateway.url}/auth/login", content=small_but_deep, headers=JSON)
    assert_aigw_error(too_deep, 400, code="invalid_json")


def test_deep_nesting_on_the_model_endpoints_is_400_in_each_dialect(gateway):
    for body in DEEP_BODIES.values():
        openai_answer = httpx.post(
            f"{gateway.url}/v1/chat/completions",
            content=body,
            headers={"authorization": f"Bearer {gateway.key}", **JSON},
        )
        assert_openai_error(openai_answer, 400)
        anthropic_answer = httpx.post(
            f"{gateway.url}/anthropic/v1/messages",
            content=body,
            headers={"x-api-key": gateway.key, **JSON},
        )
        assert_anthropic_error(anthropic_answer, 400)


def test_a_body_that_is_not_json_is_400_and_one_that_does_not_fit_is_422(gateway):
    broken = httpx.post(
        f"{gateway.url}/auth/login", content=b'{"email": "a@example.com", "password":', headers=JSON
    )
    assert_aigw_error(broken, 400, code="invalid_json")
    assert broken.json()["error"]["message"].startswith("The request body is not valid JSON")
    unfit = httpx.post(f"{gateway.url}/auth/login", json={"email": "a@example.com"})
    assert_aigw_error(unfit, 422, code="invalid_input")


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

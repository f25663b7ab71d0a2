"""The OpenAPI schema, fuzzed with schemathesis: generated inputs never get a server
error, and every error is in the caller's dialect: the documented `{"error": {...}}` body
on /auth and /admin, OpenAI's on /v1, Anthropic's on /anthropic."""

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.helpers import create_user, sign_in

ADMIN_EMAIL = "fuzz-admin@example.com"
EXAMPLES_PER_OPERATION = 40
# The schema says only "a string" for a model: most generated names are unknown (404), so
# a share of the cases is sent to real models, of either wire format (the translated path).
MODELS = (None, "gpt-4o", "claude-sonnet-4-6")
GATEWAY_EXAMPLES = 30


def schema_of(gateway, path_regex: str):
    document = httpx.get(f"{gateway.url}/openapi.json").json()
    schema = schemathesis.openapi.from_dict(document)
    schema.config.update(base_url=gateway.url)
    return schema.include(path_regex=path_regex)


@pytest.fixture
def api_schema(gateway):
    create_user(gateway.db.admin, ADMIN_EMAIL, roles=(("platform_admin", None),))
    # /auth/logout would end the fuzzer's own session; it is tested on its own.
    # classify takes no input and runs a dbt build of several seconds per call
    # (tests/test_analytics.py calls it)
    return (
        schema_of(gateway, "^/(auth|admin)")
        .exclude(path="/auth/logout")
        .exclude(path="/admin/transformation/classify")
    )


def fuzz(operation, headers: dict, check, *, examples: int, models=(None,)) -> int:
    """Calls of `operation` with generated inputs; `check(case, response)` collects what
    is wrong with an answer."""
    calls = 0

    @given(case=operation.as_strategy(), model=st.sampled_from(models))
    @settings(
        max_examples=examples,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        derandomize=True,
        database=None,
    )
    def run(case, model):
        nonlocal calls
        calls += 1
        if model and isinstance(case.body, dict):
            case.body["model"] = model
        check(case, case.call(headers=headers))

    run()
    return calls


def described(case, response) -> str:
    return (
        f"{case.method} {case.formatted_path}: {response.status_code} "
        f"body={case.body!r} query={case.query!r} answer={response.text[:300]!r}"
    )


def test_no_generated_input_makes_a_server_error(api_schema, gateway):
    headers = sign_in(gateway.url, ADMIN_EMAIL)
    failures: list[str] = []

    def check(case, response):
        if response.status_code >= 500 or (
            response.status_code >= 400 and "error" not in response.json()
        ):
            failures.append(described(case, response))

    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert len(operations) >= 12  # the whole /auth surface at least
    calls = sum(
        fuzz(operation, headers, check, examples=EXAMPLES_PER_OPERATION) for operation in operations
    )
    assert calls >= 10 * len(operations)
    assert failures == []


def in_callers_dialect(path: str, body) -> bool:
    if path.startswith("/anthropic/"):
        return (
            isinstance(body, dict)
            and body.get("type") == "error"
            and {"type", "message"} <= set(body.get("error") or {})
        )
    return (
        isinstance(body, dict)
        and set(body) == {"error"}
        and {"message", "type", "param", "code"} <= set(body["error"])
    )


def test_no_generated_request_to_the_model_endpoints_makes_a_server_error(gateway):
    schema = schema_of(gateway, "^/(v1|anthropic)/")
    headers = {"Authorization": f"Bearer {gateway.key}"}
    failures: list[str] = []
    statuses: set[int] = set()

    def check(case, response):
        statuses.add(response.status_code)
        wrong_dialect = 400 <= response.status_code < 500 and not in_callers_dialect(
            case.formatted_path, response.json()
        )
        if response.status_code >= 500 or wrong_dialect:
            failures.append(described(case, response))

    operations = [result.ok() for result in schema.get_all_operations()]
    paths = {operation.path for operation in operations}
    assert paths == {
        "/v1/chat/completions",
        "/v1/embeddings",
        "/v1/models",
        "/anthropic/v1/messages",
        "/anthropic/v1/messages/count_tokens",
        "/v1/responses",
        "/v1/responses/{response_id}",
        "/v1/responses/{response_id}/input_items",
    }
    for operation in operations:
        if operation.method.upper() == "POST":  # documented bodies: generated ones are sent
            assert operation.body, operation.path
        fuzz(
            operation,
            headers,
            check,
            examples=GATEWAY_EXAMPLES,
            models=MODELS,
        )
    assert failures == []
    assert 200 in statuses and 400 in statuses  # the fuzzer got through, and was refused


def test_every_endpoint_documents_its_errors(gateway):
    document = httpx.get(f"{gateway.url}/openapi.json").json()
    undocumented = [
        f"{method.upper()} {path}"
        for path, operations in document["paths"].items()
        for method, operation in operations.items()
        if path != "/metrics"
        and not any(status[0] in "45" for status in operation.get("responses", {}))
    ]
    assert undocumented == []
    login = document["paths"]["/auth/login"]["post"]["responses"]
    assert {"401", "422", "429"} <= set(login)
    assert login["401"]["content"]["application/json"]["schema"]["$ref"].endswith("ErrorBody")

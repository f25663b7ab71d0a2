"""The OpenAPI schema of /auth and /admin, fuzzed with schemathesis: generated inputs,
valid and invalid, never get a server error, and every error is the documented
`{"error": {...}}` body."""

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings

from tests.helpers import create_user, sign_in

ADMIN_EMAIL = "fuzz-admin@example.com"
EXAMPLES_PER_OPERATION = 40


@pytest.fixture
def api_schema(gateway):
    create_user(gateway.db.admin, ADMIN_EMAIL, roles=(("platform_admin", None),))
    document = httpx.get(f"{gateway.url}/openapi.json").json()
    schema = schemathesis.openapi.from_dict(document)
    schema.config.update(base_url=gateway.url)
    # /auth/logout would end the fuzzer's own session; it is tested on its own.
    return schema.include(path_regex="^/(auth|admin)").exclude(path="/auth/logout")


def fuzz(operation, headers: dict, failures: list) -> int:
    calls = 0

    @given(case=operation.as_strategy())
    @settings(
        max_examples=EXAMPLES_PER_OPERATION,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        derandomize=True,
        database=None,
    )
    def run(case):
        nonlocal calls
        calls += 1
        response = case.call(headers=headers)
        if response.status_code >= 500:
            failures.append(
                f"{case.method} {case.formatted_path}: {response.status_code} "
                f"body={case.body!r} query={case.query!r}"
            )
        elif response.status_code >= 400 and "error" not in response.json():
            failures.append(f"{case.method} {case.formatted_path}: {response.text[:200]}")

    run()
    return calls


def test_no_generated_input_makes_a_server_error(api_schema, gateway):
    headers = sign_in(gateway.url, ADMIN_EMAIL)
    failures: list[str] = []
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert len(operations) >= 12  # the whole /auth surface at least
    calls = sum(fuzz(operation, headers, failures) for operation in operations)
    assert calls >= 10 * len(operations)
    assert failures == []


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

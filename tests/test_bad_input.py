"""Bad input to api.* functions: a clear SQLSTATE and message, and nothing half-written."""

import psycopg
import pytest

from api.errors import http_status
from tests.helpers import operator_call

COUNTS = (
    "select (select count(*) from iam.areas), (select count(*) from iam.teams),"
    " (select count(*) from iam.users), (select count(*) from iam.user_roles),"
    " (select count(*) from iam.api_keys), (select count(*) from policy.team_policies),"
    " (select count(*) from policy.budgets), (select count(*) from iam.service_accounts),"
    " (select count(*) from policy.guardrails), (select count(*) from policy.mcp_servers)"
)


@pytest.fixture(scope="module")
def seeded(module_db):
    db = module_db
    operator_call(db.admin, "select api.create_area('a1')")
    operator_call(db.admin, "select api.create_team('t1', 'a1')")
    (user_id,) = operator_call(db.admin, "select api.create_user('u@example.com')")[0]
    return db, user_id


CASES = [
    ("select api.create_team('t2', 'no-such-area')", "AIG04", 'area "no-such-area" not found'),
    ("select api.create_team('t1')", "AIG05", 'team "t1" already exists'),
    ("select api.create_team('Has Spaces')", "AIG06", 'invalid team name "Has Spaces"'),
    ("select api.create_area('a1')", "AIG05", 'area "a1" already exists'),
    ("select * from api.issue_key('no-such-team', 'k')", "AIG04", 'team "no-such-team" not found'),
    ("select * from api.issue_key('t1', 'BAD NAME')", "AIG06", 'invalid key name "BAD NAME"'),
    ("select * from api.issue_key('t1', 'k', null, null, array['root'])", "AIG06", "invalid key scopes {root}"),
    ("select * from api.issue_key('t1', 'k', p_scopes => array['inference', 'admin'])", "AIG06", "invalid key scopes {inference,admin}"),
    ("select * from api.issue_key('t1', 'k', p_scopes => '{}')", "AIG06", "invalid key scopes {}"),
    ("select * from api.issue_key('t1', 'k', p_scopes => array[null])", "AIG06", "invalid key scopes {NULL}"),
    ("select api.create_user('not-an-email')", "AIG06", 'not an email address: "not-an-email"'),
    ("select api.create_user('U@example.com')", "AIG05", "a user with this email already exists"),
    ("select api.grant_role(%(user)s, 'superhero')", "AIG06", 'unknown role "superhero"'),
    ("select api.grant_role(%(user)s, 'area_owner', 'nowhere')", "AIG04", 'area "nowhere" not found'),
    ("select api.grant_role(%(user)s, 'developer', 't1')", "AIG06", "role developer is global and takes no scope"),
    ("select api.revoke_key('00000000-0000-0000-0000-000000000000')", "AIG04", None),
    ("select api.set_team_policy('t1', array['no-such-model'])", "AIG06", "unknown models {no-such-model}"),
    ("select api.set_team_policy('t1', null, -1)", "AIG06", None),
    ("select api.set_budget('t1', 'fortnight', 10)", "AIG06", 'unknown budget period "fortnight"'),
    ("select api.set_budget('t1', 'month', -5)", "AIG06", None),
    ("select api.set_price('no-such-model', 1, 1)", "AIG04", 'model "no-such-model" not found'),
    ("select api.set_price('gpt-4o', -1, 1)", "AIG06", None),
    ("select api.set_user_status(%(user)s, 'deleted')", "AIG06", 'unknown status "deleted"'),
    ("select api.set_user_password(%(user)s, 'plaintext')", "AIG06", None),
    ("select api.add_team_member('t1', '00000000-0000-0000-0000-000000000000')", "AIG04", None),
    ("select api.rename_team('t1', 'Bad Name')", "AIG06", 'invalid team name "Bad Name"'),
    ("select api.rename_team('no-such-team', 't9')", "AIG04", 'team "no-such-team" not found'),
    ("select api.delete_team('no-such-team')", "AIG04", 'team "no-such-team" not found'),
    ("select api.set_guardrail('t1', 'g', 'middle', 'block_pattern', '{\"pattern\": \"x\"}', 'block')", "AIG06", 'unknown stage "middle"'),
    ("select api.set_guardrail('t1', 'g', 'input', 'vibes', '{}', 'block')", "AIG06", 'unknown guardrail kind "vibes"'),
    ("select api.set_guardrail('t1', 'g', 'input', 'block_pattern', '{\"pattern\": \"x\"}', 'redact')", "AIG06", 'action "redact" does not apply to block_pattern rules'),
    ("select api.set_guardrail('t1', 'g', 'input', 'block_pattern', '{\"pattern\": \"(\"}', 'block')", "AIG06", None),
    ("select api.set_guardrail('t1', 'g', 'input', 'block_pattern', '{\"pattern\": \"\"}', 'block')", "AIG06", None),
    ("select api.set_guardrail('t1', 'g', 'input', 'block_pattern', '{\"patern\": \"x\"}', 'block')", "AIG06", "unknown config keys {patern} for block_pattern rules"),
    ("select api.set_guardrail('t1', 'g', 'input', 'block_pattern', '[]', 'block')", "AIG06", "config must be a JSON object"),
    ("select api.set_guardrail('t1', 'g', 'output', 'max_input_tokens', '{\"max_tokens\": 10}', 'block')", "AIG06", "max_input_tokens rules apply to the input stage only"),
    ("select api.set_guardrail('t1', 'g', 'input', 'max_input_tokens', '{\"max_tokens\": 1.5}', 'block')", "AIG06", None),
    ("select api.set_guardrail('t1', 'g', 'input', 'max_input_tokens', '{\"max_tokens\": \"10\"}', 'block')", "AIG06", None),
    ("select api.set_guardrail('t1', 'g', 'input', 'pii_redact', '{\"entities\": [\"shoe_size\"]}', 'redact')", "AIG06", None),
    ("select api.set_guardrail('t1', 'g', 'input', 'pii_redact', '{\"entities\": []}', 'redact')", "AIG06", None),
    ("select api.set_guardrail('t1', 'Bad Name', 'input', 'pii_redact', '{\"entities\": [\"email\"]}', 'redact')", "AIG06", 'invalid guardrail name "Bad Name"'),
    ("select api.set_guardrail('no-such-team', 'g', 'input', 'pii_redact', '{\"entities\": [\"email\"]}', 'redact')", "AIG04", 'team "no-such-team" not found'),
    ("select api.delete_guardrail('00000000-0000-0000-0000-000000000000')", "AIG04", None),
    ("select api.list_guardrails('no-such-team')", "AIG04", 'team "no-such-team" not found'),
    ("select api.register_mcp_server('m', 'http://mcp.example.com')", "AIG06", 'MCP server URL must be https, or http to localhost: "http://mcp.example.com"'),
    ("select api.register_mcp_server('m', 'http://localhost.example.com/mcp')", "AIG06", None),
    ("select api.register_mcp_server('m', 'https://user:secret@mcp.example.com')", "AIG06", None),
    ("select api.register_mcp_server('m', 'ftp://mcp.example.com')", "AIG06", None),
    ("select api.register_mcp_server('m', null)", "AIG06", None),
    ("select api.register_mcp_server('Bad Name', 'https://mcp.example.com')", "AIG06", None),
    ("select api.register_mcp_server('m', 'https://mcp.example.com', repeat('x', 501))", "AIG06", None),
    ("select api.register_mcp_server('m', 'https://mcp.example.com', null, 'no-such-team')", "AIG04", 'team "no-such-team" not found'),
    ("select api.set_mcp_server_enabled('no-such-server', false)", "AIG04", 'MCP server "no-such-server" not found'),
    ("select api.delete_mcp_server('no-such-server')", "AIG04", 'MCP server "no-such-server" not found'),
]  # fmt: skip


@pytest.mark.parametrize(("query", "sqlstate", "message"), CASES)
def test_bad_input_is_refused_clearly_and_writes_nothing(seeded, query, sqlstate, message):
    db, user_id = seeded
    before = operator_call(db.admin, COUNTS)
    with pytest.raises(psycopg.Error) as refused:
        operator_call(db.admin, query, {"user": user_id} if "%(user)s" in query else None)
    assert refused.value.sqlstate == sqlstate
    if message:
        assert refused.value.diag.message_primary == message
    assert 400 <= http_status(sqlstate) < 500
    assert operator_call(db.admin, COUNTS) == before


DATA_ERRORS = [
    "select 1 / 0",  # 22012 division_by_zero
    "select 'x'::int",  # 22P02 invalid_text_representation
    "select 2147483648::int",  # 22003 numeric_value_out_of_range
    "select '2026-13-01'::date",  # 22008 datetime_field_overflow
    "select convert_from('\\xff', 'UTF8')",  # 22021 character_not_in_repertoire
    "select 'a' ~ '('",  # 2201B invalid_regular_expression
    "select generate_series(1, 10, 0)",  # 22023 invalid_parameter_value
]


@pytest.mark.parametrize("query", DATA_ERRORS)
def test_every_data_exception_of_the_database_is_the_callers_422(seeded, query):
    """Class 22 as a whole: the value came from the caller, who can fix it."""
    db, _ = seeded
    with pytest.raises(psycopg.Error) as refused:
        operator_call(db.admin, query)
    assert refused.value.sqlstate.startswith("22"), refused.value.sqlstate
    assert http_status(refused.value.sqlstate) == 422


def test_a_failed_first_run_leaves_nothing_behind(db):
    # The admin email is invalid: bootstrap fails after nothing, not after half.
    with pytest.raises(psycopg.Error) as refused:
        operator_call(db.admin, "select * from api.bootstrap('nope', '$argon2id$x', 'd', 'd')")
    assert refused.value.sqlstate == "AIG06"
    assert operator_call(db.admin, COUNTS) == [(0,) * 10]

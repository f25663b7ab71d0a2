"""The guardrail and MCP server registries, and renaming and deleting teams, in SQL.

Who may call these is in test_rls.py, bad input in test_bad_input.py, the HTTP surface in
test_admin_api.py; this is what the functions do.
"""

import hashlib

import psycopg
import pytest

from tests.helpers import operator_call

PII = '{"entities": ["email"]}'


@pytest.fixture
def teams(db):
    operator_call(db.admin, "select api.create_area('north')")
    for team in ("n1", "n2"):
        operator_call(db.admin, "select api.create_team(%s, 'north')", (team,))
    return db.admin


def rules(op, team=None) -> set[tuple]:
    rows = operator_call(op, "select team, name, action from api.list_guardrails(%s)", (team,))
    return set(rows)


def test_a_rule_name_is_unique_per_team_and_setting_it_again_replaces_it(teams):
    op = teams
    set_rule = "select api.set_guardrail(%s, 'pii', 'input', 'pii_redact', %s, %s)"
    (first,) = operator_call(op, set_rule, ("n1", PII, "redact"))[0]
    operator_call(op, set_rule, ("n2", PII, "redact"))
    operator_call(op, set_rule, (None, PII, "flag"))
    (again,) = operator_call(op, set_rule, ("n1", PII, "block"))[0]
    assert again == first
    assert rules(op) == {(None, "pii", "flag"), ("n1", "pii", "block"), ("n2", "pii", "redact")}
    # For one team: its own rules and the global ones.
    assert rules(op, "n1") == {(None, "pii", "flag"), ("n1", "pii", "block")}


def test_every_kind_of_rule_is_accepted_with_its_config(teams):
    op = teams
    for name, stage, kind, config, action in (
        ("keys", "output", "block_pattern", '{"pattern": "sk-[A-Za-z0-9]{20,}"}', "block"),
        ("case", "input", "block_pattern", '{"pattern": "x", "case_sensitive": true}', "flag"),
        ("size", "input", "max_input_tokens", '{"max_tokens": 8000}', "block"),
        ("pii", "output", "pii_redact", '{"entities": ["iban", "phone"]}', "redact"),
    ):
        operator_call(
            op,
            "select api.set_guardrail('n1', %s, %s, %s, %s, %s)",
            (name, stage, kind, config, action),
        )
    assert {name for _, name, _ in rules(op, "n1")} == {"keys", "case", "size", "pii"}


def test_deleting_a_rule_removes_it(teams):
    op = teams
    (rule,) = operator_call(
        op, "select api.set_guardrail('n1', 'pii', 'input', 'pii_redact', %s, 'flag')", (PII,)
    )[0]
    operator_call(op, "select api.delete_guardrail(%s)", (rule,))
    assert rules(op) == set()


@pytest.mark.parametrize(
    "url",
    [
        "https://mcp.example.com",
        "https://mcp.example.com:8443/v1/sse?team=n1",
        "http://localhost:8931/mcp",
        "http://127.0.0.1/",
        "http://[::1]:9000/sse",
    ],
)
def test_mcp_servers_are_https_or_on_the_same_host(db, url):
    operator_call(db.admin, "select api.register_mcp_server('m', %s)", (url,))
    assert operator_call(db.admin, "select url from api.list_mcp_servers()") == [(url,)]


def test_an_mcp_server_name_is_registered_once(teams):
    op = teams
    operator_call(op, "select api.register_mcp_server('github', 'https://a.example.com')")
    with pytest.raises(psycopg.Error) as refused:
        operator_call(
            op, "select api.register_mcp_server('github', 'https://b.example.com', null, 'n1')"
        )
    assert refused.value.sqlstate == "AIG05"


def test_an_mcp_server_is_enabled_disabled_and_removed_by_name(teams):
    op = teams
    operator_call(
        op, "select api.register_mcp_server('docs', 'https://d.example.com', 'Docs', 'n1')"
    )
    operator_call(op, "select api.set_mcp_server_enabled('docs', false)")
    assert operator_call(
        op, "select name, team, enabled, description from api.list_mcp_servers()"
    ) == [("docs", "n1", False, "Docs")]
    operator_call(op, "select api.delete_mcp_server('docs')")
    assert operator_call(op, "select count(*) from api.list_mcp_servers()") == [(0,)]


def test_a_renamed_team_keeps_its_keys_working(teams):
    op = teams
    (key,) = operator_call(op, "select key from api.issue_key('n1', 'ci')")[0]
    operator_call(op, "select api.rename_team('n1', 'payments')")
    digest = hashlib.sha256(key.encode()).digest()
    (team,) = operator_call(op, "select team_name from api.authenticate_key(%s)", (digest,))[0]
    assert team == "payments"
    with pytest.raises(psycopg.Error) as taken:
        operator_call(op, "select api.rename_team('payments', 'n2')")
    assert taken.value.sqlstate == "AIG05"


def test_deleting_a_team_deletes_what_belongs_to_it_and_nothing_else(teams):
    op = teams
    for team in ("n1", "n2"):
        operator_call(op, "select api.issue_key(%s, 'k')", (team,))
        operator_call(op, "select api.set_budget(%s, 'month', 10)", (team,))
        operator_call(
            op,
            "select api.set_guardrail(%s, 'pii', 'input', 'pii_redact', %s, 'flag')",
            (team, PII),
        )
        operator_call(
            op,
            "select api.register_mcp_server(%s, 'https://x.example.com', null, %s)",
            (f"mcp-{team}", team),
        )
    operator_call(op, "select api.delete_team('n1')")
    remaining = operator_call(
        op,
        "select (select array_agg(team) from api.list_keys()),"
        " (select array_agg(team) from api.list_budgets()),"
        " (select array_agg(team) from api.list_guardrails()),"
        " (select array_agg(team) from api.list_mcp_servers()),"
        " (select array_agg(team) from api.list_team_policies())",
    )[0]
    assert remaining == (["n2"],) * 5


def test_refusals_carry_a_hint(teams, db):
    (user,) = operator_call(db.admin, "select api.create_user('t@example.com')")[0]
    operator_call(db.admin, "select api.grant_role(%s, 'team_admin', 'n1')", (user,))
    with psycopg.connect(db.app) as conn, pytest.raises(psycopg.Error) as refused:
        conn.execute(
            "select set_config('app.principal', json_build_object('user_id', %s::text)::text,"
            " true)",
            (user,),
        )
        conn.execute(
            "select api.set_guardrail('n1', 'x', 'input', 'pii_redact', %s, 'flag')", (PII,)
        )
    assert refused.value.sqlstate == "AIG03"
    assert "owner of its area" in refused.value.diag.message_hint

"""The operator CLI, run as a real subprocess against the test database (DATABASE_URL)."""

from decimal import Decimal

import pytest
from typer.testing import CliRunner

from api import keys
from api.cli import app
from tests.helpers import aigw, operator_call


def test_every_command_has_help():
    runner = CliRunner()
    for command in (
        [],
        ["up"],
        ["migrate"],
        ["psql"],
        ["teams"],
        ["teams", "create"],
        ["areas", "create"],
        ["keys"],
        ["keys", "create"],
        ["keys", "list"],
        ["keys", "revoke"],
        ["users"],
        ["users", "list"],
        ["users", "reset-password"],
        ["users", "suspend"],
        ["users", "activate"],
        ["audit"],
        ["audit", "verify"],
        ["audit", "anchor"],
        ["audit", "list"],
        ["events"],
        ["events", "consume"],
        ["events", "list"],
        ["models"],
        ["models", "sync"],
    ):
        result = runner.invoke(app, [*command, "--help"])
        assert result.exit_code == 0, (command, result.output)
        assert "Usage:" in result.output


def test_teams_and_keys_lifecycle(db):
    assert aigw(db, "areas", "create", "payments").returncode == 0
    created = aigw(db, "teams", "create", "checkout", "--area", "payments")
    assert created.returncode == 0, created.stderr
    assert "checkout" in aigw(db, "teams", "list").stdout

    issued = aigw(db, "keys", "create", "--team", "checkout", "--name", "ci-bot")
    assert issued.returncode == 0, issued.stderr
    key = issued.stdout.strip()
    assert keys.is_well_formed(key)
    assert "shown only once" in issued.stderr

    listed = aigw(db, "keys", "list", "--team", "checkout")
    assert keys.display_prefix(key) in listed.stdout
    assert key not in listed.stdout
    (key_id,) = operator_call(db.admin, "select id from api.list_keys('checkout')")[0]

    assert aigw(db, "keys", "revoke", str(key_id)).returncode == 0
    assert operator_call(db.admin, "select status from api.list_keys()") == [("revoked",)]
    again = aigw(db, "keys", "revoke", str(key_id))
    assert again.returncode == 1
    assert "no active key" in again.stderr


def test_keys_are_issued_with_the_scopes_named_or_both(db):
    operator_call(db.admin, "select api.create_team('t1')")
    for name, *scopes in (("both",), ("embedder", "--scope", "embeddings")):
        issued = aigw(db, "keys", "create", "--team", "t1", "--name", name, *scopes)
        assert issued.returncode == 0, issued.stderr
    assert operator_call(db.admin, "select name, scopes from api.list_keys() order by name") == [
        ("both", ["inference", "embeddings"]),
        ("embedder", ["embeddings"]),
    ]
    assert "inference, embeddings" in aigw(db, "keys", "list").stdout
    refused = aigw(db, "keys", "create", "--team", "t1", "--name", "boss", "--scope", "admin")
    assert refused.returncode == 1
    said = " ".join(refused.stderr.split())
    assert "invalid key scopes {admin}" in said and "embeddings (/v1/embeddings)" in said
    assert len(operator_call(db.admin, "select id from api.list_keys()")) == 2


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["teams", "create", "dup"], 'team "dup" already exists'),
        (["teams", "create", "x", "--area", "nowhere"], 'area "nowhere" not found'),
        (["keys", "create", "--team", "nowhere"], 'team "nowhere" not found'),
        (["keys", "revoke", "not-a-uuid"], "invalid input syntax for type uuid"),
    ],
)
def test_errors_say_what_went_wrong_without_a_traceback(db, args, message):
    operator_call(db.admin, "select api.create_team('dup')")
    result = aigw(db, *args)
    assert result.returncode == 1
    assert message in result.stderr
    assert "Traceback" not in result.stderr


SYNC_CONFIG = """
model_list:
  - model_name: gpt-4o            # registered, and repriced by an operator
    litellm_params: {model: openai/gpt-4o}
  - model_name: house-model       # limits and prices from the config
    litellm_params:
      model: openai/house-model
      input_cost_per_token: 0.000001
      output_cost_per_token: 0.000002
    model_info: {max_output_tokens: 2048, max_input_tokens: 32768}
  - model_name: my-claude         # from litellm's model map
    litellm_params: {model: anthropic/claude-sonnet-4-6}
  - model_name: mystery           # known to nobody: defaults, no price
    litellm_params: {model: openai/mystery-model}
  - model_name: bare              # registered by an operator, without a price
    litellm_params: {model: openai/bare}
router_settings:
  model_group_alias: {claude: my-claude}   # an alias is no model
"""
LIMITS_AND_PRICES = (
    "select name, provider, max_output_tokens, context_window_tokens, input_usd_per_mtok, "
    "output_usd_per_mtok, cached_input_usd_per_mtok from api.list_models() "
    "where name = any(%s) order by name"
)


def test_models_sync_registers_what_the_config_lacks_and_changes_nothing_else(db, tmp_path):
    config = tmp_path / "config.yaml"
    config.write_text(SYNC_CONFIG)
    operator_call(db.admin, "select api.set_price('gpt-4o', 9, 9, 9)")
    operator_call(db.admin, "select api.register_model('bare', 'openai', 100, true, 1000)")
    names = (["bare", "claude", "gpt-4o", "house-model", "my-claude", "mystery"],)
    before = operator_call(db.admin, LIMITS_AND_PRICES, names)

    dry = aigw(db, "models", "sync", "--config", str(config), "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert "Would register" in dry.stdout and "mystery" in dry.stdout
    assert operator_call(db.admin, LIMITS_AND_PRICES, names) == before

    synced = aigw(db, "models", "sync", "--config", str(config))
    assert synced.returncode == 0, synced.stderr
    d = Decimal
    assert operator_call(db.admin, LIMITS_AND_PRICES, names) == [
        ("bare", "openai", 100, 1000, None, None, None),  # as the operator left it
        ("gpt-4o", "openai", 16384, 128000, d(9), d(9), d(9)),  # the operator's price kept
        ("house-model", "openai", 2048, 32768, d(1), d(2), d(1)),  # cached: as input
        ("my-claude", "anthropic", 128000, 1000000, d(3), d(15), d("0.3")),
        ("mystery", "openai", 128000, 1000000, None, None, None),
    ]
    said = " ".join(synced.stdout.split())
    assert "Registered from the model config" in said
    assert "2 of the model config's models already in the registry" in said
    for unpriced in ("bare", "mystery"):
        assert f"{unpriced} has no price: teams with a budget cannot use it" in said
    assert "gpt-4o has no price" not in said

    again = aigw(db, "models", "sync", "--config", str(config))
    assert again.returncode == 0 and "Registered" not in again.stdout
    assert "5 of the model config's models already in the registry" in " ".join(
        again.stdout.split()
    )


def test_psql_runs_against_the_configured_database(db):
    result = aigw(db, "psql", "-At", "-c", "select name from api.list_models() order by 1 limit 2")
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["azure-gpt-4.1", "azure-gpt-4o"]
    failing = aigw(db, "psql", "-c", "select api.create_team('Bad Name')")
    assert failing.returncode != 0


def test_migrate_reports_already_at_head(db):
    result = aigw(db, "migrate")
    assert result.returncode == 0, result.stderr
    assert "Already at head" in result.stdout


def test_an_unmigrated_database_says_to_migrate(empty_db):
    result = aigw(empty_db, "teams", "list")
    assert result.returncode == 1
    assert "aigw migrate" in result.stderr


def test_cloud_mode_refuses_to_start_with_missing_settings(db):
    result = aigw(db, "up", env={"AIGW_ENV": "cloud"})
    assert result.returncode == 2
    for name in ("AIGW_APP_DATABASE_URL", "REDIS_URL", "SECRET_KEY", "OIDC_ISSUER"):
        assert name in result.stderr
    missing = "AIGW_APP_DATABASE_URL, REDIS_URL, SECRET_KEY, OIDC_ISSUER, OIDC_CLIENT_ID"
    assert missing in " ".join(result.stderr.split())  # DATABASE_URL is set, so not listed


def test_an_unreachable_database_is_reported_with_what_to_do(db):
    result = aigw(db, "teams", "list", env={"DATABASE_URL": "postgresql://nobody@127.0.0.1:1/x"})
    assert result.returncode == 1
    assert "cannot reach the database" in result.stderr and "DATABASE_URL" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_reset_password_lets_a_locked_out_user_back_in_once(gateway):
    import httpx

    from tests.helpers import create_user

    create_user(gateway.db.admin, "locked@example.com")

    def login(password):
        return httpx.post(
            f"{gateway.url}/auth/login", json={"email": "locked@example.com", "password": password}
        )

    for _ in range(5):
        login("Wrong-Password-Guess-1")
    assert login("Wrong-Password-Guess-1").status_code == 429
    reset = aigw(gateway.db, "users", "reset-password", "locked@example.com")
    assert reset.returncode == 0, reset.stderr
    one_time = reset.stdout.strip()
    assert "shown once" in reset.stderr and one_time not in reset.stderr
    signed_in = login(one_time)
    assert signed_in.status_code == 200 and signed_in.json()["must_change_password"] is True
    listed = aigw(gateway.db, "users", "list")
    assert "locked@example.com" in listed.stdout
    assert aigw(gateway.db, "users", "suspend", "locked@example.com").returncode == 0
    assert login(one_time).status_code == 401
    missing = aigw(gateway.db, "users", "suspend", "ghost@example.com")
    assert missing.returncode == 1 and "aigw users list" in missing.stderr

"""Row-level security, exercised exactly as the services do it: connected as aigw_app,
a principal set per transaction, every read and write through api.* functions.

The world has two of everything (areas, teams per area, developers, keys) and one
principal per role. Each matrix below lists who may do something; a test fails on any
extra or missing permission. Every write runs in a transaction that is rolled back, so
the world stays the same for every check.
"""

import json
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import asyncpg
import pytest

from api.database import principal_transaction
from tests.helpers import operator_call

PRINCIPALS = [
    "admin",  # platform_admin
    "owner_north",  # area_owner of area north (teams n1, n2)
    "tadmin_n1",  # team_admin of n1
    "dev_n1",  # developer, member of n1
    "dev_s1",  # developer, member of s1
    "viewer_n1",  # viewer, member of n1
    "nobody",  # a user with no role and no team
    "suspended_admin",  # platform_admin whose account is suspended
    "anonymous",  # no principal at all
]
DENIED_SQLSTATES = {"AIG01", "AIG03", "AIG04", "42501"}


@dataclass
class World:
    users: dict[str, uuid.UUID] = field(default_factory=dict)
    keys: dict[str, uuid.UUID] = field(default_factory=dict)  # by key name
    guardrails: dict[str, uuid.UUID] = field(default_factory=dict)  # by rule name
    budgets: dict[str, uuid.UUID] = field(default_factory=dict)  # by team name
    service_account: uuid.UUID | None = None

    def principal(self, name: str) -> dict:
        return {} if name == "anonymous" else {"user_id": str(self.users[name])}


@pytest.fixture(scope="module")
async def world(module_db) -> World:
    w = World()
    op = module_db.admin
    for area in ("north", "south"):
        operator_call(op, "select api.create_area(%s)", (area,))
    for team, area in (("n1", "north"), ("n2", "north"), ("s1", "south"), ("s2", "south")):
        operator_call(op, "select api.create_team(%s, %s)", (team, area))
        operator_call(op, "select api.issue_key(%s, %s)", (team, f"{team}-team-key"))
        operator_call(op, "select api.set_budget(%s, 'month', 100)", (team,))

    grants = {
        "admin": [("platform_admin", None)],
        "owner_north": [("area_owner", "north")],
        "tadmin_n1": [("team_admin", "n1")],
        "dev_n1": [("developer", None)],
        "dev_s1": [("developer", None)],
        "viewer_n1": [("viewer", None)],
        "nobody": [],
        "suspended_admin": [("platform_admin", None)],
    }
    for name, roles in grants.items():
        (user_id,) = operator_call(op, "select api.create_user(%s)", (f"{name}@example.com",))[0]
        w.users[name] = user_id
        for role, scope in roles:
            operator_call(op, "select api.grant_role(%s, %s, %s)", (user_id, role, scope))
    for name, team in (("dev_n1", "n1"), ("dev_s1", "s1"), ("viewer_n1", "n1")):
        operator_call(op, "select api.add_team_member(%s, %s)", (team, w.users[name]))
    operator_call(op, "select api.set_user_status(%s, 'suspended')", (w.users["suspended_admin"],))

    (w.service_account,) = operator_call(op, "select api.create_service_account('n1', 'ci-bot')")[0]
    operator_call(op, "select api.issue_key('n1', 'n1-ci-bot-key', %s)", (w.service_account,))

    # Personal keys are issued by the developers themselves, through the service role.
    conn = await asyncpg.connect(module_db.app)
    try:
        for name, team in (("dev_n1", "n1"), ("dev_s1", "s1")):
            async with principal_transaction(conn, w.principal(name)) as c:
                await c.fetch("select * from api.issue_key($1, $2)", team, f"{name}-personal")
    finally:
        await conn.close()

    for key_id, key_name in operator_call(op, "select id, name from api.list_keys()"):
        w.keys[key_name] = key_id
    # A global guardrail and MCP server, and one of each for n1 and s1.
    for team, suffix in ((None, "global"), ("n1", "n1"), ("s1", "s1")):
        operator_call(
            op,
            "select api.set_guardrail(%s, %s, 'input', 'max_input_tokens', "
            "'{\"max_tokens\": 1000}', 'block')",
            (team, f"g-{suffix}"),
        )
        operator_call(
            op,
            "select api.register_mcp_server(%s, 'https://mcp.example.com', null, %s)",
            (f"mcp-{suffix}", team),
        )
    for rule_id, rule_name in operator_call(op, "select id, name from api.list_guardrails()"):
        w.guardrails[rule_name] = rule_id
    for budget_id, team in operator_call(op, "select id, team from api.list_budgets()"):
        w.budgets[team] = budget_id
    # Every team has used the response cache today.
    stats = [
        {"team_id": str(team_id), "day": "today", "status": "miss", "count": 1}
        for (team_id,) in operator_call(op, "select id from iam.teams")
    ]
    operator_call(
        op,
        "select api.record_cache_stats(replace(%s, '\"today\"', to_json(current_date)::text)::jsonb)",
        (json.dumps(stats),),
    )
    return w


@pytest.fixture(scope="module")
async def app_conn(module_db):
    conn = await asyncpg.connect(module_db.app)
    yield conn
    await conn.close()


REFUSED = {"refused (AIG03)"}  # admin-only lists answer non-admins with an error


async def visible(app_conn, world: World, principal: str, query: str) -> set:
    async with principal_transaction(app_conn, world.principal(principal), rollback=True) as c:
        try:
            return {tuple(r.values())[0] for r in await c.fetch(query)}
        except asyncpg.PostgresError as exc:
            if exc.sqlstate in ("AIG01", "AIG03"):
                return REFUSED
            raise


# ---------------------------------------------------------------------------
# Reads: exactly these rows, per principal.
# ---------------------------------------------------------------------------

ALL_TEAMS = {"n1", "n2", "s1", "s2"}
# The teams each principal sees: all (platform admin), its area's (area owner), its own
# (team admin, members); none for the rest.
TEAMS_SEEN = {
    "admin": ALL_TEAMS,
    "owner_north": {"n1", "n2"},
    "tadmin_n1": {"n1"},
    "dev_n1": {"n1"},
    "dev_s1": {"s1"},
    "viewer_n1": {"n1"},
}
ALL_KEYS = {
    "n1-team-key", "n2-team-key", "s1-team-key", "s2-team-key",
    "n1-ci-bot-key", "dev_n1-personal", "dev_s1-personal",
}  # fmt: skip
ALL_USERS = {f"{p}@example.com" for p in PRINCIPALS if p != "anonymous"}
N1_MEMBERS = {"tadmin_n1@example.com", "dev_n1@example.com", "viewer_n1@example.com"}

READS = {
    "select name from api.list_areas()": {
        "admin": {"north", "south"},
        "owner_north": {"north"},
        "tadmin_n1": {"north"},
        "dev_n1": {"north"},
        "dev_s1": {"south"},
        "viewer_n1": {"north"},
    },
    "select name from api.list_teams()": TEAMS_SEEN,
    "select name from api.list_keys()": {
        "admin": ALL_KEYS,
        "owner_north": {"n1-team-key", "n2-team-key", "n1-ci-bot-key", "dev_n1-personal"},
        "tadmin_n1": {"n1-team-key", "n1-ci-bot-key", "dev_n1-personal"},
        "dev_n1": {"dev_n1-personal"},
        "dev_s1": {"dev_s1-personal"},
    },
    "select email from api.list_users()": {
        "admin": ALL_USERS,
        "owner_north": N1_MEMBERS | {"owner_north@example.com"},
        "tadmin_n1": N1_MEMBERS,
        "dev_n1": {"dev_n1@example.com"},
        "dev_s1": {"dev_s1@example.com"},
        "viewer_n1": {"viewer_n1@example.com"},
        "nobody": {"nobody@example.com"},
    },
    "select name from api.list_service_accounts()": {p: REFUSED for p in PRINCIPALS}
    | {"admin": {"ci-bot"}, "owner_north": {"ci-bot"}, "tadmin_n1": {"ci-bot"}},
    "select email from api.list_invitations()": {p: REFUSED for p in PRINCIPALS}
    | {"admin": set(), "owner_north": set(), "tadmin_n1": set()},
    "select team from api.list_team_policies()": TEAMS_SEEN,
    "select team from api.list_cache_policies()": TEAMS_SEEN,
    "select team from api.cache_stats()": TEAMS_SEEN,
    "select team from api.list_budgets()": TEAMS_SEEN,
    # Global rows are for everyone signed in; a team's for whoever sees the team.
    "select name from api.list_guardrails()": {
        "admin": {"g-global", "g-n1", "g-s1"},
        **{p: {"g-global", "g-n1"} for p in ("owner_north", "tadmin_n1", "dev_n1", "viewer_n1")},
        "dev_s1": {"g-global", "g-s1"},
        "nobody": {"g-global"},
    },
    "select name from api.list_mcp_servers()": {
        "admin": {"mcp-global", "mcp-n1", "mcp-s1"},
        **{
            p: {"mcp-global", "mcp-n1"} for p in ("owner_north", "tadmin_n1", "dev_n1", "viewer_n1")
        },
        "dev_s1": {"mcp-global", "mcp-s1"},
        "nobody": {"mcp-global"},
    },
    "select count(*) > 0 from api.list_models()": {
        p: {True} for p in PRINCIPALS if p not in ("suspended_admin", "anonymous")
    }
    | {"suspended_admin": {False}, "anonymous": {False}},
}


@pytest.mark.parametrize("query", list(READS))
async def test_each_principal_reads_exactly_what_its_role_allows(app_conn, world, query):
    expected = READS[query]
    seen = {p: await visible(app_conn, world, p, query) for p in PRINCIPALS}
    assert seen == {p: expected.get(p, set()) for p in PRINCIPALS}


# ---------------------------------------------------------------------------
# Writes: allowed for exactly these principals.
# ---------------------------------------------------------------------------

Write = Callable[[asyncpg.Connection, World], Awaitable[object]]


def q(query: str, *args_of_world) -> Write:
    async def run(conn: asyncpg.Connection, w: World):
        return await conn.fetch(query, *(a(w) if callable(a) else a for a in args_of_world))

    return run


NORTH_WRITERS = {"admin", "owner_north"}
PII = json.dumps({"entities": ["email"]})
N1_MANAGERS = {"admin", "owner_north", "tadmin_n1"}

WRITES: dict[str, tuple[Write, set[str]]] = {
    "create an area": (q("select api.create_area('west')"), {"admin"}),
    "create a team in north": (q("select api.create_team('n3', 'north')"), NORTH_WRITERS),
    "create a team in south": (q("select api.create_team('s3', 'south')"), {"admin"}),
    "issue a key for n1": (
        q("select * from api.issue_key('n1', 'new-key')"),
        N1_MANAGERS | {"dev_n1"},  # the developer's key is personal
    ),
    "issue a key for s1": (
        q("select * from api.issue_key('s1', 'new-key')"),
        {"admin", "dev_s1"},
    ),
    "revoke n1's team key": (
        q("select api.revoke_key($1)", lambda w: w.keys["n1-team-key"]),
        N1_MANAGERS,
    ),
    "revoke dev_n1's personal key": (
        q("select api.revoke_key($1)", lambda w: w.keys["dev_n1-personal"]),
        N1_MANAGERS | {"dev_n1"},
    ),
    "revoke s1's team key": (
        q("select api.revoke_key($1)", lambda w: w.keys["s1-team-key"]),
        {"admin"},
    ),
    "limit n1's team key": (
        q("select api.set_key_limits($1, 10, 1000)", lambda w: w.keys["n1-team-key"]),
        N1_MANAGERS,
    ),
    "limit dev_s1's personal key": (
        q("select api.set_key_limits($1, 10, 1000)", lambda w: w.keys["dev_s1-personal"]),
        {"admin"},  # owning a key does not make a developer its team's admin
    ),
    "set n1's policy": (
        q("select api.set_team_policy('n1', array['gpt-4o'], 60, 10000)"),
        NORTH_WRITERS,
    ),
    "set s1's policy": (q("select api.set_team_policy('s1', null, 60, null)"), {"admin"}),
    "set n1's budget": (q("select api.set_budget('n1', 'day', 5)"), N1_MANAGERS),
    "set s1's budget": (q("select api.set_budget('s1', 'day', 5)"), {"admin"}),
    "set n1's cache policy": (q("select api.set_cache_policy('n1', 'semantic')"), NORTH_WRITERS),
    "set s1's cache policy": (q("select api.set_cache_policy('s1', 'exact')"), {"admin"}),
    "purge n1's cache": (q("select api.purge_cache('n1')"), N1_MANAGERS),
    "purge s1's cache": (q("select api.purge_cache('s1')"), {"admin"}),
    "create a service account in n1": (
        q("select api.create_service_account('n1', 'deploy-bot')"),
        N1_MANAGERS,
    ),
    "suspend n1's service account": (
        q("select api.set_service_account_status($1, 'suspended')", lambda w: w.service_account),
        N1_MANAGERS,
    ),
    "add nobody to n1": (
        q("select api.add_team_member('n1', $1)", lambda w: w.users["nobody"]),
        {"admin"},  # team admins cannot see (or probe) people outside their teams: invite them
    ),
    "add dev_n1 to n2": (
        q("select api.add_team_member('n2', $1)", lambda w: w.users["dev_n1"]),
        {"admin", "owner_north"},
    ),
    "issue an embeddings-only key for n1": (
        q("select * from api.issue_key('n1', 'embedder', null, null, array['embeddings'])"),
        N1_MANAGERS | {"dev_n1"},  # a scope is no privilege: who may issue a key may pick it
    ),
    "add nobody to s1": (
        q("select api.add_team_member('s1', $1)", lambda w: w.users["nobody"]),
        {"admin"},
    ),
    "create a user": (q("select api.create_user('new@example.com')"), {"admin"}),
    "grant a role": (
        q("select api.grant_role($1, 'viewer')", lambda w: w.users["nobody"]),
        {"admin"},
    ),
    "revoke a role": (
        q("select api.revoke_role($1, 'developer')", lambda w: w.users["dev_n1"]),
        {"admin"},
    ),
    "suspend a user": (
        q("select api.set_user_status($1, 'suspended')", lambda w: w.users["dev_s1"]),
        {"admin"},
    ),
    "create an area-wide area owner": (
        q("select api.grant_role($1, 'area_owner', 'south')", lambda w: w.users["nobody"]),
        {"admin"},
    ),
    "set a price": (q("select api.set_price('gpt-4o', 1, 2, 0)"), {"admin"}),
    "register a model": (q("select api.register_model('my-model', 'openai', 4096)"), {"admin"}),
    "disable a model": (q("select api.set_model_enabled('gpt-4o', false)"), {"admin"}),
    "rename n1": (q("select api.rename_team('n1', 'n1-renamed')"), NORTH_WRITERS),
    "rename s1": (q("select api.rename_team('s1', 's1-renamed')"), {"admin"}),
    "delete n1": (q("select api.delete_team('n1')"), {"admin"}),
    "delete n1's budget": (
        q("select api.delete_budget($1)", lambda w: w.budgets["n1"]),
        N1_MANAGERS,
    ),
    "set a global guardrail": (
        q("select api.set_guardrail(null, 'new', 'output', 'pii_redact', $1, 'redact')", PII),
        {"admin"},
    ),
    "set a guardrail of n1": (
        q("select api.set_guardrail('n1', 'new', 'output', 'pii_redact', $1, 'redact')", PII),
        NORTH_WRITERS,
    ),
    "set a guardrail of s1": (
        q("select api.set_guardrail('s1', 'new', 'output', 'pii_redact', $1, 'redact')", PII),
        {"admin"},
    ),
    "replace n1's guardrail": (
        q("select api.set_guardrail('n1', 'g-n1', 'output', 'pii_redact', $1, 'flag')", PII),
        NORTH_WRITERS,
    ),
    "delete the global guardrail": (
        q("select api.delete_guardrail($1)", lambda w: w.guardrails["g-global"]),
        {"admin"},
    ),
    "delete n1's guardrail": (
        q("select api.delete_guardrail($1)", lambda w: w.guardrails["g-n1"]),
        NORTH_WRITERS,
    ),
    "delete s1's guardrail": (
        q("select api.delete_guardrail($1)", lambda w: w.guardrails["g-s1"]),
        {"admin"},
    ),
    "register a shared MCP server": (
        q("select api.register_mcp_server('new', 'https://new.example.com')"),
        {"admin"},
    ),
    "register an MCP server for n1": (
        q("select api.register_mcp_server('new', 'https://new.example.com', null, 'n1')"),
        NORTH_WRITERS,
    ),
    "register an MCP server for s1": (
        q("select api.register_mcp_server('new', 'https://new.example.com', null, 's1')"),
        {"admin"},
    ),
    "disable the shared MCP server": (
        q("select api.set_mcp_server_enabled('mcp-global', false)"),
        {"admin"},
    ),
    "disable n1's MCP server": (
        q("select api.set_mcp_server_enabled('mcp-n1', false)"),
        NORTH_WRITERS,
    ),
    "disable s1's MCP server": (q("select api.set_mcp_server_enabled('mcp-s1', false)"), {"admin"}),
    "delete the shared MCP server": (q("select api.delete_mcp_server('mcp-global')"), {"admin"}),
    "delete n1's MCP server": (q("select api.delete_mcp_server('mcp-n1')"), NORTH_WRITERS),
    "delete s1's MCP server": (q("select api.delete_mcp_server('mcp-s1')"), {"admin"}),
    "set nobody's password": (
        q(
            "select api.set_user_password($1, '$argon2id$v=19$m=65536,t=3,p=4$c2FsdA$aGFzaA')",
            lambda w: w.users["nobody"],
        ),
        {"admin", "nobody"},  # platform admins, and the user themselves
    ),
}


async def attempt(app_conn, world: World, principal: str, write: Write) -> bool:
    """True if the write succeeded; False if it was refused as it should be."""
    try:
        async with principal_transaction(app_conn, world.principal(principal), rollback=True) as c:
            await write(c, world)
    except asyncpg.PostgresError as exc:
        assert exc.sqlstate in DENIED_SQLSTATES, f"{principal}: unexpected error {exc!r}"
        return False
    return True


@pytest.mark.parametrize("name", list(WRITES))
async def test_each_principal_writes_exactly_what_its_role_allows(app_conn, world, name):
    write, allowed = WRITES[name]
    succeeded = {p for p in PRINCIPALS if await attempt(app_conn, world, p, write)}
    assert succeeded == allowed


async def test_a_developer_key_is_personal_and_an_admin_key_belongs_to_the_team(
    app_conn, world, module_db
):
    for principal, expected_owner in (("dev_n1", "dev_n1@example.com"), ("tadmin_n1", None)):
        async with principal_transaction(app_conn, world.principal(principal), rollback=True) as c:
            (key_id,) = await c.fetchrow("select id from api.issue_key('n1', 'probe')")
            owner = await c.fetchval(
                "select owner_email from api.list_keys() where id = $1", key_id
            )
        assert owner == expected_owner


async def test_a_forged_team_name_in_a_call_gets_nothing_back(app_conn, world):
    # tadmin_n1 names s1 explicitly: the database answers as if s1 did not exist.
    async with principal_transaction(app_conn, world.principal("tadmin_n1"), rollback=True) as c:
        assert await c.fetch("select * from api.list_keys('s1')") == []
        assert await c.fetch("select * from api.list_budgets('s1')") == []
        with pytest.raises(asyncpg.PostgresError) as refused:
            await c.fetch("select * from api.issue_key('s1', 'sneaky')")
    assert refused.value.sqlstate == "AIG04"


async def test_a_role_counts_from_its_grant_and_stops_at_its_revocation(app_conn, world, module_db):
    nobody, query = world.users["nobody"], "select name from api.list_teams()"
    assert await visible(app_conn, world, "nobody", query) == set()
    operator_call(module_db.admin, "select api.grant_role(%s, 'team_admin', 'n2')", (nobody,))
    try:
        assert await visible(app_conn, world, "nobody", query) == {"n2"}
    finally:
        operator_call(module_db.admin, "select api.revoke_role(%s, 'team_admin', 'n2')", (nobody,))
        operator_call(module_db.admin, "select api.remove_team_member('n2', %s)", (nobody,))
    assert await visible(app_conn, world, "nobody", query) == set()


async def test_whoami_reports_roles_from_the_database_not_from_the_principal(app_conn, world):
    forged = {**world.principal("dev_n1"), "roles": ["platform_admin"]}
    async with principal_transaction(app_conn, forged, rollback=True) as c:
        me = json.loads(await c.fetchval("select api.whoami()"))
        teams = {r["name"] for r in await c.fetch("select name from api.list_teams()")}
    assert me["is_platform_admin"] is False and me["is_operator"] is False
    assert me["roles"] == [{"role": "developer", "area": None, "team": None}]
    assert teams == {"n1"}

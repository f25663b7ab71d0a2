"""The admin API over real HTTP: every endpoint called as every role.

The world: areas north (teams n1, n2) and south (team s1); a budget, a team key, a
guardrail and an MCP server per team of interest, and a global guardrail and shared MCP
server. One user per role. The role matrix states, per endpoint, who succeeds and which
of the others get 404 (the target is invisible to them under row-level security); every
other signed-in role gets 403, an anonymous caller 401. The test fails on any extra or
missing permission.

Each call starts from the same world: a call that changed something is undone by
restoring every table from a snapshot, and a call that was refused (or only read) must
not have changed anything at all.
"""

import json
import re
import uuid
from dataclasses import dataclass, field

import httpx
import psycopg
import pytest

from api.app import create_app
from api.gateway.accounting import MemorySink
from api.gateway.config import load_config
from tests.helpers import create_user, operator_call, serving, sign_in

ROLES = ["admin", "owner_north", "tadmin_n1", "dev_n1", "viewer_n1", "anonymous"]
SIGNED_IN = ROLES[:-1]
# The schemas whose tables make up the world (events are not written by /admin; stored
# responses are there because they reference keys and teams, which /admin deletes).
WORLD_SCHEMAS = ("iam", "policy", "cache", "conversations", "league")
SNAPSHOT_SCHEMA = "admin_api_snapshot"
# Written by every signed-in request (a session's last use), never by /admin itself.
SIGN_IN_BOOKKEEPING = ("iam.sessions", "iam.login_throttle")


@dataclass
class World:
    db: object
    url: str
    users: dict[str, str] = field(default_factory=dict)
    ids: dict[str, uuid.UUID] = field(default_factory=dict)  # keys, budgets, rules by name
    tables: list[str] = field(default_factory=list)
    sessions: dict[str, dict[str, str]] = field(default_factory=dict)  # headers per role

    def headers(self, role: str) -> dict[str, str]:
        return self.sessions.get(role, {})  # anonymous: no session

    def call(self, role: str, method: str, path: str, body=None) -> httpx.Response:
        # (a platform admin's classify call runs a dbt build before it answers)
        with httpx.Client(base_url=self.url, timeout=180) as client:
            return client.request(method, path, json=body, headers=self.headers(role))

    def fingerprint(self) -> str:
        parts = [
            f"(select coalesce(string_agg(md5(t::text), ',' order by md5(t::text)), '') "
            f"from {table} t)"
            for table in self.tables
            if table not in SIGN_IN_BOOKKEEPING
        ]
        return operator_call(self.db.admin, f"select md5({' || '.join(parts)})")[0][0]

    def restore(self) -> None:
        """Put every table back as the snapshot has it (foreign keys off meanwhile)."""
        with psycopg.connect(self.db.admin) as conn, conn.transaction():
            conn.execute("set local session_replication_role = replica")
            conn.execute(f"truncate {', '.join(self.tables)}")
            for table in self.tables:
                conn.execute(f"insert into {table} select * from {snapshot_name(table)}")


def snapshot_name(table: str) -> str:
    return f"{SNAPSHOT_SCHEMA}.{table.replace('.', '__')}"


def as_user(db, user_id: uuid.UUID, query: str, params=()) -> list[tuple]:
    """Run one statement through the service role as a signed-in user."""
    with psycopg.connect(db.app) as conn, conn.transaction():
        principal = json.dumps({"user_id": str(user_id)})
        conn.execute("select set_config('app.principal', %s, true)", (principal,))
        return conn.execute(query, params).fetchall()


def build_world(db) -> dict:
    op = db.admin
    for area in ("north", "south"):
        operator_call(op, "select api.create_area(%s)", (area,))
    ids = {}
    for team, area in (("n1", "north"), ("n2", "north"), ("s1", "south")):
        operator_call(op, "select api.create_team(%s, %s)", (team, area))
        ids[f"{team}-team-key"] = operator_call(
            op, "select id from api.issue_key(%s, %s)", (team, f"{team}-team-key")
        )[0][0]
        ids[f"{team}-budget"] = operator_call(
            op, "select api.set_budget(%s, 'month', 100)", (team,)
        )[0][0]
    for team, suffix in ((None, "global"), ("n1", "n1"), ("s1", "s1")):
        ids[f"g-{suffix}"] = operator_call(
            op,
            "select api.set_guardrail(%s, %s, 'input', 'block_pattern', "
            "'{\"pattern\": \"secret\"}', 'block')",
            (team, f"g-{suffix}"),
        )[0][0]
        operator_call(
            op,
            "select api.register_mcp_server(%s, 'https://mcp.example.com/sse', null, %s)",
            (f"mcp-{suffix}", team),
        )
    grants = {
        "admin": (("platform_admin", None), ()),
        "owner_north": (("area_owner", "north"), ()),
        "tadmin_n1": (("team_admin", "n1"), ()),  # a team admin is a member of the team
        "dev_n1": (("developer", None), ("n1",)),
        "viewer_n1": (("viewer", None), ("n1",)),
    }
    users = {
        name: create_user(op, f"{name}@example.com", roles=(grant,), teams=teams)
        for name, (grant, teams) in grants.items()
    }
    ids["dev_n1-personal"] = as_user(
        db, users["dev_n1"], "select id from api.issue_key('n1', 'dev_n1-personal')"
    )[0][0]
    return {"users": users, "ids": ids}


@pytest.fixture(scope="module")
def world(module_db, redis_server) -> World:
    built = build_world(module_db)
    tables = [
        r[0]
        for r in operator_call(
            module_db.admin,
            "select format('%%I.%%I', n.nspname, c.relname) from pg_class c "
            "join pg_namespace n on n.oid = c.relnamespace "
            "where c.relkind = 'r' and n.nspname = any(%s) order by 1",
            (list(WORLD_SCHEMAS),),
        )
    ]
    operator_call(module_db.admin, f"create schema {SNAPSHOT_SCHEMA}")
    # No provider is ever called here: the admin API never reaches one.
    config = load_config(env={}, mock_provider_url="http://127.0.0.1:9")
    app = create_app(module_db.app, redis_server, gateway_config=config, events=MemorySink())
    with serving(app) as url:
        # Signing in writes (a session row): done before the snapshot is taken.
        sessions = {role: sign_in(url, f"{role}@example.com") for role in SIGNED_IN}
        for table in tables:
            operator_call(module_db.admin, f"create table {snapshot_name(table)} as table {table}")
        yield World(module_db, url, built["users"], built["ids"], tables, sessions)


@pytest.fixture
def same_world(world) -> World:
    """For tests that write: the next test starts from the snapshot again."""
    yield world
    world.restore()


# ---------------------------------------------------------------------------
# The role matrix
# ---------------------------------------------------------------------------

OK = "ok"
EVERYONE = frozenset(SIGNED_IN)
N1_MANAGERS = frozenset({"admin", "owner_north", "tadmin_n1"})
NORTH_WRITERS = frozenset({"admin", "owner_north"})
# Who cannot see team s1 (area south), nor anything of it.
OUTSIDE_SOUTH = frozenset({"owner_north", "tadmin_n1", "dev_n1", "viewer_n1"})
# ...and who cannot see team n2 (area north, not n1).
OUTSIDE_N2 = frozenset({"tadmin_n1", "dev_n1", "viewer_n1"})


@dataclass(frozen=True)
class Case:
    method: str
    path: str  # {placeholders} are ids from the world
    allowed: frozenset[str]
    hidden: frozenset[str] = frozenset()  # 404: the target is invisible to them
    body: dict | None = None

    def expected(self, role: str) -> str | int:
        if role == "anonymous":
            return 401
        if role in self.allowed:
            return OK
        return 404 if role in self.hidden else 403


def guardrail(team: str | None) -> dict:
    return {
        "team": team,
        "name": "new-rule",
        "stage": "output",
        "kind": "pii_redact",
        "config": {"entities": ["email", "iban"]},
        "action": "redact",
    }


def mcp_server(team: str | None) -> dict:
    return {"name": "new-server", "url": "http://localhost:8931/mcp", "team": team}


POLICY = {"allowed_models": ["gpt-4o"], "rpm_limit": 60, "tpm_limit": None}
SPEND = {"period": "day", "hard_limit_usd": 5}
PRICE = {"input_usd_per_mtok": 1, "output_usd_per_mtok": 2}
LIMITS = {"rpm_limit": 10, "tpm_limit": 1000}

MATRIX: dict[str, Case] = {
    # reads: everyone signed in gets 200 and sees what row-level security shows them
    **{
        f"list {path}": Case("GET", f"/admin/{path}", EVERYONE)
        for path in (
            "areas",
            "teams",
            "api-keys",
            "policies",
            "budgets",
            "guardrails",
            "guardrails?team=n1",
            "pricing",
            "models",
            "mcp",
        )
    },  # fmt: skip
    "list guardrails?team=s1": Case("GET", "/admin/guardrails?team=s1", {"admin"}, OUTSIDE_SOUTH),
    # areas
    "create an area": Case("POST", "/admin/areas", {"admin"}, body={"name": "west"}),
    # teams
    "create a team in north": Case(
        "POST", "/admin/teams", NORTH_WRITERS, body={"name": "n3", "area": "north"}
    ),
    "create a team in south": Case(
        "POST", "/admin/teams", {"admin"}, OUTSIDE_SOUTH, body={"name": "s3", "area": "south"}
    ),
    "create a team in no area": Case("POST", "/admin/teams", {"admin"}, body={"name": "loose"}),
    "rename n1": Case("PATCH", "/admin/teams/n1", NORTH_WRITERS, body={"name": "n1-new"}),
    "rename n2": Case("PATCH", "/admin/teams/n2", NORTH_WRITERS, OUTSIDE_N2, {"name": "n2-new"}),
    "rename s1": Case("PATCH", "/admin/teams/s1", {"admin"}, OUTSIDE_SOUTH, {"name": "s1-new"}),
    "delete n1": Case("DELETE", "/admin/teams/n1", {"admin"}),
    "delete n2": Case("DELETE", "/admin/teams/n2", {"admin"}, OUTSIDE_N2),
    "delete s1": Case("DELETE", "/admin/teams/s1", {"admin"}, OUTSIDE_SOUTH),
    # spend limits and budgets
    "limit n1's spend": Case("PUT", "/admin/teams/n1/spend-limit", N1_MANAGERS, body=SPEND),
    "limit n2's spend": Case(
        "PUT", "/admin/teams/n2/spend-limit", NORTH_WRITERS, OUTSIDE_N2, SPEND
    ),
    "limit s1's spend": Case("PUT", "/admin/teams/s1/spend-limit", {"admin"}, OUTSIDE_SOUTH, SPEND),
    "delete n1's budget": Case("DELETE", "/admin/budgets/{n1-budget}", N1_MANAGERS),
    "delete s1's budget": Case("DELETE", "/admin/budgets/{s1-budget}", {"admin"}, OUTSIDE_SOUTH),
    # api keys
    "issue a key for n1": Case(
        "POST",
        "/admin/api-keys",
        N1_MANAGERS | {"dev_n1"},  # the developer's key is personal
        body={"team": "n1", "name": "new-key"},
    ),
    "issue an embeddings-only key for n1": Case(
        "POST",
        "/admin/api-keys",
        N1_MANAGERS | {"dev_n1"},
        body={"team": "n1", "name": "new-key", "scopes": ["embeddings"]},
    ),
    "issue a key for s1": Case(
        "POST", "/admin/api-keys", {"admin"}, OUTSIDE_SOUTH, {"team": "s1", "name": "new-key"}
    ),
    "revoke n1's team key": Case(
        "DELETE", "/admin/api-keys/{n1-team-key}", N1_MANAGERS, {"dev_n1", "viewer_n1"}
    ),
    "revoke dev_n1's personal key": Case(
        "DELETE", "/admin/api-keys/{dev_n1-personal}", N1_MANAGERS | {"dev_n1"}, {"viewer_n1"}
    ),
    "revoke s1's team key": Case(
        "DELETE", "/admin/api-keys/{s1-team-key}", {"admin"}, OUTSIDE_SOUTH
    ),
    "limit n1's team key": Case(
        "PUT", "/admin/api-keys/{n1-team-key}/limits", N1_MANAGERS, {"dev_n1", "viewer_n1"}, LIMITS
    ),
    "limit dev_n1's personal key": Case(
        # the developer sees their key (403, not 404) but its limits are the team admins'
        "PUT",
        "/admin/api-keys/{dev_n1-personal}/limits",
        N1_MANAGERS,
        {"viewer_n1"},
        LIMITS,
    ),
    "limit s1's team key": Case(
        "PUT", "/admin/api-keys/{s1-team-key}/limits", {"admin"}, OUTSIDE_SOUTH, LIMITS
    ),
    # team policies
    "set n1's policy": Case("PUT", "/admin/policies/n1", NORTH_WRITERS, body=POLICY),
    "set n2's policy": Case("PUT", "/admin/policies/n2", NORTH_WRITERS, OUTSIDE_N2, POLICY),
    "set s1's policy": Case("PUT", "/admin/policies/s1", {"admin"}, OUTSIDE_SOUTH, POLICY),
    # pricing and models: platform admins only
    "set a price": Case("PUT", "/admin/pricing/gpt-4o", {"admin"}, body=PRICE),
    "disable a model": Case("PATCH", "/admin/models/gpt-4o", {"admin"}, body={"enabled": False}),
    # guardrails
    "set a global guardrail": Case("POST", "/admin/guardrails", {"admin"}, body=guardrail(None)),
    "set a guardrail of n1": Case("POST", "/admin/guardrails", NORTH_WRITERS, body=guardrail("n1")),
    "set a guardrail of s1": Case(
        "POST", "/admin/guardrails", {"admin"}, OUTSIDE_SOUTH, guardrail("s1")
    ),
    "delete the global guardrail": Case("DELETE", "/admin/guardrails/{g-global}", {"admin"}),
    "delete n1's guardrail": Case("DELETE", "/admin/guardrails/{g-n1}", NORTH_WRITERS),
    "delete s1's guardrail": Case("DELETE", "/admin/guardrails/{g-s1}", {"admin"}, OUTSIDE_SOUTH),
    # MCP servers
    "register a shared MCP server": Case("POST", "/admin/mcp", {"admin"}, body=mcp_server(None)),
    "register an MCP server for n1": Case(
        "POST", "/admin/mcp", NORTH_WRITERS, body=mcp_server("n1")
    ),
    "register an MCP server for s1": Case(
        "POST", "/admin/mcp", {"admin"}, OUTSIDE_SOUTH, mcp_server("s1")
    ),
    "disable the shared MCP server": Case(
        "PATCH", "/admin/mcp/mcp-global", {"admin"}, body={"enabled": False}
    ),
    "disable n1's MCP server": Case(
        "PATCH", "/admin/mcp/mcp-n1", NORTH_WRITERS, body={"enabled": False}
    ),
    "disable s1's MCP server": Case(
        "PATCH", "/admin/mcp/mcp-s1", {"admin"}, OUTSIDE_SOUTH, {"enabled": False}
    ),
    "remove the shared MCP server": Case("DELETE", "/admin/mcp/mcp-global", {"admin"}),
    "remove n1's MCP server": Case("DELETE", "/admin/mcp/mcp-n1", NORTH_WRITERS),
    "remove s1's MCP server": Case("DELETE", "/admin/mcp/mcp-s1", {"admin"}, OUTSIDE_SOUTH),
    # the session marts of the whole organisation, rebuilt now: platform admins only
    "classify sessions now": Case("POST", "/admin/transformation/classify", {"admin"}),
    # the FOCUS export: for whoever administers something; this world has no marts built,
    # so they get 404 "not built yet" (tests/test_finops.py exports from built ones)
    "export a month as FOCUS": Case(
        "GET",
        "/admin/finops/focus?month=2026-11",
        frozenset(),
        hidden=frozenset({"admin", "owner_north", "tadmin_n1"}),
    ),  # fmt: skip
}


def outcome(response: httpx.Response) -> str | int:
    return OK if response.is_success else response.status_code


@pytest.mark.parametrize("name", list(MATRIX))
def test_each_role_may_call_exactly_what_the_matrix_allows(world, name):
    case = MATRIX[name]
    path = case.path.format(**world.ids)
    before = world.fingerprint()
    seen, expected = {}, {}
    for role in ROLES:
        response = world.call(role, case.method, path, case.body)
        seen[role], expected[role] = outcome(response), case.expected(role)
        if not response.is_success:
            assert set(response.json()) == {"error"}, response.text
        if response.is_success and case.method != "GET":
            world.restore()
        else:
            assert world.fingerprint() == before, f"{role}: {response.status_code} wrote"
    assert seen == expected


def test_the_matrix_covers_every_admin_endpoint(world):
    schema = httpx.get(f"{world.url}/openapi.json").json()
    documented = {
        (method.upper(), path)
        for path, operations in schema["paths"].items()
        if path.startswith("/admin")
        for method in operations
    }

    def template_of(method: str, path: str) -> tuple[str, str]:
        path = path.split("?")[0].format(**world.ids)
        matches = [
            (m, t)
            for m, t in documented
            if m == method and re.fullmatch(re.sub(r"\{[^}]+\}", "[^/]+", t), path)
        ]
        assert len(matches) == 1, (method, path, matches)
        return matches[0]

    assert {template_of(c.method, c.path) for c in MATRIX.values()} == documented


# ---------------------------------------------------------------------------
# What the roles see, and what the calls do
# ---------------------------------------------------------------------------


def names(world, role: str, path: str, key: str = "name") -> set:
    response = world.call(role, "GET", path)
    assert response.status_code == 200
    return {row[key] for row in response.json()}


def test_lists_show_each_role_only_its_scope(world):
    assert names(world, "admin", "/admin/teams") == {"n1", "n2", "s1"}
    assert names(world, "owner_north", "/admin/teams") == {"n1", "n2"}
    assert names(world, "tadmin_n1", "/admin/teams") == {"n1"}
    assert names(world, "dev_n1", "/admin/api-keys") == {"dev_n1-personal"}
    assert names(world, "viewer_n1", "/admin/api-keys") == set()
    assert names(world, "tadmin_n1", "/admin/budgets", "team") == {"n1"}
    assert names(world, "viewer_n1", "/admin/guardrails") == {"g-global", "g-n1"}
    assert names(world, "owner_north", "/admin/mcp") == {"mcp-global", "mcp-n1"}
    assert names(world, "dev_n1", "/admin/guardrails?team=n1") == {"g-global", "g-n1"}


def test_a_write_is_committed_before_its_response(same_world):
    w = same_world
    assert w.call("owner_north", "POST", "/admin/teams", {"name": "n9", "area": "north"}).is_success
    assert "n9" in names(w, "owner_north", "/admin/teams")
    assert w.call("admin", "DELETE", "/admin/teams/n9").status_code == 204
    assert "n9" not in names(w, "admin", "/admin/teams")


def test_a_key_issued_through_the_api_works_at_the_gateway_once(same_world):
    w = same_world
    response = w.call("dev_n1", "POST", "/admin/api-keys", {"team": "n1", "name": "laptop"})
    assert response.status_code == 201
    assert response.headers["cache-control"] == "no-store"
    issued = response.json()
    assert set(issued) == {"id", "key", "prefix"} and issued["key"].startswith("sk-aigw-")
    bearer = {"Authorization": f"Bearer {issued['key']}"}
    assert httpx.get(f"{w.url}/v1/models", headers=bearer).status_code == 200
    listed = w.call("dev_n1", "GET", "/admin/api-keys").json()
    assert issued["key"] not in json.dumps(listed)  # only its prefix is ever shown again
    assert w.call("dev_n1", "DELETE", f"/admin/api-keys/{issued['id']}").status_code == 204
    assert httpx.get(f"{w.url}/v1/models", headers=bearer).status_code == 401


def test_guardrails_round_trip_and_replace_by_team_and_name(same_world):
    w = same_world
    rule = {
        "team": "n1",
        "name": "no-keys",
        "stage": "input",
        "kind": "block_pattern",
        "config": {"pattern": "sk-[a-z]+", "case_sensitive": True},
        "action": "block",
    }
    first = w.call("owner_north", "POST", "/admin/guardrails", rule).json()["id"]
    again = w.call("owner_north", "POST", "/admin/guardrails", {**rule, "action": "flag"})
    assert again.json()["id"] == first
    listed = {r["name"]: r for r in w.call("tadmin_n1", "GET", "/admin/guardrails?team=n1").json()}
    assert listed["no-keys"]["config"] == {"pattern": "sk-[a-z]+", "case_sensitive": True}
    assert listed["no-keys"]["action"] == "flag"
    assert listed["g-global"]["team"] is None
    # Who wrote a rule shows to those who may see that user (users' own policy).
    assert listed["no-keys"]["created_by"] is None
    by_admin = {r["name"]: r for r in w.call("admin", "GET", "/admin/guardrails").json()}
    assert by_admin["no-keys"]["created_by"] == "owner_north@example.com"


def test_mcp_servers_can_be_disabled_and_removed(same_world):
    w = same_world
    assert w.call("owner_north", "PATCH", "/admin/mcp/mcp-n1", {"enabled": False}).is_success
    servers = {s["name"]: s for s in w.call("dev_n1", "GET", "/admin/mcp").json()}
    assert servers["mcp-n1"]["enabled"] is False and servers["mcp-n1"]["team"] == "n1"
    assert w.call("owner_north", "DELETE", "/admin/mcp/mcp-n1").status_code == 204
    assert names(w, "dev_n1", "/admin/mcp") == {"mcp-global"}


def test_a_spend_limit_is_a_team_budget(same_world):
    w = same_world
    response = w.call("tadmin_n1", "PUT", "/admin/teams/n1/spend-limit", SPEND)
    assert response.status_code == 200
    budgets = w.call("tadmin_n1", "GET", "/admin/budgets?team=n1").json()
    day = next(b for b in budgets if b["id"] == response.json()["id"])
    assert (day["scope"], day["period"], day["hard_limit_usd"]) == ("team", "day", 5.0)


# ---------------------------------------------------------------------------
# Errors: one shape, a useful message, nothing written
# ---------------------------------------------------------------------------

BAD_INPUT = [
    # refused by the request model
    ("POST", "/admin/teams", {"name": "Has Spaces"}, "name"),
    ("POST", "/admin/teams", {}, "name: Field required"),
    ("POST", "/admin/teams", {"name": "ok", "colour": "red"}, "colour: Extra inputs"),
    ("POST", "/admin/teams", "not json", None),
    ("PUT", "/admin/policies/n1", {"allowed_models": None}, "rpm_limit: Field required"),
    ("PUT", "/admin/teams/n1/spend-limit", {"period": "fortnight", "hard_limit_usd": 1}, "period"),
    ("PATCH", "/admin/models/gpt-4o", {"enabled": "maybe"}, "enabled"),
    ("DELETE", "/admin/api-keys/not-a-uuid", None, "key_id"),
    ("POST", "/admin/api-keys", {"team": "n1", "name": "k", "scopes": ["root"]}, "scopes"),
    ("POST", "/admin/api-keys", {"team": "n1", "name": "k", "scopes": ["admin"]}, "scopes"),
    ("POST", "/admin/api-keys", {"team": "n1", "name": "k", "scopes": []}, "scopes"),
    ("POST", "/admin/guardrails", {**guardrail("n1"), "kind": "vibes"}, "kind"),
    ("POST", "/admin/guardrails", {**guardrail("n1"), "config": []}, "config"),
    # refused by the database (AIG06), with its message
    ("PUT", "/admin/policies/n1", {**POLICY, "allowed_models": ["nope"]}, "unknown models {nope}"),
    ("PUT", "/admin/teams/n1/spend-limit", {"period": "day", "hard_limit_usd": -5}, "hard limit"),
    ("PUT", "/admin/pricing/gpt-4o", {**PRICE, "input_usd_per_mtok": -1}, "prices must be"),
    (
        "POST",
        "/admin/api-keys",
        {"team": "n1", "name": "k", "expires_at": "2000-01-01T00:00:00Z"},
        "is in the past",
    ),
    (  # a time that exists where it was written, but not in UTC (SQLSTATE 22000, asyncpg's)
        "POST",
        "/admin/api-keys",
        {"team": "n1", "name": "k", "expires_at": "9999-12-31T23:59:59-14:00"},
        "date value out of range",
    ),
    (
        "POST",
        "/admin/guardrails",
        {**guardrail("n1"), "kind": "block_pattern", "action": "block", "config": {"pattern": "("}},
        "invalid regular expression",
    ),
    (
        "POST",
        "/admin/guardrails",
        {**guardrail("n1"), "action": "block", "kind": "max_input_tokens", "config": {}},
        "max_input_tokens rules apply to the input stage only",
    ),
    ("POST", "/admin/mcp", {**mcp_server(None), "url": "http://mcp.example.com"}, "must be https"),
    ("PATCH", "/admin/teams/n1", {"name": "n2"}, None),  # 409, below
]


@pytest.mark.parametrize(("method", "path", "body", "message"), BAD_INPUT)
def test_bad_input_is_422_in_the_error_shape_and_writes_nothing(world, method, path, body, message):
    before = world.fingerprint()
    with httpx.Client(base_url=world.url) as client:
        kwargs = {"content": body} if isinstance(body, str) else {"json": body}
        response = client.request(method, path, headers=world.headers("admin"), **kwargs)
    expected = 409 if path == "/admin/teams/n1" else 422
    assert response.status_code == expected, response.text
    error = response.json()["error"]
    assert set(response.json()) == {"error"}
    assert {"type", "message"} <= set(error) <= {"type", "code", "message", "hint"}
    assert error["type"] == ("conflict_error" if expected == 409 else "invalid_request_error")
    if message:
        assert message in error["message"]
    assert world.fingerprint() == before


def test_refusals_say_why_and_what_to_do(world):
    refused = world.call("tadmin_n1", "PUT", "/admin/policies/n1", POLICY).json()["error"]
    assert refused["type"] == "permission_error"
    assert refused["message"] == 'you may not set the policy of team "n1"'
    assert "owner of the team's area" in refused["hint"]
    hidden = world.call("tadmin_n1", "PUT", "/admin/policies/s1", POLICY).json()["error"]
    assert (hidden["type"], hidden["message"]) == ("not_found_error", 'team "s1" not found')
    anonymous = world.call("anonymous", "GET", "/admin/teams")
    assert anonymous.json()["error"]["type"] == "authentication_error"


def test_a_user_who_must_change_their_password_gets_403_until_they_do(same_world):
    w = same_world
    create_user(w.db.admin, "new@example.com", roles=(("platform_admin", None),), must_change=True)
    response = httpx.get(f"{w.url}/admin/teams", headers=sign_in(w.url, "new@example.com"))
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "password_change_required"


def test_other_surfaces_keep_their_own_error_formats(world):
    unknown = httpx.get(f"{world.url}/no-such-page").json()["error"]
    assert (unknown["type"], unknown["code"]) == ("not_found_error", "not_found")
    no_key = httpx.get(f"{world.url}/v1/models").json()["error"]
    assert set(no_key) == {"message", "type", "param", "code"}  # OpenAI's shape


# ---------------------------------------------------------------------------
# OpenAPI
# ---------------------------------------------------------------------------


def test_every_admin_endpoint_documents_its_summary_tags_and_errors(world):
    schema = httpx.get(f"{world.url}/openapi.json").json()
    operations = [
        (f"{method.upper()} {path}", op)
        for path, ops in schema["paths"].items()
        if path.startswith("/admin")
        for method, op in ops.items()
    ]
    assert len(operations) >= 25
    for name, op in operations:
        assert op.get("summary") and op.get("tags"), name
        for status in ("401", "403", "404", "409", "422"):
            content = op["responses"][status]["content"]["application/json"]
            assert content["schema"] == {"$ref": "#/components/schemas/ErrorBody"}, name

"""Every /auth endpoint called by every role: allowed exactly where the role table allows.

Roles (the spec's table): platform_admin everything; area_owner within their area;
team_admin within their team; developer and viewer none of the administration. A denial
is 403 when the caller may see the thing but not change it, and 404 when row-level
security hides it from them (another team's invitation or service account): the matrix
says which, so any extra or missing permission fails.
"""

import itertools

import httpx
import pytest

from api.auth.deps import digest
from tests.helpers import app_routes, create_user, operator_call, sign_in

ROLES = ("admin", "owner", "tadmin", "other_tadmin", "dev", "viewer")
ADMINS_OF_N1 = ("admin", "owner", "tadmin")
_counter = itertools.count()


def everyone(status: int) -> dict[str, int]:
    return dict.fromkeys(ROLES, status)


def only(allowed: tuple[str, ...], status: int, **others: int) -> dict[str, int]:
    expected = everyone(403) | dict.fromkeys(allowed, status)
    return expected | others


class World:
    def __init__(self, url: str, admin_url: str):
        self.url = url
        self.admin_url = admin_url

    def fresh_user(self, *roles) -> str:
        return create_user(self.admin_url, f"target{next(_counter)}@example.com", roles=roles)

    def n1_invitation(self) -> str:
        token = f"aigw_inv_matrix{next(_counter)}"
        return str(
            operator_call(
                self.admin_url,
                "select id from api.create_invitation(%s, 'developer', 'n1', %s)",
                (f"invitee{next(_counter)}@example.com", digest(token)),
            )[0][0]
        )

    def n1_service_account(self) -> str:
        account = operator_call(
            self.admin_url,
            "select api.create_service_account('n1', %s)",
            (f"bot{next(_counter)}",),
        )[0][0]
        operator_call(
            self.admin_url, "select api.issue_key('n1', %s, %s)", (f"k{next(_counter)}", account)
        )
        return str(account)


def call(method: str, path, body=None):
    """A cell's request: the path may need fresh objects of the world."""

    def run(w: World, headers: dict) -> int:
        resolved = path(w) if callable(path) else path
        json_body = body(w) if callable(body) else body
        return httpx.request(
            method, w.url + resolved, json=json_body, headers=headers, timeout=30
        ).status_code

    return run


def invite(role: str, scope: str | None):
    return call(
        "post",
        "/auth/invitations",
        lambda w: {"email": f"inv{next(_counter)}@example.com", "role": role, "scope": scope},
    )


MATRIX = {
    "GET /auth/me": (call("get", "/auth/me"), everyone(200)),
    "GET /auth/users": (call("get", "/auth/users"), only(("admin",), 200)),
    "POST /auth/users/{user_id}/roles": (
        call("post", lambda w: f"/auth/users/{w.fresh_user()}/roles", {"role": "viewer"}),
        only(("admin",), 201),
    ),
    "DELETE /auth/users/{user_id}/roles/{role}": (
        call("delete", lambda w: f"/auth/users/{w.fresh_user(('viewer', None))}/roles/viewer"),
        only(("admin",), 204),
    ),
    "PATCH /auth/users/{user_id}/status": (
        call("patch", lambda w: f"/auth/users/{w.fresh_user()}/status", {"status": "suspended"}),
        only(("admin",), 204),
    ),
    "POST /auth/invitations (developer, n1)": (
        invite("developer", "n1"),
        only(ADMINS_OF_N1, 201, other_tadmin=404),
    ),
    "POST /auth/invitations (team_admin, n1)": (
        invite("team_admin", "n1"),
        only(ADMINS_OF_N1, 201, other_tadmin=404),
    ),
    "POST /auth/invitations (area_owner, north)": (
        invite("area_owner", "north"),
        only(("admin",), 201, other_tadmin=404),
    ),
    "POST /auth/invitations (platform_admin)": (
        invite("platform_admin", None),
        only(("admin",), 201),
    ),
    "GET /auth/invitations": (
        call("get", "/auth/invitations"),
        only((*ADMINS_OF_N1, "other_tadmin"), 200),
    ),
    "DELETE /auth/invitations/{invitation_id}": (
        call("delete", lambda w: f"/auth/invitations/{w.n1_invitation()}"),
        only(ADMINS_OF_N1, 204, other_tadmin=404),
    ),
    "POST /auth/service-accounts (n1)": (
        call(
            "post",
            "/auth/service-accounts",
            lambda w: {"team": "n1", "name": f"sa{next(_counter)}"},
        ),
        only(ADMINS_OF_N1, 201, other_tadmin=404),
    ),
    "GET /auth/service-accounts": (
        call("get", "/auth/service-accounts"),
        only((*ADMINS_OF_N1, "other_tadmin"), 200),
    ),
    "PATCH /auth/service-accounts/{account_id}/status": (
        call(
            "patch",
            lambda w: f"/auth/service-accounts/{w.n1_service_account()}/status",
            {"status": "suspended"},
        ),
        only(ADMINS_OF_N1, 204, other_tadmin=404),
    ),
    "POST /auth/service-accounts/{account_id}/rotate-key": (
        call("post", lambda w: f"/auth/service-accounts/{w.n1_service_account()}/rotate-key"),
        only(ADMINS_OF_N1, 200, other_tadmin=404),
    ),
}


@pytest.fixture
def world(gateway):
    admin = gateway.db.admin
    operator_call(admin, "select api.create_area('north')")
    operator_call(admin, "select api.create_team('n1', 'north')")
    operator_call(admin, "select api.create_team('s1')")
    people = {
        "admin": (("platform_admin", None),),
        "owner": (("area_owner", "north"),),
        "tadmin": (("team_admin", "n1"),),
        "other_tadmin": (("team_admin", "s1"),),
        "dev": (("developer", None),),
        "viewer": (("viewer", None),),
    }
    sessions = {}
    for role, grants in people.items():
        teams = ("n1",) if role in ("dev", "viewer") else ()
        create_user(admin, f"{role}@example.com", roles=grants, teams=teams)
        sessions[role] = sign_in(gateway.url, f"{role}@example.com")
    w = World(gateway.url, admin)
    w.sessions = sessions
    return w


def test_every_auth_endpoint_allows_exactly_the_roles_of_the_role_table(world):
    mismatches = []
    for (name, (cell, expected)), role in itertools.product(MATRIX.items(), ROLES):
        got = cell(world, world.sessions[role])
        if got != expected[role]:
            mismatches.append(f"{name} as {role}: {got}, expected {expected[role]}")
    assert mismatches == []


def test_the_matrix_covers_every_auth_route(world, gateway):
    """A new /auth route must join the matrix (sign-in routes are tested elsewhere)."""
    public = {
        "POST /auth/login",
        "POST /auth/register",
        "POST /auth/logout",
        "POST /auth/change-password",
        "POST /auth/invitations/accept",
        "GET /auth/oidc/login",
        "GET /auth/oidc/callback",
    }
    routes = {
        f"{method} {path}"
        for path, methods, _ in app_routes(gateway.app)
        if path.startswith("/auth")
        for method in methods - {"HEAD"}
    }
    covered = {name.split(" (")[0] for name in MATRIX}
    assert len(routes) >= 19  # the spec's unified-auth table
    assert routes - public - covered == set()
    assert public | covered >= routes


def test_every_route_commits_before_it_answers(gateway):
    """A signed-in user's transaction must end before the response is sent: otherwise a
    write could fail to commit after the client was told it succeeded."""
    from fastapi.routing import APIRoute

    from api.auth.deps import user_connection

    def scopes(dependant):
        for dep in dependant.dependencies:
            if dep.call is user_connection:
                yield dep.scope
            yield from scopes(dep)

    routes = [(p, m, r) for p, m, r in app_routes(gateway.app) if isinstance(r, APIRoute)]
    used = {f"{m} {p}": list(scopes(r.dependant)) for p, m, r in routes}
    used = {route: found for route, found in used.items() if found}
    assert len(used) >= 8
    assert {route: found for route, found in used.items() if found != ["function"]} == {}

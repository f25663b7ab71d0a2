"""Small helpers shared by the tests."""

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
import uvicorn

from api.embedded import free_port
from api.server import Deadlines, server_config

AIGW = [sys.executable, "-m", "api.cli"]


def aigw(db, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    """Run the `aigw` CLI as a subprocess against a test database (as DATABASE_URL)."""
    environment = {
        k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL", "AIGW_ENV")
    }
    environment.update({"DATABASE_URL": db.admin, "COLUMNS": "200", **(env or {})})
    return subprocess.run(
        [*AIGW, *args], capture_output=True, text=True, env=environment, timeout=60, check=False
    )


def operator_call(admin_url: str, query: str, params: tuple | dict | None = ()) -> list[tuple]:
    """Run one statement as an operator (the administrative login) and commit it."""
    with psycopg.connect(admin_url) as conn, conn.transaction():
        cursor = conn.execute(query, params)
        return cursor.fetchall() if cursor.description else []


@contextmanager
def serving(app, deadlines: Deadlines | None = None) -> Iterator[str]:
    """Serve an ASGI app on a free local port, in a thread, as `aigw up` serves it (the
    server's deadlines: `deadlines`, or the settings'); yields its URL."""
    port = free_port()
    config = server_config(
        app,
        host="127.0.0.1",
        port=port,
        deadlines=deadlines,
        log_level="warning",
        timeout_graceful_shutdown=1,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        assert time.monotonic() < deadline, "server did not start"
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)


STRONG_PASSWORD = "Velvet-Harbor-Quartz-81"


def create_user(
    admin_url: str,
    email: str,
    *,
    password: str = STRONG_PASSWORD,
    roles: tuple[tuple[str, str | None], ...] = (),
    teams: tuple[str, ...] = (),
    must_change: bool = False,
) -> str:
    """A user with a password, roles ((role, scope), …) and team memberships; their id."""
    from api.passwords import hash_password

    user_id = str(operator_call(admin_url, "select api.create_user(%s)", (email,))[0][0])
    operator_call(
        admin_url,
        "select api.set_user_password(%s, %s, %s)",
        (user_id, hash_password(password), must_change),
    )
    for role, scope in roles:
        operator_call(admin_url, "select api.grant_role(%s, %s, %s)", (user_id, role, scope))
    for team in teams:
        operator_call(admin_url, "select api.add_team_member(%s, %s)", (team, user_id))
    return user_id


def personal_key(db, email: str, team: str = "t1") -> tuple[str, str]:
    """(user id, key) of a developer of `team` with a key of their own."""
    user_id = create_user(db.admin, email, roles=(("developer", None),), teams=(team,))
    with psycopg.connect(db.app) as conn, conn.transaction():
        principal = json.dumps({"user_id": user_id})
        conn.execute("select set_config('app.principal', %s, true)", (principal,))
        key = conn.execute("select key from api.issue_key(%s, 'laptop')", (team,)).fetchone()[0]
    return user_id, key


def sign_in(base_url: str, email: str, password: str = STRONG_PASSWORD) -> dict:
    """Log in over HTTP; returns headers carrying the session token."""
    import httpx

    response = httpx.post(f"{base_url}/auth/login", json={"email": email, "password": password})
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['token']}"}


def app_routes(app) -> Iterator[tuple[str, set[str], object]]:
    """(path, methods, route) of every route, routers included (newer FastAPI keeps
    included routers whole and lists them only through iter_route_contexts)."""
    from fastapi import routing

    if hasattr(routing, "iter_route_contexts"):
        for context in routing.iter_route_contexts(app.routes):
            yield context.path, set(context.methods or ()), context.route
    else:
        for route in app.routes:
            yield getattr(route, "path", ""), set(getattr(route, "methods", ()) or ()), route


def budgets_settled(admin_url: str, timeout: float = 10.0) -> list[tuple]:
    """(scope, limit, spent, reserved) of every budget, once nothing is reserved: the
    gateway settles its leases' spend every quarter second and releases a lease idle for
    two (api/gateway/budgets.py)."""
    deadline = time.monotonic() + timeout
    while True:
        rows = operator_call(
            admin_url,
            "select scope, hard_limit_usd, spent_usd, reserved_usd from api.list_budgets()",
        )
        if all(reserved == 0 for *_, reserved in rows):
            return rows
        assert time.monotonic() < deadline, f"still reserved after {timeout} s: {rows}"
        time.sleep(0.05)

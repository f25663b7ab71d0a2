"""Who is signed in: session tokens, their cookie, and the FastAPI dependencies that give
a route the signed-in user and a database transaction in which RLS sees them.

A session token is `aigw_s_` + 43 URL-safe random characters, shown once (in the login
response and the cookie) and stored only as its SHA-256 digest. Browsers send it in the
`aigw_session` cookie (HttpOnly, SameSite=Lax, Secure outside localhost); API clients as
`Authorization: Bearer aigw_s_…`.

    @router.get("/things")
    async def things(conn: UserConnection):
        return await conn.fetch("select * from api.list_things()")

UserConnection's `scope="function"` matters: without it FastAPI commits the transaction
after the response has been sent, so a client could be told "done" about a write that
then fails to commit. tests/test_auth_roles.py checks every route.
"""

import hashlib
import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Annotated

import asyncpg
from fastapi import Depends, Request, Response
from pydantic import StringConstraints

from api.auth.errors import ApiProblem
from api.database import principal_transaction

SESSION_COOKIE = "aigw_session"
SESSION_PREFIX = "aigw_s_"
STAY_SIGNED_IN_SECONDS = 30 * 24 * 3600
LOCAL_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})


def cookie_secure(request: Request) -> bool:
    """Secure cookies always in the cloud. Locally too, unless the browser is on this
    machine over plain http (the Host header decides only there: a proxy that rewrites
    it to 127.0.0.1 cannot turn Secure off in a cloud deployment)."""
    if getattr(request.app.state, "cloud", True):
        return True
    return request.url.hostname not in LOCAL_HOSTS


def new_token(prefix: str) -> str:
    return prefix + secrets.token_urlsafe(32)


def digest(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


@dataclass(frozen=True)
class SessionUser:
    user_id: str
    session_id: str
    email: str
    display_name: str | None
    must_change_password: bool
    token_digest: bytes


def presented_token(request: Request) -> str | None:
    authorization = request.headers.get("authorization", "")
    if authorization[:7].lower() == "bearer ":
        token = authorization[7:].strip()
        if token.startswith(SESSION_PREFIX):
            return token
    return request.cookies.get(SESSION_COOKIE)


def set_session_cookie(request: Request, response: Response, token: str, stay: bool) -> None:
    response.set_cookie(
        SESSION_COOKIE,
        token,
        # "stay signed in" survives a browser restart; otherwise a browser-session cookie
        max_age=STAY_SIGNED_IN_SECONDS if stay else None,
        httponly=True,
        samesite="lax",
        secure=cookie_secure(request),
        path="/",
    )


def clear_session_cookie(request: Request, response: Response) -> None:
    response.delete_cookie(
        SESSION_COOKIE,
        httponly=True,
        samesite="lax",
        secure=cookie_secure(request),
        path="/",
    )


async def any_session_user(request: Request) -> SessionUser:
    """The signed-in user, even one who must change their password first (for the few
    routes that user may call: /auth/me, /auth/logout, /auth/change-password)."""
    token = presented_token(request)
    if not token or not token.startswith(SESSION_PREFIX) or len(token) > 100:
        raise ApiProblem(401, "Not signed in: POST /auth/login first.", "not_signed_in")
    token_digest = digest(token)
    try:
        async with request.app.state.pool.acquire() as conn:
            row = await conn.fetchrow("select * from api.session_user($1)", token_digest)
    except asyncpg.PostgresError as exc:
        if exc.sqlstate == "AIG01":
            raise ApiProblem(
                401, "Not signed in, or the session has ended: sign in again.", "session_ended"
            ) from None
        raise
    return SessionUser(
        user_id=str(row["user_id"]),
        session_id=str(row["session_id"]),
        email=row["email"],
        display_name=row["display_name"],
        must_change_password=row["must_change_password"],
        token_digest=token_digest,
    )


async def session_user(user: SessionUser = Depends(any_session_user)) -> SessionUser:
    """The signed-in user; 403 until a required password change is done."""
    if user.must_change_password:
        raise ApiProblem(
            403,
            "You must change your password first: POST /auth/change-password.",
            "password_change_required",
        )
    return user


async def user_connection(
    request: Request, user: SessionUser = Depends(session_user)
) -> AsyncIterator[asyncpg.Connection]:
    """A transaction in which row-level security sees the signed-in user."""
    async with principal_transaction(request.app.state.pool, {"user_id": user.user_id}) as conn:
        yield conn


# What a route takes to act as the signed-in user. scope="function": the transaction ends
# (commits) before the response is sent, so a client that got a 2xx reads its own write
# on its next request, and a failed commit is an error rather than a success on the wire.
UserConnection = Annotated[asyncpg.Connection, Depends(user_connection, scope="function")]

# The names the database accepts for areas, teams, keys, service accounts, rules, servers.
Slug = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9._-]{0,62}$")]


def client_address(request: Request) -> str | None:
    return request.client.host if request.client else None

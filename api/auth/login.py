"""Password sign-in and the signed-in user: /auth/login, /register, /me, /logout,
/change-password."""

import asyncio
import functools
import json
import os

import asyncpg
from fastapi import APIRouter, Depends, Request, Response
from pydantic import BaseModel, Field

from api.auth import password_policy
from api.auth.deps import (
    SESSION_PREFIX,
    SessionUser,
    any_session_user,
    clear_session_cookie,
    client_address,
    digest,
    new_token,
    set_session_cookie,
)
from api.auth.errors import ApiProblem, responses
from api.database import principal_transaction
from api.passwords import hash_password, verify_password
from api.request_bodies import SignInRoute

router = APIRouter(tags=["auth"], route_class=SignInRoute)


@functools.cache
def dummy_hash() -> str:
    """Checked when an email is unknown, so that a wrong email costs as long as a wrong
    password. Made at the first login, not at import (an argon2 hash takes a while)."""
    return hash_password(new_token("dummy-"))


WRONG_CREDENTIALS = "Wrong email or password."


class LoginRequest(BaseModel):
    email: str = Field(max_length=254)
    password: str = Field(max_length=1024)
    stay_signed_in: bool = False


class SessionResponse(BaseModel):
    token: str = Field(description="The session token, shown once (also set as a cookie).")
    expires_at: str
    must_change_password: bool
    user_id: str


EMAIL_PATTERN = r"^[^@\s]+@[^@\s]+\.[^@\s]+$"


class RegisterRequest(BaseModel):
    email: str = Field(max_length=254, pattern=EMAIL_PATTERN)
    password: str = Field(max_length=1024)
    display_name: str | None = Field(default=None, max_length=200)


class ChangePasswordRequest(BaseModel):
    current_password: str = Field(max_length=1024)
    new_password: str = Field(max_length=1024)


class Role(BaseModel):
    role: str
    area: str | None = None
    team: str | None = None


class Me(BaseModel):
    user_id: str
    email: str
    display_name: str | None
    must_change_password: bool
    roles: list[Role]
    teams: list[str]


async def open_session(
    request: Request, response: Response, user_id, *, stay: bool, method: str
) -> SessionResponse:
    """A new session (never a reused one) for an authenticated user, set as the cookie."""
    token = new_token(SESSION_PREFIX)
    async with request.app.state.pool.acquire() as conn:
        row = await conn.fetchrow(
            "select * from api.start_session($1, $2, $3, $4, $5)",
            user_id,
            digest(token),
            stay,
            method,
            client_address(request),
        )
    set_session_cookie(request, response, token, stay)
    response.headers["Cache-Control"] = "no-store"  # it carries the token
    return SessionResponse(
        token=token,
        expires_at=row["expires_at"].isoformat(),
        must_change_password=row["must_change_password"],
        user_id=str(user_id),
    )


async def begin_password_check(pool, email: str, client: str | None):
    """Count a password attempt; the account's id and hash, or None for an unknown email.
    Past the limits the database refuses (AIG08), which the app answers with 429 and
    Retry-After."""
    async with pool.acquire() as conn:
        return await conn.fetchrow("select * from api.begin_password_login($1, $2)", email, client)


@router.post(
    "/login",
    summary="Email + password login; returns a session token",
    response_model=SessionResponse,
    responses=responses(401, 422, 429, 503),
)
async def login(body: LoginRequest, request: Request, response: Response) -> SessionResponse:
    client = client_address(request)
    pool = request.app.state.pool
    row = await begin_password_check(pool, body.email, client)
    stored = row["password_hash"] if row else None
    valid = await asyncio.to_thread(lambda: verify_password(stored or dummy_hash(), body.password))
    if not (row and valid):
        async with pool.acquire() as conn:
            await conn.execute("select api.record_login_failure($1, $2)", body.email, client)
        raise ApiProblem(401, WRONG_CREDENTIALS, "wrong_credentials")
    try:
        return await open_session(
            request, response, row["user_id"], stay=body.stay_signed_in, method="password"
        )
    except asyncpg.PostgresError as exc:
        if exc.sqlstate == "AIG02":  # suspended: said only to whoever knows the password
            raise ApiProblem(401, str(exc).capitalize() + ".", "account_suspended") from None
        raise


def allowed_email_domains() -> set[str]:
    raw = os.environ.get("ALLOWED_EMAIL_DOMAINS", "")
    return {d.strip().lower().lstrip("@") for d in raw.split(",") if d.strip()}


@router.post(
    "/register",
    summary="Self-service developer sign-up (emails of ALLOWED_EMAIL_DOMAINS only)",
    response_model=SessionResponse,
    status_code=201,
    responses=responses(403, 409, 422, 429),
)
async def register(body: RegisterRequest, request: Request, response: Response) -> SessionResponse:
    domains = allowed_email_domains()
    email = body.email.lower()
    if not domains:
        raise ApiProblem(
            403,
            "Self-service sign-up is off: ask an administrator for an invitation.",
            "registration_disabled",
        )
    if email.rsplit("@", 1)[1] not in domains:
        raise ApiProblem(
            403,
            "Sign-up is open to these email domains only: " + ", ".join(sorted(domains)) + ".",
            "email_domain_not_allowed",
        )
    password_policy.require_strong(body.password, user_inputs=(email, body.display_name or ""))
    pool = request.app.state.pool
    async with pool.acquire() as conn:
        # Each answer says whether an email is taken: sign-ups per address are bounded (AIG08,
        # a 429 with Retry-After, past the limit).
        await conn.execute("select api.count_signup_attempt($1)", client_address(request))
    password_hash = await asyncio.to_thread(hash_password, body.password)
    async with pool.acquire() as conn:
        user_id = await conn.fetchval(
            "select api.register_user($1, $2, $3)", email, body.display_name, password_hash
        )
    return await open_session(request, response, user_id, stay=False, method="registration")


@router.get(
    "/me",
    summary="The signed-in user's profile and roles",
    response_model=Me,
    responses=responses(401),
)
async def me(request: Request, user: SessionUser = Depends(any_session_user)) -> Me:
    async with principal_transaction(request.app.state.pool, {"user_id": user.user_id}) as conn:
        whoami = await conn.fetchval("select api.whoami()")
        teams = await conn.fetchval("select api.my_teams()")
    roles = json.loads(whoami)["roles"]
    return Me(
        user_id=user.user_id,
        email=user.email,
        display_name=user.display_name,
        must_change_password=user.must_change_password,
        roles=[Role(**r) for r in roles],
        teams=list(teams),
    )


@router.post(
    "/logout",
    summary="End this session",
    status_code=204,
    response_class=Response,
    responses=responses(401),
)
async def logout(request: Request, user: SessionUser = Depends(any_session_user)) -> Response:
    async with request.app.state.pool.acquire() as conn:
        await conn.execute("select api.end_session($1)", user.token_digest)
    response = Response(status_code=204)
    clear_session_cookie(request, response)
    return response


@router.post(
    "/change-password",
    summary="Change your password (ends every session: sign in again)",
    status_code=204,
    response_class=Response,
    responses=responses(401, 403, 422),
)
async def change_password(
    body: ChangePasswordRequest, request: Request, user: SessionUser = Depends(any_session_user)
) -> Response:
    pool = request.app.state.pool
    # The current password is checked like a login, throttled and audited the same way:
    # a stolen session must not become a free password-guessing oracle.
    row = await begin_password_check(pool, user.email, client_address(request))
    if not row or not await asyncio.to_thread(
        verify_password, row["password_hash"], body.current_password
    ):
        async with pool.acquire() as conn:
            await conn.execute(
                "select api.record_login_failure($1, $2)", user.email, client_address(request)
            )
        raise ApiProblem(403, "The current password is wrong.", "wrong_password")
    if body.new_password == body.current_password:
        raise ApiProblem(422, "The new password must differ from the current one.", "same_password")
    password_policy.require_strong(
        body.new_password, user_inputs=(user.email, user.display_name or "")
    )
    password_hash = await asyncio.to_thread(hash_password, body.new_password)
    async with principal_transaction(pool, {"user_id": user.user_id}) as conn:
        await conn.execute("select api.change_own_password($1)", password_hash)
    response = Response(status_code=204)
    clear_session_cookie(request, response)
    return response

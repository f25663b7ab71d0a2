"""Invitations: an admin creates a link (48 h, single use); whoever opens it chooses a
password and gets the account, its role and team. No email relay: the admin passes the
link on."""

import asyncio
from datetime import datetime
from uuid import UUID

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, Field

from api.auth import password_policy
from api.auth.deps import UserConnection, digest, new_token
from api.auth.errors import ApiProblem, responses
from api.auth.login import EMAIL_PATTERN, SessionResponse, open_session
from api.passwords import hash_password
from api.request_bodies import SignInRoute

router = APIRouter(prefix="/invitations", tags=["invitations"], route_class=SignInRoute)

INVITATION_PREFIX = "aigw_inv_"
ROLES = ("platform_admin", "area_owner", "team_admin", "developer", "viewer")


class InvitationRequest(BaseModel):
    email: str = Field(max_length=254, pattern=EMAIL_PATTERN)
    role: str = Field(pattern="^(" + "|".join(ROLES) + ")$")
    scope: str | None = Field(
        default=None,
        max_length=63,
        description="Area for area_owner, team for team_admin, the team to join for "
        "developer and viewer, none for platform_admin.",
    )


class CreatedInvitation(BaseModel):
    id: UUID
    token: str = Field(description="Shown once; only its digest is stored.")
    accept_url: str
    expires_at: datetime


class Invitation(BaseModel):
    id: UUID
    email: str
    role: str
    area: str | None
    team: str | None
    invited_by: str | None
    status: str
    created_at: datetime
    expires_at: datetime


class AcceptRequest(BaseModel):
    token: str = Field(max_length=100)
    password: str = Field(max_length=1024)
    display_name: str | None = Field(default=None, max_length=200)


@router.post(
    "",
    summary="Create an invite link (48 h expiry)",
    status_code=201,
    response_model=CreatedInvitation,
    responses=responses(401, 403, 404, 409, 422),
)
async def create_invitation(
    body: InvitationRequest,
    request: Request,
    response: Response,
    conn: UserConnection,
) -> CreatedInvitation:
    response.headers["Cache-Control"] = "no-store"  # it carries the token
    token = new_token(INVITATION_PREFIX)
    row = await conn.fetchrow(
        "select * from api.create_invitation($1, $2, $3, $4)",
        body.email,
        body.role,
        body.scope,
        digest(token),
    )
    accept_url = str(request.base_url).rstrip("/") + "/auth/invitations/accept#token=" + token
    return CreatedInvitation(
        id=row["id"], token=token, accept_url=accept_url, expires_at=row["expires_at"]
    )


@router.get(
    "",
    summary="List invitations of your scope",
    response_model=list[Invitation],
    responses=responses(401, 403),
)
async def list_invitations(
    conn: UserConnection,
) -> list[Invitation]:
    return [Invitation(**r) for r in await conn.fetch("select * from api.list_invitations()")]


@router.delete(
    "/{invitation_id}",
    summary="Revoke a pending invitation",
    status_code=204,
    response_class=Response,
    responses=responses(401, 403, 404, 422),
)
async def revoke_invitation(invitation_id: UUID, conn: UserConnection) -> Response:
    await conn.execute("select api.revoke_invitation($1)", invitation_id)
    return Response(status_code=204)


@router.post(
    "/accept",
    summary="Redeem an invite token: create the account and sign in",
    status_code=201,
    response_model=SessionResponse,
    responses=responses(404, 409, 422),
)
async def accept_invitation(
    body: AcceptRequest, request: Request, response: Response
) -> SessionResponse:
    gone = ApiProblem(404, "This invitation is unknown, used, revoked or expired.", "bad_token")
    if not body.token.startswith(INVITATION_PREFIX):
        raise gone
    pool = request.app.state.pool
    async with pool.acquire() as conn:
        email = await conn.fetchval("select api.pending_invitation_email($1)", digest(body.token))
    if email is None:
        raise gone  # before hashing: a made-up token must cost nothing
    password_policy.require_strong(body.password, user_inputs=(email, body.display_name or ""))
    password_hash = await asyncio.to_thread(hash_password, body.password)
    async with pool.acquire() as conn:
        row = await conn.fetchrow(
            "select * from api.accept_invitation($1, $2, $3)",
            digest(body.token),
            body.display_name,
            password_hash,
        )
    return await open_session(request, response, row["user_id"], stay=False, method="invitation")

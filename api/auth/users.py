"""User administration (platform admins): list, grant and revoke roles, suspend."""

from datetime import datetime
from typing import Literal
from uuid import UUID

from fastapi import APIRouter, Response
from pydantic import BaseModel, Field

from api.auth.deps import UserConnection
from api.auth.errors import responses
from api.auth.invitations import ROLES
from api.request_bodies import SignInRoute

router = APIRouter(prefix="/users", tags=["users"], route_class=SignInRoute)


class User(BaseModel):
    id: UUID
    email: str
    display_name: str | None
    status: str
    must_change_password: bool
    roles: list[str]
    sso: bool
    created_at: datetime


class RoleGrant(BaseModel):
    role: str = Field(pattern="^(" + "|".join(ROLES) + ")$")
    scope: str | None = Field(
        default=None, max_length=63, description="Area for area_owner, team for team_admin."
    )


class GrantedRole(BaseModel):
    id: UUID


class StatusRequest(BaseModel):
    status: Literal["active", "suspended"]


@router.get(
    "",
    summary="List all users",
    response_model=list[User],
    responses=responses(401, 403),
)
async def list_users(
    conn: UserConnection,
) -> list[User]:
    return [User(**r) for r in await conn.fetch("select * from api.list_all_users()")]


@router.post(
    "/{user_id}/roles",
    summary="Grant a role",
    status_code=201,
    response_model=GrantedRole,
    responses=responses(401, 403, 404, 409, 422),
)
async def grant_role(
    user_id: UUID,
    body: RoleGrant,
    conn: UserConnection,
) -> GrantedRole:
    grant_id = await conn.fetchval(
        "select api.grant_role($1, $2, $3)", user_id, body.role, body.scope
    )
    return GrantedRole(id=grant_id)


@router.delete(
    "/{user_id}/roles/{role}",
    summary="Revoke a role (scope as a query parameter for area_owner and team_admin)",
    status_code=204,
    response_class=Response,
    responses=responses(401, 403, 404, 422),
)
async def revoke_role(
    user_id: UUID,
    role: str,
    conn: UserConnection,
    scope: str | None = None,
) -> Response:
    await conn.execute("select api.revoke_role($1, $2, $3)", user_id, role, scope)
    return Response(status_code=204)


@router.patch(
    "/{user_id}/status",
    summary="Suspend or reactivate a user (suspension ends their sessions and revokes their "
    "personal keys, for good)",
    status_code=204,
    response_class=Response,
    responses=responses(401, 403, 404, 422),
)
async def set_status(
    user_id: UUID,
    body: StatusRequest,
    conn: UserConnection,
) -> Response:
    await conn.execute("select api.set_user_status($1, $2)", user_id, body.status)
    return Response(status_code=204)

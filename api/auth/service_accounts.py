"""Service accounts: non-human principals of a team. They hold API keys, never a session."""

from datetime import datetime
from typing import Literal
from uuid import UUID

from fastapi import APIRouter, Response
from pydantic import BaseModel, Field

from api.auth.deps import Slug, UserConnection
from api.auth.errors import responses
from api.request_bodies import SignInRoute

router = APIRouter(prefix="/service-accounts", tags=["service accounts"], route_class=SignInRoute)


class ServiceAccountRequest(BaseModel):
    team: Slug
    name: Slug
    key_expires_at: datetime | None = None


class IssuedKey(BaseModel):
    id: UUID
    key: str = Field(description="The sk-aigw- key, shown once; only its digest is stored.")
    prefix: str


class CreatedServiceAccount(BaseModel):
    id: UUID
    team: str
    name: str
    api_key: IssuedKey


class ServiceAccount(BaseModel):
    id: UUID
    team: str
    name: str
    status: str
    created_at: datetime


class StatusRequest(BaseModel):
    status: Literal["active", "suspended", "revoked"]


class RotateRequest(BaseModel):
    grace_minutes: int = Field(
        default=0,
        ge=0,
        le=10080,
        description="How long the old keys keep working (0: revoked at once).",
    )


class RotatedKey(IssuedKey):
    old_keys_expire_at: datetime


@router.post(
    "",
    summary="Create a service account and its first API key",
    status_code=201,
    response_model=CreatedServiceAccount,
    responses=responses(401, 403, 404, 409, 422),
)
async def create_service_account(
    body: ServiceAccountRequest,
    response: Response,
    conn: UserConnection,
) -> CreatedServiceAccount:
    response.headers["Cache-Control"] = "no-store"  # it carries the key
    account_id = await conn.fetchval(
        "select api.create_service_account($1, $2)", body.team, body.name
    )
    key = await conn.fetchrow(
        "select * from api.issue_key($1, $2, $3, $4)",
        body.team,
        body.name,
        account_id,
        body.key_expires_at,
    )
    return CreatedServiceAccount(
        id=account_id, team=body.team, name=body.name, api_key=IssuedKey(**key)
    )


@router.get(
    "",
    summary="List the service accounts of the teams you manage",
    response_model=list[ServiceAccount],
    responses=responses(401, 403),
)
async def list_service_accounts(
    conn: UserConnection,
) -> list[ServiceAccount]:
    rows = await conn.fetch(
        "select id, team, name, status, created_at from api.list_service_accounts()"
    )
    return [ServiceAccount(**r) for r in rows]


@router.patch(
    "/{account_id}/status",
    summary="Suspend, reactivate or revoke a service account (its keys follow at once)",
    status_code=204,
    response_class=Response,
    responses=responses(401, 403, 404, 422),
)
async def set_status(
    account_id: UUID,
    body: StatusRequest,
    conn: UserConnection,
) -> Response:
    await conn.execute("select api.set_service_account_status($1, $2)", account_id, body.status)
    return Response(status_code=204)


@router.post(
    "/{account_id}/rotate-key",
    summary="Issue a new API key and retire the old ones (optionally after a grace period)",
    response_model=RotatedKey,
    responses=responses(401, 403, 404, 422),
)
async def rotate_key(
    account_id: UUID,
    response: Response,
    conn: UserConnection,
    body: RotateRequest | None = None,
) -> RotatedKey:
    response.headers["Cache-Control"] = "no-store"  # it carries the key
    grace = body.grace_minutes if body else 0
    row = await conn.fetchrow(
        "select * from api.rotate_service_account_key($1, $2)", account_id, grace
    )
    return RotatedKey(**row)

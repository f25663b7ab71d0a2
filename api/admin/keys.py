"""/admin/api-keys: issue, list, limit and revoke sk-aigw- keys (the API Keys page)."""

import uuid
from datetime import datetime
from typing import Literal

from fastapi import APIRouter, Response, status
from pydantic import BaseModel, Field

from api.admin.common import ERROR_RESPONSES, Body, Connection, Int32, Slug, as_dicts
from api.keys import Scope
from api.request_bodies import AdminRoute

router = APIRouter(
    prefix="/api-keys", tags=["admin: api keys"], responses=ERROR_RESPONSES, route_class=AdminRoute
)


class ApiKey(BaseModel):
    id: uuid.UUID
    prefix: str
    name: str
    team: str
    owner_email: str | None
    service_account: str | None
    scopes: list[str]
    status: Literal["active", "revoked", "expired"]
    expires_at: datetime | None
    last_used_at: datetime | None
    created_at: datetime


class NewKey(Body):
    team: str
    name: Slug
    service_account_id: uuid.UUID | None = None
    expires_at: datetime | None = None
    scopes: list[Scope] | None = Field(
        default=None,
        min_length=1,
        description="What the key may call: inference (chat completions, Anthropic messages, "
        "count_tokens), embeddings (/v1/embeddings). Omitted: both.",
    )


class IssuedKey(BaseModel):
    id: uuid.UUID
    key: str = Field(description="The key itself: shown this once, stored only as a digest.")
    prefix: str


class KeyLimits(Body):
    rpm_limit: Int32 | None = Field(description="Requests per minute; null: the team's only.")
    tpm_limit: Int32 | None = Field(description="Tokens per minute; null: the team's only.")


@router.get("", summary="List the keys you can see (never the keys themselves)")
async def list_keys(conn: Connection, team: str | None = None) -> list[ApiKey]:
    return as_dicts(await conn.fetch("select * from api.list_keys($1)", team))


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    summary="Issue a key: a team key (team admins) or a personal one (developers)",
)
async def issue_key(body: NewKey, conn: Connection, response: Response) -> IssuedKey:
    row = await conn.fetchrow(
        "select * from api.issue_key($1, $2, $3, $4, $5)",
        body.team,
        body.name,
        body.service_account_id,
        body.expires_at,
        body.scopes,
    )
    # The only response that carries a key: no cache along the way may keep it.
    response.headers["Cache-Control"] = "no-store"
    return IssuedKey(**dict(row))


@router.put(
    "/{key_id}/limits",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Set a key's own rate limits (team admins and above)",
)
async def set_key_limits(key_id: uuid.UUID, body: KeyLimits, conn: Connection) -> Response:
    await conn.execute(
        "select api.set_key_limits($1, $2, $3)", key_id, body.rpm_limit, body.tpm_limit
    )
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.delete(
    "/{key_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Revoke a key (team admins; developers their own)",
)
async def revoke_key(key_id: uuid.UUID, conn: Connection) -> Response:
    await conn.execute("select api.revoke_key($1)", key_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)

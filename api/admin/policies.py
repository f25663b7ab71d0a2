"""/admin/policies: per-team model allow-lists and rate limits (the Policies page)."""

from datetime import datetime

from fastapi import APIRouter, Response, status
from pydantic import BaseModel, Field

from api.admin.common import ERROR_RESPONSES, Body, Connection, Int32, as_dicts
from api.request_bodies import AdminRoute

router = APIRouter(
    prefix="/policies", tags=["admin: policies"], responses=ERROR_RESPONSES, route_class=AdminRoute
)


class TeamPolicy(BaseModel):
    team: str
    allowed_models: list[str] | None
    rpm_limit: int | None
    tpm_limit: int | None
    updated_at: datetime


class PolicyChange(Body):
    # Required although nullable: PUT replaces the whole policy, so a field left out by
    # mistake must not silently lift a limit.
    allowed_models: list[str] | None = Field(
        description="Models the team may call; null: every enabled model; []: none."
    )
    rpm_limit: Int32 | None = Field(description="Requests per minute; null: no limit.")
    tpm_limit: Int32 | None = Field(description="Tokens per minute; null: no limit.")


@router.get("", summary="List the policies of the teams you can see")
async def list_policies(conn: Connection) -> list[TeamPolicy]:
    return as_dicts(await conn.fetch("select * from api.list_team_policies()"))


@router.put(
    "/{team}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Set a team's allow-list and rate limits (platform admins; area owners)",
)
async def set_policy(team: str, body: PolicyChange, conn: Connection) -> Response:
    await conn.execute(
        "select api.set_team_policy($1, $2, $3, $4)",
        team,
        body.allowed_models,
        body.rpm_limit,
        body.tpm_limit,
    )
    return Response(status_code=status.HTTP_204_NO_CONTENT)

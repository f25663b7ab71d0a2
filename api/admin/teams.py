"""/admin/teams: create, list, rename and delete teams (the Teams page; spend limits are
in budgets.py)."""

import uuid
from datetime import datetime

from fastapi import APIRouter, Response, status
from pydantic import BaseModel

from api.admin.common import ERROR_RESPONSES, Body, Connection, Created, Slug, as_dicts
from api.request_bodies import AdminRoute

router = APIRouter(
    prefix="/teams", tags=["admin: teams"], responses=ERROR_RESPONSES, route_class=AdminRoute
)


class Team(BaseModel):
    id: uuid.UUID
    name: str
    area: str | None
    member_count: int
    created_at: datetime


class NewTeam(Body):
    name: Slug
    area: str | None = None


class TeamChange(Body):
    name: Slug


@router.get("", summary="List the teams you can see")
async def list_teams(conn: Connection) -> list[Team]:
    return as_dicts(await conn.fetch("select * from api.list_teams()"))


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    summary="Create a team (platform admins; area owners in their area)",
)
async def create_team(body: NewTeam, conn: Connection) -> Created:
    return Created(id=await conn.fetchval("select api.create_team($1, $2)", body.name, body.area))


@router.patch(
    "/{name}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Rename a team (platform admins; area owners in their area)",
)
async def rename_team(name: str, body: TeamChange, conn: Connection) -> Response:
    await conn.execute("select api.rename_team($1, $2)", name, body.name)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.delete(
    "/{name}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Delete a team with its keys, budgets and policies (platform admins)",
)
async def delete_team(name: str, conn: Connection) -> Response:
    await conn.execute("select api.delete_team($1)", name)
    return Response(status_code=status.HTTP_204_NO_CONTENT)

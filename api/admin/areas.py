"""/admin/areas: business areas, which group teams (the Areas page)."""

import uuid
from datetime import datetime

from fastapi import APIRouter, status
from pydantic import BaseModel

from api.admin.common import ERROR_RESPONSES, Body, Connection, Created, Slug, as_dicts
from api.request_bodies import AdminRoute

router = APIRouter(
    prefix="/areas", tags=["admin: areas"], responses=ERROR_RESPONSES, route_class=AdminRoute
)


class Area(BaseModel):
    id: uuid.UUID
    name: str
    team_count: int
    created_at: datetime


class NewArea(Body):
    name: Slug


@router.get("", summary="List the areas you can see")
async def list_areas(conn: Connection) -> list[Area]:
    return as_dicts(await conn.fetch("select * from api.list_areas()"))


@router.post("", status_code=status.HTTP_201_CREATED, summary="Create an area (platform admins)")
async def create_area(body: NewArea, conn: Connection) -> Created:
    return Created(id=await conn.fetchval("select api.create_area($1)", body.name))

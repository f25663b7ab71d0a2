"""Spend limits: a team's hard limits in USD per period (the Teams page), and the budgets
of the teams you can see, with what has been spent this period."""

import uuid
from datetime import datetime
from typing import Literal

from fastapi import APIRouter, Response, status
from pydantic import BaseModel

from api.admin.common import ERROR_RESPONSES, Body, Connection, Created, Usd, as_dicts
from api.request_bodies import AdminRoute

router = APIRouter(tags=["admin: budgets"], responses=ERROR_RESPONSES, route_class=AdminRoute)


class Budget(BaseModel):
    id: uuid.UUID
    team: str
    scope: Literal["team", "key", "user"]
    api_key_prefix: str | None
    user_email: str | None
    period: Literal["day", "week", "month", "total"]
    hard_limit_usd: float
    spent_usd: float
    reserved_usd: float
    updated_at: datetime


class SpendLimit(Body):
    period: Literal["day", "week", "month", "total"]
    hard_limit_usd: Usd


@router.put(
    "/teams/{name}/spend-limit",
    summary="Set a team's hard spend limit for a period (team admins and above)",
)
async def set_spend_limit(name: str, body: SpendLimit, conn: Connection) -> Created:
    budget_id = await conn.fetchval(
        "select api.set_budget($1, $2, $3)", name, body.period, body.hard_limit_usd
    )
    return Created(id=budget_id)


@router.get("/budgets", summary="List budgets with this period's spend")
async def list_budgets(conn: Connection, team: str | None = None) -> list[Budget]:
    return as_dicts(await conn.fetch("select * from api.list_budgets($1)", team))


@router.delete(
    "/budgets/{budget_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Remove a budget (team admins and above)",
)
async def delete_budget(budget_id: uuid.UUID, conn: Connection) -> Response:
    await conn.execute("select api.delete_budget($1)", budget_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)

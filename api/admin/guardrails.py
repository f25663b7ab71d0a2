"""/admin/guardrails: input/output safety rules, global or per team (the Guardrails page).

The registry only: the gateway does not enforce these rules yet.
"""

import json
import uuid
from datetime import datetime
from typing import Any, Literal

from fastapi import APIRouter, Response, status
from pydantic import BaseModel, Field, field_validator

from api.admin.common import ERROR_RESPONSES, Body, Connection, Created, Slug
from api.request_bodies import AdminRoute

router = APIRouter(
    prefix="/guardrails",
    tags=["admin: guardrails"],
    responses=ERROR_RESPONSES,
    route_class=AdminRoute,
)

Stage = Literal["input", "output"]
Kind = Literal["block_pattern", "max_input_tokens", "pii_redact"]
Action = Literal["block", "redact", "flag"]


class Guardrail(BaseModel):
    id: uuid.UUID
    team: str | None = Field(description="null: a global rule, applied to every team")
    name: str
    stage: Stage
    kind: Kind
    config: dict[str, Any]
    action: Action
    enabled: bool
    created_by: str | None
    created_at: datetime
    updated_at: datetime

    @field_validator("config", mode="before")
    @classmethod
    def parse_jsonb(cls, value: Any) -> Any:
        # asyncpg hands jsonb over as text
        return json.loads(value) if isinstance(value, str) else value


class GuardrailChange(Body):
    team: str | None = Field(default=None, description="null: a global rule (platform admins)")
    name: Slug
    stage: Stage
    kind: Kind
    config: dict[str, Any] = Field(
        description='block_pattern: {"pattern": "<regex>", "case_sensitive": false}; '
        'max_input_tokens: {"max_tokens": 8000}; pii_redact: {"entities": ["email", "phone", '
        '"credit_card", "iban", "ip_address"]}'
    )
    action: Action
    enabled: bool = True


@router.get("", summary="List guardrails; with a team, the rules that apply to it")
async def list_guardrails(conn: Connection, team: str | None = None) -> list[Guardrail]:
    rows = await conn.fetch("select * from api.list_guardrails($1)", team)
    return [Guardrail.model_validate(dict(r)) for r in rows]


@router.post(
    "",
    summary="Create or replace a guardrail by team and name (platform admins; area owners)",
)
async def set_guardrail(body: GuardrailChange, conn: Connection) -> Created:
    rule_id = await conn.fetchval(
        "select api.set_guardrail($1, $2, $3, $4, $5::jsonb, $6, $7)",
        body.team,
        body.name,
        body.stage,
        body.kind,
        json.dumps(body.config),
        body.action,
        body.enabled,
    )
    return Created(id=rule_id)


@router.delete(
    "/{rule_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Remove a guardrail (platform admins; area owners)",
)
async def delete_guardrail(rule_id: uuid.UUID, conn: Connection) -> Response:
    await conn.execute("select api.delete_guardrail($1)", rule_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)

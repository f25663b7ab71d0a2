"""/admin/guardrails: input/output safety rules, global or per team (the Guardrails page).

Every gateway enforces these rules on every model call (api/gateway/guardrails.py) and
reloads them as soon as one is set or removed. A rule is checked here with the gateway's
own code (api/guardrails/rules.py: its patterns compiled with RE2) before it is written,
so an invalid or oversized pattern is a 422 and nothing is written; api.set_guardrail
then checks it again for psql callers, and decides who may write it.
"""

import json
import uuid
from datetime import datetime
from typing import Any, Literal

from fastapi import APIRouter, Response, status
from pydantic import BaseModel, Field, field_validator

from api.admin.common import ERROR_RESPONSES, Body, Connection, Created, Slug
from api.auth.errors import ApiProblem
from api.guardrails import rules
from api.request_bodies import AdminRoute

router = APIRouter(
    prefix="/guardrails",
    tags=["admin: guardrails"],
    responses=ERROR_RESPONSES,
    route_class=AdminRoute,
)

Stage = Literal["input", "output"]
Kind = Literal["regex", "block_pattern", "deny_list", "pii_redact", "secrets", "max_input_tokens"]
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
        description='regex and block_pattern: {"pattern": "<RE2 regex>", "case_sensitive": '
        'false}; deny_list: {"terms": ["…"], "case_sensitive": false, "whole_words": true}; '
        'pii_redact: {"entities": ["email", "credit_card", "iban", "us_ssn", "uk_nino", '
        '"phone", "ip_address"]}; secrets: {"types": ["aws_access_key", "aws_secret_key", '
        '"private_key", "github_token", "slack_token", "slack_webhook", "stripe_key", '
        '"openai_key", "anthropic_key", "aigw_key", "jwt"]} or {} for all; '
        'max_input_tokens: {"max_tokens": 8000} (input only)'
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
    try:
        # What the gateway would compile, compiled now: RE2 is the judge of a pattern.
        rules.check(body.stage, body.kind, body.config, body.action)
    except rules.InvalidRule as exc:
        raise ApiProblem(422, str(exc), "invalid_guardrail") from None
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

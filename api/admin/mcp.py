"""/admin/mcp: the Model Context Protocol server registry (the MCP Servers page)."""

import uuid
from datetime import datetime

from fastapi import APIRouter, Response, status
from pydantic import BaseModel, Field

from api.admin.common import ERROR_RESPONSES, Body, Connection, Created, Slug, as_dicts
from api.request_bodies import AdminRoute

router = APIRouter(
    prefix="/mcp", tags=["admin: mcp servers"], responses=ERROR_RESPONSES, route_class=AdminRoute
)


class McpServer(BaseModel):
    id: uuid.UUID
    name: str
    url: str
    description: str | None
    team: str | None = Field(description="null: available to every team")
    enabled: bool
    created_by: str | None
    created_at: datetime
    updated_at: datetime


class NewMcpServer(Body):
    name: Slug
    url: str = Field(
        max_length=2048, description="https://…, or http://localhost… for a local server"
    )
    description: str | None = Field(default=None, max_length=500)
    team: str | None = Field(default=None, description="null: shared (platform admins)")
    enabled: bool = True


class McpServerChange(Body):
    enabled: bool


@router.get("", summary="List the MCP servers you can see")
async def list_mcp_servers(conn: Connection) -> list[McpServer]:
    return as_dicts(await conn.fetch("select * from api.list_mcp_servers()"))


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    summary="Register an MCP server (platform admins; area owners for their teams)",
)
async def register_mcp_server(body: NewMcpServer, conn: Connection) -> Created:
    server_id = await conn.fetchval(
        "select api.register_mcp_server($1, $2, $3, $4, $5)",
        body.name,
        body.url,
        body.description,
        body.team,
        body.enabled,
    )
    return Created(id=server_id)


@router.patch(
    "/{name}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Enable or disable an MCP server (platform admins; area owners)",
)
async def set_mcp_server_enabled(name: str, body: McpServerChange, conn: Connection) -> Response:
    await conn.execute("select api.set_mcp_server_enabled($1, $2)", name, body.enabled)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.delete(
    "/{name}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Remove an MCP server (platform admins; area owners)",
)
async def delete_mcp_server(name: str, conn: Connection) -> Response:
    await conn.execute("select api.delete_mcp_server($1)", name)
    return Response(status_code=status.HTTP_204_NO_CONTENT)

"""/admin/models: the model registry; enable or disable a model for everyone (the Model
Registry page)."""

from fastapi import APIRouter, Response, status
from pydantic import BaseModel

from api.admin.common import ERROR_RESPONSES, Body, Connection, as_dicts
from api.request_bodies import AdminRoute

router = APIRouter(
    prefix="/models", tags=["admin: models"], responses=ERROR_RESPONSES, route_class=AdminRoute
)


class Model(BaseModel):
    name: str
    provider: str
    enabled: bool
    max_output_tokens: int
    context_window_tokens: int
    input_usd_per_mtok: float | None
    output_usd_per_mtok: float | None
    cached_input_usd_per_mtok: float | None


class ModelChange(Body):
    enabled: bool


@router.get("", summary="List the model registry with list prices")
async def list_models(conn: Connection) -> list[Model]:
    return as_dicts(await conn.fetch("select * from api.list_models()"))


@router.patch(
    "/{name}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Enable or disable a model (platform admins)",
)
async def set_model_enabled(name: str, body: ModelChange, conn: Connection) -> Response:
    await conn.execute("select api.set_model_enabled($1, $2)", name, body.enabled)
    return Response(status_code=status.HTTP_204_NO_CONTENT)

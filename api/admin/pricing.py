"""/admin/pricing: per-model prices in USD per million tokens (the Pricing page)."""

from decimal import Decimal

from fastapi import APIRouter, Response, status
from pydantic import BaseModel

from api.admin.common import ERROR_RESPONSES, Body, Connection, Usd, as_dicts
from api.request_bodies import AdminRoute

router = APIRouter(
    prefix="/pricing", tags=["admin: pricing"], responses=ERROR_RESPONSES, route_class=AdminRoute
)


class Price(BaseModel):
    model: str
    input_usd_per_mtok: float | None
    output_usd_per_mtok: float | None
    cached_input_usd_per_mtok: float | None


class PriceChange(Body):
    input_usd_per_mtok: Usd
    output_usd_per_mtok: Usd
    cached_input_usd_per_mtok: Usd = Decimal(0)


@router.get("", summary="List every model's price (null: not priced yet)")
async def list_prices(conn: Connection) -> list[Price]:
    return as_dicts(
        await conn.fetch(
            "select name as model, input_usd_per_mtok, output_usd_per_mtok,"
            " cached_input_usd_per_mtok from api.list_models()"
        )
    )


@router.put(
    "/{model}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Set a model's price (platform admins)",
)
async def set_price(model: str, body: PriceChange, conn: Connection) -> Response:
    await conn.execute(
        "select api.set_price($1, $2, $3, $4)",
        model,
        body.input_usd_per_mtok,
        body.output_usd_per_mtok,
        body.cached_input_usd_per_mtok,
    )
    return Response(status_code=status.HTTP_204_NO_CONTENT)

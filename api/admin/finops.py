"""/admin/finops: the cost mart as a FinOps FOCUS 1.2 file (api/finops.py), per month.

Who sees what is api.focus_charges's decision: a platform admin every team, a team or
area admin the teams they manage, anyone else their own requests. A month without data
is a valid file with the header (CSV) or the schema (Parquet) and no rows.
"""

from typing import Annotated

from fastapi import APIRouter, Query, Response

from api import finops
from api.admin.common import ERROR_RESPONSES, Connection
from api.auth.errors import ApiProblem
from api.request_bodies import AdminRoute

router = APIRouter(
    prefix="/finops", tags=["admin: finops"], responses=ERROR_RESPONSES, route_class=AdminRoute
)


@router.get(
    "/focus",
    summary="Export a month's AI cost as FinOps FOCUS 1.2 (CSV or Parquet)",
    response_class=Response,
    responses={200: {"content": {t: {} for t in finops.MEDIA_TYPES.values()}}},
)
async def export_focus(
    conn: Connection,
    month: Annotated[str, Query(description="The billing month, YYYY-MM (UTC)", max_length=7)],
    format: Annotated[str, Query(description="csv or parquet", max_length=10)] = "csv",
) -> Response:
    try:
        start, end = finops.month_range(month)
        fmt = finops.check_format(format)
    except finops.ExportError as exc:
        raise ApiProblem(422, str(exc), "invalid_export") from None
    rows = [tuple(r) for r in await conn.fetch(finops.QUERY, start, end)]
    return Response(
        finops.render(rows, fmt),
        media_type=finops.MEDIA_TYPES[fmt],
        headers={
            "content-disposition": f'attachment; filename="{finops.filename(month, fmt)}"',
            "x-focus-version": finops.FOCUS_VERSION,
        },
    )

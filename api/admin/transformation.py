"""/admin/transformation: the AI-transformation view's on-demand actions.

POST /admin/transformation/classify rebuilds the session marts now (classification,
weekly scores, leaderboards, achievements, laggards) instead of waiting for the next
background refresh. Platform admins only, as api.authorize_classification decides.
"""

from fastapi import APIRouter, Request
from pydantic import BaseModel

from api import analytics
from api.admin.common import ERROR_RESPONSES, Connection
from api.auth.errors import ApiProblem, responses
from api.request_bodies import AdminRoute

router = APIRouter(
    prefix="/transformation",
    tags=["admin: transformation"],
    responses={**ERROR_RESPONSES, **responses(503)},
    route_class=AdminRoute,
)


class ClassifyReport(BaseModel):
    selector: str
    elapsed_s: float
    models: list[str]
    tests_passed: int
    sessions: dict[str, int]  # sessions of the last 30 days by class


@router.post("/classify", summary="Classify sessions now (platform admins)")
async def classify(request: Request, conn: Connection) -> ClassifyReport:
    await conn.execute("select api.authorize_classification()")
    try:
        result = await analytics.classify_now(request.app.state.database_url)
    except analytics.BuildBusy as exc:
        raise ApiProblem(409, f"{exc}; try again in a moment", code="build_running") from None
    except analytics.BuildFailed as exc:
        raise ApiProblem(503, str(exc), code="build_failed") from None
    except analytics.AnalyticsError as exc:
        raise ApiProblem(503, str(exc), code="analytics_unavailable") from None
    rows = await conn.fetch(
        "select session_class, session_count from api.analytics_session_classes()"
    )
    summary = result.summary()
    return ClassifyReport(
        selector=analytics.CLASSIFICATION_SELECTOR,
        elapsed_s=summary["elapsed_s"],
        models=summary["models"],
        tests_passed=summary["counts"].get("pass", 0),
        sessions={"interactive": 0, "agentic": 0, "autonomous": 0}
        | {r["session_class"]: r["session_count"] for r in rows},
    )

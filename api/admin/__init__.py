"""The admin API under /admin: one small router per page of the admin portal.

Every endpoint is one api.* call in the signed-in user's transaction; row-level security
and the functions decide what each role may see and do.
"""

from fastapi import APIRouter

from api.admin import (
    areas,
    budgets,
    finops,
    guardrails,
    keys,
    mcp,
    models,
    policies,
    pricing,
    teams,
    transformation,
)

router = APIRouter(prefix="/admin")
for module in (
    areas,
    teams,
    budgets,
    keys,
    policies,
    guardrails,
    pricing,
    models,
    mcp,
    transformation,
    finops,
):
    router.include_router(module.router)

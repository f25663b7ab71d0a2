"""The admin portal's pages at the product's paths: /admin (Dashboard), /admin/users,
/admin/teams, /admin/areas, /admin/api-keys, /admin/policies, /admin/guardrails,
/admin/pricing, /admin/models, /admin/mcp, /admin/audit, /admin/system.

Each page is a few api.* calls in the signed-in user's transaction, the same calls the
JSON routes make. Row-level security decides which rows come back, and the functions
refuse what a role may not do; the templates show write controls only to roles that hold
them (`PageUser.has`), which spares a viewer buttons that would only be refused.
"""

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import get_args
from urllib.parse import urlencode

import orjson
from fastapi import APIRouter, Request
from fastapi.responses import Response

from api import audit
from api.admin import guardrails as guardrail_routes
from api.auth import invitations, service_accounts
from api.guardrails import rules as guardrail_rules
from api.keys import SCOPES as KEY_SCOPES
from portals.web import (
    PAGE_SIZE,
    Form,
    FormError,
    Pages,
    PageUser,
    page_number,
    paged,
    render,
    search_text,
    see_other,
)

router = APIRouter()
pages = Pages(router)

WINDOWS = {"1h": timedelta(hours=1), "24h": timedelta(days=1), "7d": timedelta(days=7)}
SLUG = 63
ROLES = invitations.ROLES
PERIODS = ("day", "week", "month", "total")
SCOPES = tuple(sorted(KEY_SCOPES))


def pool(request: Request):
    return request.app.state.pool


def uuid_of(form: Form, name: str, label: str) -> uuid.UUID:
    try:
        return uuid.UUID(form.get(name, label, max_length=36))
    except ValueError:
        raise FormError(f"{label}: not a valid id.") from None


def decimal_of(form: Form, name: str, label: str, *, required: bool = True) -> Decimal | None:
    raw = form.get(name, label, required=required, max_length=20)
    if raw is None:
        return None
    try:
        value = Decimal(raw)
    except InvalidOperation:
        raise FormError(f"{label}: not a number.") from None
    if not value.is_finite() or abs(value) >= Decimal("100000000"):
        raise FormError(f"{label}: out of range.")
    return value


def int_of(form: Form, name: str, label: str, *, required: bool = False) -> int | None:
    raw = form.get(name, label, required=required, max_length=10)
    if raw is None:
        return None
    if not raw.isdigit() or int(raw) > 2**31 - 1:
        raise FormError(f"{label}: a whole number from 0 to 2147483647.")
    return int(raw)


# -- Dashboard -----------------------------------------------------------------------------


async def dashboard_figures(request: Request, user: PageUser) -> dict:
    window = request.query_params.get("window", "24h")
    window = window if window in WINDOWS else "24h"
    since = datetime.now(UTC) - WINDOWS[window]
    async with user.transaction(pool(request)) as conn:
        summary = dict(await conn.fetchrow("select * from api.request_summary($1)", since))
        recent = await conn.fetch(
            "select started_at, model_requested, status, cache, cost_usd, latency_ms, "
            "(select t.name from api.list_teams() t where t.id = e.team_id) as team "
            "from api.list_request_events(null, $1, 10) e",
            since,
        )
    looked_up = summary["cache_hits"] + summary["cache_misses"]
    summary["hit_rate"] = summary["cache_hits"] / looked_up if looked_up else None
    return {"summary": summary, "recent": recent, "window": window, "windows": list(WINDOWS)}


@pages.get("/admin")
async def dashboard(request: Request, user: PageUser) -> Response:
    figures = await dashboard_figures(request, user)
    return render(request, "admin/dashboard.html", user, **figures)


@pages.get("/admin/dashboard/figures")
async def dashboard_fragment(request: Request, user: PageUser) -> Response:
    """What htmx fetches every few seconds: the figures alone."""
    figures = await dashboard_figures(request, user)
    return render(request, "admin/_figures.html", user, **figures)


# -- Users & Access ------------------------------------------------------------------------


async def users_view(
    request: Request, user: PageUser, *, error=None, status=200, form=None, **shown
) -> Response:
    q, number = search_text(request), page_number(request)
    async with user.transaction(pool(request)) as conn:
        source = (
            "select * from api.list_all_users()"
            if user.is_platform_admin
            else "select *, null::boolean as sso from api.list_users()"
        )
        people = await paged(
            conn, source, search=("email", "display_name"), order="s.email", query=q, number=number
        )
        invites = (
            await conn.fetch(
                "select * from api.list_invitations() where status = 'pending' "
                "order by created_at desc limit 50"
            )
            if user.has("area_owner", "team_admin")
            else []
        )
        accounts = (
            await paged(
                conn,
                "select * from api.list_service_accounts()",
                search=("team", "name"),
                order="s.team, s.name",
                query=search_text(request, "sa_q"),
                number=page_number(request, "sa_page"),
            )
            if user.has("team_admin")
            else None
        )
        teams = [r["name"] for r in await conn.fetch("select name from api.list_teams()")]
    return render(
        request,
        "admin/users.html",
        user,
        status=status,
        error=error,
        form=form or {},
        people=people,
        invites=invites,
        accounts=accounts,
        teams=sorted(teams),
        roles=ROLES,
        **shown,
    )


@pages.get("/admin/users")
async def users(request: Request, user: PageUser) -> Response:
    return await users_view(request, user)


@pages.post("/admin/users/invite", view=users_view)
async def invite(request: Request, user: PageUser, form: Form) -> Response:
    email = form.get("email", "Email")
    role = form.get("role", "Role", max_length=20)
    if role not in ROLES:
        raise FormError("Role: choose one of the list.")
    scope = form.get("scope", "Team or area", required=False, max_length=SLUG)
    try:
        body = invitations.InvitationRequest(email=email, role=role, scope=scope)
    except ValueError:
        raise FormError("Email: not an email address.") from None
    holder = Response()
    async with user.transaction(pool(request)) as conn:
        created = await invitations.create_invitation(body, request, holder, conn)
    # Shown once, on this response only (no redirect: the link is not kept anywhere).
    return await users_view(request, user, invited=created, invited_email=email)


@pages.post("/admin/users/invitations/revoke", view=users_view)
async def revoke_invitation(request: Request, user: PageUser, form: Form) -> Response:
    invitation_id = uuid_of(form, "id", "Invitation")
    async with user.transaction(pool(request)) as conn:
        await conn.execute("select api.revoke_invitation($1)", invitation_id)
    return see_other(request, "/admin/users", "Invitation revoked.")


@pages.post("/admin/users/status", view=users_view)
async def set_user_status(request: Request, user: PageUser, form: Form) -> Response:
    user_id = uuid_of(form, "id", "User")
    new = form.get("status", "Status", max_length=10)
    if new not in ("active", "suspended"):
        raise FormError("Status: active or suspended.")
    async with user.transaction(pool(request)) as conn:
        await conn.execute("select api.set_user_status($1, $2)", user_id, new)
    done = "suspended" if new == "suspended" else "reactivated"
    return see_other(request, "/admin/users", f"User {done}.")


@pages.post("/admin/users/roles", view=users_view)
async def grant_role(request: Request, user: PageUser, form: Form) -> Response:
    user_id = uuid_of(form, "id", "User")
    role = form.get("role", "Role", max_length=20)
    if role not in ROLES:
        raise FormError("Role: choose one of the list.")
    scope = form.get("scope", "Team or area", required=False, max_length=SLUG)
    async with user.transaction(pool(request)) as conn:
        await conn.execute("select api.grant_role($1, $2, $3)", user_id, role, scope)
    return see_other(request, "/admin/users", "Role granted.")


@pages.post("/admin/users/roles/revoke", view=users_view)
async def revoke_role(request: Request, user: PageUser, form: Form) -> Response:
    user_id = uuid_of(form, "id", "User")
    grant = form.get("grant", "Role", max_length=20 + 1 + SLUG)
    role, _, scope = grant.partition(":")
    if role not in ROLES:
        raise FormError("Role: not one of the roles.")
    async with user.transaction(pool(request)) as conn:
        await conn.execute("select api.revoke_role($1, $2, $3)", user_id, role, scope or None)
    return see_other(request, "/admin/users", f"Role {grant} revoked.")


@pages.post("/admin/users/service-accounts", view=users_view)
async def create_service_account(request: Request, user: PageUser, form: Form) -> Response:
    team = form.get("team", "Team", max_length=SLUG)
    name = form.get("name", "Name", max_length=SLUG)
    try:
        body = service_accounts.ServiceAccountRequest(team=team, name=name)
    except ValueError:
        raise FormError(
            "Team and name: lowercase letters, digits, '.', '_' or '-' (at most 63)."
        ) from None
    async with user.transaction(pool(request)) as conn:
        created = await service_accounts.create_service_account(body, Response(), conn)
    return await users_view(request, user, new_account=created)


# -- Teams ---------------------------------------------------------------------------------


async def teams_view(
    request: Request, user: PageUser, *, error=None, status=200, form=None
) -> Response:
    q, number = search_text(request), page_number(request)
    async with user.transaction(pool(request)) as conn:
        teams = await paged(
            conn,
            "select * from api.list_teams()",
            search=("name", "area"),
            order="s.name",
            query=q,
            number=number,
        )
        names = [t["name"] for t in teams.rows]
        budgets = await conn.fetch(
            "select * from api.list_budgets() where scope = 'team' and team = any($1::text[]) "
            "order by team, period",
            names,
        )
        areas = [r["name"] for r in await conn.fetch("select name from api.list_areas()")]
    by_team: dict[str, list] = {}
    for budget in budgets:
        by_team.setdefault(budget["team"], []).append(budget)
    return render(
        request,
        "admin/teams.html",
        user,
        status=status,
        error=error,
        form=form or {},
        teams=teams,
        budgets=by_team,
        areas=sorted(areas),
        periods=PERIODS,
    )


@pages.get("/admin/teams")
async def teams(request: Request, user: PageUser) -> Response:
    return await teams_view(request, user)


@pages.post("/admin/teams", view=teams_view)
async def create_team(request: Request, user: PageUser, form: Form) -> Response:
    name = form.get("name", "Team name", max_length=SLUG)
    area = form.get("area", "Area", required=False, max_length=SLUG)
    async with user.transaction(pool(request)) as conn:
        await conn.fetchval("select api.create_team($1, $2)", name, area)
    return see_other(request, "/admin/teams", f"Team {name} created.")


@pages.post("/admin/teams/rename", view=teams_view)
async def rename_team(request: Request, user: PageUser, form: Form) -> Response:
    name = form.get("team", "Team", max_length=SLUG)
    new = form.get("name", "New name", max_length=SLUG)
    async with user.transaction(pool(request)) as conn:
        await conn.execute("select api.rename_team($1, $2)", name, new)
    return see_other(request, "/admin/teams", f"Team {name} renamed to {new}.")


@pages.post("/admin/teams/spend-limit", view=teams_view)
async def spend_limit(request: Request, user: PageUser, form: Form) -> Response:
    team = form.get("team", "Team", max_length=SLUG)
    period = form.get("period", "Period", max_length=10)
    if period not in PERIODS:
        raise FormError("Period: day, week, month or total.")
    limit = decimal_of(form, "hard_limit_usd", "Limit (USD)")
    async with user.transaction(pool(request)) as conn:
        await conn.fetchval("select api.set_budget($1, $2, $3)", team, period, limit)
    return see_other(request, "/admin/teams", f"Spend limit of {team} set.")


# -- Areas ---------------------------------------------------------------------------------


async def areas_view(
    request: Request, user: PageUser, *, error=None, status=200, form=None
) -> Response:
    q, number = search_text(request), page_number(request)
    async with user.transaction(pool(request)) as conn:
        areas = await paged(
            conn,
            "select * from api.list_areas()",
            search=("name",),
            order="s.name",
            query=q,
            number=number,
        )
    return render(
        request, "admin/areas.html", user, status=status, error=error, form=form or {}, areas=areas
    )


@pages.get("/admin/areas")
async def areas(request: Request, user: PageUser) -> Response:
    return await areas_view(request, user)


@pages.post("/admin/areas", view=areas_view)
async def create_area(request: Request, user: PageUser, form: Form) -> Response:
    name = form.get("name", "Area name", max_length=SLUG)
    async with user.transaction(pool(request)) as conn:
        await conn.fetchval("select api.create_area($1)", name)
    return see_other(request, "/admin/areas", f"Area {name} created.")


# -- API Keys ------------------------------------------------------------------------------


async def keys_view(
    request: Request,
    user: PageUser,
    *,
    error=None,
    status=200,
    form=None,
    issued=None,
    template="admin/api_keys.html",
) -> Response:
    q, number = search_text(request), page_number(request)
    state = request.query_params.get("status", "")
    state = state if state in ("active", "revoked", "expired") else ""
    async with user.transaction(pool(request)) as conn:
        keys = await paged(
            conn,
            "select * from api.list_keys() where ($1 = '' or status = $1)",
            (state,),
            search=("name", "team", "prefix", "owner_email", "service_account"),
            order="s.created_at desc",
            query=q,
            number=number,
        )
        teams = [r["name"] for r in await conn.fetch("select name from api.list_teams()")]
    return render(
        request,
        template,
        user,
        status=status,
        error=error,
        form=form or {},
        keys=keys,
        state=state,
        teams=sorted(teams),
        scopes=SCOPES,
        issued=issued,
    )


@pages.get("/admin/api-keys")
async def api_keys(request: Request, user: PageUser) -> Response:
    return await keys_view(request, user)


async def issue(request: Request, user: PageUser, form: Form, view) -> Response:
    team = form.get("team", "Team", max_length=SLUG)
    name = form.get("name", "Key name", max_length=SLUG)
    scopes = [s for s in form.lists.get("scopes", []) if s]
    if any(s not in SCOPES for s in scopes):
        raise FormError("Scopes: choose from the list.")
    async with user.transaction(pool(request)) as conn:
        row = await conn.fetchrow(
            "select * from api.issue_key($1, $2, $3, $4, $5)",
            *(team, name, None, None, scopes or None),
        )
    # The key itself is on this response alone (Cache-Control: no-store), never stored.
    issued = {"key": row["key"], "prefix": row["prefix"], "team": team}
    return await view(request, user, issued=issued)


@pages.post("/admin/api-keys", view=keys_view)
async def issue_key(request: Request, user: PageUser, form: Form) -> Response:
    return await issue(request, user, form, keys_view)


async def revoke(request: Request, user: PageUser, form: Form, back: str) -> Response:
    key_id = uuid_of(form, "id", "Key")
    async with user.transaction(pool(request)) as conn:
        await conn.execute("select api.revoke_key($1)", key_id)
    return see_other(request, back, "Key revoked.")


@pages.post("/admin/api-keys/revoke", view=keys_view)
async def revoke_key(request: Request, user: PageUser, form: Form) -> Response:
    return await revoke(request, user, form, "/admin/api-keys")


# -- Policies ------------------------------------------------------------------------------

CACHE_MODES = ("off", "exact", "semantic")
CACHE_SCOPES = ("team", "user", "key")


async def policies_view(
    request: Request, user: PageUser, *, error=None, status=200, form=None
) -> Response:
    q, number = search_text(request), page_number(request)
    async with user.transaction(pool(request)) as conn:
        policies = await paged(
            conn,
            "select t.name as team, p.allowed_models, p.rpm_limit, p.tpm_limit, "
            "c.mode as cache_mode, c.scope as cache_scope, c.ttl_s as cache_ttl_s "
            "from api.list_teams() t "
            "left join api.list_team_policies() p on p.team = t.name "
            "left join api.list_cache_policies() c on c.team = t.name",
            search=("team",),
            order="s.team",
            query=q,
            number=number,
        )
        models = [r["name"] for r in await conn.fetch("select name from api.list_models()")]
    return render(
        request,
        "admin/policies.html",
        user,
        status=status,
        error=error,
        form=form or {},
        policies=policies,
        models=sorted(models),
        cache_modes=CACHE_MODES,
        cache_scopes=CACHE_SCOPES,
    )


@pages.get("/admin/policies")
async def policies(request: Request, user: PageUser) -> Response:
    return await policies_view(request, user)


@pages.post("/admin/policies", view=policies_view)
async def set_policy(request: Request, user: PageUser, form: Form) -> Response:
    team = form.get("team", "Team", max_length=SLUG)
    # "every" (no allow-list) unless models are ticked
    chosen = [m for m in form.lists.get("models", []) if m]
    if any(len(m) > 200 or "\x00" in m for m in chosen):
        raise FormError("Models: choose from the list.")
    allowed = None if form.values.get("allow") != "listed" else chosen
    rpm = int_of(form, "rpm_limit", "Requests per minute")
    tpm = int_of(form, "tpm_limit", "Tokens per minute")
    async with user.transaction(pool(request)) as conn:
        await conn.execute("select api.set_team_policy($1, $2, $3, $4)", team, allowed, rpm, tpm)
    return see_other(request, "/admin/policies", f"Policy of {team} saved.")


@pages.post("/admin/policies/cache", view=policies_view)
async def set_cache_policy(request: Request, user: PageUser, form: Form) -> Response:
    team = form.get("team", "Team", max_length=SLUG)
    mode = form.get("mode", "Cache mode", max_length=10)
    scope = form.get("scope", "Shared by", max_length=10)
    if mode not in CACHE_MODES or scope not in CACHE_SCOPES:
        raise FormError("Cache: choose a mode and who shares entries from the lists.")
    ttl = int_of(form, "ttl_s", "Time to live (s)", required=True)
    async with user.transaction(pool(request)) as conn:
        await conn.execute("select api.set_cache_policy($1, $2, $3, $4)", team, mode, scope, ttl)
    return see_other(request, "/admin/policies", f"Cache policy of {team} saved.")


# -- Guardrails ----------------------------------------------------------------------------

GUARDRAIL_KINDS = get_args(guardrail_routes.Kind)
GUARDRAIL_STAGES = get_args(guardrail_routes.Stage)
GUARDRAIL_ACTIONS = get_args(guardrail_routes.Action)


async def guardrails_view(
    request: Request, user: PageUser, *, error=None, status=200, form=None
) -> Response:
    q, number = search_text(request), page_number(request)
    async with user.transaction(pool(request)) as conn:
        rules_page = await paged(
            conn,
            "select * from api.list_guardrails()",
            search=("name", "team", "kind"),
            order="s.team nulls first, s.name",
            query=q,
            number=number,
        )
        teams = [r["name"] for r in await conn.fetch("select name from api.list_teams()")]
    return render(
        request,
        "admin/guardrails.html",
        user,
        status=status,
        error=error,
        form=form or {},
        rules=rules_page,
        teams=sorted(teams),
        kinds=GUARDRAIL_KINDS,
        stages=GUARDRAIL_STAGES,
        actions=GUARDRAIL_ACTIONS,
    )


@pages.get("/admin/guardrails")
async def guardrails(request: Request, user: PageUser) -> Response:
    return await guardrails_view(request, user)


@pages.post("/admin/guardrails", view=guardrails_view)
async def set_guardrail(request: Request, user: PageUser, form: Form) -> Response:
    team = form.get("team", "Team", required=False, max_length=SLUG)
    name = form.get("name", "Name", max_length=SLUG)
    stage, kind, action = (
        form.get("stage", "Stage", max_length=10),
        form.get("kind", "Kind", max_length=20),
        form.get("action", "Action", max_length=10),
    )
    if (
        stage not in GUARDRAIL_STAGES
        or kind not in GUARDRAIL_KINDS
        or action not in GUARDRAIL_ACTIONS
    ):
        raise FormError("Stage, kind and action: choose from the lists.")
    raw = form.get("config", "Settings (JSON)", required=False, max_length=8000) or "{}"
    try:
        config = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise FormError("Settings (JSON): not valid JSON.") from None
    if not isinstance(config, dict):
        raise FormError('Settings (JSON): an object, such as {"pattern": "secret"}.')
    try:
        guardrail_rules.check(stage, kind, config, action)
    except guardrail_rules.InvalidRule as exc:
        raise FormError(str(exc)) from None
    async with user.transaction(pool(request)) as conn:
        await conn.fetchval(
            "select api.set_guardrail($1, $2, $3, $4, $5::jsonb, $6, $7)",
            *(team, name, stage, kind, orjson.dumps(config).decode(), action, True),
        )
    return see_other(request, "/admin/guardrails", f"Guardrail {name} saved.")


@pages.post("/admin/guardrails/delete", view=guardrails_view)
async def delete_guardrail(request: Request, user: PageUser, form: Form) -> Response:
    rule_id = uuid_of(form, "id", "Guardrail")
    async with user.transaction(pool(request)) as conn:
        await conn.execute("select api.delete_guardrail($1)", rule_id)
    return see_other(request, "/admin/guardrails", "Guardrail removed.")


# -- Pricing and the Model Registry --------------------------------------------------------


async def models_view(
    request: Request,
    user: PageUser,
    *,
    error=None,
    status=200,
    form=None,
    template="admin/models.html",
) -> Response:
    q, number = search_text(request), page_number(request)
    async with user.transaction(pool(request)) as conn:
        models = await paged(
            conn,
            "select * from api.list_models()",
            search=("name", "provider"),
            order="s.name",
            query=q,
            number=number,
        )
    return render(
        request, template, user, status=status, error=error, form=form or {}, models=models
    )


async def pricing_view(request: Request, user: PageUser, **context) -> Response:
    return await models_view(request, user, template="admin/pricing.html", **context)


@pages.get("/admin/models")
async def models(request: Request, user: PageUser) -> Response:
    return await models_view(request, user)


@pages.post("/admin/models", view=models_view)
async def set_model_enabled(request: Request, user: PageUser, form: Form) -> Response:
    name = form.get("name", "Model", max_length=200)
    enabled = form.values.get("enabled") == "true"
    async with user.transaction(pool(request)) as conn:
        await conn.execute("select api.set_model_enabled($1, $2)", name, enabled)
    return see_other(request, "/admin/models", f"{name} {'enabled' if enabled else 'disabled'}.")


@pages.get("/admin/pricing")
async def pricing(request: Request, user: PageUser) -> Response:
    return await pricing_view(request, user)


@pages.post("/admin/pricing", view=pricing_view)
async def set_price(request: Request, user: PageUser, form: Form) -> Response:
    name = form.get("name", "Model", max_length=200)
    prices = [
        decimal_of(form, "input_usd_per_mtok", "Input (USD per million tokens)"),
        decimal_of(form, "output_usd_per_mtok", "Output (USD per million tokens)"),
        decimal_of(form, "cached_input_usd_per_mtok", "Cached input", required=False) or Decimal(0),
    ]
    async with user.transaction(pool(request)) as conn:
        await conn.execute("select api.set_price($1, $2, $3, $4)", name, *prices)
    return see_other(request, "/admin/pricing", f"Price of {name} saved.")


# -- MCP Servers ---------------------------------------------------------------------------


async def mcp_view(request: Request, user: PageUser, *, error=None, status=200, form=None):
    q, number = search_text(request), page_number(request)
    async with user.transaction(pool(request)) as conn:
        servers = await paged(
            conn,
            "select * from api.list_mcp_servers()",
            search=("name", "url", "team", "description"),
            order="s.name",
            query=q,
            number=number,
        )
        teams = [r["name"] for r in await conn.fetch("select name from api.list_teams()")]
    return render(
        request,
        "admin/mcp.html",
        user,
        status=status,
        error=error,
        form=form or {},
        servers=servers,
        teams=sorted(teams),
    )


@pages.get("/admin/mcp")
async def mcp(request: Request, user: PageUser) -> Response:
    return await mcp_view(request, user)


@pages.post("/admin/mcp", view=mcp_view)
async def register_mcp(request: Request, user: PageUser, form: Form) -> Response:
    name = form.get("name", "Name", max_length=SLUG)
    url = form.get("url", "URL", max_length=2048)
    description = form.get("description", "Description", required=False, max_length=500)
    team = form.get("team", "Team", required=False, max_length=SLUG)
    async with user.transaction(pool(request)) as conn:
        await conn.fetchval(
            "select api.register_mcp_server($1, $2, $3, $4, $5)",
            *(name, url, description, team, True),
        )
    return see_other(request, "/admin/mcp", f"MCP server {name} registered.")


@pages.post("/admin/mcp/enabled", view=mcp_view)
async def set_mcp_enabled(request: Request, user: PageUser, form: Form) -> Response:
    name = form.get("name", "Name", max_length=SLUG)
    enabled = form.values.get("enabled") == "true"
    async with user.transaction(pool(request)) as conn:
        await conn.execute("select api.set_mcp_server_enabled($1, $2)", name, enabled)
    return see_other(request, "/admin/mcp", f"{name} {'enabled' if enabled else 'disabled'}.")


@pages.post("/admin/mcp/delete", view=mcp_view)
async def delete_mcp(request: Request, user: PageUser, form: Form) -> Response:
    name = form.get("name", "Name", max_length=SLUG)
    async with user.transaction(pool(request)) as conn:
        await conn.execute("select api.delete_mcp_server($1)", name)
    return see_other(request, "/admin/mcp", f"{name} removed.")


# -- Audit Log -----------------------------------------------------------------------------


@pages.get("/admin/audit")
async def audit_log(request: Request, user: PageUser) -> Response:
    action = search_text(request) or None
    before = request.query_params.get("before", "")
    before_id = int(before) if before.isdigit() and len(before) < 19 else None
    async with user.transaction(pool(request)) as conn:
        rows = await conn.fetch(
            "select * from api.list_audit_events($1, $2, $3)", PAGE_SIZE + 1, before_id, action
        )
        check = audit.ChainCheck()
        # The whole chain, recomputed here with hashlib (api.audit_chain gives its text).
        async for row in conn.cursor("select * from api.audit_chain()", prefetch=2000):
            check.add(row["id"], row["prev_hash"], row["hash"], row["canonical"])
    more = len(rows) > PAGE_SIZE
    rows = rows[:PAGE_SIZE]
    older = None
    if more:
        older = "?" + urlencode(
            {k: v for k, v in {"q": action or "", "before": rows[-1]["id"]}.items() if v}
        )
    return render(
        request,
        "admin/audit.html",
        user,
        rows=rows,
        action=action or "",
        check=check,
        older=older,
        newest=before_id is not None,
    )


# -- System Health -------------------------------------------------------------------------


async def _probe(awaitable) -> str:
    try:
        await asyncio.wait_for(awaitable, 2.0)
    except Exception as exc:  # a health page reports every failure, whatever its kind
        return f"error: {type(exc).__name__}"
    return "ok"


@pages.get("/admin/system")
async def system(request: Request, user: PageUser) -> Response:
    if not user.is_platform_admin:
        return render(
            request,
            "error.html",
            user,
            status=403,
            message="System health is shown to platform admins.",
        )
    state = request.app.state
    database, redis_state = await asyncio.gather(
        _probe(state.pool.fetchval("select 1")), _probe(state.redis.ping())
    )
    gateway = state.gateway
    writer = getattr(gateway.events, "inner", gateway.events)
    queued = None
    if database == "ok":
        queued = await state.pool.fetchval("select api.event_queue_depth()")
    cooling = set(gateway.upstream.cooling_down())
    deployments = [
        {
            "model": name,
            "id": d.id,
            "provider": d.provider,
            "mock": d.mock,
            "cooling": d.id in cooling,
        }
        for name, group in sorted(gateway.config.deployments.items())
        for d in group
    ]
    return render(
        request,
        "admin/system.html",
        user,
        database=database,
        redis=redis_state,
        waiting=getattr(writer, "waiting", None),
        queued=queued,
        deployments=deployments,
    )

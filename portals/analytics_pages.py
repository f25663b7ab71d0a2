"""The admin portal's analytics pages: Insights (/admin/insights: cost and usage by team,
area, model, user, key or tag over time, cache savings, errors and latency) and AI
Transformation (/admin/transformation: the organisation's agentic share over twelve weeks,
teams with their share and the laggards, a team's developers, the classify trigger).

They read the dbt marts through the api.analytics_* readers, as the signed-in user: a
team admin sees their teams, an area owner their area, a platform admin everything. The
sums over a period are taken in the database (a reader's rows can number thousands at
10 million events; a page needs tens).
"""

from datetime import UTC, date, datetime, timedelta

import asyncpg
from fastapi import APIRouter, Request
from fastapi.responses import Response

from api import analytics
from portals import charts
from portals.web import (
    PAGE_SIZE,
    Form,
    FormError,
    Page,
    Pages,
    PageUser,
    page_number,
    render,
    see_other,
)

router = APIRouter()
pages = Pages(router)

PERIODS = {"7d": 7, "30d": 30, "90d": 90}
DIMENSIONS = {
    "team": "Team",
    "area": "Area",
    "model": "Model",
    "user": "User",
    "key": "Key",
    "tag": "Tag (key=value)",
}
# A reader returns at most this many rows (its own bound): a period that has more is
# summed over what came back, and the page says so.
READER_LIMIT = 100_000
NOT_BUILT = (
    "The analytics marts are not built yet. They build by themselves a few minutes after "
    "the stack starts; to build them now, run: aigw analytics run"
)
WEEKS = 12


def pool(request: Request):
    return request.app.state.pool


def marts_missing(exc: asyncpg.PostgresError) -> bool:
    """The readers' own error for a database whose marts were never built (AIG04 is also
    "no such team": the message tells them apart)."""
    return exc.sqlstate == "AIG04" and "not built" in str(exc)


def choice(request: Request, name: str, options, default: str) -> str:
    value = request.query_params.get(name, default)
    return value if value in options else default


def _day(value: date) -> str:
    return value.strftime("%m-%d")


# -- Insights ------------------------------------------------------------------------------

BY_VALUE = """
    select dimension_value as value, sum(request_count)::bigint as requests,
           sum(input_tokens)::bigint as input_tokens, sum(output_tokens)::bigint as output_tokens,
           sum(cost_usd) as cost_usd, sum(saved_usd) as saved_usd,
           count(*) over () as total_rows, max(n) as reader_rows
      from (select c.*, count(*) over () as n
              from api.analytics_cost_by($1, $2, $3, $6) c) c
     group by dimension_value
     order by sum(cost_usd) desc nulls last, dimension_value
     limit $4 offset $5
"""
BY_DAY = """
    select usage_day, sum(request_count)::bigint as requests, sum(cost_usd) as cost_usd,
           sum(saved_usd) as saved_usd
      from api.analytics_cost_by('team', $1, $2, $3)
     group by usage_day order by usage_day
"""
CACHE = """
    select sum(exact_hit_count)::bigint as exact_hits,
           sum(semantic_hit_count)::bigint as semantic_hits,
           sum(miss_count)::bigint as misses, sum(bypass_count)::bigint as bypasses,
           sum(saved_usd) as saved_usd, sum(cost_usd) as cost_usd
      from api.analytics_cache_savings($1, $2)
"""
MODELS = """
    select model_served, deployment, sum(request_count)::bigint as requests,
           sum(error_count)::bigint as errors, sum(rate_limited_count)::bigint as rate_limited,
           sum(upstream_error_count)::bigint as upstream_errors,
           sum(latency_ms_p50 * request_count) / nullif(sum(request_count), 0) as latency_ms_p50,
           max(latency_ms_p95) as worst_daily_latency_ms_p95,
           mode() within group (order by most_common_error_type) as common_error
      from api.analytics_model_insights($1, $2)
     group by model_served, deployment
     order by 3 desc, 1, 2
     limit 50
"""


async def _names(conn, dimension: str, values: list[str]) -> dict[str, str]:
    """Readable names for the ids a page shows (teams, areas, users, keys)."""
    ids = [v for v in values if v]
    if not ids or dimension in ("model", "tag"):
        return {}
    source = {
        "team": "select id::text, name from api.list_teams()",
        "area": "select id::text, name from api.list_areas()",
        "user": "select id::text, email from api.list_users()",
        "key": "select id::text, name || ' (' || prefix || '…)' from api.list_keys()",
    }[dimension]
    rows = await conn.fetch(f"select * from ({source}) s(id, name) where id = any($1)", ids)  # noqa: S608
    return {r["id"]: r["name"] for r in rows}


def insights_chart(days: list) -> charts.BarChart:
    points = [
        (_day(d["usage_day"]), [float(d["cost_usd"] or 0), float(d["saved_usd"] or 0)])
        for d in days
    ]
    return charts.stacked_bars(
        "Cost per UTC day, with what the cache saved on top",
        points,
        series=[("series-a", "Cost (USD)"), ("series-b", "Saved by the cache (USD)")],
        describe=lambda label, v: f"{label}: cost ${v[0]:,.2f}, saved ${v[1]:,.2f}",
        axis_format=lambda v: f"${v:,.0f}" if v >= 10 else f"${v:,.2f}",
        ticks_every=max(1, len(points) // 10),
    )


@pages.get("/admin/insights")
async def insights(request: Request, user: PageUser) -> Response:
    period = choice(request, "period", PERIODS, "30d")
    dimension = choice(request, "by", DIMENSIONS, "team")
    number = page_number(request)
    to = datetime.now(UTC).date()
    since = to - timedelta(days=PERIODS[period] - 1)
    context = {
        "period": period,
        "periods": list(PERIODS),
        "by": dimension,
        "dimensions": DIMENSIONS,
    }
    try:
        async with user.transaction(pool(request)) as conn:
            rows = [
                dict(r)
                for r in await conn.fetch(
                    BY_VALUE,
                    dimension,
                    since,
                    to,
                    PAGE_SIZE,
                    (number - 1) * PAGE_SIZE,
                    READER_LIMIT,
                )
            ]
            days = await conn.fetch(BY_DAY, since, to, READER_LIMIT)
            cache = dict(await conn.fetchrow(CACHE, since, to))
            models = await conn.fetch(MODELS, since, to)
            names = await _names(conn, dimension, [r["value"] for r in rows])
    except asyncpg.PostgresError as exc:
        if not marts_missing(exc):
            raise
        return render(request, "admin/insights.html", user, not_built=NOT_BUILT, **context)
    total = rows[0]["total_rows"] if rows else 0
    truncated = bool(rows) and rows[0]["reader_rows"] >= READER_LIMIT
    for row in rows:
        row["name"] = names.get(row["value"], row["value"])
    looked_up = sum(cache[k] or 0 for k in ("exact_hits", "semantic_hits", "misses"))
    hits = (cache["exact_hits"] or 0) + (cache["semantic_hits"] or 0)
    totals = {
        "requests": sum(d["requests"] for d in days),
        "cost_usd": sum((d["cost_usd"] or 0) for d in days),
        "saved_usd": sum((d["saved_usd"] or 0) for d in days),
        "hit_rate": hits / looked_up if looked_up else None,
    }
    page = Page(rows, total, number, PAGE_SIZE, "")
    return render(
        request,
        "admin/insights.html",
        user,
        rows=page,
        truncated=truncated,
        days=days,
        chart=insights_chart(days),
        cache=cache,
        totals=totals,
        models=models,
        since=since,
        to=to,
        **context,
    )


# -- AI Transformation ---------------------------------------------------------------------

ORG_WEEKS = """
    select week_start, sum(session_count)::bigint as sessions,
           sum(interactive_session_count)::bigint as interactive,
           sum(agentic_session_count)::bigint as agentic,
           sum(autonomous_session_count)::bigint as autonomous
      from api.analytics_weekly_transformation('team', $1)
     group by week_start order by week_start
"""
TEAMS = """
    select l.*, t.name, count(*) over () as total_rows
      from api.analytics_laggards() l
      left join api.list_teams() t on t.id = l.team_id
     order by l.is_laggard desc, l.share_of_org nulls last, t.name
     limit $1 offset $2
"""
DEVELOPERS = """
    select d.user_id, u.email, sum(d.session_count)::bigint as sessions,
           sum(d.agentic_session_count + d.autonomous_session_count)::bigint as agentic,
           (array_agg(d.agentic_score order by d.week_start desc))[1] as latest_score,
           max(d.week_start) as latest_week
      from api.analytics_weekly_transformation('developer', 4) d
      left join api.list_users() u on u.id = d.user_id
     where d.team_id = $1
     group by d.user_id, u.email
     order by latest_score desc nulls last, u.email
     limit 200
"""


def adoption_chart(weeks: list) -> charts.BarChart:
    points = [
        (
            _day(w["week_start"]),
            [float(w["autonomous"]), float(w["agentic"]), float(w["interactive"])],
        )
        for w in weeks
    ]

    def describe(label, v):
        total = sum(v)
        share = (v[0] + v[1]) / total if total else 0
        return (
            f"Week of {label}: {int(v[0])} autonomous, {int(v[1])} agentic, "
            f"{int(v[2])} interactive sessions ({share:.0%} agentic or autonomous)"
        )

    return charts.stacked_bars(
        f"Sessions per week by class, last {WEEKS} weeks",
        points,
        series=[
            ("series-c", "Autonomous"),
            ("series-a", "Agentic"),
            ("series-b", "Interactive"),
        ],
        describe=describe,
        axis_format=lambda v: f"{v:,.0f}",
    )


async def transformation_view(
    request: Request, user: PageUser, *, error=None, status=200, form=None
) -> Response:
    number = page_number(request)
    team_name = request.query_params.get("team", "")[:63] or None
    context = {"team_name": team_name, "error": error}
    try:
        async with user.transaction(pool(request)) as conn:
            weeks = [dict(r) for r in await conn.fetch(ORG_WEEKS, WEEKS)]
            teams = [dict(r) for r in await conn.fetch(TEAMS, PAGE_SIZE, (number - 1) * PAGE_SIZE)]
            team = None
            developers = []
            if team_name:
                team = await conn.fetchrow(
                    "select id, name from api.list_teams() where name = $1", team_name
                )
                if team is not None:
                    developers = await conn.fetch(DEVELOPERS, team["id"])
    except asyncpg.PostgresError as exc:
        if not marts_missing(exc):
            raise
        return render(
            request,
            "admin/transformation.html",
            user,
            status=status,
            not_built=NOT_BUILT,
            **context,
        )
    if team_name and team is None:
        status, context["error"] = 404, f"There is no team {team_name} that you can see."
    for week in weeks:
        week["share"] = (
            (week["agentic"] + week["autonomous"]) / week["sessions"] if week["sessions"] else None
        )
    total = teams[0]["total_rows"] if teams else 0
    return render(
        request,
        "admin/transformation.html",
        user,
        status=status,
        weeks=weeks,
        chart=adoption_chart(weeks),
        teams=Page(teams, total, number, PAGE_SIZE, ""),
        team=team,
        developers=developers,
        **context,
    )


@pages.get("/admin/transformation")
async def transformation(request: Request, user: PageUser) -> Response:
    return await transformation_view(request, user)


@pages.post("/admin/transformation/classify", view=transformation_view)
async def classify(request: Request, user: PageUser, form: Form) -> Response:
    """The classify button: the same build as POST /admin/transformation/classify."""
    async with user.transaction(pool(request)) as conn:
        await conn.execute("select api.authorize_classification()")
    try:
        result = await analytics.classify_now(request.app.state.database_url)
    except analytics.BuildBusy:
        raise FormError("A build is running already; try again in a moment.", 409) from None
    except analytics.AnalyticsError as exc:  # BuildFailed among them
        raise FormError(f"The classification could not run: {exc}.", 503) from None
    return see_other(
        request,
        "/admin/transformation",
        f"Sessions classified in {result.elapsed_s:.1f} s.",
    )

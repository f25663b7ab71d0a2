"""The developer portal's analytics: /portal/usage (your requests, tokens and cost over
the last 30 days, cost per pull request, what the cache saved you) and
/portal/transformation (your agentic score, your sessions week by week, your
achievements, your leaderboard choice and the leaderboards themselves).

Everything is read through the api.* readers of sql/analytics.sql in the signed-in
user's transaction: they apply the row rules (a developer sees their own rows). The
personal figures come from api.analytics_my_daily_cost, the caller's own rows even for
someone who manages teams; the cost per pull request is what the tag reader shows the
caller (a manager: their teams').

Until the first `aigw analytics run` the readers raise AIG04 with a hint; the pages then
say how to build the marts instead of showing an error.
"""

from collections import defaultdict
from datetime import UTC, date, datetime, timedelta

import asyncpg
from fastapi import APIRouter, Request
from fastapi.responses import Response

from portals import score_charts
from portals.analytics_pages import marts_missing
from portals.web import Form, Pages, PageUser, render, see_other

router = APIRouter()
pages = Pages(router)

USAGE_DAYS = 30
WEEKS = 12
PR_TAG = "pr="
# The readers' own cap on rows: a manager's include their teams' (pull requests, and
# every developer's weeks, of which the caller's own are picked out).
READ_LIMIT = 100_000

# Every achievement the marts award (dbt/models/marts/transformation/achievements.sql),
# in the order the grid shows them: name, title, how it is earned.
ACHIEVEMENTS = (
    ("first_agentic_session", "First agentic session", "Your first agentic or autonomous session."),
    ("first_autonomous_session", "First autonomous session", "Your first autonomous session."),
    ("agentic_streak", "Agentic streak", "Agent-driven sessions several times in a row."),
    ("marathon_session", "Marathon session", "A session with a great many tool calls."),
    ("half_agentic_week", "Half-agentic week", "A completed week with a score of 50 or more."),
    (
        "top_10_percent_team",
        "Top 10 % team",
        "A completed week in a team among the top 10 % of the teams active that week.",
    ),
)


def pool(request: Request):
    return request.app.state.pool


def today() -> date:
    return datetime.now(UTC).date()


# -- Usage ---------------------------------------------------------------------------------

# The caller's own daily cost rows, summed: in total, per day, per model
# ({group} is one of the constants below; every value is a parameter).
OWN_COST = """
    select {group} sum(request_count)::bigint as requests,
           sum(input_tokens)::bigint as input_tokens,
           sum(output_tokens)::bigint as output_tokens,
           sum(cost_usd) as cost_usd, sum(cache_hit_count)::bigint as cache_hits,
           sum(saved_usd) as saved_usd
      from api.analytics_my_daily_cost($1, $2)
"""
TOTAL = OWN_COST.format(group="")
PER_DAY = OWN_COST.format(group="usage_day,") + " group by usage_day order by usage_day desc"
PER_MODEL = OWN_COST.format(group="model_served,") + " group by model_served order by cost_usd desc"
PER_PR = """
    select substr(dimension_value, length($3) + 1) as pr, sum(request_count)::bigint as requests,
           sum(input_tokens + output_tokens)::bigint as tokens, sum(cost_usd) as cost_usd
      from api.analytics_cost_by('tag', $1, $2, $4)
     where starts_with(dimension_value, $3)
     group by 1 order by 4 desc, 1
"""


def hit_rate(row) -> float | None:
    return row["cache_hits"] / row["requests"] if row and row["requests"] else None


@pages.get("/portal/usage")
async def usage(request: Request, user: PageUser) -> Response:
    last = today()
    first = last - timedelta(days=USAGE_DAYS - 1)
    context = {"first": first, "last": last, "days": USAGE_DAYS}
    try:
        async with user.transaction(pool(request)) as conn:
            own = (first, last)
            total = dict(await conn.fetchrow(TOTAL, *own))
            per_day = await conn.fetch(PER_DAY, *own)
            per_model = await conn.fetch(PER_MODEL, *own)
            per_pr = await conn.fetch(PER_PR, first, last, PR_TAG, READ_LIMIT)
    except asyncpg.PostgresError as exc:
        if not marts_missing(exc):
            raise
        return render(request, "portal/usage.html", user, not_built=True, **context)
    total["hit_rate"] = hit_rate(total)
    return render(
        request,
        "portal/usage.html",
        user,
        total=total,
        per_day=per_day,
        per_model=per_model,
        per_pr=per_pr,
        manages_teams=user.is_admin,
        **context,
    )


# -- Transformation ------------------------------------------------------------------------

WEEKLY = """
    select w.week_start, w.team_id, w.session_count, w.interactive_session_count,
           w.agentic_session_count, w.autonomous_session_count, w.agentic_share,
           w.agentic_score,
           (select t.name from api.list_teams() t where t.id = w.team_id) as team
      from api.analytics_weekly_transformation('developer', $1, $3) w
     where w.user_id = $2
     order by w.week_start, team
"""
MY_ACHIEVEMENTS = """
    select achievement, min(earned_at) as earned_at
      from api.analytics_achievements() where is_me group by achievement
"""


def weekly_counts(rows) -> dict[date, tuple[int, int]]:
    """Week -> (agentic + autonomous, interactive) sessions, over all of the caller's
    teams."""
    counts: dict[date, list[int]] = defaultdict(lambda: [0, 0])
    for r in rows:
        counts[r["week_start"]][0] += r["agentic_session_count"] + r["autonomous_session_count"]
        counts[r["week_start"]][1] += r["interactive_session_count"]
    return {week: (a, i) for week, (a, i) in counts.items()}


def achievement_grid(earned: dict[str, datetime]) -> list[dict]:
    grid = [
        {"name": name, "title": title, "how": how, "earned_at": earned.get(name)}
        for name, title, how in ACHIEVEMENTS
    ]
    known = {name for name, *_ in ACHIEVEMENTS}
    # one the marts award that this list does not know yet still shows, by its name
    grid += [
        {"name": n, "title": n.replace("_", " ").capitalize(), "how": "", "earned_at": at}
        for n, at in sorted(earned.items())
        if n not in known
    ]
    return grid


async def transformation_view(
    request: Request, user: PageUser, *, error=None, status=200, form=None
) -> Response:
    context = {"error": error, "status": status, "weeks": WEEKS}
    try:
        async with user.transaction(pool(request)) as conn:
            opt_in = await conn.fetchrow("select * from api.leaderboard_opt_in()")
            context["opt_in"] = opt_in
            weekly = await conn.fetch(WEEKLY, WEEKS, user.session.user_id, READ_LIMIT)
            earned = {r["achievement"]: r["earned_at"] for r in await conn.fetch(MY_ACHIEVEMENTS)}
            boards = [("Company", await conn.fetch("select * from api.leaderboard('company')"))]
            for team in user.teams:
                rows = await conn.fetch("select * from api.leaderboard('team', $1)", team)
                boards.append((f"Team {team}", rows))
    except asyncpg.PostgresError as exc:
        if not marts_missing(exc):
            raise
        return render(request, "portal/transformation.html", user, not_built=True, **context)
    latest_week = max((r["week_start"] for r in weekly), default=None)
    latest = [r for r in weekly if r["week_start"] == latest_week]
    rings = [(r, score_charts.ring(r["agentic_score"])) for r in latest]
    return render(
        request,
        "portal/transformation.html",
        user,
        rings=rings,
        latest_week=latest_week,
        chart=score_charts.weekly_chart(weekly_counts(weekly), today(), WEEKS),
        grid=achievement_grid(earned),
        boards=boards,
        **context,
    )


@pages.get("/portal/transformation")
async def transformation(request: Request, user: PageUser) -> Response:
    return await transformation_view(request, user)


@pages.post("/portal/leaderboard", view=transformation_view)
async def set_leaderboard_opt_in(request: Request, user: PageUser, form: Form) -> Response:
    team, company = form.flag("team_board"), form.flag("company_board")
    async with user.transaction(pool(request)) as conn:
        await conn.execute("select * from api.set_leaderboard_opt_in($1, $2)", team, company)
    boards = [n for n, on in (("your teams' boards", team), ("the company board", company)) if on]
    if boards:
        # the boards are built with the marts: a new name appears at their next refresh
        notice = f"Saved: you appear on {' and '.join(boards)} from the next refresh."
    else:
        notice = "Saved: you appear on no leaderboard."  # the readers hide you at once
    return see_other(request, "/portal/transformation", notice)

"""The analytics marts at scale: build and refresh times, and the portals' queries
against the marts beside the same question asked of the raw event log.

    .venv/bin/python -m tests.perf.bench_analytics                # 10 million events
    .venv/bin/python -m tests.perf.bench_analytics --events 1000000

An embedded PostgreSQL (the local default) gets `--events` request events over 90 days
for 2,000 developers in 200 teams (tests/perf/analytics_scale.py), then:
- a full `dbt build` (every model and test, as aigw_dbt);
- a day's new events (events / 90) and an incremental `dbt build`: the refresh that
  `aigw up` runs every few minutes (target < 60 s);
- each query a portal page runs, through its api.* reader as the persona that page is for,
  `--rounds` times (p50 and p95), beside the nearest raw question over events.requests
  (fewer rounds: each takes seconds). Target: every mart query's p95 < 100 ms.
"""

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

import psycopg
from rich.console import Console
from rich.table import Table

from api import analytics
from tests.perf.analytics_scale import (
    full_build,
    generate,
    personas,
    scale_arguments,
    scale_database,
)

console = Console(width=160)

# (page, question, persona, the mart's reader, the same question of the raw event log)
QUERIES = [
    ("Insights", "cost per team and day, 30 days", "admin",
     "select * from api.analytics_cost_by('team', current_date - 30, current_date)",
     "select (started_at at time zone 'UTC')::date, team_id, count(*), sum(cost_usd),"
     " sum(input_tokens), sum(output_tokens) from events.requests"
     " where started_at >= current_date - 30 group by 1, 2"),
    ("Insights", "cost per model and day, 30 days", "admin",
     "select * from api.analytics_cost_by('model', current_date - 30, current_date)",
     "select (started_at at time zone 'UTC')::date, model_served, count(*), sum(cost_usd)"
     " from events.requests where started_at >= current_date - 30 group by 1, 2"),
    ("Insights", "cost per tag (pull request), 30 days", "admin",
     "select * from api.analytics_cost_by('tag', current_date - 30, current_date)",
     "select (r.started_at at time zone 'UTC')::date, t.key, t.value, count(*),"
     " sum(r.cost_usd) from events.requests r, jsonb_each_text(r.tags) t"
     " where r.started_at >= current_date - 30 group by 1, 2, 3"),
    ("Insights", "cache savings per team and day, 30 days", "admin",
     "select * from api.analytics_cache_savings(current_date - 30, current_date)",
     "select (started_at at time zone 'UTC')::date, team_id, count(*) filter (where cache"
     " like 'hit%%'), sum(saved_usd) from events.requests"
     " where started_at >= current_date - 30 group by 1, 2"),
    ("Insights", "errors and latency per model, 7 days", "admin",
     "select * from api.analytics_model_insights(current_date - 7, current_date)",
     "select (started_at at time zone 'UTC')::date, model_served, deployment, count(*),"
     " count(*) filter (where status >= 400),"
     " percentile_cont(0.95) within group (order by latency_ms) from events.requests"
     " where started_at >= current_date - 7 group by 1, 2, 3"),
    ("Team admin", "a team's daily cost, 30 days", "team_admin",
     "select * from api.analytics_daily_cost(current_date - 30, current_date)",
     "select (started_at at time zone 'UTC')::date, key_id, model_served, count(*),"
     " sum(cost_usd) from events.requests where team_id = %(team)s"
     " and started_at >= current_date - 30 group by 1, 2, 3"),
    ("Developer portal", "my sessions, 7 days", "developer",
     "select * from api.analytics_sessions(now() - interval '7 days', 1000)",
     "select session_id, min(started_at), max(started_at), count(*),"
     " count(*) filter (where last_turn_tool_result) from events.requests"
     " where owner_user_id = %(developer)s and started_at >= now() - interval '7 days'"
     " group by 1"),
    ("Transformation", "agentic share per team and week, 12 weeks", "admin",
     "select * from api.analytics_weekly_transformation('team', 12)",
     "select team_id, date_trunc('week', started_at), count(distinct session_id),"
     " avg(case when last_turn_tool_result then 1 else 0 end) from events.requests"
     " where started_at >= current_date - 84 group by 1, 2"),
    ("Transformation", "laggard teams, 4 weeks", "admin",
     "select * from api.analytics_laggards()",
     "select team_id, avg(case when last_turn_tool_result then 1 else 0 end)"
     " from events.requests where started_at >= current_date - 28 group by 1"),
    ("Developer portal", "company leaderboard, this week", "developer",
     "select * from api.leaderboard('company')",
     "select owner_user_id, count(distinct session_id), rank() over (order by"
     " count(*) filter (where last_turn_tool_result) desc) from events.requests"
     " where started_at >= date_trunc('week', now()) group by 1"),
]  # fmt: skip


def timed(conn: psycopg.Connection, principal: dict, query: str, params: dict) -> float:
    with conn.transaction():
        conn.execute("select set_config('app.principal', %s, true)", (json.dumps(principal),))
        started = time.perf_counter()
        conn.execute(query, params).fetchall()
        return (time.perf_counter() - started) * 1000


def percentiles(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return statistics.median(ordered), p95


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    scale_arguments(parser)
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--raw-rounds", type=int, default=3)
    args = parser.parse_args()
    figures: dict[str, float] = {}
    with (
        tempfile.TemporaryDirectory(prefix="aigw-bench-analytics-") as tmp_name,
        scale_database(Path(tmp_name), args, console) as scale,
    ):
        urls = scale.urls
        figures["generate"] = scale.generate_s
        principals, params = personas(urls.admin)
        work = Path(tmp_name) / "dbt"
        full = full_build(urls.admin, work, console)
        figures["full"] = full.elapsed_s
        day = max(args.events // args.days, 1)
        with console.status(f"A day's {day:,} new events…"):
            generate(urls.admin, events=day, days=1, users=args.users, teams=args.teams,
                     start=scale.today, label="b")  # fmt: skip
        with console.status("Incremental dbt build…"):
            incremental = analytics.build(urls.admin, work_dir=work)
        if not incremental.ok:
            raise SystemExit("\n".join(incremental.output_tail[-40:]))
        figures["incremental"] = incremental.elapsed_s
        rows = []
        with psycopg.connect(urls.app) as conn:
            for page, question, persona, mart, raw in QUERIES:
                with console.status(f"{page}: {question}…"):
                    principal = principals[persona]
                    timed(conn, principal, mart, params)  # warm
                    marts = [timed(conn, principal, mart, params) for _ in range(args.rounds)]
                    raws = [timed_raw(urls.admin, raw, params) for _ in range(args.raw_rounds)]
                rows.append((page, question, persona, *percentiles(marts), *percentiles(raws)))
        with psycopg.connect(urls.admin) as conn:
            counts = conn.execute(
                "select (select count(*) from events.requests),"
                " (select count(*) from events.hooks),"
                " (select count(*) from analytics.daily_cost),"
                " (select count(*) from analytics.sessions)"
            ).fetchone()
    report(args, figures, rows, counts, full, incremental)


def timed_raw(admin_url: str, query: str, params: dict) -> float:
    # as the administrative user: the raw log read directly, as a report over it would
    with psycopg.connect(admin_url) as conn:
        started = time.perf_counter()
        conn.execute(query, params).fetchall()
        return (time.perf_counter() - started) * 1000


def report(args, figures, rows, counts, full, incremental) -> None:
    events, hooks, cost_rows, sessions = counts
    console.print(
        f"{events:,} request events and {hooks:,} hook events for {args.users:,} developers "
        f"in {args.teams} teams over {args.days} days; daily_cost has {cost_rows:,} rows, "
        f"sessions {sessions:,}. Generated in {figures['generate']:.0f} s."
    )
    builds = Table(title="dbt build (as aigw_dbt, embedded PostgreSQL)", title_justify="left")
    for column in ("build", "seconds", "target", "nodes"):
        builds.add_column(column, justify="right" if column != "build" else "left")
    builds.add_row("full", f"{figures['full']:.1f}", "", str(len(full.nodes)))
    builds.add_row(f"incremental, after a day's {events // (args.days + 1):,} new events",
                   f"{figures['incremental']:.1f}", "< 60 s",
                   str(len(incremental.nodes)))  # fmt: skip
    console.print(builds)
    slow = Table(title="Slowest nodes of each build, s", title_justify="left")
    for column in ("full build", "s", "incremental build", "s "):
        slow.add_column(column, justify="right" if column.startswith("s") else "left")
    heaviest = [sorted(b.nodes, key=lambda n: -n.elapsed_s)[:8] for b in (full, incremental)]
    for f, i in zip(*heaviest, strict=False):
        slow.add_row(f.name, f"{f.elapsed_s:.1f}", i.name, f"{i.elapsed_s:.1f}")
    console.print(slow)
    table = Table(
        title=f"Portal queries: the mart's reader ({args.rounds} rounds) beside the raw "
        f"event log ({args.raw_rounds} rounds), ms",
        title_justify="left",
    )
    for column in ("page", "question", "as", "mart p50", "mart p95", "raw p50", "raw p95",
                   "raw / mart"):  # fmt: skip
        table.add_column(column, justify="right" if "p" in column[:6] or "/" in column else "left")
    for page, question, persona, m50, m95, r50, r95 in rows:
        table.add_row(page, question, persona, f"{m50:.1f}", f"{m95:.1f}", f"{r50:.0f}",
                      f"{r95:.0f}", f"{r50 / m50:.0f}×")  # fmt: skip
    console.print(table)
    worst = max(r[4] for r in rows)
    console.print(
        f"Slowest mart query p95: {worst:.1f} ms (target < 100 ms); incremental refresh "
        f"{figures['incremental']:.1f} s (target < 60 s)."
    )


if __name__ == "__main__":
    main()

"""A large event log, generated inside PostgreSQL: the scale benchmark's data.

`generate` writes `users` developers in `teams` teams (in areas of ten teams), each with a
personal key, and `events` request events spread evenly over `days` days ending
yesterday (UTC), plus Claude Code hook events for a share of the sessions. The rows go
straight into the tables (as the superuser, in batches of a million with INSERT …
SELECT over generate_series): a Python loop would take hours for ten million.

The traffic is shaped like a real organisation's: each developer works in sessions of
about 30 requests a quarter-hour apart; half the developers run Claude Code (agent
turns: tool results, tools offered), some Codex, the rest the SDKs; a tenth of the
requests carry a pull-request tag; a few are refused or cached.

The benchmarks over this data share its setup: `scale_arguments` (the sizes),
`scale_database` (an embedded PostgreSQL, migrated and filled), `personas` (who reads it)
and `full_build` (the marts).
"""

import argparse
import contextlib
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
from rich.console import Console
from rich.progress import Progress

from api import analytics, migrations
from api.embedded import DatabaseUrls, EmbeddedPostgres

IDENTITIES = """
insert into iam.areas (name)
select 'bench-area-' || a from generate_series(1, greatest(%(teams)s / 10, 1)) a
on conflict do nothing;
insert into iam.teams (name, area_id)
select 'bench-team-' || t,
       (select id from iam.areas where name = 'bench-area-' || (1 + (t - 1) / 10))
  from generate_series(1, %(teams)s) t
on conflict do nothing;
insert into iam.users (email, display_name)
select 'dev' || u || '@bench.example', 'Developer ' || u from generate_series(1, %(users)s) u
on conflict do nothing;
insert into iam.team_members (team_id, user_id)
select t.id, u.id
  from generate_series(1, %(users)s) i
  join iam.users u on u.email = 'dev' || i || '@bench.example'
  join iam.teams t on t.name = 'bench-team-' || (1 + (i - 1) %% %(teams)s)
on conflict do nothing;
insert into iam.api_keys (digest, prefix, name, team_id, owner_user_id)
select sha256(convert_to('bench-key-' || i, 'UTF8')), 'sk-bench', 'bench', m.team_id, u.id
  from generate_series(1, %(users)s) i
  join iam.users u on u.email = 'dev' || i || '@bench.example'
  join iam.team_members m on m.user_id = u.id
on conflict do nothing;
create temporary table bench_devs as
select row_number() over (order by u.email) - 1 as idx, u.id as user_id, k.id as key_id,
       k.team_id
  from iam.users u join iam.api_keys k on k.owner_user_id = u.id
 where u.email like '%%@bench.example';
create index on bench_devs (idx);
"""

# One batch of events: g runs over [first, last]; developer g mod users; the time grows
# with g, so each developer's requests are ordered and about `spacing` apart.
EVENTS = """
insert into events.requests (
    request_id, started_at, recorded_at, endpoint, wire, status, key_id, team_id,
    owner_user_id, model_requested, model_served, deployment, path, stream, input_tokens,
    output_tokens, cached_input_tokens, cost_usd, latency_ms, upstream_latency_ms,
    upstream_attempts, error_type, session_id, client, tool_calls, cache,
    saved_input_tokens, saved_output_tokens, saved_usd, message_count,
    last_turn_tool_result, tools_offered, tags)
select 'req_bench_' || %(label)s || '_' || g,
       t.at, t.at, e.endpoint, e.wire, e.status, d.key_id, d.team_id, d.user_id,
       e.model, e.model, e.model || '-1', 'native', (g %% 3 = 0),
       e.input_tokens, e.output_tokens, e.input_tokens / 4,
       case when e.cache like 'hit%%' or e.status >= 400 then 0
            else round((e.input_tokens * 3 + e.output_tokens * 15) / 1e6, 9) end,
       e.latency_ms, e.latency_ms * 0.9, 1,
       case when e.status = 429 then 'rate_limited' when e.status = 502 then 'upstream_error' end,
       'sess_' || %(label)s || '_' || d.idx || '_' || (g / %(users)s / 30),
       e.client, e.tool_calls, e.cache,
       case when e.cache like 'hit%%' then e.input_tokens else 0 end,
       case when e.cache like 'hit%%' then e.output_tokens else 0 end,
       case when e.cache like 'hit%%' then round((e.input_tokens * 3 + e.output_tokens * 15) / 1e6, 9)
            else 0 end,
       e.message_count, e.last_turn_tool_result, e.tools_offered,
       case when g %% 10 = 0 then jsonb_build_object(
                'pr', 'org/repo-' || (d.idx %% 40) || '#' || (g / 100000 %% 500),
                'env', case when g %% 20 = 0 then 'ci' else 'dev' end) end
  from generate_series(%(first)s::bigint, %(last)s::bigint) g
  join bench_devs d on d.idx = g %% %(users)s
  cross join lateral (
      select %(start)s::timestamptz + g * %(spacing)s * interval '1 second' as at
  ) t
  cross join lateral (
      select case d.idx %% 20 when 0 then 'codex' when 1 then 'codex' when 2 then 'codex'
                  else case when d.idx %% 2 = 0 then 'claude-cli' else 'openai-python' end
             end as client,
             (array['claude-sonnet-4-5', 'claude-haiku-4-5', 'gpt-4.1', 'gpt-4.1-mini'])
                 [1 + (g * 7 + d.idx) %% 4] as model,
             case when g %% 97 = 0 then 429 when g %% 211 = 0 then 502 else 200 end as status,
             case when g %% 53 = 0 then 'hit-exact' when g %% 17 = 0 then 'miss' end as cache,
             200 + (g * 31 %% 8000)::integer as input_tokens,
             20 + (g * 17 %% 1500)::integer as output_tokens,
             (300 + (g * 13 %% 4000))::real as latency_ms,
             1 + ((g / %(users)s) %% 30)::integer as message_count
  ) b
  cross join lateral (
      select b.client, b.model, b.status, b.cache, b.input_tokens, b.output_tokens,
             b.latency_ms, b.message_count * 2 - 1 as message_count,
             case when b.client like 'openai%%' then '/v1/chat/completions'
                  when b.client = 'codex' then '/v1/responses'
                  else '/anthropic/v1/messages' end as endpoint,
             case when b.client = 'claude-cli' then 'anthropic' else 'openai' end as wire,
             case when b.client in ('claude-cli', 'codex') then (g %% 5 <> 0) else false end
                 as last_turn_tool_result,
             case when b.client in ('claude-cli', 'codex') then 12 else 0 end as tools_offered,
             case when b.client in ('claude-cli', 'codex') and g %% 3 <> 0 then 1 else 0 end
                 as tool_calls
  ) e
"""

# Claude Code's hooks for the Claude Code developers' sessions: a start, a prompt per
# five requests, a tool use per request with a tool result, a stop.
HOOKS = """
insert into events.hooks (received_at, key_id, user_id, team_id, session_id,
                          hook_event_name, tool_name, permission_mode)
select r.started_at, r.key_id, r.owner_user_id, r.team_id, r.session_id, h.name, h.tool,
       'default'
  from events.requests r
  cross join lateral (values
      ('UserPromptSubmit', null::text, not r.last_turn_tool_result),
      ('PreToolUse', 'Bash', r.tool_calls > 0),
      ('PostToolUse', 'Bash', r.tool_calls > 0)) as h(name, tool, wanted)
 where r.client = 'claude-cli' and h.wanted and r.request_id like 'req_bench_' || %(label)s || '_%%'
"""


def generate(
    admin_url: str,
    *,
    events: int,
    days: float,
    users: int,
    teams: int,
    start,
    label: str = "a",
    batch: int = 1_000_000,
    progress=None,
) -> None:
    """Write identities (idempotently) and `events` events from `start` over `days` days.
    `progress(done)` is called after each batch."""
    spacing = days * 86400 / events
    with psycopg.connect(admin_url, autocommit=True, cursor_factory=psycopg.ClientCursor) as conn:
        conn.execute(IDENTITIES, {"users": users, "teams": teams})  # several statements
        # the months of the log, made before it is written (not left to the default partition)
        conn.execute("select api.create_event_partitions(1, %s)", (start,))
        done = 0
        while done < events:
            first, last = done, min(done + batch, events) - 1
            params = {"label": label, "first": first, "last": last, "users": users,
                      "start": start, "spacing": spacing}  # fmt: skip
            conn.execute(EVENTS, params)
            done = last + 1
            if progress:
                progress(done)
        conn.execute(HOOKS, {"label": label})
        conn.execute("analyze events.requests")
        conn.execute("analyze events.hooks")


# -- the benchmarks' shared setup ----------------------------------------------------------

PERSONA_EMAILS = {
    "admin": "bench-admin@bench.example",
    "team_admin": "bench-tadmin@bench.example",
    "developer": "dev1@bench.example",
}


def scale_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--users", type=int, default=2000)
    parser.add_argument("--teams", type=int, default=200)


@dataclass(frozen=True)
class ScaleDatabase:
    urls: DatabaseUrls
    today: datetime  # midnight UTC: the generated log ends just before it
    generate_s: float


@contextlib.contextmanager
def scale_database(
    tmp: Path, args: argparse.Namespace, console: Console
) -> Iterator[ScaleDatabase]:
    """An embedded PostgreSQL in `tmp`, migrated, holding `args.events` events (with a
    progress bar: ten million take minutes); stopped when the block ends."""
    postgres = EmbeddedPostgres(tmp / "pg")
    with console.status("Starting embedded PostgreSQL…"):
        urls = postgres.start()
        migrations.upgrade(urls.admin)
    try:
        today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
        start = today - timedelta(days=args.days)
        with Progress(console=console) as progress:
            task = progress.add_task(f"{args.events:,} events…", total=args.events)
            began = time.perf_counter()
            generate(urls.admin, events=args.events, days=args.days, users=args.users,
                     teams=args.teams, start=start,
                     progress=lambda done: progress.update(task, completed=done))  # fmt: skip
            generate_s = time.perf_counter() - began
        yield ScaleDatabase(urls, today, generate_s)
    finally:
        postgres.stop()


def personas(admin_url: str) -> tuple[dict, dict]:
    """A platform admin, the admin of one team, a developer of that team (with a key):
    their principals, and the team's and the developer's ids."""
    with psycopg.connect(admin_url, autocommit=True) as conn:
        (admin,) = conn.execute(
            "select api.create_user(%s, 'Bench admin')", (PERSONA_EMAILS["admin"],)
        ).fetchone()
        conn.execute("select api.grant_role(%s, 'platform_admin', null)", (admin,))
        team, developer = conn.execute(
            "select m.team_id, m.user_id from iam.team_members m join iam.users u"
            " on u.id = m.user_id where u.email = %s",
            (PERSONA_EMAILS["developer"],),
        ).fetchone()
        (team_name,) = conn.execute("select name from iam.teams where id = %s", (team,)).fetchone()
        (team_admin,) = conn.execute(
            "select api.create_user(%s, 'Bench team admin')", (PERSONA_EMAILS["team_admin"],)
        ).fetchone()
        conn.execute("select api.grant_role(%s, 'team_admin', %s)", (team_admin, team_name))
        # one developer in sixteen shows on the boards
        conn.execute(
            "insert into league.leaderboard_opt_ins (user_id, on_team_board, on_company_board)"
            " select id, true, true from iam.users where email like 'dev%%@bench.example'"
            " and id::text like '%%0' on conflict do nothing"
        )
    principals = {
        "admin": {"user_id": str(admin)},
        "team_admin": {"user_id": str(team_admin)},
        "developer": {"user_id": str(developer)},
    }
    return principals, {"team": team, "developer": developer}


def full_build(admin_url: str, work_dir: Path, console: Console) -> analytics.BuildResult:
    """`dbt build` of every model and test, with a bar of dbt's nodes; exits on a failure."""
    from api.cli import DbtProgress

    with DbtProgress(console) as bar:
        result = analytics.build(admin_url, work_dir=work_dir, on_line=bar.on_line)
    if not result.ok:
        raise SystemExit("\n".join(result.output_tail[-40:]))
    return result

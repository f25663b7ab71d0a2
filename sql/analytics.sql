-- Analytics: what dbt (dbt/, login role aigw_dbt) may read, the leaderboard's opt-ins,
-- and the api.* readers of the marts.
--
-- aigw_dbt reads the sources' columns granted below and nothing else: no password hash,
-- no key digest, no session, invitation or sign-in state token, no email address. It
-- writes only schema analytics (revision 0020), where it owns every view and table.
--
-- How readers see marts. dbt rebuilds a mart as a new table on every run (create as
-- select, then swap), so a row-level policy on it would have to be re-created after each
-- swap by a post-hook, and a failed or forgotten hook would leave a mart readable in
-- full. Instead the marts are granted to aigw_owner only (dbt's `grants` config, applied
-- in the same build that creates each table) and read only through the api.* functions
-- at the end of this file. Those run as aigw_owner and filter every row with the same
-- identity helpers the policies use: a platform admin sees everything, an area owner the
-- teams of their areas, a team admin their teams, anyone else only their own rows.

set local role aigw_owner;

-- ---------------------------------------------------------------------------
-- dbt's sources: column grants and a policy that lets aigw_dbt read every row of them
-- (analytics is organisation-wide; the readers below narrow it down per caller)
-- ---------------------------------------------------------------------------

grant usage on schema events, iam, policy, cache, league to aigw_dbt;

-- Start from no privilege at all on each source, so a column dropped from a list below
-- is no longer readable after the next `aigw migrate`.
revoke all on events.requests, events.hooks, iam.areas, iam.teams, iam.users, iam.api_keys,
    iam.service_accounts, iam.team_members, policy.models, policy.pricing,
    cache.team_daily_stats, league.leaderboard_opt_ins from aigw_dbt;

grant select (request_id, started_at, recorded_at, endpoint, wire, status, key_id, team_id,
    owner_user_id, service_account_id, model_requested, model_served, deployment, client,
    stream, input_tokens, output_tokens, cached_input_tokens, cost_usd, latency_ms,
    upstream_latency_ms, upstream_attempts, error_type, session_id, tool_calls,
    client_disconnected, cache, saved_input_tokens, saved_output_tokens, saved_usd,
    guardrail_action, message_count, last_turn_tool_result, tools_offered, tags)
    on events.requests to aigw_dbt;
grant select (id, received_at, key_id, user_id, service_account_id, team_id, session_id,
    hook_event_name, tool_name, permission_mode) on events.hooks to aigw_dbt;
grant select (id, name, created_at) on iam.areas to aigw_dbt;
grant select (id, name, area_id, created_at) on iam.teams to aigw_dbt;
-- the leaderboard shows display names; an email address is not needed anywhere
grant select (id, display_name, status, created_at) on iam.users to aigw_dbt;
grant select (id, prefix, name, team_id, owner_user_id, service_account_id, status,
    created_at, revoked_at) on iam.api_keys to aigw_dbt;
grant select (id, team_id, name, status, created_at) on iam.service_accounts to aigw_dbt;
grant select (team_id, user_id, added_at) on iam.team_members to aigw_dbt;
grant select (name, provider, enabled, created_at) on policy.models to aigw_dbt;
grant select (model, input_usd_per_mtok, output_usd_per_mtok, cached_input_usd_per_mtok,
    updated_at) on policy.pricing to aigw_dbt;
grant select (team_id, day, exact_hits, semantic_hits, misses, bypasses, saved_usd)
    on cache.team_daily_stats to aigw_dbt;
grant select (user_id, on_team_board, on_company_board, updated_at)
    on league.leaderboard_opt_ins to aigw_dbt;

create policy "dbt reads every request event" on events.requests
    for select to aigw_dbt using (true);
create policy "dbt reads every hook event" on events.hooks
    for select to aigw_dbt using (true);
create policy "dbt reads every area" on iam.areas for select to aigw_dbt using (true);
create policy "dbt reads every team" on iam.teams for select to aigw_dbt using (true);
create policy "dbt reads every user" on iam.users for select to aigw_dbt using (true);
create policy "dbt reads every key" on iam.api_keys for select to aigw_dbt using (true);
create policy "dbt reads every service account" on iam.service_accounts
    for select to aigw_dbt using (true);
create policy "dbt reads every membership" on iam.team_members
    for select to aigw_dbt using (true);
create policy "dbt reads every model" on policy.models for select to aigw_dbt using (true);
create policy "dbt reads every price" on policy.pricing for select to aigw_dbt using (true);
create policy "dbt reads every team's cache counters" on cache.team_daily_stats
    for select to aigw_dbt using (true);
create policy "dbt reads every leaderboard choice" on league.leaderboard_opt_ins
    for select to aigw_dbt using (true);

-- ---------------------------------------------------------------------------
-- Leaderboard opt-ins: each user decides for themselves; both boards start off.
-- ---------------------------------------------------------------------------

grant select, insert, update (on_team_board, on_company_board, updated_at)
    on league.leaderboard_opt_ins to aigw_owner;

create policy "users see their own leaderboard choice" on league.leaderboard_opt_ins
    for select to aigw_owner using (user_id = (select iam.active_user_id()));
create policy "users make their own leaderboard choice" on league.leaderboard_opt_ins
    for insert to aigw_owner with check (user_id = (select iam.active_user_id()));
create policy "users change their own leaderboard choice" on league.leaderboard_opt_ins
    for update to aigw_owner
    using (user_id = (select iam.active_user_id()))
    with check (user_id = (select iam.active_user_id()));
-- Who chose to appear is no secret: the leaderboard readers check the current choice, so
-- opting out takes effect at once rather than at the next rebuild of the marts.
create policy "anyone sees who chose to appear on a leaderboard" on league.leaderboard_opt_ins
    for select to aigw_owner using (on_team_board or on_company_board);

set local role aigw_owner;

create function api.set_leaderboard_opt_in(p_team_board boolean, p_company_board boolean)
returns table (on_team_board boolean, on_company_board boolean, updated_at timestamptz)
language plpgsql volatile security definer
set search_path = pg_catalog, pg_temp
as $$
#variable_conflict use_column
declare
    v_me uuid := iam.active_user_id();
begin
    if v_me is null then
        raise exception 'only a signed-in user chooses their leaderboards' using errcode = 'AIG01',
            hint = 'Sign in as the user whose choice this is.';
    end if;
    if p_team_board is null or p_company_board is null then
        raise exception 'say yes or no to both boards' using errcode = 'AIG06';
    end if;
    return query
        insert into league.leaderboard_opt_ins as o
               (user_id, on_team_board, on_company_board, updated_at)
        values (v_me, p_team_board, p_company_board, now())
        on conflict (user_id) do update
           set on_team_board = excluded.on_team_board,
               on_company_board = excluded.on_company_board,
               updated_at = excluded.updated_at
        returning o.on_team_board, o.on_company_board, o.updated_at;
end
$$;
comment on function api.set_leaderboard_opt_in(boolean, boolean) is
    'Appear (true) or not on your teams'' leaderboards and the company-wide one. Both are '
    'off until you turn them on; turning one off hides you from it at once.';

create function api.leaderboard_opt_in()
returns table (on_team_board boolean, on_company_board boolean, updated_at timestamptz)
language sql stable security definer
set search_path = pg_catalog, pg_temp
as $$
    select coalesce(o.on_team_board, false), coalesce(o.on_company_board, false), o.updated_at
      from (select iam.active_user_id() as me) as v
      left join league.leaderboard_opt_ins o on o.user_id = v.me
     where v.me is not null
$$;
comment on function api.leaderboard_opt_in() is
    'Your leaderboard choice (both boards off unless you turned them on).';

-- ---------------------------------------------------------------------------
-- Readers of the marts. Each sees what the caller may see of the rows the mart was built
-- from: a platform admin everything, an area owner and a team admin the teams they manage
-- (iam.managed_team_ids()), anyone else their own rows (user_id = iam.active_user_id()).
-- Aggregates over a team (cache, model insights, team scores, laggards) are for the
-- team's managers only: a member could otherwise subtract themselves from a total.
-- Until the first `aigw analytics run` the marts do not exist: the readers say so.
-- Each reader plans its query for the caller at hand (plan_cache_mode
-- force_custom_plan): a plan cached for any caller cannot tell from
-- `v_all or team_id = any (v_teams) or user_id = v_me` which index serves it, and after a
-- few calls PL/pgSQL would switch to such a generic plan, a scan of the whole mart for a
-- team admin or a developer who needs a few rows. Planning anew costs well under a
-- millisecond.
-- ---------------------------------------------------------------------------

create function api.analytics_daily_cost(
    p_from date default null, p_to date default null, p_limit integer default 10000
)
returns table (
    usage_day date, team_id uuid, area_id uuid, key_id uuid, user_id uuid,
    service_account_id uuid, model_served text, deployment text, tags jsonb,
    request_count bigint, error_count bigint, cache_hit_count bigint, input_tokens bigint,
    cached_input_tokens bigint, output_tokens bigint, cost_usd numeric,
    list_cost_usd numeric, saved_usd numeric)
language plpgsql stable security definer
set search_path = pg_catalog, pg_temp
set plan_cache_mode = force_custom_plan
as $$
#variable_conflict use_column
declare
    v_all boolean := iam.is_platform_admin();
    v_teams uuid[] := iam.managed_team_ids();
    v_me uuid := iam.active_user_id();
begin
    perform iam.require_authenticated();
    return query
        select c.usage_day, c.team_id, c.area_id, c.key_id, c.user_id, c.service_account_id,
               c.model_served, c.deployment, c.tags, c.request_count, c.error_count,
               c.cache_hit_count, c.input_tokens, c.cached_input_tokens, c.output_tokens,
               c.cost_usd, c.list_cost_usd, c.saved_usd
          from analytics.daily_cost c
         where c.usage_day >= coalesce(p_from, current_date - 30)
           and c.usage_day <= coalesce(p_to, current_date)
           and (v_all or c.team_id = any (v_teams) or (v_me is not null and c.user_id = v_me))
         order by c.usage_day, c.team_id, c.cost_usd desc
         limit least(greatest(coalesce(p_limit, 10000), 1), 100000);
exception when undefined_table then
    raise exception 'the analytics marts are not built yet' using errcode = 'AIG04',
        hint = 'Build them with: aigw analytics run';
end
$$;
comment on function api.analytics_daily_cost(date, date, integer) is
    'Daily cost rows (UTC days p_from..p_to, default the last 30) the caller may see, at '
    'most p_limit (default 10,000, at most 100,000): '
    'per team, key, principal, model, deployment and tag set. '
    'Example: select * from api.analytics_daily_cost(current_date - 7);';

create function api.analytics_my_daily_cost(p_from date default null, p_to date default null)
returns table (
    usage_day date, team_id uuid, model_served text, request_count bigint,
    cache_hit_count bigint, input_tokens bigint, output_tokens bigint, cost_usd numeric,
    saved_usd numeric)
language plpgsql stable security definer
set search_path = pg_catalog, pg_temp
as $$
#variable_conflict use_column
declare
    v_me uuid := iam.active_user_id();
begin
    perform iam.require_authenticated();
    -- The caller's own rows only, whatever else they manage: the developer portal's
    -- personal figures, read by the (user_id, usage_day) index however large the
    -- organisation an admin can see.
    return query
        select c.usage_day, c.team_id, c.model_served, c.request_count, c.cache_hit_count,
               c.input_tokens, c.output_tokens, c.cost_usd, c.saved_usd
          from analytics.daily_cost c
         where v_me is not null and c.user_id = v_me
           and c.usage_day >= coalesce(p_from, current_date - 30)
           and c.usage_day <= coalesce(p_to, current_date)
         order by c.usage_day, c.cost_usd desc;
exception when undefined_table then
    raise exception 'the analytics marts are not built yet' using errcode = 'AIG04',
        hint = 'Build them with: aigw analytics run';
end
$$;
comment on function api.analytics_my_daily_cost(date, date) is
    'Your own daily cost rows (UTC days p_from..p_to, default the last 30): per day, team '
    'and model, nobody else''s even for those who manage teams.';

create function api.analytics_cost_by(
    p_dimension text, p_from date default null, p_to date default null,
    p_limit integer default 10000
) returns table (
    usage_day date, team_id uuid, dimension_value text, request_count bigint,
    input_tokens bigint, output_tokens bigint, cost_usd numeric, saved_usd numeric)
language plpgsql stable security definer
set search_path = pg_catalog, pg_temp
set plan_cache_mode = force_custom_plan
as $$
#variable_conflict use_column
declare
    v_all boolean := iam.is_platform_admin();
    v_teams uuid[] := iam.managed_team_ids();
    v_areas uuid[] := iam.owned_area_ids();
    v_me uuid := iam.active_user_id();
    v_from date := coalesce(p_from, current_date - 30);
    v_to date := coalesce(p_to, current_date);
begin
    perform iam.require_authenticated();
    if p_dimension = 'team' then
        return query select c.usage_day, c.team_id, c.team_id::text, c.request_count,
                            c.input_tokens, c.output_tokens, c.cost_usd, c.saved_usd
          from analytics.daily_cost_by_team c
         where c.usage_day between v_from and v_to and (v_all or c.team_id = any (v_teams))
         order by 1, 2
         limit least(greatest(coalesce(p_limit, 10000), 1), 100000);
    elsif p_dimension = 'area' then
        return query select c.usage_day, null::uuid, c.area_id::text, c.request_count,
                            c.input_tokens, c.output_tokens, c.cost_usd, c.saved_usd
          from analytics.daily_cost_by_area c
         where c.usage_day between v_from and v_to
           and (v_all or c.area_id = any (v_areas))
         order by 1, 3
         limit least(greatest(coalesce(p_limit, 10000), 1), 100000);
    elsif p_dimension = 'model' then
        return query select c.usage_day, c.team_id, c.model_served, c.request_count,
                            c.input_tokens, c.output_tokens, c.cost_usd, c.saved_usd
          from analytics.daily_cost_by_model c
         where c.usage_day between v_from and v_to and (v_all or c.team_id = any (v_teams))
         order by 1, 2, 3
         limit least(greatest(coalesce(p_limit, 10000), 1), 100000);
    elsif p_dimension = 'key' then
        return query select c.usage_day, c.team_id, c.key_id::text, c.request_count,
                            c.input_tokens, c.output_tokens, c.cost_usd, c.saved_usd
          from analytics.daily_cost_by_key c
         where c.usage_day between v_from and v_to and (v_all or c.team_id = any (v_teams))
         order by 1, 2, 3
         limit least(greatest(coalesce(p_limit, 10000), 1), 100000);
    elsif p_dimension = 'user' then
        return query select c.usage_day, c.team_id,
                            coalesce(c.user_id, c.service_account_id)::text, c.request_count,
                            c.input_tokens, c.output_tokens, c.cost_usd, c.saved_usd
          from analytics.daily_cost_by_user c
         where c.usage_day between v_from and v_to
           and (v_all or c.team_id = any (v_teams) or (v_me is not null and c.user_id = v_me))
         order by 1, 2, 3
         limit least(greatest(coalesce(p_limit, 10000), 1), 100000);
    elsif p_dimension = 'tag' then
        -- The tag mart is per team, for the team's managers. A developer's own tagged
        -- cost (a pull request's, say) in the teams they do not manage is summed from
        -- their own daily_cost rows instead: their rows only, never their team's total.
        return query
        select c.usage_day, c.team_id, c.tag_key || '=' || c.tag_value,
               c.request_count, c.input_tokens, c.output_tokens, c.cost_usd, c.saved_usd
          from analytics.daily_cost_by_tag c
         where c.usage_day between v_from and v_to and (v_all or c.team_id = any (v_teams))
        union all
        select d.usage_day, d.team_id, t.key || '=' || t.value, sum(d.request_count)::bigint,
               sum(d.input_tokens)::bigint, sum(d.output_tokens)::bigint, sum(d.cost_usd),
               sum(d.saved_usd)
          from analytics.daily_cost d
         cross join lateral jsonb_each_text(d.tags) as t
         where d.usage_day between v_from and v_to
           and not v_all and v_me is not null and d.user_id = v_me
           and not coalesce(d.team_id = any (v_teams), false)
         group by 1, 2, 3
         order by 1, 2, 3
         limit least(greatest(coalesce(p_limit, 10000), 1), 100000);
    else
        raise exception 'unknown cost dimension "%"', left(p_dimension, 40) using errcode = 'AIG06',
            hint = 'One of: team, area, model, key, user, tag.';
    end if;
exception when undefined_table then
    raise exception 'the analytics marts are not built yet' using errcode = 'AIG04',
        hint = 'Build them with: aigw analytics run';
end
$$;
comment on function api.analytics_cost_by(text, date, date, integer) is
    'Daily cost by team, area, model, key, user or tag (key=value; a request with several '
    'tags counts under each) for the teams the caller manages (areas: area owners; users '
    'and tags: also your own rows); at most p_limit rows (default 10,000, at most 100,000). '
    'Example: select * from api.analytics_cost_by(''model'');';

create function api.analytics_cache_savings(p_from date default null, p_to date default null)
returns table (
    usage_day date, team_id uuid, exact_hit_count bigint, semantic_hit_count bigint,
    miss_count bigint, bypass_count bigint, hit_rate double precision, saved_usd numeric,
    cost_usd numeric, savings_share numeric)
language plpgsql stable security definer
set search_path = pg_catalog, pg_temp
set plan_cache_mode = force_custom_plan
as $$
#variable_conflict use_column
declare
    v_all boolean := iam.is_platform_admin();
    v_teams uuid[] := iam.managed_team_ids();
begin
    perform iam.require_authenticated();
    return query
        select c.usage_day, c.team_id, c.exact_hit_count, c.semantic_hit_count, c.miss_count,
               c.bypass_count, c.hit_rate, c.saved_usd, c.cost_usd, c.savings_share
          from analytics.daily_cache_savings c
         where c.usage_day >= coalesce(p_from, current_date - 30)
           and c.usage_day <= coalesce(p_to, current_date)
           and (v_all or c.team_id = any (v_teams))
         order by 1, 2;
exception when undefined_table then
    raise exception 'the analytics marts are not built yet' using errcode = 'AIG04',
        hint = 'Build them with: aigw analytics run';
end
$$;
comment on function api.analytics_cache_savings(date, date) is
    'What the response cache saved per team and UTC day, for the teams the caller manages.';

create function api.analytics_model_insights(p_from date default null, p_to date default null)
returns table (
    usage_day date, team_id uuid, model_served text, deployment text, request_count bigint,
    error_count bigint, error_rate double precision, rate_limited_count bigint,
    upstream_error_count bigint, retried_count bigint, latency_ms_p50 double precision,
    latency_ms_p95 double precision, upstream_latency_ms_p95 double precision,
    most_common_error_type text)
language plpgsql stable security definer
set search_path = pg_catalog, pg_temp
set plan_cache_mode = force_custom_plan
as $$
#variable_conflict use_column
declare
    v_all boolean := iam.is_platform_admin();
    v_teams uuid[] := iam.managed_team_ids();
begin
    perform iam.require_authenticated();
    return query
        select c.usage_day, c.team_id, c.model_served, c.deployment, c.request_count,
               c.error_count, c.error_rate, c.rate_limited_count, c.upstream_error_count,
               c.retried_count, c.latency_ms_p50, c.latency_ms_p95, c.upstream_latency_ms_p95,
               c.most_common_error_type
          from analytics.daily_model_insights c
         where c.usage_day >= coalesce(p_from, current_date - 30)
           and c.usage_day <= coalesce(p_to, current_date)
           and (v_all or c.team_id = any (v_teams))
         order by 1, 2, 3, 4;
exception when undefined_table then
    raise exception 'the analytics marts are not built yet' using errcode = 'AIG04',
        hint = 'Build them with: aigw analytics run';
end
$$;
comment on function api.analytics_model_insights(date, date) is
    'Errors and latency per UTC day, team, model and deployment, for the teams the caller '
    'manages.';

create function api.analytics_sessions(
    p_since timestamptz default null, p_limit integer default 1000
) returns table (
    session_key text, session_id text, team_id uuid, user_id uuid, service_account_id uuid,
    started_at timestamptz, ended_at timestamptz, request_count bigint,
    human_prompt_count bigint, tool_call_count bigint, tool_result_share double precision,
    calls_per_prompt double precision, median_gap_seconds double precision,
    permission_mode text, session_class text, cost_usd numeric)
language plpgsql stable security definer
set search_path = pg_catalog, pg_temp
set plan_cache_mode = force_custom_plan
as $$
#variable_conflict use_column
declare
    v_all boolean := iam.is_platform_admin();
    v_teams uuid[] := iam.managed_team_ids();
    v_me uuid := iam.active_user_id();
begin
    perform iam.require_authenticated();
    return query
        select s.session_key, s.session_id, s.team_id, s.user_id, s.service_account_id,
               s.started_at, s.ended_at, s.request_count, s.human_prompt_count,
               s.tool_call_count, s.tool_result_share, s.calls_per_prompt,
               s.median_gap_seconds, s.permission_mode, s.session_class, s.cost_usd
          from analytics.sessions s
         where s.started_at >= coalesce(p_since, now() - interval '7 days')
           and (v_all or s.team_id = any (v_teams) or (v_me is not null and s.user_id = v_me))
         order by s.started_at desc
         limit least(greatest(coalesce(p_limit, 1000), 1), 10000);
exception when undefined_table then
    raise exception 'the analytics marts are not built yet' using errcode = 'AIG04',
        hint = 'Build them with: aigw analytics run';
end
$$;
comment on function api.analytics_sessions(timestamptz, integer) is
    'Sessions since p_since (default a week), classified interactive, agentic or '
    'autonomous: the caller''s own, and all of the teams they manage.';

create function api.analytics_weekly_transformation(
    p_level text default 'developer', p_weeks integer default 8,
    p_limit integer default 10000
) returns table (
    week_start date, team_id uuid, user_id uuid, session_count bigint,
    interactive_session_count bigint, agentic_session_count bigint,
    autonomous_session_count bigint, agentic_share double precision, agentic_score integer)
language plpgsql stable security definer
set search_path = pg_catalog, pg_temp
set plan_cache_mode = force_custom_plan
as $$
#variable_conflict use_column
declare
    v_all boolean := iam.is_platform_admin();
    v_teams uuid[] := iam.managed_team_ids();
    v_me uuid := iam.active_user_id();
    v_since date := (now() at time zone 'UTC')::date
                    - 7 * least(greatest(coalesce(p_weeks, 8), 1), 520);
begin
    perform iam.require_authenticated();
    if p_level = 'developer' then
        return query
            select d.week_start, d.team_id, d.user_id, d.session_count,
                   d.interactive_session_count, d.agentic_session_count,
                   d.autonomous_session_count, d.agentic_share, d.agentic_score
              from analytics.weekly_transformation_by_developer d
             where d.week_start >= v_since
               and (v_all or d.team_id = any (v_teams) or (v_me is not null and d.user_id = v_me))
             order by 1, 2, d.agentic_score desc
             limit least(greatest(coalesce(p_limit, 10000), 1), 100000);
    elsif p_level = 'team' then
        return query
            select t.week_start, t.team_id, null::uuid, t.session_count,
                   t.interactive_session_count, t.agentic_session_count,
                   t.autonomous_session_count, t.agentic_share, t.agentic_score
              from analytics.weekly_transformation_by_team t
             where t.week_start >= v_since and (v_all or t.team_id = any (v_teams))
             order by 1, 2
             limit least(greatest(coalesce(p_limit, 10000), 1), 100000);
    else
        raise exception 'unknown level "%"', left(p_level, 40) using errcode = 'AIG06',
            hint = 'One of: developer, team.';
    end if;
exception when undefined_table then
    raise exception 'the analytics marts are not built yet' using errcode = 'AIG04',
        hint = 'Build them with: aigw analytics run';
end
$$;
comment on function api.analytics_weekly_transformation(text, integer, integer) is
    'Weekly sessions by class and the agentic score (0-100), per developer (yours, and the '
    'developers of the teams you manage) or per team (teams you manage), last p_weeks weeks.';

create function api.leaderboard(
    p_board text default 'company', p_team text default null, p_week date default null
) returns table (
    week_start date, rank bigint, display_name text, agentic_score integer,
    session_count bigint, is_me boolean)
language plpgsql stable security definer
set search_path = pg_catalog, pg_temp
set plan_cache_mode = force_custom_plan
as $$
#variable_conflict use_column
declare
    v_me uuid := iam.active_user_id();
    v_team uuid;
    v_week date;
begin
    perform iam.require_authenticated();
    if p_board = 'team' then
        select t.id into v_team from iam.teams t where t.name = p_team;
        if v_team is null or not (iam.is_platform_admin()
                                  or v_team = any (iam.readable_team_ids())) then
            raise exception 'team "%" not found', left(coalesce(p_team, ''), 63)
                using errcode = 'AIG04', hint = 'Name one of your teams.';
        end if;
    elsif p_board is distinct from 'company' then
        raise exception 'unknown board "%"', left(coalesce(p_board, ''), 40)
            using errcode = 'AIG06', hint = 'One of: company, team.';
    end if;
    select coalesce(p_week, max(l.week_start)) into v_week
      from analytics.leaderboard l
     where l.board = p_board and l.team_id is not distinct from v_team;
    -- Ranked again among those still opted in: someone who opted out since the last
    -- build is gone from the board at once, and leaves no gap in the ranks.
    return query
        select l.week_start,
               rank() over (order by l.agentic_score desc),
               l.display_name, l.agentic_score, l.session_count,
               coalesce(l.user_id = v_me, false)
          from analytics.leaderboard l
          join league.leaderboard_opt_ins o
            on o.user_id = l.user_id
           and ((p_board = 'team' and o.on_team_board)
                or (p_board = 'company' and o.on_company_board))
         where l.board = p_board and l.team_id is not distinct from v_team
           and l.week_start = v_week
         order by 2, 3;
exception when undefined_table then
    raise exception 'the analytics marts are not built yet' using errcode = 'AIG04',
        hint = 'Build them with: aigw analytics run';
end
$$;
comment on function api.leaderboard(text, text, date) is
    'A week''s agentic-score leaderboard (default the latest): company-wide, or of one of '
    'your teams. Only people who opted in (api.set_leaderboard_opt_in) appear.';

create function api.analytics_achievements()
returns table (user_id uuid, team_id uuid, achievement text, earned_at timestamptz,
               is_me boolean)
language plpgsql stable security definer
set search_path = pg_catalog, pg_temp
set plan_cache_mode = force_custom_plan
as $$
#variable_conflict use_column
declare
    v_all boolean := iam.is_platform_admin();
    v_teams uuid[] := iam.managed_team_ids();
    v_me uuid := iam.active_user_id();
begin
    perform iam.require_authenticated();
    return query
        select a.user_id, a.team_id, a.achievement, a.earned_at,
               coalesce(a.user_id = v_me, false)
          from analytics.achievements a
         where v_all or a.team_id = any (v_teams) or (v_me is not null and a.user_id = v_me)
         order by a.earned_at;
exception when undefined_table then
    raise exception 'the analytics marts are not built yet' using errcode = 'AIG04',
        hint = 'Build them with: aigw analytics run';
end
$$;
comment on function api.analytics_achievements() is
    'Achievements earned (once each, with the time): yours, and those earned in the teams '
    'you manage.';

create function api.analytics_laggards()
returns table (team_id uuid, session_count bigint, agentic_share double precision,
               org_agentic_share double precision, share_of_org double precision,
               is_laggard boolean)
language plpgsql stable security definer
set search_path = pg_catalog, pg_temp
set plan_cache_mode = force_custom_plan
as $$
#variable_conflict use_column
declare
    v_all boolean := iam.is_platform_admin();
    v_teams uuid[] := iam.managed_team_ids();
begin
    perform iam.require_authenticated();
    return query
        select l.team_id, l.session_count, l.agentic_share, l.org_agentic_share,
               l.share_of_org, l.is_laggard
          from analytics.team_agentic_laggards l
         where v_all or l.team_id = any (v_teams)
         order by l.share_of_org nulls last, l.team_id;
exception when undefined_table then
    raise exception 'the analytics marts are not built yet' using errcode = 'AIG04',
        hint = 'Build them with: aigw analytics run';
end
$$;
comment on function api.analytics_laggards() is
    'Teams you manage with their agentic share over the last four weeks beside the '
    'organisation''s; is_laggard when far below it.';

create function api.authorize_classification() returns void
language plpgsql stable security definer
set search_path = pg_catalog, pg_temp
set plan_cache_mode = force_custom_plan
as $$
begin
    perform iam.require_authenticated();
    if not iam.is_platform_admin() then
        raise exception 'only platform admins run the classification' using errcode = 'AIG03',
            hint = 'It rebuilds the sessions of every team; the marts refresh on their own '
                   'every few minutes.';
    end if;
end
$$;
comment on function api.authorize_classification() is
    'Refuses (AIG03) anyone but a platform admin: what POST /admin/transformation/classify '
    'checks before it rebuilds the session marts of the whole organisation.';

create function api.analytics_session_classes(p_since timestamptz default null)
returns table (session_class text, session_count bigint)
language plpgsql stable security definer
set search_path = pg_catalog, pg_temp
set plan_cache_mode = force_custom_plan
as $$
#variable_conflict use_column
declare
    v_all boolean := iam.is_platform_admin();
    v_teams uuid[] := iam.managed_team_ids();
    v_me uuid := iam.active_user_id();
begin
    perform iam.require_authenticated();
    return query
        select s.session_class, count(*)
          from analytics.sessions s
         where s.started_at >= coalesce(p_since, now() - interval '30 days')
           and (v_all or s.team_id = any (v_teams) or (v_me is not null and s.user_id = v_me))
         group by s.session_class
         order by s.session_class;
exception when undefined_table then
    raise exception 'the analytics marts are not built yet' using errcode = 'AIG04',
        hint = 'Build them with: aigw analytics run';
end
$$;
comment on function api.analytics_session_classes(timestamptz) is
    'How many sessions since p_since (default 30 days) were interactive, agentic and '
    'autonomous, of those the caller may see.';

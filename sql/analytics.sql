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

grant usage on schema league to aigw_internal;
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

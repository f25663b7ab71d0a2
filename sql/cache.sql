-- The response cache's Postgres half: semantic entries (pgvector), per-team daily
-- statistics, cache policy and purging. The exact cache itself lives in Redis.
--
-- Tenant isolation is enforced by row-level security, not by the lookup's WHERE clause:
-- the gateway's functions run as aigw_internal, whose policy on cache.semantic_entries
-- admits only the rows of the team named in the transaction setting aigw.cache_team,
-- which each function sets from its p_team_id argument before it touches the table.

set local role aigw_owner;

grant usage on schema cache to aigw_internal;
grant select, insert, delete on cache.semantic_entries to aigw_internal;
grant select, insert, update on cache.team_daily_stats to aigw_internal;
-- Purging bumps the team's cache generation, which retires its exact (Redis) entries.
grant update (cache_generation) on policy.team_policies to aigw_internal;
grant execute on function iam.principals_changed(text) to aigw_internal;

create policy "internal functions see one team's entries at a time" on cache.semantic_entries
    for all to aigw_internal
    using (team_id = (select nullif(current_setting('aigw.cache_team', true), '')::uuid))
    with check (team_id = (select nullif(current_setting('aigw.cache_team', true), '')::uuid));
create policy "internal functions sweep expired entries" on cache.semantic_entries
    for delete to aigw_internal using (expires_at <= now());

create policy "internal functions count every team's cache use" on cache.team_daily_stats
    for all to aigw_internal using (true) with check (true);
create policy "cache statistics are visible to whoever sees the team" on cache.team_daily_stats
    for select to aigw_owner using (team_id = any ((select iam.readable_team_ids())::uuid[]));

create policy "internal functions bump the cache generation" on policy.team_policies
    for update to aigw_internal using (true) with check (true);

-- ---------------------------------------------------------------------------
-- api.*: policy and statistics, for people (under their own policies)
-- ---------------------------------------------------------------------------

create function api.set_cache_policy(
    p_team text,
    p_mode text,
    p_scope text default 'team',
    p_ttl_s integer default 3600,
    p_semantic_threshold double precision default 0.9,
    p_semantic_max_temperature double precision default 1.0,
    p_semantic_tool_turns boolean default false
) returns void
language plpgsql volatile security definer
set search_path = pg_catalog, pg_temp
as $$
declare
    v_team uuid;
begin
    perform iam.require_authenticated();
    v_team := iam.team_id(p_team);
    if p_mode is null or p_mode not in ('off', 'exact', 'semantic') then
        raise exception 'cache mode must be off, exact or semantic' using errcode = 'AIG06';
    elsif p_scope is null or p_scope not in ('team', 'user', 'key') then
        raise exception 'cache scope must be team, user or key' using errcode = 'AIG06';
    elsif p_ttl_s is null or p_ttl_s not between 1 and 2592000 then
        raise exception 'cache TTL must be between 1 second and 30 days' using errcode = 'AIG06';
    elsif p_semantic_threshold is null or p_semantic_threshold not between 0.5 and 1 then
        raise exception 'semantic threshold must be between 0.5 and 1' using errcode = 'AIG06';
    elsif p_semantic_max_temperature is null or p_semantic_max_temperature < 0 then
        raise exception 'semantic max temperature must be 0 or more' using errcode = 'AIG06';
    end if;
    update policy.team_policies
       set cache_mode = p_mode, cache_scope = p_scope, cache_ttl_s = p_ttl_s,
           semantic_threshold = p_semantic_threshold,
           semantic_max_temperature = p_semantic_max_temperature,
           semantic_tool_turns = coalesce(p_semantic_tool_turns, false),
           updated_at = now()
     where team_id = v_team;
    if not found then
        raise exception 'you may not set the cache policy of team "%"', p_team
            using errcode = 'AIG03',
            hint = 'Cache policies are set by the owner of the team''s area or a platform admin.';
    end if;
    perform iam.principals_changed();
end
$$;
comment on function api.set_cache_policy(text, text, text, integer, double precision, double precision, boolean) is
    'Set a team''s response cache: mode off | exact | semantic, scope team | user | key (who '
    'shares entries), TTL in seconds, semantic similarity threshold, the highest temperature '
    'answered semantically, and whether tool-call turns may be (area owners, platform admins).';

create function api.list_cache_policies()
returns table (team text, mode text, scope text, ttl_s integer, semantic_threshold real,
               semantic_max_temperature real, semantic_tool_turns boolean)
language sql stable security definer
set search_path = pg_catalog, pg_temp
as $$
    select t.name, p.cache_mode, p.cache_scope, p.cache_ttl_s, p.semantic_threshold,
           p.semantic_max_temperature, p.semantic_tool_turns
    from policy.team_policies p join iam.teams t on t.id = p.team_id
    order by t.name
$$;
comment on function api.list_cache_policies() is
    'Cache policies of the teams the caller may see.';

create function api.cache_stats(p_team text default null, p_days integer default 30)
returns table (team text, requests bigint, exact_hits bigint, semantic_hits bigint,
               misses bigint, bypasses bigint, hit_rate numeric, saved_usd numeric)
language sql stable security definer
set search_path = pg_catalog, pg_temp
as $$
    select t.name,
           sum(s.exact_hits + s.semantic_hits + s.misses + s.bypasses)::bigint,
           sum(s.exact_hits)::bigint, sum(s.semantic_hits)::bigint,
           sum(s.misses)::bigint, sum(s.bypasses)::bigint,
           round(sum(s.exact_hits + s.semantic_hits)::numeric
                 / nullif(sum(s.exact_hits + s.semantic_hits + s.misses), 0), 4),
           round(sum(s.saved_usd), 6)
    from cache.team_daily_stats s join iam.teams t on t.id = s.team_id
    where s.day > current_date - greatest(p_days, 1)
      and (p_team is null or t.name = p_team)
    group by t.name
    order by t.name
$$;
comment on function api.cache_stats(text, integer) is
    'Per team over the last p_days days: requests seen by the cache, exact and semantic hits, '
    'misses, bypasses (no-cache, ineligible), hit rate (hits / (hits + misses)) and what the '
    'hits saved in provider cost (USD). Teams the caller may see.';

-- ---------------------------------------------------------------------------
-- api.*: the gateway's calls (aigw_internal: one team at a time, under RLS)
-- ---------------------------------------------------------------------------

set local role aigw_internal;

create function api.purge_cache(p_team text) returns bigint
language plpgsql volatile security definer
set search_path = pg_catalog, pg_temp
as $$
declare
    v_team uuid;
    v_deleted bigint;
begin
    if not iam.is_authenticated() then
        raise exception 'no authenticated principal' using errcode = 'AIG01';
    end if;
    select t.id into v_team from iam.teams t
     where t.name = p_team and t.id = any (iam.readable_team_ids());
    if v_team is null then
        raise exception 'team "%" not found', p_team using errcode = 'AIG04',
            hint = 'List the teams you can see with: select * from api.list_teams();';
    elsif not v_team = any (iam.managed_team_ids()) then
        raise exception 'you may not purge the cache of team "%"', p_team using errcode = 'AIG03',
            hint = 'Team admins, the area''s owner and platform admins may.';
    end if;
    -- Exact entries are keyed by generation: bumping it retires them on every gateway
    -- as soon as the principal caches are dropped (at commit).
    update policy.team_policies set cache_generation = cache_generation + 1
     where team_id = v_team;
    perform set_config('aigw.cache_team', v_team::text, true);
    delete from cache.semantic_entries where team_id = v_team;
    get diagnostics v_deleted = row_count;
    perform iam.principals_changed();
    return v_deleted;
end
$$;
comment on function api.purge_cache(text) is
    'Drop every cached answer of a team, exact and semantic (team admins, area owners, '
    'platform admins); returns how many semantic entries were deleted.';

create function api.semantic_cache_lookup(
    p_team_id uuid, p_scope text, p_wire text, p_model text, p_embedder text,
    p_context_hash bytea, p_guard_hash bytea, p_embedding real[], p_threshold double precision
) returns table (entry_id uuid, similarity real, response jsonb, input_tokens integer,
                 output_tokens integer, cost_usd numeric)
language plpgsql volatile security definer
set search_path = pg_catalog, extensions, pg_temp
as $$
#variable_conflict use_column
declare
    v_query vector(384) := p_embedding::vector(384);
begin
    perform set_config('aigw.cache_team', p_team_id::text, true);
    -- The scope (tenant, context, signature) is selected by btree first, then ordered by
    -- exact distance: measured (tests/perf/bench_cache.py) far faster than an HNSW index
    -- with the same filter, whose post-filtering wades through other tenants' rows, and
    -- exact (recall 1). A scope is searched among its newest MAX_SCOPE entries, which
    -- bounds the worst case (one team, one system prompt, thousands of prompts).
    return query
        with scope as materialized (
            select e.id, e.embedding, e.response, e.input_tokens, e.output_tokens, e.cost_usd
              from cache.semantic_entries e
             where e.team_id = p_team_id and e.context_hash = p_context_hash
               and e.guard_hash = p_guard_hash and e.scope = p_scope and e.model = p_model
               and e.wire = p_wire and e.embedder = p_embedder and e.expires_at > now()
             order by e.created_at desc
             limit 10000  -- MAX_SCOPE
        )
        select n.* from (
            select s.id, (1 - (s.embedding <=> v_query))::real as similarity,
                   s.response, s.input_tokens, s.output_tokens, s.cost_usd
              from scope s
             order by s.embedding <=> v_query
             limit 1
        ) n
        -- the nearest entry only counts when it is close enough
        where n.similarity >= p_threshold;
end
$$;
comment on function api.semantic_cache_lookup(uuid, text, text, text, text, bytea, bytea, real[], double precision) is
    'The gateway''s semantic lookup: the nearest live entry of one tenant scope with the same '
    'context and meaning signature, when its cosine similarity reaches p_threshold.';

create function api.semantic_cache_store(
    p_team_id uuid, p_scope text, p_wire text, p_model text, p_embedder text,
    p_context_hash bytea, p_guard_hash bytea, p_embedding real[], p_response jsonb,
    p_input_tokens integer, p_output_tokens integer, p_cached_input_tokens integer,
    p_ttl_s integer
) returns uuid
language plpgsql volatile security definer
set search_path = pg_catalog, extensions, pg_temp
as $$
declare
    v_id uuid;
begin
    if p_ttl_s is null or p_ttl_s < 1 then
        raise exception 'TTL must be positive' using errcode = 'AIG06';
    end if;
    perform set_config('aigw.cache_team', p_team_id::text, true);
    insert into cache.semantic_entries
        (team_id, scope, wire, model, embedder, context_hash, guard_hash, embedding, response,
         input_tokens, output_tokens, cost_usd, expires_at)
    values (p_team_id, p_scope, p_wire, p_model, p_embedder, p_context_hash, p_guard_hash,
            p_embedding::vector(384), p_response, p_input_tokens, p_output_tokens,
            coalesce(policy.cost_usd(p_model, p_input_tokens, p_output_tokens,
                                     coalesce(p_cached_input_tokens, 0)), 0),
            now() + make_interval(secs => p_ttl_s))
    returning id into v_id;
    return v_id;
end
$$;
comment on function api.semantic_cache_store(uuid, text, text, text, text, bytea, bytea, real[], jsonb, integer, integer, integer, integer) is
    'The gateway''s semantic store: one answer with its context, signature and embedding, '
    'priced at what it cost, kept for p_ttl_s seconds.';

create function api.sweep_semantic_cache() returns bigint
language plpgsql volatile security definer
set search_path = pg_catalog, pg_temp
as $$
declare
    v_deleted bigint;
begin
    delete from cache.semantic_entries where expires_at <= now();
    get diagnostics v_deleted = row_count;
    return v_deleted;
end
$$;
comment on function api.sweep_semantic_cache() is 'Delete expired semantic entries.';

-- p_rows: [{"team_id", "day", "status": hit-exact|hit-semantic|miss|bypass, "count",
--           "model", "input_tokens", "output_tokens", "cached_input_tokens"}]; a hit row's
-- tokens are what the original answer used, priced now as what the hits saved.
create function api.record_cache_stats(p_rows jsonb) returns void
language plpgsql volatile security definer
set search_path = pg_catalog, pg_temp
as $$
begin
    insert into cache.team_daily_stats as s
        (team_id, day, exact_hits, semantic_hits, misses, bypasses, saved_usd)
    select r.team_id, r.day,
           coalesce(sum(r.count) filter (where r.status = 'hit-exact'), 0),
           coalesce(sum(r.count) filter (where r.status = 'hit-semantic'), 0),
           coalesce(sum(r.count) filter (where r.status = 'miss'), 0),
           coalesce(sum(r.count) filter (where r.status = 'bypass'), 0),
           sum(case when r.status like 'hit-%' then coalesce(policy.cost_usd(
                   r.model, r.input_tokens, r.output_tokens, r.cached_input_tokens), 0)
                   else 0 end)
      from jsonb_to_recordset(p_rows) as r(team_id uuid, day date, status text, count bigint,
                                           model text, input_tokens bigint,
                                           output_tokens bigint, cached_input_tokens bigint)
     where r.status in ('hit-exact', 'hit-semantic', 'miss', 'bypass') and r.count > 0
     group by r.team_id, r.day
    on conflict (team_id, day) do update
       set exact_hits = s.exact_hits + excluded.exact_hits,
           semantic_hits = s.semantic_hits + excluded.semantic_hits,
           misses = s.misses + excluded.misses,
           bypasses = s.bypasses + excluded.bypasses,
           saved_usd = s.saved_usd + excluded.saved_usd;
end
$$;
comment on function api.record_cache_stats(jsonb) is
    'Add the gateway''s cache counters (per team, day and outcome) and the savings of hits.';

-- Policy: which models a team may call, how fast, and how much it may spend; the model
-- registry and the price list that turns tokens into cost.

set local role aigw_owner;

grant select on policy.models, policy.pricing, policy.team_policies to aigw_internal;

-- Start of the period containing p_at, in UTC; 'total' never rolls over.
create or replace function policy.period_start(p_period text, p_at timestamptz) returns timestamptz
language sql stable parallel safe
set search_path = pg_catalog, pg_temp
as $$
    select case when p_period = 'total' then '-infinity'::timestamptz
                else date_trunc(p_period, p_at, 'UTC') end
$$;

create or replace function policy.cost_usd(
    p_model text, p_input_tokens bigint, p_output_tokens bigint, p_cached_input_tokens bigint
) returns numeric
language sql stable
set search_path = pg_catalog, pg_temp
as $$
    select (greatest(p_input_tokens - p_cached_input_tokens, 0) * p.input_usd_per_mtok
            + p_cached_input_tokens * p.cached_input_usd_per_mtok
            + p_output_tokens * p.output_usd_per_mtok) / 1000000
    from policy.pricing p where p.model = p_model
$$;

-- What a request's tokens can cost at most: every input token at the higher of the input
-- and cached-input prices (an operator may price cache use above fresh input), every
-- output token at the output price.
create or replace function policy.worst_case_usd(
    p_model text, p_input_tokens bigint, p_output_tokens bigint
) returns numeric
language sql stable
set search_path = pg_catalog, pg_temp
as $$
    select (p_input_tokens * greatest(p.input_usd_per_mtok, p.cached_input_usd_per_mtok)
            + p_output_tokens * p.output_usd_per_mtok) / 1000000
    from policy.pricing p where p.model = p_model
$$;

grant execute on function policy.period_start(text, timestamptz),
    policy.cost_usd(text, bigint, bigint, bigint),
    policy.worst_case_usd(text, bigint, bigint) to aigw_internal;

create policy "internal functions read every model" on policy.models
    for select to aigw_internal using (true);
create policy "everyone signed in sees the model registry" on policy.models
    for select to aigw_owner using ((select iam.is_authenticated()));
create policy "platform admins register models" on policy.models
    for insert to aigw_owner with check ((select iam.is_platform_admin()));
create policy "platform admins change models" on policy.models
    for update to aigw_owner using ((select iam.is_platform_admin()));
create policy "platform admins remove models" on policy.models
    for delete to aigw_owner using ((select iam.is_platform_admin()));

create policy "internal functions read every price" on policy.pricing
    for select to aigw_internal using (true);
create policy "everyone signed in sees the price list" on policy.pricing
    for select to aigw_owner using ((select iam.is_authenticated()));
create policy "platform admins set prices" on policy.pricing
    for insert to aigw_owner with check ((select iam.is_platform_admin()));
create policy "platform admins change prices" on policy.pricing
    for update to aigw_owner using ((select iam.is_platform_admin()));

create policy "internal functions read every team policy" on policy.team_policies
    for select to aigw_internal using (true);
create policy "team policies are visible to whoever sees the team" on policy.team_policies
    for select to aigw_owner using (team_id = any ((select iam.readable_team_ids())::uuid[]));
-- Creating a team creates its (empty) policy row, so whoever may create the team may too.
create policy "area owners create team policies in their areas" on policy.team_policies
    for insert to aigw_owner with check (team_id = any ((select iam.area_team_ids())::uuid[]));
create policy "area owners set team policies in their areas" on policy.team_policies
    for update to aigw_owner
    using (team_id = any ((select iam.area_team_ids())::uuid[]))
    with check (team_id = any ((select iam.area_team_ids())::uuid[]));

create policy "budgets are visible to whoever sees the team" on policy.budgets
    for select to aigw_owner using (team_id = any ((select iam.readable_team_ids())::uuid[]));
create policy "team admins create budgets" on policy.budgets
    for insert to aigw_owner with check (team_id = any ((select iam.managed_team_ids())::uuid[]));
create policy "team admins change budgets" on policy.budgets
    for update to aigw_owner
    using (team_id = any ((select iam.managed_team_ids())::uuid[]))
    with check (team_id = any ((select iam.managed_team_ids())::uuid[]));
create policy "team admins remove budgets" on policy.budgets
    for delete to aigw_owner using (team_id = any ((select iam.managed_team_ids())::uuid[]));

-- ---------------------------------------------------------------------------
-- api.*
-- ---------------------------------------------------------------------------

create function api.set_team_policy(
    p_team text, p_allowed_models text[] default null,
    p_rpm_limit integer default null, p_tpm_limit integer default null
) returns void
language plpgsql volatile security definer
set search_path = pg_catalog, pg_temp
as $$
declare
    v_team uuid;
    v_unknown text[];
begin
    perform iam.require_authenticated();
    v_team := iam.team_id(p_team);
    select array_agg(m) into v_unknown
      from unnest(p_allowed_models) m
     where not exists (select 1 from policy.models pm where pm.name = m);
    if v_unknown is not null then
        raise exception 'unknown models %', v_unknown using errcode = 'AIG06',
            hint = 'See the registry: select name from api.list_models();';
    end if;
    if p_rpm_limit <= 0 or p_tpm_limit <= 0 then
        raise exception 'limits must be positive (null means no limit)' using errcode = 'AIG06';
    end if;
    update policy.team_policies
       set allowed_models = p_allowed_models, rpm_limit = p_rpm_limit,
           tpm_limit = p_tpm_limit, updated_at = now()
     where team_id = v_team;
    if not found then
        raise exception 'you may not set the policy of team "%"', p_team using errcode = 'AIG03',
            hint = 'Team policies are set by the owner of the team''s area or a platform admin.';
    end if;
    perform iam.principals_changed();
end
$$;
comment on function api.set_team_policy(text, text[], integer, integer) is
    'Set a team''s model allow-list (null: all enabled models) and RPM/TPM limits '
    '(area owners, platform admins).';

create function api.list_team_policies()
returns table (team text, allowed_models text[], rpm_limit integer, tpm_limit integer,
               updated_at timestamptz)
language sql stable security definer
set search_path = pg_catalog, pg_temp
as $$
    select t.name, p.allowed_models, p.rpm_limit, p.tpm_limit, p.updated_at
    from policy.team_policies p join iam.teams t on t.id = p.team_id
    order by t.name
$$;
comment on function api.list_team_policies() is 'Policies of the teams the caller may see.';

create function api.set_budget(
    p_team text, p_period text, p_hard_limit_usd numeric,
    p_api_key_id uuid default null, p_user_id uuid default null
) returns uuid
language plpgsql volatile security definer
set search_path = pg_catalog, pg_temp
as $$
declare
    v_team uuid;
    v_scope text;
    v_id uuid;
begin
    perform iam.require_authenticated();
    v_team := iam.team_id(p_team);
    if p_period is null or p_period not in ('day', 'week', 'month', 'total') then
        raise exception 'unknown budget period "%"', p_period using errcode = 'AIG06',
            hint = 'Periods: day, week, month, total.';
    end if;
    if p_hard_limit_usd is null or p_hard_limit_usd < 0 then
        raise exception 'a budget needs a hard limit of 0 USD or more' using errcode = 'AIG06';
    end if;
    if p_api_key_id is not null and p_user_id is not null then
        raise exception 'a budget is for a team, a key or a user, not several' using errcode = 'AIG06';
    end if;
    v_scope := case when p_api_key_id is not null then 'key'
                    when p_user_id is not null then 'user' else 'team' end;
    if v_scope = 'key' and not exists (select 1 from iam.api_keys k
                                       where k.id = p_api_key_id and k.team_id = v_team) then
        raise exception 'key % not found in team "%"', p_api_key_id, p_team using errcode = 'AIG04';
    end if;
    if v_scope = 'user' and not exists (select 1 from iam.team_members m
                                        where m.user_id = p_user_id and m.team_id = v_team) then
        raise exception 'user % is not a member of team "%"', p_user_id, p_team using errcode = 'AIG04';
    end if;
    insert into policy.budgets as b (scope, team_id, api_key_id, user_id, period, hard_limit_usd)
    values (v_scope, v_team, p_api_key_id, p_user_id, p_period, p_hard_limit_usd)
    on conflict (scope, team_id, coalesce(api_key_id, user_id, team_id), period)
    do update set hard_limit_usd = excluded.hard_limit_usd, updated_at = now()
    returning b.id into v_id;
    perform iam.principals_changed();
    return v_id;
exception
    when insufficient_privilege then
        raise exception 'you do not manage the budgets of team "%"', p_team using errcode = 'AIG03';
end
$$;
comment on function api.set_budget(text, text, numeric, uuid, uuid) is
    'Set a hard spend limit in USD for a team, one of its keys, or one of its members, per '
    'day, week, month or in total (team admins). Example: '
    'select api.set_budget(''demo'', ''month'', 500);';

create function api.list_budgets(p_team text default null)
returns table (id uuid, team text, scope text, api_key_prefix text, user_email text,
               period text, hard_limit_usd numeric, spent_usd numeric, reserved_usd numeric,
               updated_at timestamptz)
language sql stable security definer
set search_path = pg_catalog, pg_temp
as $$
    select b.id, t.name, b.scope, k.prefix, u.email, b.period, b.hard_limit_usd,
           coalesce(l.spent_usd, 0), coalesce(l.reserved_usd, 0), b.updated_at
    from policy.budgets b
    join iam.teams t on t.id = b.team_id
    left join iam.api_keys k on k.id = b.api_key_id
    left join iam.users u on u.id = b.user_id
    left join policy.budget_usage l
           on l.budget_id = b.id and l.period_start = policy.period_start(b.period, now())
    where p_team is null or t.name = p_team
    order by t.name, b.scope, b.period
$$;
comment on function api.list_budgets(text) is
    'Budgets of the teams the caller may see, with spend and reservations in the current period.';

create function api.delete_budget(p_budget_id uuid) returns void
language plpgsql volatile security definer
set search_path = pg_catalog, pg_temp
as $$
begin
    perform iam.require_authenticated();
    if not exists (select 1 from policy.budgets b where b.id = p_budget_id) then
        raise exception 'budget % not found', p_budget_id using errcode = 'AIG04',
            hint = 'List budgets with: select * from api.list_budgets();';
    end if;
    -- Members see their team's budgets; only its admins remove one.
    delete from policy.budgets where id = p_budget_id;
    if not found then
        raise exception 'you do not manage the budgets of this team' using errcode = 'AIG03';
    end if;
    perform iam.principals_changed();
end
$$;
comment on function api.delete_budget(uuid) is 'Remove a budget (team admins).';

create function api.register_model(
    p_name text, p_provider text, p_max_output_tokens integer, p_enabled boolean default true,
    p_context_window_tokens integer default null
) returns void
language plpgsql volatile security definer
set search_path = pg_catalog, pg_temp
as $$
begin
    perform iam.require_authenticated();
    insert into policy.models (name, provider, max_output_tokens, enabled)
    values (p_name, p_provider, p_max_output_tokens, p_enabled);
    if p_context_window_tokens is not null then  -- else the column's default (a million)
        update policy.models set context_window_tokens = p_context_window_tokens
         where name = p_name;
    end if;
    perform iam.principals_changed('models');  -- the registry changed
exception
    when unique_violation then
        raise exception 'model "%" is already registered', p_name using errcode = 'AIG05';
    when check_violation or not_null_violation then
        raise exception 'invalid model: %', sqlerrm using errcode = 'AIG06';
    when insufficient_privilege then
        raise exception 'only platform admins register models' using errcode = 'AIG03';
end
$$;
comment on function api.register_model(text, text, integer, boolean, integer) is
    'Add a model to the registry (platform admins): its most output tokens and context '
    'window (default a million tokens: budget reservations of requests without a bound '
    'hold the whole window, so set the real one).';

create function api.set_model_enabled(p_name text, p_enabled boolean) returns void
language plpgsql volatile security definer
set search_path = pg_catalog, pg_temp
as $$
begin
    perform iam.require_authenticated();
    if not exists (select 1 from policy.models m where m.name = p_name) then
        raise exception 'model "%" not found', p_name using errcode = 'AIG04';
    end if;
    update policy.models set enabled = p_enabled where name = p_name;
    if not found then
        raise exception 'only platform admins enable or disable models' using errcode = 'AIG03';
    end if;
    perform iam.principals_changed('models');  -- the registry changed
end
$$;
comment on function api.set_model_enabled(text, boolean) is
    'Enable or disable a model for everyone (platform admins).';

create function api.list_models()
returns table (name text, provider text, enabled boolean, max_output_tokens integer,
               context_window_tokens integer, input_usd_per_mtok numeric,
               output_usd_per_mtok numeric, cached_input_usd_per_mtok numeric)
language sql stable security definer
set search_path = pg_catalog, pg_temp
as $$
    select m.name, m.provider, m.enabled, m.max_output_tokens, m.context_window_tokens,
           p.input_usd_per_mtok, p.output_usd_per_mtok, p.cached_input_usd_per_mtok
    from policy.models m left join policy.pricing p on p.model = m.name
    order by m.name
$$;
comment on function api.list_models() is 'The model registry with list prices (USD per 1M tokens).';

create function api.set_price(
    p_model text, p_input_usd_per_mtok numeric, p_output_usd_per_mtok numeric,
    p_cached_input_usd_per_mtok numeric default 0
) returns void
language plpgsql volatile security definer
set search_path = pg_catalog, pg_temp
as $$
begin
    perform iam.require_authenticated();
    if not exists (select 1 from policy.models m where m.name = p_model) then
        raise exception 'model "%" not found', p_model using errcode = 'AIG04',
            hint = 'Register it first with api.register_model.';
    end if;
    insert into policy.pricing as p (model, input_usd_per_mtok, output_usd_per_mtok,
                                     cached_input_usd_per_mtok)
    values (p_model, p_input_usd_per_mtok, p_output_usd_per_mtok, p_cached_input_usd_per_mtok)
    on conflict (model) do update
       set input_usd_per_mtok = excluded.input_usd_per_mtok,
           output_usd_per_mtok = excluded.output_usd_per_mtok,
           cached_input_usd_per_mtok = excluded.cached_input_usd_per_mtok,
           updated_at = now();
    perform iam.principals_changed('models');  -- the registry changed
exception
    when check_violation or not_null_violation then
        raise exception 'prices must be 0 or more USD per million tokens' using errcode = 'AIG06';
    when insufficient_privilege then
        raise exception 'only platform admins set prices' using errcode = 'AIG03';
end
$$;
comment on function api.set_price(text, numeric, numeric, numeric) is
    'Set a model''s price in USD per 1M tokens (platform admins). Example: '
    'select api.set_price(''gpt-4o'', 2.50, 10.00, 1.25);';

-- ---------------------------------------------------------------------------
-- Budget ledger: reserve before the provider call, settle after it.
--
-- A reservation adds the request's worst-case cost to `reserved_usd` of every budget
-- that applies (team, key, key owner) in its current period, in one statement per
-- budget that refuses to pass the hard limit. Row locks on the ledger rows serialise
-- concurrent requests, so however many run at once, spent + reserved never exceeds a
-- limit at reservation time; settlement then replaces the reservation by the real cost.
-- The worst case is bounded by the model's limits (api/gateway/bounds.py says how), so a
-- hostile max_tokens neither blocks the team nor slips through. The gateway holds leases
-- (below) rather than a reservation per request.
-- ---------------------------------------------------------------------------

grant select on policy.budgets to aigw_internal;
grant select, insert, update on policy.budget_usage, policy.budget_reservations to aigw_internal;

create policy "internal functions read every budget" on policy.budgets
    for select to aigw_internal using (true);
create policy "internal functions keep the ledger" on policy.budget_usage
    for all to aigw_internal using (true) with check (true);
create policy "spend is visible to whoever sees the budget" on policy.budget_usage
    for select to aigw_owner
    using (budget_id in (select b.id from policy.budgets b));  -- budgets' own policy applies
create policy "internal functions keep reservations" on policy.budget_reservations
    for all to aigw_internal using (true) with check (true);
create policy "reservations are visible to whoever sees the team" on policy.budget_reservations
    for select to aigw_owner using (team_id = any ((select iam.readable_team_ids())::uuid[]));

-- Holding money against budgets, the one way reservations and leases both do it: every
-- budget of the caller (its team's, its key's, its owner's), ledger rows locked in budget
-- id order so that concurrent holds never deadlock. At least p_min_usd is held on each,
-- or AIG07; with p_share, that share of what the tightest budget has left, if more.
create or replace function policy.hold_budgets(
    p_budget_ids uuid[], p_min_usd numeric, p_share numeric default 0,
    out amount_usd numeric, out budget_ids uuid[], out period_starts timestamptz[]
)
language plpgsql volatile
set search_path = pg_catalog, pg_temp
as $$
declare
    b record;
    v_start timestamptz;
    v_left numeric;
    v_least numeric;
begin
    budget_ids := '{}';
    period_starts := '{}';
    for b in
        select bu.id, bu.period, bu.hard_limit_usd, bu.scope from policy.budgets bu
         where bu.id = any (p_budget_ids) order by bu.id
    loop
        if p_min_usd > b.hard_limit_usd then
            raise exception 'budget exhausted: this request may cost up to % USD, more than the % budget of % USD',
                round(p_min_usd, 6), b.scope, b.hard_limit_usd
                using errcode = 'AIG07', hint = 'Lower max_tokens, or ask a team admin to raise the budget.';
        end if;
        v_start := policy.period_start(b.period, now());
        insert into policy.budget_usage (budget_id, period_start) values (b.id, v_start)
        on conflict (budget_id, period_start) do nothing;
        select b.hard_limit_usd - u.spent_usd - u.reserved_usd into v_left
          from policy.budget_usage u
         where u.budget_id = b.id and u.period_start = v_start
           for update;
        if v_left < p_min_usd then
            raise exception '% budget exhausted for this %', b.scope, b.period using errcode = 'AIG07',
                hint = 'Wait for the next period, or ask a team admin to raise the budget.';
        end if;
        v_least := least(coalesce(v_least, v_left), v_left);
        budget_ids := budget_ids || b.id;
        period_starts := period_starts || v_start;
    end loop;
    amount_usd := least(greatest(p_min_usd, coalesce(p_share, 0) * coalesce(v_least, 0)),
                        coalesce(v_least, p_min_usd));
    update policy.budget_usage u
       set reserved_usd = u.reserved_usd + amount_usd, updated_at = now()
      from unnest(budget_ids, period_starts) as h(budget_id, period_start)
     where u.budget_id = h.budget_id and u.period_start = h.period_start;
end
$$;

-- What a hold releases: p_release_usd no longer reserved, p_spent_usd spent.
create or replace function policy.release_budgets(
    p_budget_ids uuid[], p_period_starts timestamptz[], p_release_usd numeric, p_spent_usd numeric
) returns void
language sql volatile
set search_path = pg_catalog, pg_temp
as $$
    update policy.budget_usage u
       set reserved_usd = greatest(u.reserved_usd - p_release_usd, 0),
           spent_usd = u.spent_usd + p_spent_usd,
           updated_at = now()
      from unnest(p_budget_ids, p_period_starts) as h(budget_id, period_start)
     where u.budget_id = h.budget_id and u.period_start = h.period_start
$$;

-- The budgets a caller's spend counts against (as api.authenticate_key names them).
create or replace function policy.caller_budget_ids(
    p_team_id uuid, p_api_key_id uuid, p_owner_user_id uuid
) returns uuid[]
language sql stable
set search_path = pg_catalog, pg_temp
as $$
    select coalesce(array_agg(b.id order by b.id), '{}') from policy.budgets b
     where b.team_id = p_team_id
       and (b.scope = 'team'
            or (b.scope = 'key' and b.api_key_id = p_api_key_id)
            or (b.scope = 'user' and b.user_id = p_owner_user_id))
$$;

grant execute on function
    policy.hold_budgets(uuid[], numeric, numeric),
    policy.release_budgets(uuid[], timestamptz[], numeric, numeric),
    policy.caller_budget_ids(uuid, uuid, uuid) to aigw_internal;


set local role aigw_internal;

-- What the gateway needs of the registry before any principal is known.
create function api.gateway_models()
returns table (name text, provider text, enabled boolean, max_output_tokens integer,
               context_window_tokens integer, input_usd_per_mtok numeric,
               output_usd_per_mtok numeric, cached_input_usd_per_mtok numeric)
language sql stable security definer
set search_path = pg_catalog, pg_temp
as $$
    select m.name, m.provider, m.enabled, m.max_output_tokens, m.context_window_tokens,
           p.input_usd_per_mtok, p.output_usd_per_mtok, p.cached_input_usd_per_mtok
      from policy.models m left join policy.pricing p on p.model = m.name order by m.name
$$;
comment on function api.gateway_models() is
    'The model registry as the gateway needs it (names, enabled flags, output and context '
    'limits, list prices).';

create function api.reserve_budget(
    p_api_key_id uuid, p_model text, p_input_tokens integer,
    p_output_tokens integer default null, p_choices integer default 1,
    p_context_window integer default null, p_user_id uuid default null,
    p_team_id uuid default null
) returns table (reservation_id uuid, amount_usd numeric)
language plpgsql volatile security definer
set search_path = pg_catalog, pg_temp
as $$
#variable_conflict use_column
declare
    k record;
    m record;
    h record;
    v_window integer;
    v_input integer;
    v_output integer;
    v_amount numeric;
begin
    if p_api_key_id is not null then
        select ak.id, ak.team_id, ak.owner_user_id into k
          from iam.api_keys ak where ak.id = p_api_key_id and ak.status = 'active';
    else
        -- A signed-in user (token) spends as themselves, in a team they belong to.
        select null::uuid as id, m.team_id, m.user_id as owner_user_id into k
          from iam.team_members m where m.user_id = p_user_id and m.team_id = p_team_id;
    end if;
    if not found then
        raise exception 'no active key or team member to charge' using errcode = 'AIG01';
    end if;
    select md.max_output_tokens, md.context_window_tokens, (pr.model is not null) as priced
      into m
      from policy.models md left join policy.pricing pr on pr.model = md.name
     where md.name = p_model;
    if not found then
        raise exception 'model "%" not found', p_model using errcode = 'AIG04';
    elsif not m.priced then
        raise exception 'model "%" has no price', p_model using errcode = 'AIG06',
            hint = 'Set one with api.set_price.';
    end if;
    if p_input_tokens < 0 or p_output_tokens < 0 or p_choices is null or p_choices < 1
       or p_context_window < 1 then
        raise exception 'token counts must be 0 or more, choices 1 or more' using errcode = 'AIG06';
    end if;
    -- The bound of what the request can cost (see api/gateway/bounds.py): no prompt is
    -- longer than the context window (a provider refuses it), an input without a bound
    -- is the whole window; output defaults to the model's maximum, once per choice.
    v_window := greatest(m.context_window_tokens, coalesce(p_context_window, 0));
    v_input := least(coalesce(p_input_tokens, v_window), v_window);
    v_output := least(coalesce(p_output_tokens, m.max_output_tokens), v_window);
    v_amount := policy.worst_case_usd(p_model, v_input, v_output::bigint * p_choices);
    h := policy.hold_budgets(policy.caller_budget_ids(k.team_id, k.id, k.owner_user_id), v_amount);
    insert into policy.budget_reservations as r
        (api_key_id, user_id, team_id, model, amount_usd, budget_ids, period_starts)
    values (k.id, case when k.id is null then k.owner_user_id end, k.team_id, p_model,
            v_amount, h.budget_ids, h.period_starts)
    returning r.id into reservation_id;
    amount_usd := v_amount;
    return next;
end
$$;
comment on function api.reserve_budget(uuid, text, integer, integer, integer, integer, uuid, uuid) is
    'Reserve what a request can cost at most (input tokens, or null for the whole context '
    'window; output tokens per choice, or null for the model''s maximum; choices; a larger '
    'context window the request was granted) against every budget of its key (or signed-in '
    'user), team and owner; AIG07 when a hard limit would be passed. Settle it with '
    'api.settle_budget. (The gateway holds leases instead: api.lease_budget.)';

create function api.settle_budget(
    p_reservation_id uuid, p_input_tokens integer, p_output_tokens integer,
    p_cached_input_tokens integer default 0
) returns numeric
language plpgsql volatile security definer
set search_path = pg_catalog, pg_temp
as $$
declare
    r record;
    v_actual numeric;
begin
    select * into r from policy.budget_reservations
     where id = p_reservation_id and kind = 'request' for update;
    if not found then
        raise exception 'reservation % not found', p_reservation_id using errcode = 'AIG04';
    elsif r.settled_at is not null then
        return r.actual_usd;  -- settling twice changes nothing
    end if;
    if p_input_tokens is null or p_output_tokens is null
       or p_input_tokens < 0 or p_output_tokens < 0 or p_cached_input_tokens < 0 then
        raise exception 'token counts must be 0 or more' using errcode = 'AIG06';
    end if;
    v_actual := coalesce(policy.cost_usd(r.model, p_input_tokens, p_output_tokens,
                                         coalesce(p_cached_input_tokens, 0)), 0);
    perform policy.release_budgets(r.budget_ids, r.period_starts, r.amount_usd, v_actual);
    update policy.budget_reservations set settled_at = now(), actual_usd = v_actual
     where id = r.id;
    return v_actual;
end
$$;
comment on function api.settle_budget(uuid, integer, integer, integer) is
    'Replace a reservation by the real cost of the request (tokens priced from the pricing '
    'table); returns that cost in USD. Idempotent.';

-- Leases (revision 0017). A gateway process leases a slice of the budgets a caller spends
-- against, admits that caller's requests from memory while each one's worst case fits in
-- what is left, and settles what they really cost in batches: api.settle_lease moves the
-- spent amount from the lease to the ledger, may extend the lease, and renews it. What a
-- lease holds is reserved in the ledger like a request's worst case, so spent + reserved
-- still never passes a hard limit, whichever process admits.
create function api.lease_budget(
    p_team_id uuid, p_budget_ids uuid[], p_min_usd numeric, p_share numeric default 0.05,
    p_ttl interval default interval '30 seconds'
) returns table (lease_id uuid, amount_usd numeric, expires_at timestamptz)
language plpgsql volatile security definer
set search_path = pg_catalog, pg_temp
as $$
#variable_conflict use_column
declare
    h record;
begin
    if p_min_usd is null or p_min_usd < 0 or p_share is null or p_share < 0 or p_share > 1
       or p_ttl is null or p_ttl <= interval '0' then
        raise exception 'a lease needs a minimum of 0 USD or more, a share from 0 to 1 and a positive lifetime'
            using errcode = 'AIG06';
    end if;
    if cardinality(p_budget_ids) = 0 or exists (
        select 1 from unnest(p_budget_ids) as g(id)
         where not exists (select 1 from policy.budgets b where b.id = g.id and b.team_id = p_team_id)
    ) then
        raise exception 'not budgets of team %', p_team_id using errcode = 'AIG04';
    end if;
    h := policy.hold_budgets(p_budget_ids, p_min_usd, p_share);
    insert into policy.budget_reservations as r
        (kind, team_id, amount_usd, budget_ids, period_starts, expires_at)
    values ('lease', p_team_id, h.amount_usd, h.budget_ids, h.period_starts, now() + p_ttl)
    returning r.id, r.amount_usd, r.expires_at into lease_id, amount_usd, expires_at;
    return next;
end
$$;
comment on function api.lease_budget(uuid, uuid[], numeric, numeric, interval) is
    'Lease at least p_min_usd (and up to p_share of what the tightest budget has left) of a '
    'team''s budgets for p_ttl; AIG07 when not even the minimum is left. The gateway admits '
    'requests against it and settles with api.settle_lease.';

create function api.settle_lease(
    p_lease_id uuid, p_spent_usd numeric, p_extend_min_usd numeric default 0,
    p_share numeric default 0.05, p_release boolean default false,
    p_ttl interval default interval '30 seconds'
) returns table (amount_usd numeric, expires_at timestamptz, state text)
language plpgsql volatile security definer
set search_path = pg_catalog, pg_temp
as $$
#variable_conflict use_column
declare
    r record;
    h record;
    v_spent numeric;
begin
    if p_spent_usd is null or p_spent_usd < 0 or p_extend_min_usd is null or p_extend_min_usd < 0 then
        raise exception 'amounts must be 0 or more' using errcode = 'AIG06';
    end if;
    select * into r from policy.budget_reservations
     where id = p_lease_id and kind = 'lease' for update;
    if not found then
        raise exception 'lease % not found', p_lease_id using errcode = 'AIG04';
    elsif r.settled_at is not null then
        -- Released, or swept when nobody renewed it (then charged in full already).
        amount_usd := 0; expires_at := r.expires_at; state := 'gone';
        return next;
        return;
    end if;
    -- What its requests cost moves from the lease to the ledger. More than the lease
    -- holds would only come from a request that cost more than its bound: the ledger gets
    -- all of it, the lease nothing more.
    v_spent := p_spent_usd;
    perform policy.release_budgets(r.budget_ids, r.period_starts, least(v_spent, r.amount_usd), v_spent);
    r.amount_usd := greatest(r.amount_usd - v_spent, 0);
    r.spent_usd := r.spent_usd + v_spent;
    state := 'held';
    if p_release then
        perform policy.release_budgets(r.budget_ids, r.period_starts, r.amount_usd, 0);
        update policy.budget_reservations
           set amount_usd = 0, spent_usd = r.spent_usd, settled_at = now(), actual_usd = r.spent_usd
         where id = r.id;
        amount_usd := 0; expires_at := r.expires_at; state := 'released';
        return next;
        return;
    end if;
    if p_extend_min_usd > 0 then
        begin
            h := policy.hold_budgets(r.budget_ids, p_extend_min_usd, p_share);
            r.amount_usd := r.amount_usd + h.amount_usd;
        exception when sqlstate 'AIG07' then
            state := 'exhausted';  -- the settlement stands; the lease is not extended
        end;
    end if;
    update policy.budget_reservations
       set amount_usd = r.amount_usd, spent_usd = r.spent_usd, expires_at = now() + p_ttl
     where id = r.id
    returning budget_reservations.amount_usd, budget_reservations.expires_at
         into amount_usd, expires_at;
    return next;
end
$$;
comment on function api.settle_lease(uuid, numeric, numeric, numeric, boolean, interval) is
    'Settle what a lease''s requests cost (USD), renew it, and extend it by at least '
    'p_extend_min_usd (state exhausted when the budget has not that much left) or release '
    'what it still holds. State gone: the lease was released or swept.';

create function api.release_stale_reservations(p_older_than interval default '15 minutes')
returns integer
language plpgsql volatile security definer
set search_path = pg_catalog, pg_temp
as $$
declare
    r record;
    n integer := 0;
begin
    -- A gateway that died mid-request never settled: charge the reserved maximum, since
    -- the provider may have done the work. Money is never spent unaccounted. A lease is
    -- stale once nobody has renewed it for p_older_than past its expiry: what it still
    -- held is charged the same way.
    if p_older_than is null or p_older_than < interval '1 minute' then
        raise exception 'reservations younger than a minute may still be in flight'
            using errcode = 'AIG06';
    end if;
    for r in
        select id, amount_usd, spent_usd, budget_ids, period_starts from policy.budget_reservations
         where settled_at is null
           and ((kind = 'request' and created_at < now() - p_older_than)
                or (kind = 'lease' and expires_at < now() - p_older_than))
         order by id
         for update skip locked
    loop
        perform policy.release_budgets(r.budget_ids, r.period_starts, r.amount_usd, r.amount_usd);
        update policy.budget_reservations
           set settled_at = now(), actual_usd = r.spent_usd + r.amount_usd
         where id = r.id;
        n := n + 1;
    end loop;
    return n;
end
$$;
comment on function api.release_stale_reservations(interval) is
    'Settle reservations older than the interval, and leases expired that long ago, at what '
    'they still hold (a job runs this; the gateway too, now and then).';

set local role aigw_owner;

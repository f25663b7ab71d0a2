-- Policy: which models a team may call, how fast, and how much it may spend; the model
-- registry and the price list that turns tokens into cost.

set local role aigw_owner;

grant select on policy.models, policy.pricing, policy.team_policies to aigw_internal;

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
set search_path = ''
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
end
$$;
comment on function api.set_team_policy(text, text[], integer, integer) is
    'Set a team''s model allow-list (null: all enabled models) and RPM/TPM limits '
    '(area owners, platform admins).';

create function api.list_team_policies()
returns table (team text, allowed_models text[], rpm_limit integer, tpm_limit integer,
               updated_at timestamptz)
language sql stable security definer
set search_path = ''
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
set search_path = ''
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
               period text, hard_limit_usd numeric, updated_at timestamptz)
language sql stable security definer
set search_path = ''
as $$
    select b.id, t.name, b.scope, k.prefix, u.email, b.period, b.hard_limit_usd, b.updated_at
    from policy.budgets b
    join iam.teams t on t.id = b.team_id
    left join iam.api_keys k on k.id = b.api_key_id
    left join iam.users u on u.id = b.user_id
    where p_team is null or t.name = p_team
    order by t.name, b.scope, b.period
$$;
comment on function api.list_budgets(text) is 'Budgets of the teams the caller may see.';

create function api.delete_budget(p_budget_id uuid) returns void
language plpgsql volatile security definer
set search_path = ''
as $$
begin
    perform iam.require_authenticated();
    delete from policy.budgets where id = p_budget_id;
    if not found then
        raise exception 'budget % not found', p_budget_id using errcode = 'AIG04';
    end if;
end
$$;
comment on function api.delete_budget(uuid) is 'Remove a budget (team admins).';

create function api.register_model(
    p_name text, p_provider text, p_max_output_tokens integer, p_enabled boolean default true
) returns void
language plpgsql volatile security definer
set search_path = ''
as $$
begin
    perform iam.require_authenticated();
    insert into policy.models (name, provider, max_output_tokens, enabled)
    values (p_name, p_provider, p_max_output_tokens, p_enabled);
exception
    when unique_violation then
        raise exception 'model "%" is already registered', p_name using errcode = 'AIG05';
    when check_violation or not_null_violation then
        raise exception 'invalid model: %', sqlerrm using errcode = 'AIG06';
    when insufficient_privilege then
        raise exception 'only platform admins register models' using errcode = 'AIG03';
end
$$;
comment on function api.register_model(text, text, integer, boolean) is
    'Add a model to the registry (platform admins).';

create function api.set_model_enabled(p_name text, p_enabled boolean) returns void
language plpgsql volatile security definer
set search_path = ''
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
end
$$;
comment on function api.set_model_enabled(text, boolean) is
    'Enable or disable a model for everyone (platform admins).';

create function api.list_models()
returns table (name text, provider text, enabled boolean, max_output_tokens integer,
               input_usd_per_mtok numeric, output_usd_per_mtok numeric,
               cached_input_usd_per_mtok numeric)
language sql stable security definer
set search_path = ''
as $$
    select m.name, m.provider, m.enabled, m.max_output_tokens,
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
set search_path = ''
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

-- Identity: who the caller is, which roles they hold, and what each role may see.
--
-- Every request runs in a transaction that first calls
--     select set_config('app.principal', '{"user_id": "…"}', true);
-- (transaction-local, so a pooled connection never carries one caller's identity into
-- the next request). Policies read it only through the small helpers below. Roles are
-- never taken from the principal: they are looked up in iam.user_roles, so a suspended
-- user or a revoked role stops counting at once.
--
-- Operators are recognised by their database login instead: any session whose login
-- role is a member of aigw_operator (psql, the `aigw` CLI) acts as platform admin. The
-- services log in as aigw_app, which is not, whatever principal they set.

set local role aigw_owner;

grant usage, create on schema iam to aigw_internal;
grant usage on schema policy to aigw_internal;

-- ---------------------------------------------------------------------------
-- Principal helpers (invoker rights; read the transaction's settings only)
-- ---------------------------------------------------------------------------

create or replace function iam.principal() returns jsonb
language sql stable
set search_path = pg_catalog, pg_temp
as $$
    select coalesce(nullif(pg_catalog.current_setting('app.principal', true), '')::jsonb, '{}'::jsonb)
$$;

create or replace function iam.current_user_id() returns uuid
language sql stable
set search_path = pg_catalog, pg_temp
as $$
    select (iam.principal() ->> 'user_id')::uuid
$$;

create or replace function iam.is_operator() returns boolean
language sql stable
set search_path = pg_catalog, pg_temp
as $$
    select pg_catalog.pg_has_role(session_user, 'aigw_operator', 'MEMBER')
$$;

grant execute on function iam.principal(), iam.current_user_id(), iam.is_operator()
    to aigw_internal;

-- ---------------------------------------------------------------------------
-- Role helpers: owned by aigw_internal, which alone may read every role grant
-- (a policy on user_roles cannot query user_roles under its own policy).
-- ---------------------------------------------------------------------------

set local role aigw_internal;

-- The principal's user id, only while that user is active.
create or replace function iam.active_user_id() returns uuid
language sql stable security definer
set search_path = pg_catalog, pg_temp
as $$
    select u.id from iam.users u where u.id = iam.current_user_id() and u.status = 'active'
$$;

create or replace function iam.has_role(p_role text) returns boolean
language sql stable security definer
set search_path = pg_catalog, pg_temp
as $$
    select exists (
        select 1 from iam.user_roles r
        where r.user_id = iam.active_user_id() and r.role = p_role
    )
$$;

create or replace function iam.is_platform_admin() returns boolean
language sql stable security definer
set search_path = pg_catalog, pg_temp
as $$
    select iam.is_operator() or iam.has_role('platform_admin')
$$;

-- Areas the principal owns (every area for a platform admin).
create or replace function iam.owned_area_ids() returns uuid[]
language sql stable security definer
set search_path = pg_catalog, pg_temp
as $$
    -- each helper in a scalar subquery: evaluated once (an initplan), not once per row
    -- (a security definer function is never inlined, and each call costs a lookup)
    select coalesce(array_agg(a.id), '{}')
    from iam.areas a
    where (select iam.is_platform_admin())
       or a.id in (select r.area_id from iam.user_roles r
                   where r.user_id = (select iam.active_user_id()) and r.role = 'area_owner')
$$;

-- Teams whose policies the principal may set: teams of owned areas.
create or replace function iam.area_team_ids() returns uuid[]
language sql stable security definer
set search_path = pg_catalog, pg_temp
as $$
    select coalesce(array_agg(t.id), '{}')
    from iam.teams t
    where (select iam.is_platform_admin())
       or t.area_id = any ((select iam.owned_area_ids())::uuid[])
$$;

-- Teams whose members, keys, service accounts and budgets the principal manages.
create or replace function iam.managed_team_ids() returns uuid[]
language sql stable security definer
set search_path = pg_catalog, pg_temp
as $$
    -- each helper once (an initplan), not once per team: with hundreds of teams the
    -- per-row calls of owned_area_ids() (itself one per area) took a fifth of a second
    select coalesce(array_agg(t.id), '{}')
    from iam.teams t
    where (select iam.is_platform_admin())
       or t.area_id = any ((select iam.owned_area_ids())::uuid[])
       or t.id in (select r.team_id from iam.user_roles r
                   where r.user_id = (select iam.active_user_id()) and r.role = 'team_admin')
$$;

-- Whether the principal administers anything (a team, an area, the platform): the
-- admin-only lists answer 403 to everyone else rather than an empty list.
create or replace function iam.manages_anything() returns boolean
language sql stable security definer
set search_path = pg_catalog, pg_temp
as $$
    select iam.is_platform_admin() or exists (
        select 1 from iam.user_roles r
        where r.user_id = iam.active_user_id() and r.role in ('area_owner', 'team_admin'))
$$;

-- Teams the principal belongs to as a member.
create or replace function iam.member_team_ids() returns uuid[]
language sql stable security definer
set search_path = pg_catalog, pg_temp
as $$
    select coalesce(array_agg(m.team_id), '{}')
    from iam.team_members m
    where m.user_id = iam.active_user_id()
$$;

-- Teams the principal may read: managed ones and the ones they belong to.
create or replace function iam.readable_team_ids() returns uuid[]
language sql stable security definer
set search_path = pg_catalog, pg_temp
as $$
    select array(select unnest(iam.managed_team_ids()) union select unnest(iam.member_team_ids()))
$$;

create or replace function iam.readable_area_ids() returns uuid[]
language sql stable security definer
set search_path = pg_catalog, pg_temp
as $$
    select array(
        select unnest(iam.owned_area_ids())
        union
        select t.area_id from iam.teams t
        where t.id = any (iam.readable_team_ids()) and t.area_id is not null
    )
$$;

-- Any principal the platform knows: an active user or an operator.
create or replace function iam.is_authenticated() returns boolean
language sql stable security definer
set search_path = pg_catalog, pg_temp
as $$
    select iam.is_operator() or iam.active_user_id() is not null
$$;

grant execute on function
    iam.active_user_id(), iam.has_role(text), iam.is_platform_admin(), iam.owned_area_ids(),
    iam.area_team_ids(), iam.managed_team_ids(), iam.member_team_ids(),
    iam.readable_team_ids(), iam.readable_area_ids(), iam.is_authenticated(),
    iam.manages_anything()
    to aigw_owner;

set local role aigw_owner;

-- What aigw_internal's functions read and write, under the policies below.
grant select on iam.areas, iam.teams, iam.users, iam.user_roles, iam.team_members,
    iam.service_accounts, iam.api_keys to aigw_internal;
grant update (last_used_at) on iam.api_keys to aigw_internal;
grant select, insert, update (password_hash, updated_at) on iam.user_credentials to aigw_internal;

-- ---------------------------------------------------------------------------
-- Row-level security: aigw_owner is the role api.* functions run as.
-- ---------------------------------------------------------------------------

create policy "internal functions read every area" on iam.areas
    for select to aigw_internal using (true);
create policy "areas are visible to their owners and to members of their teams" on iam.areas
    for select to aigw_owner
    using ((select iam.is_platform_admin()) or id = any ((select iam.readable_area_ids())::uuid[]));
create policy "platform admins create areas" on iam.areas
    for insert to aigw_owner with check ((select iam.is_platform_admin()));
create policy "platform admins change areas" on iam.areas
    for update to aigw_owner using ((select iam.is_platform_admin()));
create policy "platform admins delete areas" on iam.areas
    for delete to aigw_owner using ((select iam.is_platform_admin()));

create policy "internal functions read every team" on iam.teams
    for select to aigw_internal using (true);
create policy "teams are visible to their members, admins and area owners" on iam.teams
    for select to aigw_owner
    using ((select iam.is_platform_admin())
           or area_id = any ((select iam.owned_area_ids())::uuid[])
           or id = any ((select iam.readable_team_ids())::uuid[]));
create policy "area owners create teams in their areas" on iam.teams
    for insert to aigw_owner
    with check ((select iam.is_platform_admin()) or area_id = any ((select iam.owned_area_ids())::uuid[]));
create policy "area owners change teams in their areas" on iam.teams
    for update to aigw_owner
    using ((select iam.is_platform_admin()) or area_id = any ((select iam.owned_area_ids())::uuid[]))
    with check ((select iam.is_platform_admin()) or area_id = any ((select iam.owned_area_ids())::uuid[]));
create policy "platform admins delete teams" on iam.teams
    for delete to aigw_owner using ((select iam.is_platform_admin()));

create policy "internal functions read every user" on iam.users
    for select to aigw_internal using (true);
create policy "users see themselves, admins see the members of teams they manage" on iam.users
    for select to aigw_owner
    using (
        (select iam.is_platform_admin())
        or id = (select iam.active_user_id())
        or id in (select m.user_id from iam.team_members m
                  where m.team_id = any ((select iam.managed_team_ids())::uuid[]))
    );
create policy "platform admins create users" on iam.users
    for insert to aigw_owner with check ((select iam.is_platform_admin()));
create policy "platform admins change users" on iam.users
    for update to aigw_owner using ((select iam.is_platform_admin()));

-- No policy for aigw_owner at all: no api.* function can read a password hash.
create policy "internal functions read credentials" on iam.user_credentials
    for select to aigw_internal using (true);
create policy "internal functions store credentials" on iam.user_credentials
    for insert to aigw_internal with check (true);
create policy "internal functions replace credentials" on iam.user_credentials
    for update to aigw_internal using (true);

create policy "internal functions read every role grant" on iam.user_roles
    for select to aigw_internal using (true);
create policy "role grants are visible to their holder and to admins of their scope"
    on iam.user_roles for select to aigw_owner
    using (
        (select iam.is_platform_admin())
        or user_id = (select iam.active_user_id())
        or team_id = any ((select iam.managed_team_ids())::uuid[])
        or area_id = any ((select iam.owned_area_ids())::uuid[])
    );
create policy "platform admins grant roles" on iam.user_roles
    for insert to aigw_owner with check ((select iam.is_platform_admin()));
create policy "platform admins revoke roles" on iam.user_roles
    for delete to aigw_owner using ((select iam.is_platform_admin()));

create policy "internal functions read every membership" on iam.team_members
    for select to aigw_internal using (true);
create policy "members of a team see its members" on iam.team_members
    for select to aigw_owner using (team_id = any ((select iam.readable_team_ids())::uuid[]));
create policy "team admins add members" on iam.team_members
    for insert to aigw_owner with check (team_id = any ((select iam.managed_team_ids())::uuid[]));
create policy "team admins remove members" on iam.team_members
    for delete to aigw_owner using (team_id = any ((select iam.managed_team_ids())::uuid[]));

create policy "internal functions read every service account" on iam.service_accounts
    for select to aigw_internal using (true);
create policy "team admins see their service accounts" on iam.service_accounts
    for select to aigw_owner using (team_id = any ((select iam.managed_team_ids())::uuid[]));
create policy "team admins create service accounts" on iam.service_accounts
    for insert to aigw_owner with check (team_id = any ((select iam.managed_team_ids())::uuid[]));
create policy "team admins change service accounts" on iam.service_accounts
    for update to aigw_owner
    using (team_id = any ((select iam.managed_team_ids())::uuid[]))
    with check (team_id = any ((select iam.managed_team_ids())::uuid[]));

create policy "internal functions read every key" on iam.api_keys
    for select to aigw_internal using (true);
create policy "internal functions record key use" on iam.api_keys
    for update to aigw_internal using (true);
create policy "team admins see their team's keys, developers their own" on iam.api_keys
    for select to aigw_owner
    using (team_id = any ((select iam.managed_team_ids())::uuid[])
           or owner_user_id = (select iam.active_user_id()));
create policy "team admins issue team keys, developers personal keys in their teams"
    on iam.api_keys for insert to aigw_owner
    with check (
        team_id = any ((select iam.managed_team_ids())::uuid[])
        or (owner_user_id = (select iam.active_user_id())
            and service_account_id is null
            and team_id = any ((select iam.member_team_ids())::uuid[])
            and (select iam.has_role('developer')))
    );
create policy "team admins change keys, owners only revoke theirs" on iam.api_keys
    for update to aigw_owner
    using (team_id = any ((select iam.managed_team_ids())::uuid[])
           or owner_user_id = (select iam.active_user_id()))
    with check (team_id = any ((select iam.managed_team_ids())::uuid[])
                or (owner_user_id = (select iam.active_user_id()) and status = 'revoked'));

create policy "admins see invitations of their scope" on iam.invitations
    for select to aigw_owner
    using ((select iam.is_platform_admin())
           or team_id = any ((select iam.managed_team_ids())::uuid[])
           or area_id = any ((select iam.owned_area_ids())::uuid[]));
create policy "admins invite into their scope" on iam.invitations
    for insert to aigw_owner
    with check ((select iam.is_platform_admin())
                or (role in ('developer', 'viewer', 'team_admin')
                    and team_id = any ((select iam.managed_team_ids())::uuid[])));
create policy "admins revoke invitations of their scope" on iam.invitations
    for update to aigw_owner
    using ((select iam.is_platform_admin()) or team_id = any ((select iam.managed_team_ids())::uuid[]))
    -- the same bounds as creating one: an update cannot raise the role it grants
    with check ((select iam.is_platform_admin())
                or (role in ('developer', 'viewer', 'team_admin')
                    and team_id = any ((select iam.managed_team_ids())::uuid[])));

create policy "users see their own sessions" on iam.sessions
    for select to aigw_owner
    using (user_id = (select iam.active_user_id()) or (select iam.is_platform_admin()));
create policy "users end their own sessions" on iam.sessions
    for update to aigw_owner
    using (user_id = (select iam.active_user_id()) or (select iam.is_platform_admin()));

-- ---------------------------------------------------------------------------
-- Key format: sk-aigw- + 30 base62 characters + 6 base62 characters of CRC32.
-- The checksum lets a typo be rejected before any lookup, and the fixed prefix lets
-- secret scanners match `sk-aigw-[0-9A-Za-z]{36}`. api/keys.py mirrors these.
-- ---------------------------------------------------------------------------

create or replace function iam.crc32(p_data bytea) returns bigint
language plpgsql immutable strict parallel safe
set search_path = pg_catalog, pg_temp
as $$
declare
    crc bigint := 4294967295;
begin
    for i in 0 .. length(p_data) - 1 loop
        crc := crc # get_byte(p_data, i);
        for _ in 1 .. 8 loop
            if (crc & 1) = 1 then
                crc := (crc >> 1) # 3988292384;  -- reflected polynomial 0xEDB88320
            else
                crc := crc >> 1;
            end if;
        end loop;
    end loop;
    return crc # 4294967295;
end
$$;

create or replace function iam.base62(p_value bigint, p_width integer) returns text
language plpgsql immutable strict parallel safe
set search_path = pg_catalog, pg_temp
as $$
declare
    alphabet constant text := '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';
    encoded text := '';
    v bigint := p_value;
begin
    for _ in 1 .. p_width loop
        encoded := substr(alphabet, (v % 62)::integer + 1, 1) || encoded;
        v := v / 62;
    end loop;
    return encoded;
end
$$;

-- Uniform base62 from the server's strong random source (gen_random_uuid), by
-- rejection sampling so no character is more likely than another.
create or replace function iam.random_base62(p_length integer) returns text
language plpgsql volatile strict
set search_path = pg_catalog, pg_temp
as $$
declare
    alphabet constant text := '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';
    pool bytea;
    b integer;
    result text := '';
begin
    while length(result) < p_length loop
        pool := sha256(uuid_send(gen_random_uuid()) || uuid_send(gen_random_uuid()));
        for i in 0 .. 31 loop
            b := get_byte(pool, i);
            if b < 248 and length(result) < p_length then
                result := result || substr(alphabet, b % 62 + 1, 1);
            end if;
        end loop;
    end loop;
    return result;
end
$$;

create or replace function iam.new_api_key() returns text
language sql volatile
set search_path = pg_catalog, pg_temp
as $$
    select 'sk-aigw-' || body || iam.base62(iam.crc32(convert_to(body, 'UTF8')), 6)
    from (select iam.random_base62(30) as body) b
$$;

create or replace function iam.key_digest(p_key text) returns bytea
language sql immutable strict parallel safe
set search_path = pg_catalog, pg_temp
as $$
    select sha256(convert_to(p_key, 'UTF8'))
$$;

-- ---------------------------------------------------------------------------
-- Errors: custom SQLSTATEs, mapped to HTTP statuses in api/errors.py.
--   AIG01 unauthenticated  AIG02 credential revoked/expired/disabled  AIG03 forbidden
--   AIG04 not found        AIG05 conflict                            AIG06 invalid input
--   AIG07 budget exhausted
-- ---------------------------------------------------------------------------

create or replace function iam.team_id(p_team text) returns uuid
language plpgsql stable
set search_path = pg_catalog, pg_temp
as $$
declare
    v_id uuid;
begin
    select t.id into v_id from iam.teams t where t.name = p_team;
    if v_id is null then
        raise exception 'team "%" not found', p_team using errcode = 'AIG04',
            hint = 'List the teams you can see with: select * from api.list_teams();';
    end if;
    return v_id;
end
$$;

create or replace function iam.require_authenticated() returns void
language plpgsql stable
set search_path = pg_catalog, pg_temp
as $$
begin
    if not iam.is_authenticated() then
        raise exception 'no authenticated principal' using errcode = 'AIG01',
            hint = 'Sign in, or call set_config(''app.principal'', ...) in this transaction.';
    end if;
end
$$;

create or replace function iam.require_admin() returns void
language plpgsql stable
set search_path = pg_catalog, pg_temp
as $$
begin
    perform iam.require_authenticated();
    if not iam.manages_anything() then
        raise exception 'this needs a platform, area or team admin' using errcode = 'AIG03',
            hint = 'Ask an admin of your team.';
    end if;
end
$$;

-- Gateways cache authenticated principals; anything that changes what a key may do
-- tells them (at commit) to drop their caches. A change to the model registry says
-- 'models': gateways also reload what they keep of it (api/gateway/registry.py).
drop function if exists iam.principals_changed();  -- as it was before it took p_what
create or replace function iam.principals_changed(p_what text default '') returns void
language sql volatile
set search_path = pg_catalog, pg_temp
as $$
    select pg_catalog.pg_notify('aigw_principals', p_what)
$$;

-- ---------------------------------------------------------------------------
-- api.*: what services and operators call. Each runs as aigw_owner under the policies
-- above, so a row the caller may not see is simply not there.
-- ---------------------------------------------------------------------------

create function api.whoami() returns jsonb
language sql stable security definer
set search_path = pg_catalog, pg_temp
as $$
    select jsonb_build_object(
        'user_id', iam.active_user_id(),
        'is_operator', iam.is_operator(),
        'is_platform_admin', iam.is_platform_admin(),
        'roles', coalesce((select jsonb_agg(jsonb_build_object(
                    'role', r.role, 'area', a.name, 'team', t.name) order by r.role)
                  from iam.user_roles r
                  left join iam.areas a on a.id = r.area_id
                  left join iam.teams t on t.id = r.team_id
                  where r.user_id = iam.active_user_id()), '[]'::jsonb)
    )
$$;
comment on function api.whoami() is
    'The current principal: user id, operator flag and role grants.';

create function api.create_area(p_name text) returns uuid
language plpgsql volatile security definer
set search_path = pg_catalog, pg_temp
as $$
declare
    v_id uuid;
begin
    perform iam.require_authenticated();
    insert into iam.areas (name) values (p_name) returning id into v_id;
    return v_id;
exception
    when unique_violation then
        raise exception 'area "%" already exists', p_name using errcode = 'AIG05';
    when check_violation then
        raise exception 'invalid area name "%"', p_name using errcode = 'AIG06',
            hint = 'Use lowercase letters, digits, ".", "_" or "-" (at most 63 characters).';
    when insufficient_privilege then
        raise exception 'only platform admins create areas' using errcode = 'AIG03';
end
$$;
comment on function api.create_area(text) is
    'Create a business area (platform admins). Example: select api.create_area(''payments'');';

create function api.list_areas() returns table (id uuid, name text, team_count bigint, created_at timestamptz)
language sql stable security definer
set search_path = pg_catalog, pg_temp
as $$
    select a.id, a.name, (select count(*) from iam.teams t where t.area_id = a.id), a.created_at
    from iam.areas a order by a.name
$$;
comment on function api.list_areas() is 'Areas the caller may see, with their team counts.';

create function api.create_team(p_name text, p_area text default null) returns uuid
language plpgsql volatile security definer
set search_path = pg_catalog, pg_temp
as $$
declare
    v_area uuid;
    v_id uuid;
begin
    perform iam.require_authenticated();
    if p_area is not null then
        select a.id into v_area from iam.areas a where a.name = p_area;
        if v_area is null then
            raise exception 'area "%" not found', p_area using errcode = 'AIG04',
                hint = 'Create it first: select api.create_area(''...'');';
        end if;
    end if;
    begin
        insert into iam.teams (name, area_id) values (p_name, v_area) returning id into v_id;
    exception
        when unique_violation then
            raise exception 'team "%" already exists', p_name using errcode = 'AIG05';
        when check_violation then
            raise exception 'invalid team name "%"', p_name using errcode = 'AIG06',
                hint = 'Use lowercase letters, digits, ".", "_" or "-" (at most 63 characters).';
        when insufficient_privilege then
            raise exception 'you may not create teams in this area' using errcode = 'AIG03';
    end;
    insert into policy.team_policies (team_id) values (v_id);
    return v_id;
end
$$;
comment on function api.create_team(text, text) is
    'Create a team, optionally in an area (platform admins; area owners in their area).';

create function api.list_teams()
returns table (id uuid, name text, area text, member_count bigint, created_at timestamptz)
language sql stable security definer
set search_path = pg_catalog, pg_temp
as $$
    select t.id, t.name, a.name,
           (select count(*) from iam.team_members m where m.team_id = t.id), t.created_at
    from iam.teams t left join iam.areas a on a.id = t.area_id
    order by t.name
$$;
comment on function api.list_teams() is 'Teams the caller may see.';

create function api.create_user(p_email text, p_display_name text default null) returns uuid
language plpgsql volatile security definer
set search_path = pg_catalog, pg_temp
as $$
declare
    v_id uuid;
begin
    perform iam.require_authenticated();
    if p_email is null or lower(btrim(p_email)) !~ '^[^@\s]+@[^@\s]+\.[^@\s]+$' then
        raise exception 'not an email address: "%"', p_email using errcode = 'AIG06';
    end if;
    insert into iam.users (email, display_name) values (lower(btrim(p_email)), p_display_name)
    returning id into v_id;
    return v_id;
exception
    when unique_violation then
        raise exception 'a user with this email already exists' using errcode = 'AIG05';
    when check_violation then
        raise exception 'invalid user: %', sqlerrm using errcode = 'AIG06';
    when insufficient_privilege then
        raise exception 'only platform admins create users' using errcode = 'AIG03';
end
$$;
comment on function api.create_user(text, text) is 'Create a user account (platform admins).';

create function api.list_users()
returns table (id uuid, email text, display_name text, status text,
               must_change_password boolean, roles text[], created_at timestamptz)
language sql stable security definer
set search_path = pg_catalog, pg_temp
as $$
    select u.id, u.email, u.display_name, u.status, u.must_change_password,
           coalesce(array(select r.role || coalesce(':' || a.name, ':' || t.name, '')
                          from iam.user_roles r
                          left join iam.areas a on a.id = r.area_id
                          left join iam.teams t on t.id = r.team_id
                          where r.user_id = u.id order by 1), '{}'),
           u.created_at
    from iam.users u order by u.email
$$;
comment on function api.list_users() is
    'Users the caller may see (platform admins: all; team admins: their members; others: self).';

-- Ends a user's sessions and revokes their personal keys (theirs as owner_user_id: not
-- their team's keys nor its service accounts'): what suspending the user and a single
-- sign-on taking the account over both do, so that nothing made before comes back with
-- the account. Runs with its caller's rights, in an api.* function that has decided who
-- may do this.
create or replace function iam.end_sessions_and_keys(
    p_user_id uuid, out sessions integer, out keys integer
)
language plpgsql volatile
set search_path = pg_catalog, pg_temp
as $$
begin
    update iam.sessions set revoked_at = now() where user_id = p_user_id and revoked_at is null;
    get diagnostics sessions = row_count;
    update iam.api_keys set status = 'revoked', revoked_at = now()
     where owner_user_id = p_user_id and status = 'active';
    get diagnostics keys = row_count;
    perform iam.principals_changed();
end
$$;
grant execute on function iam.end_sessions_and_keys(uuid) to aigw_internal;

create function api.set_user_status(p_user_id uuid, p_status text) returns void
language plpgsql volatile security definer
set search_path = pg_catalog, pg_temp
as $$
begin
    perform iam.require_authenticated();
    if not iam.is_platform_admin() then
        raise exception 'only platform admins suspend or reactivate users' using errcode = 'AIG03';
    end if;
    if p_status is null or p_status not in ('active', 'suspended') then
        raise exception 'unknown status "%"', p_status using errcode = 'AIG06',
            hint = 'Use active or suspended.';
    end if;
    update iam.users set status = p_status where id = p_user_id;
    if not found then
        raise exception 'user % not found', p_user_id using errcode = 'AIG04';
    end if;
    if p_status = 'suspended' then
        -- Revoked, not only refused while suspended: reactivating the account must not
        -- revive a key or session someone may have copied meanwhile.
        perform iam.end_sessions_and_keys(p_user_id);
    end if;
    perform iam.principals_changed();
end
$$;
comment on function api.set_user_status(uuid, text) is
    'Suspend or reactivate a user (platform admins); suspension ends their sessions and '
    'revokes their personal keys at once, and reactivation brings back neither.';

-- Resolves the scope of a role grant by name, raising a clear error for bad input.
create or replace function iam.role_scope(p_role text, p_scope text, out area_id uuid, out team_id uuid)
language plpgsql stable
set search_path = pg_catalog, pg_temp
as $$
begin
    if p_role is null or p_role not in ('platform_admin', 'area_owner', 'team_admin', 'developer', 'viewer') then
        raise exception 'unknown role "%"', p_role using errcode = 'AIG06',
            hint = 'Roles: platform_admin, area_owner (needs an area), team_admin (needs a team), developer, viewer.';
    end if;
    if p_role = 'area_owner' then
        select a.id into area_id from iam.areas a where a.name = p_scope;
        if area_id is null then
            raise exception 'area "%" not found', p_scope using errcode = 'AIG04',
                hint = 'area_owner is granted for an area: pass its name as the scope.';
        end if;
    elsif p_role = 'team_admin' then
        team_id := iam.team_id(p_scope);
    elsif p_scope is not null then
        raise exception 'role % is global and takes no scope', p_role using errcode = 'AIG06';
    end if;
end
$$;

create function api.grant_role(p_user_id uuid, p_role text, p_scope text default null) returns uuid
language plpgsql volatile security definer
set search_path = pg_catalog, pg_temp
as $$
declare
    v_scope record;
    v_id uuid;
begin
    perform iam.require_authenticated();
    if not iam.is_platform_admin() then
        raise exception 'only platform admins grant roles' using errcode = 'AIG03';
    end if;
    select * into v_scope from iam.role_scope(p_role, p_scope);
    if not exists (select 1 from iam.users u where u.id = p_user_id) then
        raise exception 'user % not found', p_user_id using errcode = 'AIG04';
    end if;
    insert into iam.user_roles (user_id, role, area_id, team_id)
    values (p_user_id, p_role, v_scope.area_id, v_scope.team_id)
    returning id into v_id;
    -- A team admin is also a member of the team they run.
    if v_scope.team_id is not null then
        insert into iam.team_members (team_id, user_id) values (v_scope.team_id, p_user_id)
        on conflict do nothing;
    end if;
    return v_id;
exception
    when unique_violation then
        raise exception 'user already holds this role' using errcode = 'AIG05';
    when insufficient_privilege then
        raise exception 'only platform admins grant roles' using errcode = 'AIG03';
end
$$;
comment on function api.grant_role(uuid, text, text) is
    'Grant a role (platform admins). Scope: area name for area_owner, team name for team_admin.';

create function api.revoke_role(p_user_id uuid, p_role text, p_scope text default null) returns void
language plpgsql volatile security definer
set search_path = pg_catalog, pg_temp
as $$
declare
    v_scope record;
begin
    perform iam.require_authenticated();
    select * into v_scope from iam.role_scope(p_role, p_scope);
    if not iam.is_platform_admin() then
        raise exception 'only platform admins revoke roles' using errcode = 'AIG03';
    end if;
    delete from iam.user_roles r
    where r.user_id = p_user_id and r.role = p_role
      and r.area_id is not distinct from v_scope.area_id
      and r.team_id is not distinct from v_scope.team_id;
    if not found then
        raise exception 'user does not hold this role' using errcode = 'AIG04';
    end if;
    perform iam.principals_changed();
end
$$;
comment on function api.revoke_role(uuid, text, text) is 'Revoke a role grant (platform admins).';

create function api.add_team_member(p_team text, p_user_id uuid) returns void
language plpgsql volatile security definer
set search_path = pg_catalog, pg_temp
as $$
declare
    v_team uuid;
begin
    perform iam.require_authenticated();
    v_team := iam.team_id(p_team);
    -- Only people the caller can already see (members of teams they manage); others join
    -- by invitation, so a team admin cannot probe user ids.
    if not exists (select 1 from iam.users u where u.id = p_user_id) then
        raise exception 'user % not found', p_user_id using errcode = 'AIG04',
            hint = 'Invite people who are not in a team you manage yet.';
    end if;
    insert into iam.team_members (team_id, user_id) values (v_team, p_user_id);
exception
    when unique_violation then
        raise exception 'already a member of team "%"', p_team using errcode = 'AIG05';
    when foreign_key_violation then
        raise exception 'user % not found', p_user_id using errcode = 'AIG04';
    when insufficient_privilege then
        raise exception 'you do not manage team "%"', p_team using errcode = 'AIG03';
end
$$;
comment on function api.add_team_member(text, uuid) is 'Add a user to a team (its admins).';

create function api.remove_team_member(p_team text, p_user_id uuid) returns void
language plpgsql volatile security definer
set search_path = pg_catalog, pg_temp
as $$
begin
    perform iam.require_authenticated();
    delete from iam.team_members m where m.team_id = iam.team_id(p_team) and m.user_id = p_user_id;
    if not found then
        raise exception 'no such member of team "%" that you manage', p_team using errcode = 'AIG04';
    end if;
    perform iam.principals_changed();
end
$$;
comment on function api.remove_team_member(text, uuid) is 'Remove a user from a team (its admins).';

create function api.create_service_account(p_team text, p_name text) returns uuid
language plpgsql volatile security definer
set search_path = pg_catalog, pg_temp
as $$
declare
    v_id uuid;
begin
    perform iam.require_authenticated();
    insert into iam.service_accounts (team_id, name, created_by)
    values (iam.team_id(p_team), p_name, iam.active_user_id())
    returning id into v_id;
    return v_id;
exception
    when unique_violation then
        raise exception 'service account "%" already exists in team "%"', p_name, p_team
            using errcode = 'AIG05';
    when check_violation then
        raise exception 'invalid service account name "%"', p_name using errcode = 'AIG06';
    when insufficient_privilege then
        raise exception 'you do not manage team "%"', p_team using errcode = 'AIG03';
end
$$;
comment on function api.create_service_account(text, text) is
    'Create a non-human principal in a team (team admins); it gets keys, never a session.';

create function api.list_service_accounts()
returns table (id uuid, team text, name text, status text, created_at timestamptz)
language plpgsql stable security definer
set search_path = pg_catalog, pg_temp
as $$
begin
    perform iam.require_admin();
    return query
        select s.id, t.name, s.name, s.status, s.created_at
        from iam.service_accounts s join iam.teams t on t.id = s.team_id
        order by t.name, s.name;
end
$$;
comment on function api.list_service_accounts() is 'Service accounts of the teams the caller manages.';

create function api.set_service_account_status(p_id uuid, p_status text) returns void
language plpgsql volatile security definer
set search_path = pg_catalog, pg_temp
as $$
begin
    perform iam.require_admin();
    if p_status is null or p_status not in ('active', 'suspended', 'revoked') then
        raise exception 'unknown status "%"', p_status using errcode = 'AIG06',
            hint = 'Use active, suspended or revoked.';
    end if;
    update iam.service_accounts set status = p_status where id = p_id and status <> 'revoked';
    if not found then
        raise exception 'service account % not found (or already revoked)', p_id using errcode = 'AIG04';
    end if;
    perform iam.principals_changed();
end
$$;
comment on function api.set_service_account_status(uuid, text) is
    'Suspend, reactivate or revoke a service account; its keys stop working with it.';

-- The scopes a key may hold, each what the gateway lets it call (Gateway.authorize in
-- api/gateway/service.py): inference (chat completions, Anthropic messages and
-- count_tokens), embeddings (/v1/embeddings); GET /v1/models takes either. There is no
-- admin scope: the admin API takes signed-in sessions, never keys.
create or replace function iam.key_scopes() returns text[]
language sql immutable
set search_path = pg_catalog, pg_temp
as $$
    select array['inference', 'embeddings']
$$;
grant execute on function iam.key_scopes() to aigw_internal;

create function api.issue_key(
    p_team text,
    p_name text,
    p_service_account_id uuid default null,
    p_expires_at timestamptz default null,
    p_scopes text[] default null
) returns table (id uuid, key text, prefix text)
language plpgsql volatile security definer
set search_path = pg_catalog, pg_temp
as $$
#variable_conflict use_column
declare
    v_team uuid;
    v_key text := iam.new_api_key();
    v_owner uuid;
    v_scopes text[];
begin
    perform iam.require_authenticated();
    v_team := iam.team_id(p_team);
    if p_expires_at is not null and p_expires_at <= now() then
        raise exception 'expiry % is in the past', p_expires_at using errcode = 'AIG06';
    end if;
    if cardinality(p_scopes) = 0 or not p_scopes <@ iam.key_scopes() then
        raise exception 'invalid key scopes %', p_scopes using errcode = 'AIG06',
            hint = 'A key''s scopes: inference (chat completions, Anthropic messages, '
                   'count_tokens), embeddings (/v1/embeddings); none named: both. The admin '
                   'API takes a signed-in session, never a key.';
    end if;
    -- Every scope unless fewer are named; each once, in iam.key_scopes()'s order.
    v_scopes := array(select s from unnest(iam.key_scopes()) with ordinality as k (s, n)
                       where p_scopes is null or s = any (p_scopes) order by n);
    if p_service_account_id is not null then
        if not exists (select 1 from iam.service_accounts s
                       where s.id = p_service_account_id and s.team_id = v_team
                         and s.status = 'active') then
            raise exception 'service account % not found in team "%"', p_service_account_id, p_team
                using errcode = 'AIG04';
        end if;
    elsif not iam.is_platform_admin() and not (v_team = any (iam.managed_team_ids())) then
        -- A developer's key is personal; an admin's key belongs to the team.
        v_owner := iam.active_user_id();
    end if;
    insert into iam.api_keys (digest, prefix, name, team_id, owner_user_id, service_account_id,
                              scopes, expires_at, created_by)
    values (iam.key_digest(v_key), left(v_key, 12), p_name, v_team, v_owner, p_service_account_id,
            v_scopes, p_expires_at, iam.active_user_id())
    returning api_keys.id into id;
    key := v_key;
    prefix := left(v_key, 12);
    return next;
exception
    when check_violation then
        raise exception 'invalid key name "%"', p_name using errcode = 'AIG06',
            hint = 'Use lowercase letters, digits, ".", "_" or "-" (at most 63 characters).';
    when insufficient_privilege then
        raise exception 'you may not issue keys for team "%"', p_team using errcode = 'AIG03';
end
$$;
comment on function api.issue_key(text, text, uuid, timestamptz, text[]) is
    'Issue an sk-aigw- key for a team; the plaintext is returned once and stored only as a '
    'SHA-256 digest. Scopes: inference, embeddings (null: both). '
    'Example: select * from api.issue_key(''demo'', ''ci-bot'', p_scopes => ''{inference}'');';

create function api.list_keys(p_team text default null)
returns table (id uuid, prefix text, name text, team text, owner_email text,
               service_account text, scopes text[], status text, expires_at timestamptz,
               last_used_at timestamptz, created_at timestamptz)
language sql stable security definer
set search_path = pg_catalog, pg_temp
as $$
    select k.id, k.prefix, k.name, t.name, u.email, s.name, k.scopes,
           case when k.status = 'active' and k.expires_at <= now() then 'expired' else k.status end,
           k.expires_at, k.last_used_at, k.created_at
    from iam.api_keys k
    join iam.teams t on t.id = k.team_id
    left join iam.users u on u.id = k.owner_user_id
    left join iam.service_accounts s on s.id = k.service_account_id
    where p_team is null or t.name = p_team
    order by t.name, k.created_at
$$;
comment on function api.list_keys(text) is
    'Keys the caller may see (never the key or its digest), optionally of one team.';

create function api.revoke_key(p_key_id uuid) returns void
language plpgsql volatile security definer
set search_path = pg_catalog, pg_temp
as $$
begin
    perform iam.require_authenticated();
    update iam.api_keys set status = 'revoked', revoked_at = now()
    where id = p_key_id and status = 'active';
    if not found then
        raise exception 'no active key % that you may revoke', p_key_id using errcode = 'AIG04',
            hint = 'List keys with: select * from api.list_keys();';
    end if;
    perform iam.principals_changed();
end
$$;
comment on function api.revoke_key(uuid) is 'Revoke a key (team admins, or the key''s owner).';

create function api.set_key_limits(p_key_id uuid, p_rpm_limit integer, p_tpm_limit integer)
returns void
language plpgsql volatile security definer
set search_path = pg_catalog, pg_temp
as $$
begin
    perform iam.require_authenticated();
    if p_rpm_limit <= 0 or p_tpm_limit <= 0 then
        raise exception 'limits must be positive (null means only the team''s limits apply)'
            using errcode = 'AIG06';
    end if;
    if not exists (select 1 from iam.api_keys k where k.id = p_key_id) then
        raise exception 'key % not found', p_key_id using errcode = 'AIG04',
            hint = 'List keys with: select * from api.list_keys();';
    end if;
    -- A developer sees their own key but does not set its limits: the team's admins do.
    update iam.api_keys set rpm_limit = p_rpm_limit, tpm_limit = p_tpm_limit
     where id = p_key_id and team_id = any (iam.managed_team_ids());
    if not found then
        raise exception 'only the admins of the key''s team set its limits' using errcode = 'AIG03';
    end if;
    perform iam.principals_changed();
end
$$;
comment on function api.set_key_limits(uuid, integer, integer) is
    'Set a key''s own RPM/TPM limits, applied on top of its team''s (team admins).';

set local role aigw_internal;

-- The response-cache part of a principal (see sql/cache.sql); off for a team without a
-- policy row.
create or replace function iam.cache_policy(p policy.team_policies) returns jsonb
language sql stable
set search_path = pg_catalog, pg_temp
as $$
    select jsonb_build_object(
        'mode', coalesce(p.cache_mode, 'off'), 'scope', coalesce(p.cache_scope, 'team'),
        'ttl_s', coalesce(p.cache_ttl_s, 3600),
        'semantic_threshold', coalesce(p.semantic_threshold, 0.9),
        'semantic_max_temperature', coalesce(p.semantic_max_temperature, 1.0),
        'semantic_tool_turns', coalesce(p.semantic_tool_turns, false),
        'generation', coalesce(p.cache_generation, 0))
$$;

-- The gateway's one call per cold authentication: everything policy needs, or an error.
create function api.authenticate_key(p_digest bytea)
returns table (key_id uuid, key_name text, team_id uuid, team_name text, area_id uuid,
               owner_user_id uuid, service_account_id uuid, scopes text[],
               allowed_models text[], team_rpm_limit integer, team_tpm_limit integer,
               key_rpm_limit integer, key_tpm_limit integer, budget_ids uuid[],
               expires_at timestamptz, cache_policy jsonb)
language plpgsql volatile security definer
set search_path = pg_catalog, pg_temp
as $$
#variable_conflict use_column
declare
    k record;
begin
    select ak.*, t.name as t_name, t.area_id as t_area,
           u.status as owner_status, s.status as sa_status
      into k
      from iam.api_keys ak
      join iam.teams t on t.id = ak.team_id
      left join iam.users u on u.id = ak.owner_user_id
      left join iam.service_accounts s on s.id = ak.service_account_id
     where ak.digest = p_digest;
    if not found then
        raise exception 'invalid API key' using errcode = 'AIG01';
    elsif k.status <> 'active' then
        raise exception 'API key revoked' using errcode = 'AIG02';
    elsif k.expires_at is not null and k.expires_at <= now() then
        raise exception 'API key expired' using errcode = 'AIG02';
    elsif coalesce(k.owner_status, 'active') <> 'active' or coalesce(k.sa_status, 'active') <> 'active' then
        raise exception 'API key disabled: its owner is not active' using errcode = 'AIG02';
    elsif k.owner_user_id is not null and not (
        -- A personal key works while its owner may still issue one for this team.
        exists (select 1 from iam.team_members m
                 where m.team_id = k.team_id and m.user_id = k.owner_user_id)
        and exists (select 1 from iam.user_roles r
                     where r.user_id = k.owner_user_id
                       and (r.role in ('developer', 'platform_admin')
                            or (r.role = 'team_admin' and r.team_id = k.team_id)
                            or (r.role = 'area_owner' and r.area_id = k.t_area)))
    ) then
        raise exception 'API key disabled: its owner no longer belongs to the team'
            using errcode = 'AIG02';
    end if;
    -- Recording every use would make each request a write; a minute's precision will do.
    update iam.api_keys ak set last_used_at = now()
     where ak.id = k.id and (ak.last_used_at is null or ak.last_used_at < now() - interval '1 minute');
    return query
        select k.id, k.name, k.team_id, k.t_name, k.t_area, k.owner_user_id, k.service_account_id,
               k.scopes,
               -- enabled models, narrowed by the team's allow-list when it has one
               array(select m.name from policy.models m
                      where m.enabled and (p.allowed_models is null or m.name = any (p.allowed_models))
                      order by m.name),
               p.rpm_limit, p.tpm_limit, k.rpm_limit, k.tpm_limit,
               -- the budgets its spend counts against, in the order they are locked
               array(select b.id from policy.budgets b
                      where b.team_id = k.team_id
                        and (b.scope = 'team' or b.api_key_id = k.id
                             or b.user_id = k.owner_user_id)
                      order by b.id),
               k.expires_at, iam.cache_policy(p)
          from (select 1) one
          left join policy.team_policies p on p.team_id = k.team_id;
end
$$;
comment on function api.authenticate_key(bytea) is
    'Resolve an API key''s SHA-256 digest to its principal (team, owner, scopes, the models it '
    'may call, team and key limits, the budgets it spends against); '
    'AIG01 for an unknown key, AIG02 for a revoked, expired or disabled one.';

-- The user an identity provider's subject (Entra ID's oid, else sub) is linked to, or
-- null. Subjects are unique across issuers (iam.users.oidc_subject), so the same subject
-- from another issuer is someone else, refused rather than taken for the linked user.
-- Both ways in by identity resolve users here: single sign-on (api.sso_sign_in) and the
-- gateway's identity tokens (api.authenticate_user_token).
create or replace function iam.sso_user(p_issuer text, p_subject text) returns uuid
language plpgsql stable
set search_path = pg_catalog, pg_temp
as $$
declare
    u record;
begin
    select us.id, us.oidc_issuer into u from iam.users us where us.oidc_subject = p_subject;
    if found and u.oidc_issuer is distinct from p_issuer then
        raise exception 'this identity belongs to another identity provider' using errcode = 'AIG03';
    end if;
    return u.id;
end
$$;

-- A signed-in user calling the gateway with an identity token (Entra ID): the service
-- has verified the token's signature, issuer, audience and expiry; this maps its issuer
-- and subject to the user they are linked to and the team they act in, with the same
-- principal shape as a key (no key id, the user as owner, every key scope).
-- Only an identity already linked is served. The token's email is never looked at: an
-- account found by its email is linked by taking it over (api.sso_sign_in ends its
-- password, sessions and personal keys), which is for the interactive sign-in to do,
-- where the user sees it happen, not a side effect of a model call.
create function api.authenticate_user_token(p_issuer text, p_subject text, p_team text default null)
returns table (key_id uuid, key_name text, team_id uuid, team_name text, area_id uuid,
               owner_user_id uuid, service_account_id uuid, scopes text[],
               allowed_models text[], team_rpm_limit integer, team_tpm_limit integer,
               key_rpm_limit integer, key_tpm_limit integer, budget_ids uuid[],
               expires_at timestamptz, cache_policy jsonb)
language plpgsql stable security definer
set search_path = pg_catalog, pg_temp
as $$
#variable_conflict use_column
declare
    u record;
    t record;
    v_teams integer;
begin
    select us.id, us.status into u from iam.users us
     where us.id = iam.sso_user(p_issuer, p_subject);
    if not found then
        raise exception 'no account is linked to this identity' using errcode = 'AIG01',
            hint = 'Sign in to the portal once with single sign-on (/auth/oidc/login): that links '
                   'this identity to your account, and its tokens are accepted from then on.';
    elsif u.status <> 'active' then
        raise exception 'user is suspended' using errcode = 'AIG02';
    end if;
    if not exists (select 1 from iam.user_roles r where r.user_id = u.id and r.role <> 'viewer') then
        raise exception 'viewers may not call models' using errcode = 'AIG03';
    end if;
    select count(*) into v_teams from iam.team_members m where m.user_id = u.id;
    select tm.id, tm.name, tm.area_id into t
      from iam.team_members m join iam.teams tm on tm.id = m.team_id
     where m.user_id = u.id and (p_team is null or tm.name = p_team)
     order by tm.name limit 1;
    if not found then
        raise exception 'you are not a member of team "%"', coalesce(p_team, '(any)')
            using errcode = 'AIG03';
    elsif p_team is null and v_teams > 1 then
        raise exception 'you belong to % teams: name one in the x-aigw-team header', v_teams
            using errcode = 'AIG06';
    end if;
    return query
        select null::uuid, null::text, t.id, t.name, t.area_id, u.id, null::uuid,
               iam.key_scopes(),
               array(select md.name from policy.models md
                      where md.enabled and (p.allowed_models is null or md.name = any (p.allowed_models))
                      order by md.name),
               p.rpm_limit, p.tpm_limit, null::integer, null::integer,
               array(select b.id from policy.budgets b
                      where b.team_id = t.id and (b.scope = 'team' or b.user_id = u.id)
                      order by b.id),
               null::timestamptz, iam.cache_policy(p)
          from (select 1) one
          left join policy.team_policies p on p.team_id = t.id;
end
$$;
comment on function api.authenticate_user_token(text, text, text) is
    'Map a verified identity token (issuer, subject: oid or sub) and an optional team name '
    'to the principal of the user linked to it; AIG01 no linked user, AIG02 suspended, '
    'AIG03 subject of another issuer, viewer or not a member, AIG06 ambiguous team.';

-- Passwords are hashed with argon2 by the service; only the hash reaches the database.
create function api.set_user_password(
    p_user_id uuid, p_password_hash text, p_must_change boolean default false
) returns void
language plpgsql volatile security definer
set search_path = pg_catalog, pg_temp
as $$
begin
    -- coalesce: with no signed-in user the comparison is null, and null must mean no.
    if not (iam.is_platform_admin() or coalesce(p_user_id = iam.active_user_id(), false)) then
        raise exception 'you may only set your own password' using errcode = 'AIG03';
    end if;
    if p_password_hash is null or p_password_hash not like '$argon2id$%' then
        raise exception 'password hash must be an argon2id hash' using errcode = 'AIG06';
    end if;
    if not exists (select 1 from iam.users u where u.id = p_user_id) then
        raise exception 'user % not found', p_user_id using errcode = 'AIG04';
    end if;
    insert into iam.user_credentials (user_id, password_hash) values (p_user_id, p_password_hash)
    on conflict (user_id) do update set password_hash = excluded.password_hash, updated_at = now();
    update iam.users set must_change_password = p_must_change where id = p_user_id;
end
$$;
comment on function api.set_user_password(uuid, text, boolean) is
    'Store a user''s argon2id password hash (the user themselves, or platform admins).';

set local role aigw_owner;

grant update (must_change_password) on iam.users to aigw_internal;
create policy "internal functions set the password-change flag" on iam.users
    for update to aigw_internal using (true);

-- First run of the local stack: a platform admin, a demo area and team. Operators only;
-- returns nothing when anyone already exists, so a second run changes nothing.
create function api.bootstrap(
    p_admin_email text, p_admin_password_hash text, p_area text, p_team text
) returns table (admin_user_id uuid, team_id uuid)
language plpgsql volatile security definer
set search_path = pg_catalog, pg_temp
as $$
begin
    if not iam.is_operator() then
        raise exception 'bootstrap is for operators' using errcode = 'AIG03';
    end if;
    if exists (select 1 from iam.users) then
        return;
    end if;
    admin_user_id := api.create_user(p_admin_email, 'Platform admin');
    perform api.grant_role(admin_user_id, 'platform_admin');
    perform api.set_user_password(admin_user_id, p_admin_password_hash, true);
    perform api.create_area(p_area);
    team_id := api.create_team(p_team, p_area);
    -- The demo team shows the response cache at work (exact, then semantic).
    perform api.set_cache_policy(p_team, 'semantic');
    return next;
end
$$;
comment on function api.bootstrap(text, text, text, text) is
    'First-run seed (operators): platform admin who must change the password, demo area and '
    'team (with the semantic response cache on).';

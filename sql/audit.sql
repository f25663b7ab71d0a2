-- Audit log: who changed what, kept so that a later change to the record shows.
--
-- Every insert, update and delete on the administrative tables (identity, keys, models,
-- prices, team policies, budgets) is recorded by a row trigger, whoever made it: an
-- api.* function on behalf of a signed-in user, or an operator in psql. Sign-in events
-- that happen in the services are added through api.record_auth_event.
--
-- Append-only by construction:
--   * audit.record, owned by aigw_internal, is the only writer; nobody else holds any
--     privilege on audit.events, not the services, not operators;
--   * guard triggers refuse every update, delete and truncate, so even the table's owner
--     has to take them off on purpose;
--   * each row carries hash = sha256(prev_hash || canonical text of the row), chained
--     from 32 zero bytes, so a row changed, removed or reordered afterwards breaks the
--     chain. `aigw audit verify` recomputes it outside the database; the head hash it
--     prints is an anchor operators keep elsewhere (it also catches rows cut from the end).
--
-- Not recorded: sessions, the budget ledger, the caches and request events (per-request
-- writes, and high volume), nor a key's last-used time.
--
-- Tracking a table added later (guardrails, MCP servers, …), in its own sql file placed
-- after this one in api.migrations.DOMAIN_FILES, as aigw_owner:
--     select audit.track('guard.rules');                          -- key column id
--     select audit.track('mcp.server_tools', array['server_id', 'name']);
--     select audit.track('x.y', p_ignored_columns => array['last_seen_at']);

set local role aigw_owner;

grant usage, create on schema audit to aigw_internal;
-- Read (the chain's head) and append; no update, delete or truncate for anyone.
grant select, insert on audit.events to aigw_internal;
grant usage on sequence audit.events_id_seq to aigw_internal;

create policy "the recorder reads the chain" on audit.events
    for select to aigw_internal using (true);
create policy "the recorder appends to the chain" on audit.events
    for insert to aigw_internal with check (true);
create policy "platform admins and operators read the log" on audit.events
    for select to aigw_owner using ((select iam.is_platform_admin()));

-- The guard: the log is never rewritten in place. A trigger (and not only missing
-- privileges) so that the owner, who could grant itself anything, must disable it first.
create or replace function audit.refuse_change() returns trigger
language plpgsql
set search_path = pg_catalog, pg_temp
as $$
begin
    raise exception 'audit.events is append-only: % refused', lower(tg_op) using errcode = 'AIG03',
        hint = 'Rows are added by audit.record only; nothing changes or removes them.';
end
$$;

drop trigger if exists audit_events_append_only on audit.events;
create trigger audit_events_append_only before update or delete on audit.events
    for each row execute function audit.refuse_change();
drop trigger if exists audit_events_no_truncate on audit.events;
create trigger audit_events_no_truncate before truncate on audit.events
    for each statement execute function audit.refuse_change();

set local role aigw_internal;

-- Values under these keys never reach the log, at any depth: the value becomes
-- "[redacted]", so the record still shows that a password or key was set.
create or replace function audit.redact(p_value jsonb) returns jsonb
language plpgsql immutable
set search_path = pg_catalog, pg_temp
as $$
declare
    secret_keys constant text[] := array['digest', 'token_digest', 'password_hash', 'key',
        'password', 'token', 'secret', 'client_secret', 'api_key', 'authorization'];
begin
    case jsonb_typeof(p_value)
    when 'object' then
        return coalesce((
            select jsonb_object_agg(e.key, case
                when lower(e.key) = any (secret_keys) and e.value <> 'null'::jsonb
                    then '"[redacted]"'::jsonb
                else audit.redact(e.value) end)
              from jsonb_each(p_value) e), '{}'::jsonb);
    when 'array' then
        return coalesce((
            select jsonb_agg(audit.redact(a.value) order by a.n)
              from jsonb_array_elements(p_value) with ordinality a (value, n)), '[]'::jsonb);
    else
        return p_value;
    end case;
end
$$;

-- Append one event to the chain; returns its id. The only writer of audit.events.
--
-- The canonical text hashed is
--     jsonb_build_array(id, microseconds since the epoch of `at`, actor_user_id,
--                       actor_login, action, target_type, target_id, detail)::text
-- (jsonb's text form is canonical, and the array keeps null apart from ''). The verifier
-- in api/audit.py computes the same expression in its own query: keep the two in step.
create or replace function audit.record(
    p_action text, p_target_type text, p_target_id text, p_detail jsonb
) returns bigint
language plpgsql volatile security definer
set search_path = pg_catalog, pg_temp
as $$
declare
    v_actor uuid := iam.current_user_id();
    v_login text := session_user::text;
    v_detail jsonb := audit.redact(coalesce(p_detail, '{}'::jsonb));
    v_prev bytea;
    v_id bigint;
    v_at timestamptz;
    v_hash bytea;
begin
    if p_action is null or p_action !~ '^[a-z][a-z0-9_]*(\.[a-z0-9_]+)+$' then
        raise exception 'invalid audit action "%"', p_action using errcode = 'AIG06',
            hint = 'Actions are dotted lowercase names, e.g. iam.teams.insert or auth.login.';
    end if;
    -- One writer at a time until its transaction ends, so the chain is a single line and
    -- ids grow in chain order. (The key is "aigwaudt".)
    perform pg_advisory_xact_lock(7019837016034059380);
    select e.hash into v_prev from audit.events e order by e.id desc limit 1;
    v_prev := coalesce(v_prev, decode(repeat('00', 32), 'hex'));
    v_id := nextval('audit.events_id_seq'::regclass);
    v_at := clock_timestamp();
    v_hash := sha256(v_prev || convert_to(jsonb_build_array(
        v_id, (extract(epoch from v_at) * 1000000)::bigint, v_actor, v_login, p_action,
        p_target_type, p_target_id, v_detail)::text, 'UTF8'));
    insert into audit.events (id, at, actor_user_id, actor_login, action, target_type,
                              target_id, detail, prev_hash, hash)
    overriding system value
    values (v_id, v_at, v_actor, v_login, p_action, p_target_type, p_target_id, v_detail,
            v_prev, v_hash);
    return v_id;
exception
    when unique_violation then
        -- Only under repeatable read or serializable: this transaction's snapshot predates
        -- the newest row, and chaining to the row before it would fork the chain.
        raise exception 'the audit log gained a row after this transaction began'
            using errcode = '40001', hint = 'Retry the transaction.';
end
$$;

-- Row trigger of every tracked table: records <schema>.<table>.<insert|update|delete>.
-- Arguments: the columns that identify a row (default id), joined by ':' as target_id.
-- Detail: {"new": row} for an insert, {"old": row} for a delete, and for an update only
-- the columns that changed, {"old": {...}, "new": {...}}; secrets are redacted by
-- audit.record.
create or replace function audit.capture() returns trigger
language plpgsql volatile security definer
set search_path = pg_catalog, pg_temp
as $$
declare
    v_old jsonb := case when tg_op <> 'INSERT' then to_jsonb(old) end;
    v_new jsonb := case when tg_op <> 'DELETE' then to_jsonb(new) end;
    v_keys text[] := case when tg_nargs = 0 then array['id'] else tg_argv end;
    v_detail jsonb;
begin
    if tg_op = 'UPDATE' then
        v_detail := jsonb_build_object(
            'old', coalesce((select jsonb_object_agg(o.key, o.value) from jsonb_each(v_old) o
                              where o.value is distinct from v_new -> o.key), '{}'::jsonb),
            'new', coalesce((select jsonb_object_agg(n.key, n.value) from jsonb_each(v_new) n
                              where n.value is distinct from v_old -> n.key), '{}'::jsonb));
    elsif tg_op = 'INSERT' then
        v_detail := jsonb_build_object('new', v_new);
    else
        v_detail := jsonb_build_object('old', v_old);
    end if;
    perform audit.record(
        format('%s.%s.%s', tg_table_schema, tg_table_name, lower(tg_op)),
        format('%s.%s', tg_table_schema, tg_table_name),
        (select string_agg(coalesce(v_new, v_old) ->> k.name, ':' order by k.n)
           from unnest(v_keys) with ordinality k (name, n)),
        v_detail);
    return null;
end
$$;
grant execute on function audit.capture() to aigw_owner;  -- to attach it (audit.track)

set local role aigw_owner;

-- Attach audit.capture to a table (again: safe to re-run, as this file is). Updates that
-- change nothing, or only p_ignored_columns, are skipped by the trigger's WHEN clause
-- before any function runs: that keeps, e.g., a key's last-used time off the log and off
-- the request path.
create or replace function audit.track(
    p_table regclass, p_key_columns text[] default array['id'],
    p_ignored_columns text[] default '{}'
) returns void
language plpgsql volatile
set search_path = pg_catalog, pg_temp
as $$
declare
    v_missing text;
    v_args text;
begin
    select string_agg(c, ', ') into v_missing
      from unnest(p_key_columns || p_ignored_columns) c
     where not exists (select 1 from pg_attribute a
                        where a.attrelid = p_table and a.attname = c and a.attnum > 0
                          and not a.attisdropped);
    if v_missing is not null then
        raise exception 'table % has no column(s) %', p_table, v_missing using errcode = 'AIG06';
    end if;
    select string_agg(quote_literal(c), ', ') into v_args from unnest(p_key_columns) c;
    -- %s of a regclass is schema-qualified here (the search path holds pg_catalog only).
    execute format('drop trigger if exists audit_capture on %s', p_table);
    execute format('create trigger audit_capture after insert or delete on %s '
                   'for each row execute function audit.capture(%s)', p_table, v_args);
    execute format('drop trigger if exists audit_capture_update on %s', p_table);
    execute format('create trigger audit_capture_update after update on %s for each row '
                   'when ((to_jsonb(old) - %L::text[]) is distinct from (to_jsonb(new) - %L::text[])) '
                   'execute function audit.capture(%s)',
                   p_table, p_ignored_columns, p_ignored_columns, v_args);
end
$$;

select audit.track('iam.areas');
select audit.track('iam.teams');
select audit.track('iam.users');
select audit.track('iam.user_roles');
select audit.track('iam.team_members', array['team_id', 'user_id']);
select audit.track('iam.service_accounts');
-- last_used_at is written by key authentication, on the request path
select audit.track('iam.api_keys', p_ignored_columns => array['last_used_at']);
select audit.track('iam.invitations');
-- records that a password was set; the hash itself is redacted
select audit.track('iam.user_credentials', array['user_id']);
select audit.track('policy.models', array['name']);
select audit.track('policy.pricing', array['model']);
select audit.track('policy.team_policies', array['team_id']);
select audit.track('policy.budgets');

-- ---------------------------------------------------------------------------
-- api.*
-- ---------------------------------------------------------------------------

create function api.list_audit_events(
    p_limit integer default 100, p_before_id bigint default null,
    p_action text default null, p_actor uuid default null
) returns table (id bigint, at timestamptz, actor_user_id uuid, actor_email text,
                 actor_login text, action text, target_type text, target_id text,
                 detail jsonb)
language plpgsql stable security definer
set search_path = pg_catalog, pg_temp
as $$
begin
    perform iam.require_authenticated();
    if not iam.is_platform_admin() then
        raise exception 'only platform admins and operators read the audit log'
            using errcode = 'AIG03';
    end if;
    return query
        select e.id, e.at, e.actor_user_id, u.email, e.actor_login, e.action, e.target_type,
               e.target_id, e.detail
          from audit.events e
          left join iam.users u on u.id = e.actor_user_id
         where (p_before_id is null or e.id < p_before_id)
           -- an action, or every action under a dotted prefix (iam.teams, auth)
           and (p_action is null or e.action = p_action
                or left(e.action, length(p_action) + 1) = p_action || '.')
           and (p_actor is null or e.actor_user_id = p_actor)
         order by e.id desc
         limit least(greatest(coalesce(p_limit, 100), 1), 1000);
end
$$;
comment on function api.list_audit_events(integer, bigint, text, uuid) is
    'Audit events, newest first (platform admins and operators); page with p_before_id, '
    'filter by action or dotted action prefix and by actor. Example: '
    'select * from api.list_audit_events(50, null, ''iam.api_keys'');';

-- The admin portal's Audit Log page shows whether the chain holds: these are the columns
-- api/audit.py hashes, in the text it hashes (the same expression as its CHAIN_QUERY), and
-- the gateway recomputes every hash with hashlib. `aigw audit verify` stays the
-- independent check: it reads the table itself, trusting no stored function.
create function api.audit_chain()
returns table (id bigint, prev_hash bytea, hash bytea, canonical text)
language plpgsql stable security definer
set search_path = pg_catalog, pg_temp
as $$
begin
    perform iam.require_authenticated();
    if not iam.is_platform_admin() then
        raise exception 'only platform admins and operators read the audit log'
            using errcode = 'AIG03';
    end if;
    return query
        select e.id, e.prev_hash, e.hash,
               jsonb_build_array(
                   e.id, (extract(epoch from e.at) * 1000000)::bigint, e.actor_user_id,
                   e.actor_login, e.action, e.target_type, e.target_id, e.detail)::text
          from audit.events e
         order by e.id;
end
$$;
comment on function api.audit_chain() is
    'Every audit row''s id, previous hash, hash and canonical text, in order (platform '
    'admins and operators): what a client needs to recompute the chain.';

set local role aigw_internal;

-- Sign-in outcomes decided in the services (an OIDC callback refused, a wrong password):
-- the services may add auth.* events and nothing else, so they can never write an
-- administrative change into the history.
create function api.record_auth_event(
    p_action text, p_email text default null, p_detail jsonb default '{}'
) returns bigint
language plpgsql volatile security definer
set search_path = pg_catalog, pg_temp
as $$
begin
    if p_action is null or p_action !~ '^auth\.[a-z0-9_]+(\.[a-z0-9_]+)*$' then
        raise exception 'only auth.* events may be recorded here, not "%"', p_action
            using errcode = 'AIG06', hint = 'Name it like auth.login or auth.login_failed.';
    end if;
    if p_detail is not null and jsonb_typeof(p_detail) <> 'object' then
        raise exception 'detail must be a JSON object' using errcode = 'AIG06';
    end if;
    -- a bound on what a caller can make the log keep
    if pg_column_size(p_detail) > 8192 or char_length(p_email) > 254 then
        raise exception 'auth event too large' using errcode = 'AIG06';
    end if;
    return audit.record(p_action, case when p_email is not null then 'email' end,
                        lower(btrim(p_email)), p_detail);
end
$$;
comment on function api.record_auth_event(text, text, jsonb) is
    'Record a sign-in event decided by a service (auth.* actions only; secrets in detail are '
    'redacted). Example: select api.record_auth_event(''auth.login_failed'', '
    '''ana@example.com'', ''{"reason": "unknown user"}'');';

-- Stored responses of the OpenAI Responses API (revision 0016): what `store` keeps and
-- `previous_response_id` continues. A response belongs to the team of the caller that
-- made it, and only that team's callers see it: its keys, and its members signed in with
-- an identity token.
--
-- The gateway names its caller in app.principal as {"api_key_id": …} (a key it has
-- authenticated) or {"user_id": …, "team_id": …} (a signed-in user acting in a team);
-- iam.gateway_team_id derives the team from the database: the key's team while the key
-- is active, the named team only while the user is an active member of it.

set local role aigw_internal;

create or replace function iam.gateway_team_id() returns uuid
language sql stable security definer
set search_path = pg_catalog, pg_temp
as $$
    select coalesce(
        (select k.team_id from iam.api_keys k
          where k.id = (iam.principal() ->> 'api_key_id')::uuid and k.status = 'active'
            and (k.expires_at is null or k.expires_at > now())),
        (select m.team_id from iam.team_members m
          where m.user_id = iam.active_user_id()
            and m.team_id = (iam.principal() ->> 'team_id')::uuid))
$$;
grant execute on function iam.gateway_team_id() to aigw_owner;

set local role aigw_owner;

create policy "a team's callers see its stored responses" on conversations.responses
    for select to aigw_owner
    using (team_id = (select iam.gateway_team_id()) and expires_at > now());
create policy "callers store responses for their own team" on conversations.responses
    for insert to aigw_owner with check (team_id = (select iam.gateway_team_id()));
-- An expired response may be removed by anyone (what it held is gone either way).
create policy "a team's callers delete its responses, anyone the expired" on conversations.responses
    for delete to aigw_owner
    using (team_id = (select iam.gateway_team_id()) or expires_at <= now());

create function api.store_response(
    p_id text, p_model text, p_previous_response_id text, p_input jsonb, p_response jsonb
) returns void
language plpgsql volatile security definer
set search_path = pg_catalog, pg_temp
as $$
declare
    v_team uuid := iam.gateway_team_id();
begin
    if v_team is null then
        raise exception 'no team to store this response for' using errcode = 'AIG01';
    end if;
    insert into conversations.responses
        (id, team_id, api_key_id, user_id, model, previous_response_id, input, response)
    values (p_id, v_team, (iam.principal() ->> 'api_key_id')::uuid, iam.active_user_id(),
            p_model, p_previous_response_id, p_input, p_response)
    on conflict (id) do nothing;
exception
    when check_violation or not_null_violation then
        raise exception 'invalid stored response: %', sqlerrm using errcode = 'AIG06';
end
$$;
comment on function api.store_response(text, text, text, jsonb, jsonb) is
    'Keep a Responses API answer (its whole input and the response object) for the '
    'caller''s team, for 30 days. The gateway calls it for store=true.';

create function api.get_stored_response(p_id text)
returns table (id text, model text, input jsonb, response jsonb, created_at timestamptz)
language sql stable security definer
set search_path = pg_catalog, pg_temp
as $$
    select r.id, r.model, r.input, r.response, r.created_at
      from conversations.responses r where r.id = p_id
$$;
comment on function api.get_stored_response(text) is
    'A stored response of the caller''s team, with its input (nothing for anyone else''s).';

create function api.delete_stored_response(p_id text) returns boolean
language plpgsql volatile security definer
set search_path = pg_catalog, pg_temp
as $$
begin
    delete from conversations.responses r
     where r.id = p_id and r.team_id = iam.gateway_team_id();
    return found;
end
$$;
comment on function api.delete_stored_response(text) is
    'Delete a stored response of the caller''s team; false when there is none to delete.';

create function api.expire_stored_responses() returns integer
language plpgsql volatile security definer
set search_path = pg_catalog, pg_temp
as $$
declare
    n integer;
begin
    delete from conversations.responses r where r.expires_at <= now();
    get diagnostics n = row_count;
    return n;
end
$$;
comment on function api.expire_stored_responses() is
    'Remove stored responses past their 30 days; returns how many.';

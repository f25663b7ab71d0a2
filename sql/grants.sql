-- Who may call what. Applied last, after every domain file.
--
-- The services (aigw_app, via aigw_service) get USAGE on schema api and EXECUTE on its
-- functions, nothing else: no schema iam or policy, no table, no sequence. Operators get
-- the same. Exceptions are listed here: api.bootstrap is for operators only, and
-- api.set_user_password is also called by api.bootstrap, which runs as aigw_owner.

set local role aigw_owner;
grant usage on schema api to aigw_service, aigw_operator;

-- Each owner grants its own functions (a role may only grant what it owns).
create or replace function pg_temp.grant_api_functions() returns void
language plpgsql as $$
declare
    f regprocedure;
begin
    for f in
        select p.oid::regprocedure from pg_catalog.pg_proc p
        where p.pronamespace = 'api'::regnamespace and p.proowner = current_user::regrole
    loop
        execute format('revoke all on function %s from public', f);
        execute format('grant execute on function %s to aigw_service, aigw_operator', f);
    end loop;
end
$$;

grant execute on function pg_temp.grant_api_functions() to aigw_internal;
select pg_temp.grant_api_functions();
revoke execute on function api.bootstrap(text, text, text, text) from aigw_service;

set local role aigw_internal;
select pg_temp.grant_api_functions();
grant execute on function api.set_user_password(uuid, text, boolean) to aigw_owner;

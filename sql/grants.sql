-- Who may call what. Applied last, after every domain file.
--
-- The services (aigw_app, via aigw_service) get USAGE on schema api and EXECUTE on its
-- functions, nothing else: no schema iam or policy, no table, no sequence. Operators get
-- the same. Exceptions are listed here: api.bootstrap is for operators only, and
-- api.set_user_password is also called by api.bootstrap, which runs as aigw_owner.

set local role aigw_owner;
grant usage on schema api to aigw_service, aigw_operator;
reset role;

-- A role may only grant what it owns: each function is granted as its owner.
do $grant$
declare
    f record;
begin
    for f in
        select p.oid::regprocedure as fn, p.proowner::regrole as owner
        from pg_catalog.pg_proc p where p.pronamespace = 'api'::regnamespace
    loop
        execute format('set local role %s', f.owner);
        execute format('revoke all on function %s from public', f.fn);
        execute format('grant execute on function %s to aigw_service, aigw_operator', f.fn);
    end loop;
end
$grant$;

set local role aigw_owner;
revoke execute on function api.bootstrap(text, text, text, text) from aigw_service;

set local role aigw_internal;
grant execute on function api.set_user_password(uuid, text, boolean) to aigw_owner;

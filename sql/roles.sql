-- Cluster-wide roles. Applied by `aigw migrate` before any Alembic revision, as the
-- connecting (administrative) user, and safe to re-run. Roles are shared by every
-- database of the cluster, so no revision ever drops them.
--
--   aigw_owner     owns every schema, table and most functions; not a superuser and
--                  without BYPASSRLS, so forced row-level security applies to it too.
--   aigw_internal  owns the few functions that must look across tenants (role lookups for
--                  policies, key authentication, password storage); policies name it.
--   aigw_service   what a service may do: USAGE on schema api and EXECUTE on its functions.
--   aigw_app       the services' login role: member of aigw_service, owns nothing.
--   aigw_operator  operators (psql, the `aigw` CLI); the migrating user is made a member.
--   aigw_dbt       dbt's login role (analytics): reads the columns of the sources it is
--                  granted (sql/analytics.sql), writes only schema analytics.
do $roles$
declare
    r text;
begin
    foreach r in array array['aigw_owner', 'aigw_internal', 'aigw_service', 'aigw_operator'] loop
        if not exists (select from pg_catalog.pg_roles where rolname = r) then
            execute format('create role %I nologin nobypassrls', r);
        end if;
    end loop;
    if not exists (select from pg_catalog.pg_roles where rolname = 'aigw_app') then
        create role aigw_app login nobypassrls;
    end if;
    -- Services never hold a statement longer than this (per role, not per session).
    alter role aigw_app set statement_timeout = '15s';
    grant aigw_service to aigw_app;
    if not exists (select from pg_catalog.pg_roles where rolname = 'aigw_dbt') then
        create role aigw_dbt login nobypassrls noinherit;
    end if;
    -- A full build of the marts over months of events takes minutes, not hours.
    alter role aigw_dbt set statement_timeout = '30min';

    -- The migrating user must be able to `set role` to the owners to create objects as
    -- them. A superuser already can; on a managed server (Azure Flexible Server) the
    -- administrator created these roles and may grant them to itself.
    if not (select rolsuper from pg_catalog.pg_roles where rolname = session_user) then
        execute format('grant aigw_owner, aigw_internal, aigw_operator, aigw_dbt to %I',
                       session_user);
    end if;

    execute format('grant create on database %I to aigw_owner', current_database());
    -- No temporary objects for anyone but owners: a temporary type or function named
    -- like a built-in is the classic way into a security definer function.
    execute format('revoke temporary on database %I from public', current_database());
    -- dbt's incremental models merge through a temporary table. aigw_dbt executes no
    -- security definer function (it has no USAGE on schema api), so a temporary object
    -- of its own can shadow nothing that runs with more rights than it has.
    execute format('grant temporary on database %I to aigw_dbt', current_database());
end
$roles$;

-- Functions are not executable by PUBLIC unless granted next to their definition.
alter default privileges for role aigw_owner revoke execute on functions from public;
alter default privileges for role aigw_internal revoke execute on functions from public;

-- Nothing in `public` is for the services.
revoke all on schema public from public;

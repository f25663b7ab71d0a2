"""Catalog checks: the security properties hold for every table and function, including
ones added later, not only for the ones a test happens to name."""

import asyncpg
import psycopg
import pytest

from tests.helpers import operator_call

SCHEMAS = ("iam", "policy", "cache", "audit", "league")


def tables(admin_url: str) -> list[str]:
    rows = operator_call(
        admin_url,
        "select format('%%I.%%I', n.nspname, c.relname) from pg_class c "
        "join pg_namespace n on n.oid = c.relnamespace "
        "where c.relkind in ('r', 'p') and n.nspname = any(%s) order by 1",
        (list(SCHEMAS),),
    )
    return [r[0] for r in rows]


def test_every_table_has_row_level_security_enabled_and_forced(module_db):
    rows = operator_call(
        module_db.admin,
        "select format('%%I.%%I', n.nspname, c.relname), c.relrowsecurity, c.relforcerowsecurity "
        "from pg_class c join pg_namespace n on n.oid = c.relnamespace "
        "where c.relkind in ('r', 'p') and n.nspname = any(%s)",
        (list(SCHEMAS),),
    )
    assert len(rows) >= 14
    assert [r[0] for r in rows if not (r[1] and r[2])] == []


def test_every_function_pins_its_search_path(module_db):
    rows = operator_call(
        module_db.admin,
        "select p.oid::regprocedure::text, p.prosecdef, p.proconfig from pg_proc p "
        "where p.pronamespace::regnamespace::text in ('api', 'iam', 'policy', 'cache', 'audit')",
    )
    assert len(rows) > 30
    # pg_temp named last: otherwise the session's temporary schema is searched first for
    # types and tables, even with an empty search_path. `extensions` (pgvector, owned by
    # the administrator, writable by nobody else) only where vectors are used.
    pinned = {"search_path=pg_catalog, pg_temp", "search_path=pg_catalog, extensions, pg_temp"}
    unpinned = [name for name, _, config in rows if not pinned & set(config or [])]
    assert unpinned == []
    assert any(definer for _, definer, _ in rows)


def test_no_function_is_executable_by_public(module_db):
    rows = operator_call(
        module_db.admin,
        "select p.oid::regprocedure::text from pg_proc p "
        "where p.pronamespace::regnamespace::text in ('api', 'iam', 'policy', 'audit') "
        "and has_function_privilege('public', p.oid, 'execute')",
    )
    assert rows == []


def test_the_service_role_has_usage_on_api_only_and_owns_nothing(module_db):
    (usage,) = operator_call(
        module_db.admin,
        "select array_agg(nspname order by nspname) from pg_namespace "
        "where has_schema_privilege('aigw_app', oid, 'usage') "
        "and nspname not in ('pg_catalog', 'information_schema') and nspname !~ '^pg_'",
    )[0]
    assert usage == ["api"]
    (owned,) = operator_call(
        module_db.admin,
        "select (select count(*) from pg_class where relowner = 'aigw_app'::regrole)"
        " + (select count(*) from pg_proc where proowner = 'aigw_app'::regrole)"
        " + (select count(*) from pg_namespace where nspowner = 'aigw_app'::regrole)",
    )[0]
    assert owned == 0
    (attrs,) = operator_call(
        module_db.admin,
        "select row(rolsuper, rolbypassrls, rolcreaterole, rolcreatedb) "
        "from pg_roles where rolname = 'aigw_app'",
    )[0]
    assert attrs == ("f", "f", "f", "f")


async def test_the_service_role_cannot_select_from_any_table(module_db):
    conn = await asyncpg.connect(module_db.app)
    try:
        for table in tables(module_db.admin):
            with pytest.raises(asyncpg.InsufficientPrivilegeError):
                await conn.fetch(f"select * from {table} limit 1")
    finally:
        await conn.close()


def test_no_api_function_returns_a_password_hash_or_key_digest(module_db):
    rows = operator_call(
        module_db.admin,
        "select p.oid::regprocedure::text, coalesce(p.proargnames, '{}') from pg_proc p "
        "where p.pronamespace = 'api'::regnamespace",
    )
    leaking = [
        name
        for name, argnames in rows
        for arg in argnames
        if arg in ("password_hash", "digest", "token_digest")
    ]
    # The one exception, because argon2 runs in the service: a password check reads the
    # hash of the email being signed in to, one counted and throttled attempt at a time
    # (per account and per address). Nothing lists anyone's hash.
    assert leaking == ["api.begin_password_login(text,text)"]


def test_password_hashes_are_invisible_even_to_the_owner_of_the_api_functions(db):
    (user_id,) = operator_call(db.admin, "select api.create_user('x@example.com')")[0]
    operator_call(
        db.admin,
        "select api.set_user_password(%s, '$argon2id$v=19$m=65536,t=3,p=4$c2FsdA$aGFzaA')",
        (user_id,),
    )
    with psycopg.connect(db.admin) as conn:
        assert conn.execute("select count(*) from iam.user_credentials").fetchone()[0] == 1
        conn.execute("set role aigw_owner")
        # aigw_owner is what every api.* function runs as: no policy lets it read hashes.
        assert conn.execute("select count(*) from iam.user_credentials").fetchone()[0] == 0


def test_a_service_account_cannot_hold_a_portal_session(db):
    (team_id,) = operator_call(db.admin, "select api.create_team('t1')")[0]
    (sa_id,) = operator_call(db.admin, "select api.create_service_account('t1', 'bot')")[0]
    # Sessions reference users only; a service account's id is not a user.
    with pytest.raises(psycopg.errors.ForeignKeyViolation):
        operator_call(
            db.admin,
            "insert into iam.sessions (user_id, token_digest, expires_at) "
            "values (%s, sha256('t'), now() + interval '1 day')",
            (sa_id,),
        )
    assert team_id is not None


def test_principal_setting_does_not_leak_across_transactions(db):
    (user_id,) = operator_call(db.admin, "select api.create_user('y@example.com')")[0]
    with psycopg.connect(db.app) as conn:
        with conn.transaction():
            conn.execute(
                "select set_config('app.principal', %s, true)", (f'{{"user_id": "{user_id}"}}',)
            )
            assert conn.execute("select count(*) from api.list_users()").fetchone()[0] == 1
        with conn.transaction():
            assert conn.execute("select count(*) from api.list_users()").fetchone()[0] == 0


def test_every_api_function_is_documented_for_operators(module_db):
    rows = operator_call(
        module_db.admin,
        "select p.oid::regprocedure::text from pg_proc p "
        "where p.pronamespace = 'api'::regnamespace "
        "and coalesce(obj_description(p.oid, 'pg_proc'), '') = ''",
    )
    assert rows == []


def test_the_service_role_cannot_create_temporary_objects(db):
    with psycopg.connect(db.app) as conn, pytest.raises(psycopg.errors.InsufficientPrivilege):
        conn.execute("create temporary table t (x int)")


def test_a_temporary_type_named_like_a_builtin_does_not_run_as_the_function_owner(db):
    operator_call(db.admin, "select api.create_user('victim@example.com')")
    # Even were temporary objects allowed, the functions' search path ignores them.
    operator_call(db.admin, f'grant temporary on database "{db.name}" to aigw_app')
    with psycopg.connect(db.app, autocommit=True) as conn:
        conn.execute(
            "create function pg_temp.evil(v pg_catalog.uuid) returns boolean language plpgsql as $f$"
            " begin if current_user <> 'aigw_app' then raise exception 'ran as %', current_user;"
            " end if; return true; end $f$"
        )
        conn.execute("create domain pg_temp.uuid as pg_catalog.uuid check (pg_temp.evil(value))")
        conn.execute("create domain pg_temp.text as pg_catalog.text check (pg_temp.evil(null))")
        whoami = conn.execute("select api.whoami()").fetchone()[0]
        teams = conn.execute("select count(*) from api.list_teams()").fetchone()[0]
    assert whoami["is_operator"] is False and teams == 0

"""Schema migrations: Alembic revisions for tables (db/), then the repeatable SQL in sql/.

`upgrade` is safe to run from several processes at once (an advisory lock serialises
them) and is a no-op when nothing changed: the SQL files are re-applied only when their
content differs from what the database last received.
"""

import hashlib
import os
from pathlib import Path

import psycopg
from psycopg import sql

ROOT = Path(__file__).resolve().parent.parent
DB_DIR = ROOT / "db"
SQL_DIR = ROOT / "sql"
ROLES_FILE = SQL_DIR / "roles.sql"
# Order matters: policy.sql uses helpers from iam.sql; audit.sql attaches its triggers to
# the tables of the files before it, and auth.sql records sign-ins with it; analytics.sql
# grants dbt its sources across the others, and finops.sql reads one of its marts;
# grants.sql comes last.
DOMAIN_FILES = (
    "iam.sql",
    "policy.sql",
    "cache.sql",
    "events.sql",
    "conversations.sql",
    "audit.sql",
    "auth.sql",
    "admin.sql",
    "analytics.sql",
    "finops.sql",
    "grants.sql",
)
# Schemas whose policies and functions the SQL files own entirely.
MANAGED_SCHEMAS = ("iam", "policy", "cache", "events", "conversations", "audit", "league")
MIGRATION_LOCK = 0x61696777  # "aigw"

META_SETUP = """
create schema if not exists meta authorization aigw_owner;
create table if not exists meta.sql_state (
    id boolean primary key default true check (id),
    digest text not null,
    applied_at timestamptz not null default now()
);
alter table meta.sql_state owner to aigw_owner;
"""

# pgvector, in a schema of its own so functions can name it in a pinned search_path.
# Creating an extension needs the administrative user, hence here and not in a revision.
EXTENSIONS_SETUP = """
create schema if not exists extensions;
grant usage on schema extensions to aigw_owner, aigw_internal;
do $ext$
declare
    v_schema text;
begin
    select n.nspname into v_schema from pg_catalog.pg_extension e
      join pg_catalog.pg_namespace n on n.oid = e.extnamespace where e.extname = 'vector';
    if v_schema is null then
        create extension vector schema extensions;
    elsif v_schema <> 'extensions' then
        alter extension vector set schema extensions;
    end if;
end
$ext$;
"""


class MissingExtension(RuntimeError):
    """The server has no pgvector; the message says how to get it."""


def sqlalchemy_url(url: str) -> str:
    return "postgresql+psycopg://" + url.split("://", 1)[1]


def alembic_config(admin_url: str):
    from alembic.config import Config  # imported when needed: alembic takes ~0.5 s to import

    config = Config()
    config.set_main_option("script_location", str(DB_DIR))
    # Passed as an attribute: a URL may hold '%', which ini interpolation would mangle.
    config.attributes["url"] = sqlalchemy_url(admin_url)
    return config


def head_revision() -> str:
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config("postgresql://")).get_current_head()


def sql_digest() -> str:
    h = hashlib.sha256()
    for name in ("roles.sql", *DOMAIN_FILES):
        h.update(name.encode() + b"\0" + (SQL_DIR / name).read_bytes())
    return h.hexdigest()


def upgrade(admin_url: str, revision: str = "head") -> bool:
    """Bring the database to `revision`; returns True when anything changed."""
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute("select pg_advisory_lock(%s)", (MIGRATION_LOCK,))
        try:
            before = current_revision(conn)
            conn.execute(ROLES_FILE.read_text())
            set_app_password(conn)
            conn.execute(META_SETUP)
            create_extensions(conn)
            from alembic import command

            command.upgrade(alembic_config(admin_url), revision)
            after = current_revision(conn)
            applied = apply_sql(conn, force=before != after)
            return applied or before != after
        finally:
            conn.execute("select pg_advisory_unlock(%s)", (MIGRATION_LOCK,))


def create_extensions(conn: psycopg.Connection) -> None:
    try:
        conn.execute(EXTENSIONS_SETUP)
    except (psycopg.errors.UndefinedFile, psycopg.errors.FeatureNotSupported) as exc:
        raise MissingExtension(
            "This PostgreSQL server has no pgvector extension, which the semantic cache "
            "needs. Install it (Debian/Ubuntu: postgresql-<version>-pgvector; Azure Flexible "
            "Server: add VECTOR to the azure.extensions server parameter), or leave "
            "DATABASE_URL unset to use the embedded server, which ships it."
        ) from exc


def set_app_password(conn: psycopg.Connection) -> None:
    """Servers that check passwords need them for the login roles: AIGW_APP_DB_PASSWORD
    sets aigw_app's, AIGW_DBT_DB_PASSWORD aigw_dbt's."""
    logins = (("aigw_app", "AIGW_APP_DB_PASSWORD"), ("aigw_dbt", "AIGW_DBT_DB_PASSWORD"))
    for role, variable in logins:
        password = os.environ.get(variable)
        if password:
            conn.execute(
                sql.SQL("alter role {} password {}").format(
                    sql.Identifier(role), sql.Literal(password)
                )
            )


def downgrade(admin_url: str, revision: str) -> None:
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute("select pg_advisory_lock(%s)", (MIGRATION_LOCK,))
        try:
            from alembic import command

            command.downgrade(alembic_config(admin_url), revision)
            # sql/ describes the head schema; the code that matches the older revision
            # re-applies its own sql/ when it next runs `upgrade`.
            conn.execute("delete from meta.sql_state")
        finally:
            conn.execute("select pg_advisory_unlock(%s)", (MIGRATION_LOCK,))


def current_revision(conn: psycopg.Connection) -> str | None:
    exists = conn.execute("select to_regclass('meta.alembic_version') is not null").fetchone()[0]
    if not exists:
        return None
    row = conn.execute("select version_num from meta.alembic_version").fetchone()
    return row[0] if row else None


def apply_sql(conn: psycopg.Connection, *, force: bool = False) -> bool:
    """Re-create every function, policy and grant from sql/, in one transaction."""
    digest = sql_digest()
    row = conn.execute("select digest from meta.sql_state").fetchone()
    if row and row[0] == digest and not force:
        return False
    with conn.transaction():
        # Start from nothing so a function or policy removed from a file is gone too.
        conn.execute("drop schema if exists api cascade")
        conn.execute("create schema api authorization aigw_owner")
        conn.execute("grant usage, create on schema api to aigw_internal")
        for schema in MANAGED_SCHEMAS:
            policies = conn.execute(
                "select policyname, tablename from pg_policies where schemaname = %s", (schema,)
            ).fetchall()
            for policy, table in policies:
                conn.execute(
                    sql.SQL("drop policy {} on {}.{}").format(
                        sql.Identifier(policy),
                        sql.Identifier(schema),
                        sql.Identifier(table),
                    )
                )
        for name in DOMAIN_FILES:
            conn.execute((SQL_DIR / name).read_text())
            conn.execute("reset role")
        conn.execute(
            "insert into meta.sql_state (digest) values (%s) "
            "on conflict (id) do update set digest = excluded.digest, applied_at = now()",
            (digest,),
        )
    return True

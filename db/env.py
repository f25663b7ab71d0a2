"""Alembic environment: runs every revision as `aigw_owner`, so that role owns the tables.

Revisions hold tables only; functions, views, policies and grants live in `sql/` and are
re-applied by `api.migrations` after every upgrade.
"""

from alembic import context
from sqlalchemy import create_engine, text
from sqlalchemy.pool import NullPool

config = context.config


def run_migrations_online() -> None:
    engine = create_engine(config.attributes["url"], poolclass=NullPool)
    with engine.connect() as connection:
        connection.execute(text("set role aigw_owner"))
        context.configure(connection=connection, version_table_schema="meta")
        with context.begin_transaction():
            context.run_migrations()
        connection.commit()


run_migrations_online()

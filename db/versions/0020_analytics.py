"""Analytics: the schema dbt builds its marts in, and the leaderboard's opt-ins.

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-03

dbt (dbt/) logs in as aigw_dbt and creates its views and tables in schema `analytics`,
which it may write and nothing else. The marts are dbt's: they are rebuilt from the
event log, so no revision creates them.

league.leaderboard_opt_ins says who wants to appear on a leaderboard: per user, their
teams' boards and the company-wide board, both off until the user turns them on.
"""

from alembic import op

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None

UPGRADE = """
create schema analytics authorization aigw_owner;
-- dbt creates its relations here, owned by aigw_dbt; sql/analytics.sql grants the rest
grant usage, create on schema analytics to aigw_dbt;

create schema league authorization aigw_owner;
create table league.leaderboard_opt_ins (
    user_id           uuid primary key references iam.users (id) on delete cascade,
    on_team_board     boolean not null default false,
    on_company_board  boolean not null default false,
    updated_at        timestamptz not null default now()
);
alter table league.leaderboard_opt_ins enable row level security;
alter table league.leaderboard_opt_ins force row level security;
"""

DOWNGRADE = """
drop schema league cascade;
-- everything in it is dbt's, rebuilt by the next `aigw analytics run`
drop schema analytics cascade;
"""


def upgrade() -> None:
    op.execute(UPGRADE)


def downgrade() -> None:
    op.execute(DOWNGRADE)

"""Budget ledger (spend and reservations per budget and period) and per-key rate limits.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-29

A request reserves its worst-case cost against every budget that applies to it before it
reaches a provider, and settles its real cost afterwards (sql/policy.sql).
"""

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

UPGRADE = """
-- Per-key limits, on top of the team's (policy.team_policies).
alter table iam.api_keys
    add column rpm_limit integer check (rpm_limit > 0),
    add column tpm_limit integer check (tpm_limit > 0);

-- An invitation's scope must match its role, as a role grant's must.
alter table iam.invitations add constraint invitations_scope_matches_role check (
    (role = 'area_owner' and area_id is not null and team_id is null)
    or (role = 'team_admin' and team_id is not null and area_id is null)
    or (role in ('platform_admin', 'developer', 'viewer') and area_id is null)
);

create table policy.budget_usage (
    budget_id     uuid not null references policy.budgets (id) on delete cascade,
    -- start of the budget's period (day, ISO week, month, in UTC); -infinity for 'total'
    period_start  timestamptz not null,
    reserved_usd  numeric(20, 9) not null default 0 check (reserved_usd >= 0),
    spent_usd     numeric(20, 9) not null default 0 check (spent_usd >= 0),
    updated_at    timestamptz not null default now(),
    primary key (budget_id, period_start)
);

create table policy.budget_reservations (
    id                  uuid primary key default gen_random_uuid(),
    -- the caller: an API key, or a signed-in user (Entra ID token) acting in a team
    api_key_id          uuid references iam.api_keys (id) on delete cascade,
    user_id             uuid references iam.users (id) on delete cascade,
    team_id             uuid not null references iam.teams (id) on delete cascade,
    model               text not null,
    amount_usd          numeric(20, 9) not null check (amount_usd >= 0),
    -- the ledger rows this reservation holds amount_usd in (parallel arrays)
    budget_ids          uuid[] not null,
    period_starts       timestamptz[] not null,
    created_at          timestamptz not null default now(),
    settled_at          timestamptz,
    actual_usd          numeric(20, 9) check (actual_usd >= 0),
    constraint budget_reservations_has_a_caller
        check (api_key_id is not null or user_id is not null),
    constraint budget_reservations_holds_align
        check (cardinality(budget_ids) = cardinality(period_starts)),
    constraint budget_reservations_settled_with_cost
        check ((settled_at is null) = (actual_usd is null))
);
create index budget_reservations_open_idx on policy.budget_reservations (created_at)
    where settled_at is null;
create index budget_reservations_team_id_idx on policy.budget_reservations (team_id);
create index budget_reservations_api_key_id_idx on policy.budget_reservations (api_key_id);

alter table policy.budget_usage enable row level security;
alter table policy.budget_usage force row level security;
alter table policy.budget_reservations enable row level security;
alter table policy.budget_reservations force row level security;
"""


def upgrade() -> None:
    op.execute(UPGRADE)


def downgrade() -> None:
    op.execute("drop table policy.budget_reservations")
    op.execute("drop table policy.budget_usage")
    op.execute("alter table iam.api_keys drop column rpm_limit, drop column tpm_limit")
    op.execute("alter table iam.invitations drop constraint invitations_scope_matches_role")

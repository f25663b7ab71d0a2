"""Identity (iam) and policy tables.

Revision ID: 0001
Revises:
Create Date: 2026-11-29

Only tables, constraints and indexes live here. Functions, row-level security policies
and grants are in sql/iam.sql and sql/policy.sql, re-applied after every upgrade.
"""

from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

# Slugs keep names typeable in a CLI and safe in URLs.
SLUG = r"^[a-z0-9][a-z0-9._-]{0,62}$"

UPGRADE = f"""
create schema iam;
create schema policy;

create table iam.areas (
    id          uuid primary key default gen_random_uuid(),
    name        text not null unique check (name ~ '{SLUG}'),
    created_at  timestamptz not null default now()
);

create table iam.teams (
    id          uuid primary key default gen_random_uuid(),
    name        text not null unique check (name ~ '{SLUG}'),
    area_id     uuid references iam.areas (id) on delete restrict,
    created_at  timestamptz not null default now()
);
create index teams_area_id_idx on iam.teams (area_id);

-- One table for every human principal (admins, owners, developers, viewers).
create table iam.users (
    id                    uuid primary key default gen_random_uuid(),
    email                 text not null unique
                          check (email = lower(email) and email ~ '^[^@\\s]+@[^@\\s]+\\.[^@\\s]+$'
                                 and char_length(email) <= 254),
    display_name          text check (char_length(display_name) <= 200),
    status                text not null default 'active' check (status in ('active', 'suspended')),
    must_change_password  boolean not null default false,
    oidc_subject          text unique,
    created_at            timestamptz not null default now()
);

-- Password hashes sit apart from profiles so that no function that reads users can
-- return one by accident; only functions owned by aigw_internal reach this table.
create table iam.user_credentials (
    user_id        uuid primary key references iam.users (id) on delete cascade,
    password_hash  text not null,
    updated_at     timestamptz not null default now()
);

create table iam.user_roles (
    id          uuid primary key default gen_random_uuid(),
    user_id     uuid not null references iam.users (id) on delete cascade,
    role        text not null
                check (role in ('platform_admin', 'area_owner', 'team_admin', 'developer', 'viewer')),
    area_id     uuid references iam.areas (id) on delete cascade,
    team_id     uuid references iam.teams (id) on delete cascade,
    granted_at  timestamptz not null default now(),
    -- area_owner is scoped to an area, team_admin to a team, the rest are global.
    constraint user_roles_scope_matches_role check (
        (role = 'area_owner' and area_id is not null and team_id is null)
        or (role = 'team_admin' and team_id is not null and area_id is null)
        or (role in ('platform_admin', 'developer', 'viewer') and area_id is null and team_id is null)
    )
);
create unique index user_roles_unique_grant
    on iam.user_roles (user_id, role, coalesce(area_id, team_id, '00000000-0000-0000-0000-000000000000'));
create index user_roles_area_id_idx on iam.user_roles (area_id);
create index user_roles_team_id_idx on iam.user_roles (team_id);

create table iam.team_members (
    team_id    uuid not null references iam.teams (id) on delete cascade,
    user_id    uuid not null references iam.users (id) on delete cascade,
    added_at   timestamptz not null default now(),
    primary key (team_id, user_id)
);
create index team_members_user_id_idx on iam.team_members (user_id);

-- Non-human principals: API keys only, never a portal session.
create table iam.service_accounts (
    id          uuid primary key default gen_random_uuid(),
    team_id     uuid not null references iam.teams (id) on delete cascade,
    name        text not null check (name ~ '{SLUG}'),
    status      text not null default 'active' check (status in ('active', 'suspended', 'revoked')),
    created_by  uuid references iam.users (id) on delete set null,
    created_at  timestamptz not null default now(),
    unique (team_id, name)
);

create table iam.api_keys (
    id                  uuid primary key default gen_random_uuid(),
    digest              bytea not null unique check (octet_length(digest) = 32),
    prefix              text not null,
    name                text not null check (name ~ '{SLUG}'),
    team_id             uuid not null references iam.teams (id) on delete cascade,
    owner_user_id       uuid references iam.users (id) on delete cascade,
    service_account_id  uuid references iam.service_accounts (id) on delete cascade,
    scopes              text[] not null default array['inference'],
    status              text not null default 'active' check (status in ('active', 'revoked')),
    expires_at          timestamptz,
    last_used_at        timestamptz,
    created_by          uuid references iam.users (id) on delete set null,
    created_at          timestamptz not null default now(),
    revoked_at          timestamptz,
    -- A key belongs to a person, to a service account, or (neither) to the team itself.
    constraint api_keys_single_owner check (owner_user_id is null or service_account_id is null),
    constraint api_keys_revoked_at_set check ((status = 'revoked') = (revoked_at is not null))
);
create index api_keys_team_id_idx on iam.api_keys (team_id);
create index api_keys_owner_user_id_idx on iam.api_keys (owner_user_id);
create index api_keys_service_account_id_idx on iam.api_keys (service_account_id);

create table iam.invitations (
    id            uuid primary key default gen_random_uuid(),
    email         text not null check (email = lower(email) and email ~ '^[^@\\s]+@[^@\\s]+\\.[^@\\s]+$'),
    role          text not null
                  check (role in ('platform_admin', 'area_owner', 'team_admin', 'developer', 'viewer')),
    area_id       uuid references iam.areas (id) on delete cascade,
    team_id       uuid references iam.teams (id) on delete cascade,
    token_digest  bytea not null unique check (octet_length(token_digest) = 32),
    invited_by    uuid references iam.users (id) on delete set null,
    created_at    timestamptz not null default now(),
    expires_at    timestamptz not null default now() + interval '48 hours',
    accepted_at   timestamptz,
    revoked_at    timestamptz
);
create index invitations_team_id_idx on iam.invitations (team_id);
create index invitations_area_id_idx on iam.invitations (area_id);

-- Portal sessions belong to users only: a service account cannot hold one.
create table iam.sessions (
    id            uuid primary key default gen_random_uuid(),
    user_id       uuid not null references iam.users (id) on delete cascade,
    token_digest  bytea not null unique check (octet_length(token_digest) = 32),
    created_at    timestamptz not null default now(),
    last_seen_at  timestamptz not null default now(),
    expires_at    timestamptz not null,
    revoked_at    timestamptz
);
create index sessions_user_id_idx on iam.sessions (user_id);

create table policy.models (
    name               text primary key check (name ~ '{SLUG}'),
    provider           text not null check (char_length(provider) between 1 and 60),
    enabled            boolean not null default true,
    max_output_tokens  integer not null check (max_output_tokens > 0),
    created_at         timestamptz not null default now()
);

-- Prices in USD per million tokens; operators edit them, cost is never hard-coded.
create table policy.pricing (
    model                     text primary key references policy.models (name) on delete cascade,
    input_usd_per_mtok        numeric(14, 6) not null check (input_usd_per_mtok >= 0),
    output_usd_per_mtok       numeric(14, 6) not null check (output_usd_per_mtok >= 0),
    cached_input_usd_per_mtok numeric(14, 6) not null check (cached_input_usd_per_mtok >= 0),
    updated_at                timestamptz not null default now()
);

create table policy.team_policies (
    team_id         uuid primary key references iam.teams (id) on delete cascade,
    -- null: every enabled model; an empty array: none.
    allowed_models  text[],
    rpm_limit       integer check (rpm_limit > 0),
    tpm_limit       integer check (tpm_limit > 0),
    updated_at      timestamptz not null default now()
);

create table policy.budgets (
    id                    uuid primary key default gen_random_uuid(),
    scope                 text not null check (scope in ('team', 'key', 'user')),
    team_id               uuid not null references iam.teams (id) on delete cascade,
    api_key_id            uuid references iam.api_keys (id) on delete cascade,
    user_id               uuid references iam.users (id) on delete cascade,
    period                text not null check (period in ('day', 'week', 'month', 'total')),
    hard_limit_usd        numeric(14, 6) not null check (hard_limit_usd >= 0),
    created_at            timestamptz not null default now(),
    updated_at            timestamptz not null default now(),
    constraint budgets_target_matches_scope check (
        (scope = 'team' and api_key_id is null and user_id is null)
        or (scope = 'key' and api_key_id is not null and user_id is null)
        or (scope = 'user' and user_id is not null and api_key_id is null)
    )
);
create unique index budgets_one_per_target_and_period
    on policy.budgets (scope, team_id, coalesce(api_key_id, user_id, team_id), period);
"""

# Every table: row-level security on and forced, so the owner is bound by it too.
TABLES = [
    "iam.areas", "iam.teams", "iam.users", "iam.user_credentials", "iam.user_roles",
    "iam.team_members", "iam.service_accounts", "iam.api_keys", "iam.invitations",
    "iam.sessions", "policy.models", "policy.pricing", "policy.team_policies", "policy.budgets",
]  # fmt: skip


def upgrade() -> None:
    op.execute(UPGRADE)
    for table in TABLES:
        op.execute(f"alter table {table} enable row level security")
        op.execute(f"alter table {table} force row level security")


def downgrade() -> None:
    # `api` holds only functions over these tables; it is rebuilt by the next re-apply.
    op.execute("drop schema if exists api cascade")
    op.execute("drop schema policy cascade")
    op.execute("drop schema iam cascade")

"""Guardrail rules and the MCP server registry.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-01

Registries only: the admin API records which input/output safety rules apply to which
teams and which Model Context Protocol servers they may use. Policies and functions are
in sql/admin.sql.
"""

from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

SLUG = r"^[a-z0-9][a-z0-9._-]{0,62}$"
# https anywhere; plain http only to the same host (a local MCP server). No credentials
# in the URL (no userinfo part): secrets belong in Key Vault, not in a registry row.
MCP_URL = (
    r"^(https://[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?"
    r"|http://(localhost|127\.0\.0\.1|\[::1\]))(:[0-9]{1,5})?(/[^\s]*)?$"
)
NO_TEAM = "00000000-0000-0000-0000-000000000000"

UPGRADE = f"""
create table policy.guardrails (
    id          uuid primary key default gen_random_uuid(),
    -- null: a global rule, applied to every team
    team_id     uuid references iam.teams (id) on delete cascade,
    name        text not null check (name ~ '{SLUG}'),
    stage       text not null check (stage in ('input', 'output')),
    kind        text not null check (kind in ('block_pattern', 'max_input_tokens', 'pii_redact')),
    -- what the kind needs (a pattern, a token limit, PII entities); checked by api.set_guardrail
    config      jsonb not null default '{{}}' check (jsonb_typeof(config) = 'object'),
    action      text not null check (action in ('block', 'redact', 'flag')),
    enabled     boolean not null default true,
    created_by  uuid references iam.users (id) on delete set null,
    created_at  timestamptz not null default now(),
    updated_at  timestamptz not null default now()
);
-- One rule of a name per team, and one global rule of a name.
create unique index guardrails_unique_name
    on policy.guardrails (coalesce(team_id, '{NO_TEAM}'), name);
create index guardrails_team_id_idx on policy.guardrails (team_id);

create table policy.mcp_servers (
    id           uuid primary key default gen_random_uuid(),
    name         text not null unique check (name ~ '{SLUG}'),
    url          text not null
                 constraint mcp_servers_url_is_https_or_local
                 check (char_length(url) <= 2048 and url ~ '{MCP_URL}'),
    description  text check (char_length(description) <= 500),
    -- null: available to every team
    team_id      uuid references iam.teams (id) on delete cascade,
    enabled      boolean not null default true,
    created_by   uuid references iam.users (id) on delete set null,
    created_at   timestamptz not null default now(),
    updated_at   timestamptz not null default now()
);
create index mcp_servers_team_id_idx on policy.mcp_servers (team_id);

alter table policy.guardrails enable row level security;
alter table policy.guardrails force row level security;
alter table policy.mcp_servers enable row level security;
alter table policy.mcp_servers force row level security;
"""


def upgrade() -> None:
    op.execute(UPGRADE)


def downgrade() -> None:
    op.execute("drop table policy.mcp_servers")
    op.execute("drop table policy.guardrails")

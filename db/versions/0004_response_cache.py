"""Response cache: per-team cache policy, semantic cache entries (pgvector), daily stats.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-29

The exact cache lives in Redis; what Postgres holds is the policy that governs both
caches, the semantic entries (searched by vector similarity within one tenant scope), and
the per-team daily hit/miss/savings counters. pgvector is created by `api.migrations`
(it needs the administrative user) in schema `extensions` before this revision runs.
"""

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

UPGRADE = """
alter table policy.team_policies
    -- off: no caching; exact: Redis, identical requests only; semantic: exact, then similar
    -- final user turns with the same context (pgvector). Off until a team opts in: a cache
    -- changes what callers get (the same answer again), so it is a team's decision.
    add column cache_mode text not null default 'off'
        check (cache_mode in ('off', 'exact', 'semantic')),
    -- who shares entries: the whole team, or only the same user / the same key
    add column cache_scope text not null default 'team'
        check (cache_scope in ('team', 'user', 'key')),
    add column cache_ttl_s integer not null default 3600
        check (cache_ttl_s between 1 and 2592000),
    add column semantic_threshold real not null default 0.9
        check (semantic_threshold between 0.5 and 1),
    -- requests sampled hotter than this are never answered from the semantic cache
    -- (a request without temperature counts at the provider default, 1.0)
    add column semantic_max_temperature real not null default 1.0
        check (semantic_max_temperature >= 0),
    add column semantic_tool_turns boolean not null default false,
    -- bumped by api.purge_cache: exact entries of older generations are never read again
    add column cache_generation integer not null default 0;

create schema cache;

create table cache.semantic_entries (
    id             uuid primary key default gen_random_uuid(),
    team_id        uuid not null references iam.teams (id) on delete cascade,
    -- 'team', 'user:<id>' or 'key:<id>', per the team's cache_scope when stored
    scope          text not null,
    wire           text not null check (wire in ('openai', 'anthropic')),
    model          text not null,
    embedder       text not null,
    -- SHA-256 of everything but the final user turn: earlier messages, system prompt,
    -- tools and every sampling parameter; a match needs the same context exactly
    context_hash   bytea not null check (length(context_hash) = 32),
    -- SHA-256 of the final turn's meaning signature (numbers, dates, negation, entities,
    -- time scope, direction words); a match needs the same signature exactly
    guard_hash     bytea not null check (length(guard_hash) = 32),
    embedding      extensions.vector(384) not null,
    response       jsonb not null,
    input_tokens   integer not null default 0 check (input_tokens >= 0),
    output_tokens  integer not null default 0 check (output_tokens >= 0),
    cost_usd       numeric(20, 9) not null default 0 check (cost_usd >= 0),
    created_at     timestamptz not null default now(),
    expires_at     timestamptz not null
);
-- The lookup narrows by btree to one tenant scope, context and signature (newest first),
-- then orders by exact distance (see api.semantic_cache_lookup). No HNSW index: with the
-- tenant filter, HNSW's post-filtering was 200 times slower at 100k entries, for the same
-- recall (tests/perf/bench_cache.py builds one to show it).
create index semantic_entries_scope_idx on cache.semantic_entries
    (team_id, context_hash, guard_hash, scope, model, wire, embedder, created_at);
create index semantic_entries_expires_idx on cache.semantic_entries (expires_at);

create table cache.team_daily_stats (
    team_id         uuid not null references iam.teams (id) on delete cascade,
    day             date not null,
    exact_hits      bigint not null default 0,
    semantic_hits   bigint not null default 0,
    misses          bigint not null default 0,
    bypasses        bigint not null default 0,
    -- what the hits would have cost at the provider, priced when they were served
    saved_usd       numeric(20, 9) not null default 0,
    primary key (team_id, day)
);

alter table cache.semantic_entries enable row level security;
alter table cache.semantic_entries force row level security;
alter table cache.team_daily_stats enable row level security;
alter table cache.team_daily_stats force row level security;
"""


def upgrade() -> None:
    op.execute(UPGRADE)


def downgrade() -> None:
    op.execute("drop schema cache cascade")
    op.execute(
        "alter table policy.team_policies drop column cache_mode, drop column cache_scope, "
        "drop column cache_ttl_s, drop column semantic_threshold, "
        "drop column semantic_max_temperature, drop column semantic_tool_turns, "
        "drop column cache_generation"
    )

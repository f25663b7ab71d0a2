"""Request events: one row per request the gateway answered or refused.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-29

Written in batches by the gateway's event writer (COPY into the api.request_event_intake
view, whose trigger inserts here and skips a request id already recorded, so a batch
retried after a lost acknowledgement is never counted twice).
"""

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

UPGRADE = """
create schema events;

create table events.requests (
    request_id           text primary key,
    started_at           timestamptz not null,
    recorded_at          timestamptz not null default now(),
    endpoint             text not null,
    wire                 text not null,
    status               integer not null,
    -- no foreign keys: an event outlives the key, user or team it names
    key_id               uuid,
    team_id              uuid,
    owner_user_id        uuid,
    service_account_id   uuid,
    model_requested      text,
    model_served         text,
    deployment           text,
    path                 text,
    stream               boolean not null default false,
    input_tokens         integer not null default 0,
    output_tokens        integer not null default 0,
    cached_input_tokens  integer not null default 0,
    -- from the pricing table when the request was recorded; 0 for refusals and cache hits
    cost_usd             numeric(20, 9) not null default 0,
    latency_ms           real not null default 0,
    upstream_latency_ms  real,
    upstream_attempts    integer not null default 0,
    error_type           text,
    session_id           text,
    tool_calls           integer not null default 0,
    client_disconnected  boolean not null default false,
    cache                text,
    saved_input_tokens   integer not null default 0,
    saved_output_tokens  integer not null default 0,
    -- a cache hit: what its answer cost when it was first bought, at today's prices
    saved_usd            numeric(20, 9) not null default 0
);
create index requests_team_started_idx on events.requests (team_id, started_at);
create index requests_started_idx on events.requests (started_at);

alter table events.requests enable row level security;
alter table events.requests force row level security;
"""


def upgrade() -> None:
    op.execute(UPGRADE)


def downgrade() -> None:
    op.execute("drop schema events cascade")

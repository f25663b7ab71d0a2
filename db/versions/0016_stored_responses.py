"""Stored responses of the OpenAI Responses API (`store`, `previous_response_id`).

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-02

The gateway keeps the conversations itself rather than leaving them with a provider: a
response is stored with the input it answered (previous turns expanded) and its output,
so `previous_response_id` continues a conversation on whichever deployment serves the
next turn, translated or not, and `GET /v1/responses/{id}` works for every model. Rows
belong to a team; row-level security shows them to that team's keys and members only.
They expire after 30 days, as OpenAI's do.
"""

from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None

UPGRADE = """
create schema conversations;

create table conversations.responses (
    id                    text primary key check (id ~ '^resp_[0-9a-f]{32}$'),
    team_id               uuid not null references iam.teams (id) on delete cascade,
    api_key_id            uuid references iam.api_keys (id) on delete set null,
    user_id               uuid references iam.users (id) on delete set null,
    model                 text not null,
    previous_response_id  text,
    -- the turn's whole input: the previous turns' input and output, then its own
    input                 jsonb not null check (jsonb_typeof(input) = 'array'),
    -- the response object as the client received it (output, usage, status, …)
    response              jsonb not null check (jsonb_typeof(response) = 'object'),
    created_at            timestamptz not null default now(),
    expires_at            timestamptz not null default now() + interval '30 days'
);
create index responses_team_id_idx on conversations.responses (team_id);
create index responses_expires_at_idx on conversations.responses (expires_at);

alter table conversations.responses enable row level security;
alter table conversations.responses force row level security;
"""


def upgrade() -> None:
    op.execute(UPGRADE)


def downgrade() -> None:
    op.execute("drop schema conversations cascade")

"""What analytics needs from each request, and Claude Code's hook events.

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-03

Session classification (dbt/, the analytics marts) tells a human chatting from an agent
working from how requests follow each other: how many messages each request carries,
whether its last turn is a tool result, how many tools it offers. Cost is grouped per
pull request, repository or CI job by the request's tags (`x-aigw-tags` or the client's
metadata). All four are cheap to know on the hot path.

events.hooks holds Claude Code's HTTP hook events (SessionStart, UserPromptSubmit,
PreToolUse, PostToolUse, Stop, SessionEnd, …): only what classification needs — the
event's name, the session, the tool's name, the permission mode and the time. Never a
prompt, a tool's input or output, or a path.
"""

from alembic import op

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None

UPGRADE = """
alter table events.requests
    -- messages in the request (input items on the Responses API), the system prompt aside
    add column message_count integer check (message_count >= 0),
    -- the request's last message answers a tool call: an agent loop's turn, not a human's
    add column last_turn_tool_result boolean,
    -- how many tools the request offers the model
    add column tools_offered integer check (tools_offered >= 0),
    -- the request's tags: {"pr": "org/repo#123", "env": "ci"} (strings only, bounded)
    add column tags jsonb check (tags is null or jsonb_typeof(tags) = 'object');
create index requests_session_idx on events.requests (session_id, started_at)
    where session_id is not null;

create table events.hooks (
    id               bigint generated always as identity primary key,
    received_at      timestamptz not null default now(),
    -- no foreign keys: an event outlives the key, user or team it names
    key_id           uuid not null,
    user_id          uuid,
    service_account_id uuid,
    team_id          uuid,
    session_id       text not null check (length(session_id) between 1 and 128),
    hook_event_name  text not null check (length(hook_event_name) between 1 and 64),
    tool_name        text check (length(tool_name) <= 128),
    permission_mode  text check (length(permission_mode) <= 64)
);
create index hooks_session_idx on events.hooks (session_id, received_at);
create index hooks_team_received_idx on events.hooks (team_id, received_at);

alter table events.hooks enable row level security;
alter table events.hooks force row level security;
"""

DOWNGRADE = """
-- The intake view and its trigger name the columns: the SQL files re-create them.
drop view if exists api.request_event_intake;
drop function if exists api.record_hook_event(uuid, uuid, uuid, uuid, text, text, text, text);
drop table events.hooks;
drop index events.requests_session_idx;
alter table events.requests
    drop column tags, drop column tools_offered, drop column last_turn_tool_result,
    drop column message_count;
"""


def upgrade() -> None:
    op.execute(UPGRADE)


def downgrade() -> None:
    op.execute(DOWNGRADE)

"""Audit log: an append-only, hash-chained record of administrative changes.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01

Rows are written only by audit.record (sql/audit.sql), which chains each one to the one
before it: hash = sha256(prev_hash || canonical text of the row). `aigw audit verify`
recomputes the chain, so a changed, removed or reordered row shows.
"""

from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

UPGRADE = """
create schema audit;

create table audit.events (
    id             bigint generated always as identity primary key,
    at             timestamptz not null default clock_timestamp(),
    -- no foreign key: the history of a user outlives the user
    actor_user_id  uuid,
    -- the database login (session_user): shows changes made by operators in psql too
    actor_login    text not null,
    -- <schema>.<table>.<insert|update|delete> for captured changes, auth.* for sign-ins
    action         text not null,
    target_type    text,
    target_id      text,
    detail         jsonb not null default '{}',
    prev_hash      bytea not null check (octet_length(prev_hash) = 32),
    hash           bytea not null unique check (octet_length(hash) = 32),
    -- Each row has one successor at most: a writer whose snapshot missed the newest row
    -- fails here instead of forking the chain.
    constraint events_prev_hash_key unique (prev_hash)
);

alter table audit.events enable row level security;
alter table audit.events force row level security;
"""


def upgrade() -> None:
    op.execute(UPGRADE)


def downgrade() -> None:
    # Takes audit.capture with it, and so the triggers that record iam.* and policy.*.
    op.execute("drop schema audit cascade")

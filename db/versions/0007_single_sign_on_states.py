"""Single sign-on: the login states already used.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-30

A login's `state` travels in a signed cookie; a cookie can be copied and sent again, so
the callback records each state it accepts (as its SHA-256 digest) until the cookie
would have expired anyway, and refuses one it has seen.
"""

from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

UPGRADE = """
create table iam.sso_used_states (
    state_digest  bytea primary key check (octet_length(state_digest) = 32),
    expires_at    timestamptz not null
);
create index sso_used_states_expires_idx on iam.sso_used_states (expires_at);

alter table iam.sso_used_states enable row level security;
alter table iam.sso_used_states force row level security;
"""


def upgrade() -> None:
    op.execute(UPGRADE)


def downgrade() -> None:
    op.execute("drop table iam.sso_used_states")

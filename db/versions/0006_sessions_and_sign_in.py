"""Sign-in: session timeouts, login throttling, invitation redemption, SSO identities.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-29

Sessions get an idle timeout of their own (longer with "stay signed in"); failed logins
are counted per account and per client address so that guessing is throttled without
telling anyone whether an email exists.
"""

from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

UPGRADE = """
alter table iam.sessions
    add column idle_timeout interval not null default interval '12 hours',
    add column stay_signed_in boolean not null default false,
    -- how the user proved who they are: password, sso, invitation, registration
    add column method text not null default 'password'
        check (method in ('password', 'sso', 'invitation', 'registration'));
create index sessions_active_idx on iam.sessions (user_id) where revoked_at is null;

-- Failed sign-ins per subject ('email:<address>' or 'ip:<address>'): a window of counted
-- failures and, once too many, a time before which no attempt is even checked.
create table iam.login_throttle (
    subject            text primary key check (char_length(subject) <= 300),
    failures           integer not null default 0 check (failures >= 0),
    window_started_at  timestamptz not null default now(),
    blocked_until      timestamptz
);

alter table iam.invitations
    add column accepted_user_id uuid references iam.users (id) on delete set null;

-- The identity provider that vouched for oidc_subject (Entra ID: the tenant's issuer).
alter table iam.users add column oidc_issuer text;

alter table iam.login_throttle enable row level security;
alter table iam.login_throttle force row level security;
"""


def upgrade() -> None:
    op.execute(UPGRADE)


def downgrade() -> None:
    op.execute("drop table iam.login_throttle")
    op.execute("alter table iam.users drop column oidc_issuer")
    op.execute("alter table iam.invitations drop column accepted_user_id")
    op.execute("drop index iam.sessions_active_idx")
    op.execute(
        "alter table iam.sessions drop column idle_timeout, drop column stay_signed_in, "
        "drop column method"
    )

"""Budget leases: a gateway process holds a slice of a budget and admits from memory.

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-02

A reservation per request puts two PostgreSQL round trips (reserve, settle) on every
budgeted call. A lease is a reservation of an amount rather than of one request's worst
case: the process admits each request against what it leased, from memory, settles
what its requests really cost in batches (spent moves from the lease to the ledger), and
returns what it did not use. The ledger's rule is unchanged (spent + reserved never
passes a hard limit), so neither is the guarantee; a lease no process renews is charged
in full by the stale-lease sweep, as a dead process's reservations are.
"""

from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None

UPGRADE = """
alter table policy.budget_reservations
    add column kind text not null default 'request' check (kind in ('request', 'lease')),
    -- a lease: what its requests have cost so far (moved from reserved to spent already)
    add column spent_usd numeric(20, 9) not null default 0 check (spent_usd >= 0),
    -- a lease: renewed by each settlement; past it, nobody holds the lease any more
    add column expires_at timestamptz,
    alter column model drop not null,
    drop constraint budget_reservations_has_a_caller,
    add constraint budget_reservations_has_a_caller
        check (kind = 'lease' or api_key_id is not null or user_id is not null),
    add constraint budget_reservations_request_has_a_model
        check ((kind = 'request') = (model is not null)),
    add constraint budget_reservations_lease_expires
        check ((kind = 'lease') = (expires_at is not null));
create index budget_reservations_open_leases_idx on policy.budget_reservations (expires_at)
    where settled_at is null and kind = 'lease';
"""

DOWNGRADE = """
delete from policy.budget_reservations where kind = 'lease';
drop index policy.budget_reservations_open_leases_idx;
alter table policy.budget_reservations
    drop constraint budget_reservations_lease_expires,
    drop constraint budget_reservations_request_has_a_model,
    drop constraint budget_reservations_has_a_caller,
    add constraint budget_reservations_has_a_caller
        check (api_key_id is not null or user_id is not null),
    alter column model set not null,
    drop column expires_at,
    drop column spent_usd,
    drop column kind;
"""


def upgrade() -> None:
    op.execute(UPGRADE)


def downgrade() -> None:
    op.execute(DOWNGRADE)

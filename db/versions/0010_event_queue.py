"""The local event queue: request events on their way from the gateway to the log.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-02

The gateway's writer COPYs each batch of events into this queue (through the view
api.event_queue_intake) and the event consumer (jobs/event_consumer.py) moves them into
events.requests, as it does from Azure Service Bus in the cloud: one event schema (the
event as JSON, the body of a Service Bus message), one consumer, two transports. Claims
use FOR UPDATE SKIP LOCKED, so several consumers share the queue without taking the same
row; a row is deleted in the transaction that saw it recorded.
"""

from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

UPGRADE = """
create table events.queue (
    id                  bigint generated always as identity primary key,
    event               jsonb not null,
    enqueued_at         timestamptz not null default now(),
    -- set when the consumer cannot read the event: it stays here, out of the way, for an
    -- operator to look at (the queue's dead letters)
    dead_letter_reason  text
);
-- the consumer claims the oldest live rows
create index queue_live_idx on events.queue (id) where dead_letter_reason is null;

alter table events.queue enable row level security;
alter table events.queue force row level security;
"""


def upgrade() -> None:
    op.execute(UPGRADE)


def downgrade() -> None:
    # Takes the api.event_queue_intake view with it; sql/ is re-applied at the next upgrade.
    op.execute("drop table events.queue cascade")

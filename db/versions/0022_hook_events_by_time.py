"""Hook events found by time: the analytics refresh reads the recent ones.

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-03

An incremental build of the session marts recomputes the sessions active in its lookback
window, hook events included; without an index on received_at, finding the recent hooks
reads all of them (millions in a few months of an organisation's Claude Code sessions).
"""

from alembic import op

revision = "0022"
down_revision = "0021"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("create index hooks_received_idx on events.hooks (received_at)")


def downgrade() -> None:
    op.execute("drop index events.hooks_received_idx")

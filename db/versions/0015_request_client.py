"""The client of each request (from its User-Agent: claude-cli, codex, openai-python, …).

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-02
"""

from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("alter table events.requests add column client text")


def downgrade() -> None:
    # The intake view and its trigger name the column: the SQL files re-create them.
    op.execute("drop view if exists api.request_event_intake")
    op.execute("alter table events.requests drop column client")

"""Each model's context window: the most input a request to it can carry.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-02

A budget reservation must bound what a request can cost. Where the request itself gives
no bound (a document, a file by id, a server-side tool), the bound is the model's
context window; every request is capped by it too (a provider refuses a longer prompt).
Models registered without one are taken to have a million tokens.
"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

UNKNOWN_WINDOW = 1_000_000
WINDOWS = {
    "claude-sonnet-4-6": 200_000,
    "claude-opus-4-7": 200_000,
    "claude-haiku-4-5": 200_000,
    "gpt-4o": 128_000,
    "gpt-4o-mini": 128_000,
    "azure-gpt-4o": 128_000,
    "azure-gpt-4.1": 1_047_576,
    "phi-4": 16_384,
    "deepseek-r1": 128_000,
    "llama-3.3-70b": 128_000,
    "copilot-gpt-4o": 128_000,
    "gemini-1.5-pro": 2_097_152,
}


def upgrade() -> None:
    op.execute(
        "alter table policy.models add column context_window_tokens integer not null "
        f"default {UNKNOWN_WINDOW} check (context_window_tokens > 0)"
    )
    # Forced row-level security binds the migration's login too: lift it for the seed.
    op.execute("alter table policy.models no force row level security")
    for name, window in WINDOWS.items():
        op.get_bind().execute(
            sa.text("update policy.models set context_window_tokens = :w where name = :n"),
            {"w": window, "n": name},
        )
    op.execute("alter table policy.models force row level security")


def downgrade() -> None:
    op.execute("alter table policy.models drop column context_window_tokens")

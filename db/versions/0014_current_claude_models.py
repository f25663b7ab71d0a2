"""The current Claude models: Opus 5.5, Sonnet 5.5 and Haiku 5.5.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-02

Claude Code asks for the current models by default (claude-opus-5-5 for its work,
claude-haiku-5-5 for small tasks): with them in the registry, the default config and
the list prices, `ANTHROPIC_BASE_URL=… claude` works against the gateway unchanged.
List prices from Anthropic's price list (USD per million tokens; the cached price is the
prompt cache's read price). Haiku 5.5 costs five times as much for prompts over 100,000
tokens; the registry has one price per model, its base one.
"""

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

# name, max output tokens, context window, USD per 1M tokens: input, output, cached input
MODELS = [
    ("claude-opus-5-5", 128_000, 1_000_000, "4.00", "20.00", "0.20"),
    ("claude-sonnet-5-5", 128_000, 1_000_000, "2.00", "10.00", "0.20"),
    ("claude-haiku-5-5", 128_000, 1_000_000, "0.10", "0.50", "0.01"),
]
SEEDED = ("policy.models", "policy.pricing")


def _with_rls_lifted(action) -> None:
    # Policies are created after the revisions run, so lift forced RLS for the seed only.
    for table in SEEDED:
        op.execute(f"alter table {table} no force row level security")
    action(op.get_bind())
    for table in SEEDED:
        op.execute(f"alter table {table} force row level security")


def upgrade() -> None:
    def seed(bind) -> None:
        for name, max_out, window, price_in, price_out, price_cached in MODELS:
            bind.execute(
                sa.text(
                    "insert into policy.models (name, provider, max_output_tokens, "
                    "context_window_tokens) values (:n, 'anthropic', :o, :w) on conflict do nothing"
                ),
                {"n": name, "o": max_out, "w": window},
            )
            bind.execute(
                sa.text(
                    "insert into policy.pricing (model, input_usd_per_mtok, output_usd_per_mtok, "
                    "cached_input_usd_per_mtok) values (:n, cast(:i as numeric), "
                    "cast(:o as numeric), cast(:c as numeric)) on conflict do nothing"
                ),
                {"n": name, "i": price_in, "o": price_out, "c": price_cached},
            )

    _with_rls_lifted(seed)


def downgrade() -> None:
    _with_rls_lifted(
        lambda bind: bind.execute(
            sa.text("delete from policy.models where name = any(:names)"),
            {"names": [m[0] for m in MODELS]},
        )
    )

"""Seed the model registry and list prices with the spec's twelve models.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-29

Operators change these afterwards (`api.set_price`, `api.set_model_enabled`); this runs
once, so their edits are never overwritten.
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

# name, provider, max output tokens, USD per 1M tokens: input, output, cached input
MODELS = [
    ("claude-sonnet-4-6", "anthropic", 64000, "3.00", "15.00", "0.30"),
    ("claude-opus-4-7", "anthropic", 32000, "5.00", "25.00", "0.50"),
    ("claude-haiku-4-5", "anthropic", 64000, "1.00", "5.00", "0.10"),
    ("gpt-4o", "openai", 16384, "2.50", "10.00", "1.25"),
    ("gpt-4o-mini", "openai", 16384, "0.15", "0.60", "0.075"),
    ("azure-gpt-4o", "azure", 16384, "2.50", "10.00", "1.25"),
    ("azure-gpt-4.1", "azure", 32768, "2.00", "8.00", "0.50"),
    ("phi-4", "azure_ai", 16384, "0.125", "0.50", "0"),
    ("deepseek-r1", "azure_ai", 32768, "1.35", "5.40", "0"),
    ("llama-3.3-70b", "azure_ai", 8192, "0.71", "0.71", "0"),
    ("copilot-gpt-4o", "github", 16384, "2.50", "10.00", "1.25"),
    ("gemini-1.5-pro", "gemini", 8192, "1.25", "5.00", "0.3125"),
]

SEEDED = ("policy.models", "policy.pricing")

INSERT_MODEL = sa.text(
    "insert into policy.models (name, provider, max_output_tokens) "
    "values (:name, :provider, :max_out) on conflict do nothing"
)
INSERT_PRICE = sa.text(
    "insert into policy.pricing (model, input_usd_per_mtok, output_usd_per_mtok, "
    "cached_input_usd_per_mtok) values (:name, cast(:input as numeric), "
    "cast(:output as numeric), cast(:cached as numeric)) on conflict do nothing"
)


def _with_rls_lifted(action) -> None:
    # Policies are created after the revisions run, so lift forced RLS for the seed only.
    for table in SEEDED:
        op.execute(f"alter table {table} no force row level security")
    action(op.get_bind())
    for table in SEEDED:
        op.execute(f"alter table {table} force row level security")


def upgrade() -> None:
    def seed(bind) -> None:
        for name, provider, max_out, price_in, price_out, price_cached in MODELS:
            bind.execute(INSERT_MODEL, {"name": name, "provider": provider, "max_out": max_out})
            bind.execute(
                INSERT_PRICE,
                {"name": name, "input": price_in, "output": price_out, "cached": price_cached},
            )

    _with_rls_lifted(seed)


def downgrade() -> None:
    def unseed(bind) -> None:
        bind.execute(
            sa.text("delete from policy.models where name = any(:names)"),
            {"names": [m[0] for m in MODELS]},
        )

    _with_rls_lifted(unseed)

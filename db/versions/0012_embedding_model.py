"""An embedding model in the registry: text-embedding-3-small.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-02

/v1/embeddings serves embedding models only (a provider refuses a chat model's name);
the default config gains one, and the registry and price list follow it. It produces
no output tokens; its limit of one is the registry's floor.
"""

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

SEEDED = ("policy.models", "policy.pricing")


def _with_rls_lifted(statement: str) -> None:
    # Policies are created after the revisions run, so lift forced RLS for the seed only.
    for table in SEEDED:
        op.execute(f"alter table {table} no force row level security")
    op.get_bind().execute(sa.text(statement))
    for table in SEEDED:
        op.execute(f"alter table {table} force row level security")


def upgrade() -> None:
    _with_rls_lifted(
        "insert into policy.models (name, provider, max_output_tokens, context_window_tokens) "
        "values ('text-embedding-3-small', 'openai', 1, 8191) on conflict do nothing; "
        "insert into policy.pricing (model, input_usd_per_mtok, output_usd_per_mtok, "
        "cached_input_usd_per_mtok) values ('text-embedding-3-small', 0.02, 0, 0) "
        "on conflict do nothing"
    )


def downgrade() -> None:
    _with_rls_lifted("delete from policy.models where name = 'text-embedding-3-small'")

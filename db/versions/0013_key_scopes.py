"""Key scopes the gateway enforces: inference and embeddings; the admin scope retired.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-02

Until now nothing read a key's scopes: `inference` let a key call every model endpoint,
embeddings included, and `admin` granted nothing it named (the admin API takes signed-in
sessions, never keys) while its key could still call models. Now the gateway checks them
(sql/iam.sql, iam.key_scopes), so each existing key keeps what it was issued for and no
more: an `inference` key gains `embeddings`, which it could always call; `admin` goes;
a key left with no scope (it had only `admin`, and was never meant to call models) is
revoked, which its team's admins see in the key list. New keys get both scopes.
"""

from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

UPGRADE = """
update iam.api_keys set scopes = array_append(scopes, 'embeddings')
 where 'inference' = any (scopes) and not 'embeddings' = any (scopes);
update iam.api_keys set scopes = array_remove(scopes, 'admin') where 'admin' = any (scopes);
update iam.api_keys set status = 'revoked', revoked_at = now()
 where scopes = '{}' and status = 'active';
alter table iam.api_keys alter column scopes set default array['inference', 'embeddings'];
"""


def upgrade() -> None:
    op.execute(UPGRADE)


def downgrade() -> None:
    # The scopes stay as they are: before this revision nothing read them.
    op.execute("alter table iam.api_keys alter column scopes set default array['inference']")

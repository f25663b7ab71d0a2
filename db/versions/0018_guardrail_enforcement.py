"""Guardrails enforced: new rule kinds, and each request event's verdict.

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-02

The gateway now judges requests and answers by the guardrails (api/guardrails/). Rules
gain the kinds regex, deny_list and secrets (policy.check_guardrail in sql/admin.sql
checks their config), and each request event records what the rules decided: the
strongest action taken (block, redact or flag) and every rule that matched, with its
stage and action.
"""

from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None

KINDS = "'block_pattern', 'max_input_tokens', 'pii_redact'"
NEW_KINDS = "'regex', 'deny_list', 'secrets'"

UPGRADE = f"""
alter table policy.guardrails drop constraint guardrails_kind_check;
alter table policy.guardrails add constraint guardrails_kind_check
    check (kind in ({KINDS}, {NEW_KINDS}));

alter table events.requests
    -- the strongest action the guardrails took on the request or its answer
    add column guardrail_action text check (guardrail_action in ('block', 'redact', 'flag')),
    -- every rule that matched: [{{"rule", "rule_id", "scope", "stage", "kind", "action"}}]
    add column guardrail_verdicts jsonb
        check (guardrail_verdicts is null or jsonb_typeof(guardrail_verdicts) = 'array');
create index requests_guardrail_action_idx on events.requests (team_id, started_at)
    where guardrail_action is not null;
"""

DOWNGRADE = """
-- The intake view and its trigger name the columns: the SQL files re-create them.
drop view if exists api.request_event_intake;
drop index events.requests_guardrail_action_idx;
alter table events.requests drop column guardrail_verdicts, drop column guardrail_action;
delete from policy.guardrails where kind in ('regex', 'deny_list', 'secrets');
alter table policy.guardrails drop constraint guardrails_kind_check;
alter table policy.guardrails add constraint guardrails_kind_check
    check (kind in ('block_pattern', 'max_input_tokens', 'pii_redact'));
"""


def upgrade() -> None:
    op.execute(UPGRADE)


def downgrade() -> None:
    op.execute(DOWNGRADE)

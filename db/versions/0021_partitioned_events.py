"""The request log, partitioned by month.

Revision ID: 0021
Revises: 0019
Create Date: 2026-12-03

events.requests becomes a table partitioned by range of `started_at`, one partition per
UTC month (events.requests_y2026m12, …), so that years of traffic stay fast to write,
to read by time and to drop by month. A default partition (events.requests_default)
takes any event no monthly partition covers: an event is never refused for its date.
api.create_event_partitions (sql/events.sql) creates the partitions ahead; the gateway
calls it at start and daily (jobs/event_partitions.py). This revision creates those of
every month the existing rows fall in, and of the current and the next month, and moves
the rows over.

A primary key of a partitioned table must hold the partition key: it is (request_id,
started_at). The intake's "a request id already recorded is skipped" still holds: an
event sent again (a batch replayed after a lost acknowledgement, the spool after an
outage) carries the same started_at, and the intake's ON CONFLICT names both columns.

Every unique key holds request_id too, so that the same table can later be distributed
by Citus on request_id (unique keys must hold the distribution column) unchanged.
"""

from alembic import op

revision = "0021"
down_revision = "0019"
branch_labels = None
depends_on = None

# The indexes events.requests has had since revisions 0005, 0018 and 0019 (the primary
# key aside), created again on the new table.
INDEXES = """
create index requests_team_started_idx on events.requests (team_id, started_at);
create index requests_started_idx on events.requests (started_at);
create index requests_guardrail_action_idx on events.requests (team_id, started_at)
    where guardrail_action is not null;
create index requests_session_idx on events.requests (session_id, started_at)
    where session_id is not null;
"""

# The SQL files' objects that name the table (re-created after every upgrade): the intake
# view, and the function returning its rows.
DEPENDENTS = """
drop view if exists api.request_event_intake;
drop function if exists api.list_request_events(text, timestamptz, integer);
drop function if exists api.create_event_partitions(integer, timestamptz);
"""

UPGRADE = """
-- Revisions run as aigw_owner, the owner, whom forced row-level security binds too: the
-- old table is read whole, whatever its policies say, to move its rows.
alter table events.requests no force row level security;
alter table events.requests disable row level security;
alter table events.requests rename to requests_unpartitioned;

create table events.requests (
    like events.requests_unpartitioned including defaults including constraints including comments
) partition by range (started_at);
create table events.requests_default partition of events.requests default;

do $partitions$
declare
    v_month timestamptz;
begin
    for v_month in
        select distinct date_trunc('month', r.started_at, 'UTC')
          from events.requests_unpartitioned r
        union
        select date_trunc('month', now(), 'UTC') + m * interval '1 month'
          from generate_series(0, 1) m
    loop
        execute format(
            'create table events.%I partition of events.requests for values from (%L) to (%L)',
            'requests_' || to_char(v_month at time zone 'UTC', '"y"YYYY"m"MM'),
            v_month, v_month + interval '1 month');
    end loop;
end
$partitions$;

insert into events.requests select * from events.requests_unpartitioned;
do $moved$
begin
    if (select count(*) from events.requests)
       <> (select count(*) from events.requests_unpartitioned) then
        raise exception 'the request log was not moved whole';
    end if;
end
$moved$;
drop table events.requests_unpartitioned;

alter table events.requests add constraint requests_pkey primary key (request_id, started_at);
"""

# Row-level security on every partition too: one read directly (not through
# events.requests) is under its own policies, and it has none.
SECURE = """
do $security$
declare
    v_table regclass;
begin
    for v_table in
        select 'events.requests'::regclass
        union all
        select inhrelid::regclass from pg_catalog.pg_inherits
         where inhparent = 'events.requests'::regclass
    loop
        execute format('alter table %s enable row level security', v_table);
        execute format('alter table %s force row level security', v_table);
    end loop;
end
$security$;
"""

DOWNGRADE = """
alter table events.requests no force row level security;
alter table events.requests disable row level security;
alter table events.requests rename to requests_partitioned;
alter table events.requests_partitioned rename constraint requests_pkey
    to requests_partitioned_pkey;
alter index events.requests_team_started_idx rename to requests_partitioned_team_started_idx;
alter index events.requests_started_idx rename to requests_partitioned_started_idx;
alter index events.requests_guardrail_action_idx
    rename to requests_partitioned_guardrail_action_idx;
alter index events.requests_session_idx rename to requests_partitioned_session_idx;

create table events.requests (
    like events.requests_partitioned including defaults including constraints including comments
);
-- A request id is the key again: should one have been recorded at two times, its first.
insert into events.requests
    select distinct on (request_id) * from events.requests_partitioned
     order by request_id, started_at;
drop table events.requests_partitioned;
alter table events.requests add constraint requests_pkey primary key (request_id);
"""

SECURE_PLAIN = """
alter table events.requests enable row level security;
alter table events.requests force row level security;
"""


def upgrade() -> None:
    for step in (DEPENDENTS, UPGRADE, INDEXES, SECURE):
        op.execute(step)


def downgrade() -> None:
    for step in (DEPENDENTS, DOWNGRADE, INDEXES, SECURE_PLAIN):
        op.execute(step)

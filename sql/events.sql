-- Request events: written by the gateway's batched writer, read per team.
--
-- The services hold no table privilege. They COPY batches into the view
-- api.request_event_intake (INSERT on that view is all they are granted); its INSTEAD OF
-- trigger, owned by aigw_internal, prices each event from the pricing table and inserts
-- it unless its request id is already recorded — a batch sent again after a lost
-- acknowledgement changes nothing.
--
-- events.requests is partitioned by month of started_at (revision 0021): its key is
-- (request_id, started_at), and an event sent again carries the same started_at, so the
-- intake's ON CONFLICT on both skips it as the key on request_id alone did.

set local role aigw_owner;

grant usage on schema events to aigw_internal;
-- (ON CONFLICT needs to read the conflicting key)
grant insert, select (request_id, started_at) on events.requests to aigw_internal;

create policy "internal functions record events" on events.requests
    for insert to aigw_internal with check (true);
-- ON CONFLICT checks the new row against select policies too (and reads only the key)
create policy "internal functions see which requests are recorded" on events.requests
    for select to aigw_internal using (true);
create policy "events are visible to whoever sees the team" on events.requests
    for select to aigw_owner using (team_id = any ((select iam.readable_team_ids())::uuid[]));

set local role aigw_internal;

create function api.record_request_event() returns trigger
language plpgsql volatile security definer
set search_path = pg_catalog, pg_temp
as $$
begin
    insert into events.requests (
        request_id, started_at, endpoint, wire, status, key_id, team_id, owner_user_id,
        service_account_id, model_requested, model_served, deployment, path, stream,
        input_tokens, output_tokens, cached_input_tokens, cost_usd, latency_ms,
        upstream_latency_ms, upstream_attempts, error_type, session_id, client, tool_calls,
        client_disconnected, cache, saved_input_tokens, saved_output_tokens, saved_usd,
        guardrail_action, guardrail_verdicts, message_count, last_turn_tool_result,
        tools_offered, tags)
    values (
        new.request_id, new.started_at, new.endpoint, new.wire, new.status, new.key_id,
        new.team_id, new.owner_user_id, new.service_account_id, new.model_requested,
        new.model_served, new.deployment, new.path, coalesce(new.stream, false),
        coalesce(new.input_tokens, 0), coalesce(new.output_tokens, 0),
        coalesce(new.cached_input_tokens, 0),
        coalesce(new.cost_usd, policy.cost_usd(new.model_served, coalesce(new.input_tokens, 0),
                                               coalesce(new.output_tokens, 0),
                                               coalesce(new.cached_input_tokens, 0)), 0),
        coalesce(new.latency_ms, 0), new.upstream_latency_ms,
        coalesce(new.upstream_attempts, 0), new.error_type, new.session_id, new.client,
        coalesce(new.tool_calls, 0), coalesce(new.client_disconnected, false), new.cache,
        coalesce(new.saved_input_tokens, 0), coalesce(new.saved_output_tokens, 0),
        coalesce(policy.cost_usd(new.model_served, coalesce(new.saved_input_tokens, 0),
                                 coalesce(new.saved_output_tokens, 0), 0), 0),
        new.guardrail_action, new.guardrail_verdicts, new.message_count,
        new.last_turn_tool_result, new.tools_offered, new.tags)
    on conflict (request_id, started_at) do nothing;
    return null;
end
$$;
comment on function api.record_request_event() is
    'Trigger of api.request_event_intake: record one event, priced (and what a cache hit '
    'saved), once per request id.';
grant execute on function api.record_request_event() to aigw_owner;

set local role aigw_owner;

create view api.request_event_intake as
    select request_id, started_at, endpoint, wire, status, key_id, team_id, owner_user_id,
           service_account_id, model_requested, model_served, deployment, path, stream,
           input_tokens, output_tokens, cached_input_tokens, cost_usd, latency_ms,
           upstream_latency_ms, upstream_attempts, error_type, session_id, client, tool_calls,
           client_disconnected, cache, saved_input_tokens, saved_output_tokens,
           guardrail_action, guardrail_verdicts, message_count, last_turn_tool_result,
           tools_offered, tags
      from events.requests
     where false;
comment on view api.request_event_intake is
    'Where the gateway COPYs its request events (insert only; see api.record_request_event).';
create trigger record_request_event instead of insert on api.request_event_intake
    for each row execute function api.record_request_event();
grant insert on api.request_event_intake to aigw_service;

create function api.list_request_events(
    p_team text default null, p_since timestamptz default now() - interval '1 day',
    p_limit integer default 100
) returns setof events.requests
language sql stable security definer
set search_path = pg_catalog, pg_temp
as $$
    select r.* from events.requests r
     where r.started_at >= p_since
       and (p_team is null or r.team_id = (select t.id from iam.teams t where t.name = p_team))
     order by r.started_at desc
     limit least(greatest(p_limit, 1), 10000)
$$;
comment on function api.list_request_events(text, timestamptz, integer) is
    'The newest request events since p_since, of the teams the caller may see.';

-- The admin Dashboard's figures in one row, counted where the events are (the page must
-- stay fast with millions of them: one indexed range scan, never a list to add up).
create function api.request_summary(p_since timestamptz default now() - interval '1 day')
returns table (requests bigint, errors bigint, cost_usd numeric, saved_usd numeric,
               cache_hits bigint, cache_misses bigint, input_tokens bigint,
               output_tokens bigint, p95_latency_ms double precision)
language sql stable security definer
set search_path = pg_catalog, pg_temp
as $$
    select count(*),
           count(*) filter (where r.status >= 400),
           coalesce(sum(r.cost_usd), 0),
           coalesce(sum(r.saved_usd), 0),
           count(*) filter (where r.cache like 'hit%'),
           count(*) filter (where r.cache = 'miss'),
           coalesce(sum(r.input_tokens), 0)::bigint,
           coalesce(sum(r.output_tokens), 0)::bigint,
           percentile_cont(0.95) within group (order by r.latency_ms)
      from events.requests r
     where r.started_at >= p_since
$$;
comment on function api.request_summary(timestamptz) is
    'Requests since p_since of the teams the caller may see: count, errors (status >= 400), '
    'cost and cache savings (USD), cache hits and misses, tokens, p95 latency (ms).';

-- The monthly partitions of events.requests (revision 0021), created ahead of need by
-- api.create_event_partitions: the gateway calls it at start and daily
-- (jobs/event_partitions.py), operators may (`select api.create_event_partitions(3)`;
-- before a backfill: `select api.create_event_partitions(2, '2026-01-01')`).
-- An event no partition covers lands in events.requests_default, so none is refused; a
-- month created after some of its events landed there takes them over (moved in the
-- same transaction), since a partition cannot be attached over rows the default holds.

-- The partition job reads and moves what the default partition holds; nobody else reads
-- it directly (through events.requests, the table's own policies apply).
create policy "the partition job moves events out of the default partition"
    on events.requests_default for select to aigw_owner using (true);
create policy "the partition job deletes what it moved out of the default partition"
    on events.requests_default for delete to aigw_owner using (true);

create function api.create_event_partitions(
    p_months_ahead integer default 2, p_from timestamptz default null
) returns integer
language plpgsql volatile security definer
set search_path = pg_catalog, pg_temp
as $$
declare
    v_month timestamptz;
    v_end timestamptz;
    v_name text;
    v_created integer := 0;
    v_first timestamptz := pg_catalog.date_trunc('month', least(coalesce(p_from, now()), now()),
                                                 'UTC');
    v_months integer;
begin
    if p_months_ahead is null or p_months_ahead not between 0 and 24 then
        raise exception 'months ahead must be between 0 and 24, not %', p_months_ahead
            using errcode = 'AIG06';
    end if;
    -- From p_from's month (a backfill of old events), else this month's.
    v_months := (pg_catalog.date_part('year', now() at time zone 'UTC')
                 - pg_catalog.date_part('year', v_first at time zone 'UTC')) * 12
                + pg_catalog.date_part('month', now() at time zone 'UTC')
                - pg_catalog.date_part('month', v_first at time zone 'UTC') + p_months_ahead;
    if v_months > 240 then
        raise exception 'at most 240 monthly partitions at once, not % (from %)', v_months, p_from
            using errcode = 'AIG06';
    end if;
    -- Gateways start together: one creates, the others find the partitions there.
    perform pg_catalog.pg_advisory_xact_lock(pg_catalog.hashtext('aigw.event_partitions'));
    for i in 0 .. v_months loop
        v_month := v_first + i * interval '1 month';
        v_end := v_month + interval '1 month';
        v_name := 'requests_' || pg_catalog.to_char(v_month at time zone 'UTC', '"y"YYYY"m"MM');
        continue when pg_catalog.to_regclass('events.' || pg_catalog.quote_ident(v_name))
                      is not null;
        if exists (select 1 from events.requests_default d
                    where d.started_at >= v_month and d.started_at < v_end) then
            execute pg_catalog.format(
                'create table events.%I (like events.requests including defaults '
                'including constraints)', v_name);
            execute pg_catalog.format(
                'with moved as (delete from events.requests_default d where d.started_at >= %L '
                'and d.started_at < %L returning d.*) insert into events.%I select * from moved',
                v_month, v_end, v_name);
            execute pg_catalog.format(
                'alter table events.requests attach partition events.%I '
                'for values from (%L) to (%L)', v_name, v_month, v_end);
        else
            execute pg_catalog.format(
                'create table events.%I partition of events.requests for values from (%L) to (%L)',
                v_name, v_month, v_end);
        end if;
        execute pg_catalog.format('alter table events.%I enable row level security', v_name);
        execute pg_catalog.format('alter table events.%I force row level security', v_name);
        v_created := v_created + 1;
    end loop;
    return v_created;
end
$$;
comment on function api.create_event_partitions(integer, timestamptz) is
    'Create the monthly partitions of events.requests that do not exist yet, from the month '
    'of p_from (default: this month; earlier for a backfill) to p_months_ahead (default 2) '
    'months ahead; returns how many it created. Idempotent. Create them before loading old '
    'events: the default partition is meant to stay nearly empty (each new partition '
    'checks it).';

-- The local event queue (events.queue, revision 0010): the writer COPYs events as JSON
-- into api.event_queue_intake; the event consumer claims the oldest with
-- api.claim_queued_events (FOR UPDATE SKIP LOCKED: consumers never share a row), records
-- them through api.request_event_intake, and deletes them with api.settle_queued_events
-- in the same transaction as its claim. A consumer that dies mid-batch leaves its rows to
-- the next one, and the intake skips request ids already recorded.

grant select, insert, delete on events.queue to aigw_internal;
grant update (dead_letter_reason) on events.queue to aigw_internal;
create policy "internal functions enqueue events" on events.queue
    for insert to aigw_internal with check (dead_letter_reason is null);
create policy "internal functions claim queued events" on events.queue
    for select to aigw_internal using (true);
create policy "internal functions set events aside" on events.queue
    for update to aigw_internal using (true) with check (true);
create policy "internal functions remove recorded events" on events.queue
    for delete to aigw_internal using (true);

set local role aigw_internal;

create function api.enqueue_request_event() returns trigger
language plpgsql volatile security definer
set search_path = pg_catalog, pg_temp
as $$
begin
    insert into events.queue (event) values (new.event);
    -- one notification per transaction (NOTIFY folds identical ones): consumers waiting
    -- on the channel wake at commit instead of polling
    perform pg_catalog.pg_notify('aigw_events', '');
    return null;
end
$$;
comment on function api.enqueue_request_event() is
    'Trigger of api.event_queue_intake: queue one event for the event consumer.';
grant execute on function api.enqueue_request_event() to aigw_owner;

create function api.claim_queued_events(p_limit integer)
returns table (id bigint, event jsonb)
language sql volatile security definer
set search_path = pg_catalog, pg_temp
as $$
    select q.id, q.event from events.queue q
     where q.dead_letter_reason is null
     order by q.id
     limit least(greatest(p_limit, 1), 5000)
       for update skip locked
$$;
comment on function api.claim_queued_events(integer) is
    'The oldest queued events no other consumer holds, locked until the caller''s '
    'transaction ends: settle them (api.settle_queued_events) before it commits.';
grant execute on function api.claim_queued_events(integer) to aigw_service;

create function api.settle_queued_events(p_ids bigint[]) returns integer
language sql volatile security definer
set search_path = pg_catalog, pg_temp
as $$
    with settled as (delete from events.queue q where q.id = any (p_ids) returning 1)
    select count(*)::integer from settled
$$;
comment on function api.settle_queued_events(bigint[]) is
    'Remove queued events the consumer has recorded (or that it set aside).';
grant execute on function api.settle_queued_events(bigint[]) to aigw_service;

create function api.dead_letter_queued_event(p_id bigint, p_reason text) returns void
language sql volatile security definer
set search_path = pg_catalog, pg_temp
as $$
    update events.queue q
       set dead_letter_reason = coalesce(nullif(left(p_reason, 500), ''), 'unreadable')
     where q.id = p_id
$$;
comment on function api.dead_letter_queued_event(bigint, text) is
    'Set aside a queued event the consumer cannot read; it stays in events.queue with '
    'the reason, for an operator.';
grant execute on function api.dead_letter_queued_event(bigint, text) to aigw_service;

create function api.event_queue_depth() returns bigint
language sql stable security definer
set search_path = pg_catalog, pg_temp
as $$
    select count(*) from events.queue q where q.dead_letter_reason is null
$$;
comment on function api.event_queue_depth() is
    'How many events wait in the local queue for the consumer.';
grant execute on function api.event_queue_depth() to aigw_service;

set local role aigw_owner;

create view api.event_queue_intake as select event from events.queue where false;
comment on view api.event_queue_intake is
    'Where the gateway COPYs its request events by default (insert only; the event '
    'consumer moves them into events.requests).';
create trigger enqueue_request_event instead of insert on api.event_queue_intake
    for each row execute function api.enqueue_request_event();
grant insert on api.event_queue_intake to aigw_service;

-- Claude Code's HTTP hook events (revision 0019): what classification needs and nothing
-- more. The gateway authenticates the hook's key and records the event through
-- api.record_hook_event; readers see a team's hook events as they see its requests, and
-- a developer their own.

set local role aigw_owner;

grant select, insert on events.hooks to aigw_internal;
create policy "internal functions record hook events" on events.hooks
    for insert to aigw_internal with check (true);
create policy "internal functions see which sessions are whose" on events.hooks
    for select to aigw_internal using (true);
create policy "hook events are visible to their user and to whoever sees the team"
    on events.hooks for select to aigw_owner
    using (user_id = (select iam.active_user_id())
           or team_id = any ((select iam.readable_team_ids())::uuid[]));

set local role aigw_internal;

create function api.record_hook_event(
    p_key_id uuid, p_user_id uuid, p_service_account_id uuid, p_team_id uuid,
    p_session_id text, p_hook_event_name text, p_tool_name text, p_permission_mode text,
    p_received_at timestamptz default null
) returns void
language plpgsql volatile security definer
set search_path = pg_catalog, pg_temp
as $$
begin
    -- A session is its first principal's: a hook that names another user's (or another
    -- service account's) session is refused rather than mixed into their history.
    if exists (select 1 from events.hooks h
                where h.session_id = p_session_id
                  and (h.user_id is distinct from p_user_id
                       or h.service_account_id is distinct from p_service_account_id)) then
        raise exception 'session % belongs to someone else', left(p_session_id, 128)
            using errcode = '42501',
                  hint = 'Each Claude Code session reports with the key of the person running it.';
    end if;
    -- The gateway records hooks in batches, after an outage perhaps: the time is when the
    -- hook arrived, never later than now.
    insert into events.hooks (received_at, key_id, user_id, service_account_id, team_id,
                              session_id, hook_event_name, tool_name, permission_mode)
    values (least(coalesce(p_received_at, now()), now()), p_key_id, p_user_id,
            p_service_account_id, p_team_id, p_session_id, p_hook_event_name, p_tool_name,
            p_permission_mode);
end
$$;
comment on function api.record_hook_event(uuid, uuid, uuid, uuid, text, text, text, text,
                                          timestamptz) is
    'Record one Claude Code hook event (no prompt, tool input or output, or path: only the '
    'event, session, tool name and permission mode). Refuses another principal''s session.';
grant execute on function api.record_hook_event(uuid, uuid, uuid, uuid, text, text, text, text,
                                                timestamptz) to aigw_owner;

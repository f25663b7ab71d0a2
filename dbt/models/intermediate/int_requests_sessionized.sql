-- Every request with the session it belongs to. A request with a session id belongs to
-- that session of its principal (ids come from clients, so one principal cannot join
-- another's); one without belongs to its key's run of requests until the key has been
-- idle `session_idle_gap_minutes`. On an incremental build only the requests of the
-- sessions that may have changed (macros/session_window.sql).
-- depends_on: {{ ref('stg_events__hooks') }}
{%- set scoped = session_scope_active() %}
-- not materialized: read twice on an incremental build, and each read must reach the
-- event log's indexes rather than a copy of the whole log
with all_requests as not materialized (
    select
        request_id, started_at, key_id, team_id, user_id, service_account_id, session_id,
        model_served, client, http_status, is_last_turn_tool_result, tool_call_count,
        tools_offered_count, message_count, cost_usd, input_tokens, output_tokens, latency_ms,
        coalesce(user_id, service_account_id, key_id)::text as principal_id
    from {{ ref('stg_events__requests') }}
    where key_id is not null
),

{% if scoped -%}
-- per key, where its unnamed requests are recomputed from: the start of its earliest
-- session that was still open within the window
unnamed_resume as (
    select key_id, min(started_at) as resume_at
    from {{ sessions_mart() }}
    where session_id is null
      and ended_at >= {{ session_window_start() }}
          - interval '{{ var("session_idle_gap_minutes") | int }} minutes'
    group by key_id
),

requests as (
    select r.*
    from all_requests as r
    -- an array, not a semi-join: the planner cannot tell how few ids come back, but
    -- `= any (array)` is an index condition on (session_id, started_at)
    where r.session_id = any (array({{ session_ids_in_window() }}))
    union all
    select r.*
    from all_requests as r
    left join unnamed_resume as u on u.key_id = r.key_id
    where r.session_id is null
      -- a constant lower bound the index on started_at (and partition pruning) can use
      and r.started_at >= least({{ session_window_start() }},
                                (select min(resume_at) from unnamed_resume))
      and r.started_at >= coalesce(u.resume_at, {{ session_window_start() }})
),
{%- else -%}
requests as (
    select * from all_requests
),
{%- endif %}

unnamed as (
    select
        request_id,
        key_id,
        started_at,
        case when lag(started_at) over w is null
               or started_at - lag(started_at) over w
                  > interval '{{ var("session_idle_gap_minutes") | int }} minutes'
             then 1 else 0 end as starts_session
    from requests
    where session_id is null
    window w as (partition by key_id order by started_at, request_id)
),

numbered as (
    select
        request_id,
        key_id,
        started_at,
        sum(starts_session) over (
            partition by key_id order by started_at, request_id
        ) as run_number
    from unnamed
),

-- an unnamed session is known by its key and its first request's time: the same key
-- whichever run the computation started from, so an incremental build merges onto it
runs as (
    select
        request_id,
        min(started_at) over (partition by key_id, run_number) as run_started_at
    from numbered
),

keyed as (
    select
        r.*,
        case
            when r.session_id is not null then 's:' || r.principal_id || ':' || r.session_id
            else 'k:' || r.key_id::text || ':'
                 || (extract(epoch from n.run_started_at) * 1000000)::bigint::text
        end as session_key
    from requests as r
    left join runs as n on n.request_id = r.request_id
)

-- gap_seconds: how long the session sat idle before this request, from the end of the
-- previous one (its start plus its latency). In an unattended loop that is only the
-- tool's run time; a person approving a tool or typing adds seconds to minutes.
select
    k.*,
    greatest(0, extract(epoch from k.started_at - lag(k.started_at) over w)
                - lag(k.latency_ms) over w / 1000.0)::double precision as gap_seconds
from keyed as k
window w as (partition by k.session_key order by k.started_at, k.request_id)

-- Every request with the session it belongs to. A request with a session id belongs to
-- that session of its principal (ids come from clients, so one principal cannot join
-- another's); one without belongs to its key's run of requests until the key has been
-- idle `session_idle_gap_minutes`.
with requests as (
    select
        request_id, started_at, key_id, team_id, user_id, service_account_id, session_id,
        model_served, client, http_status, is_last_turn_tool_result, tool_call_count,
        tools_offered_count, message_count, cost_usd, input_tokens, output_tokens, latency_ms,
        coalesce(user_id, service_account_id, key_id)::text as principal_id
    from {{ ref('stg_events__requests') }}
    where key_id is not null
),

unnamed as (
    select
        request_id,
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
        r.request_id,
        sum(u.starts_session) over (
            partition by r.key_id order by r.started_at, r.request_id
        ) as run_number
    from requests as r
    join unnamed as u on u.request_id = r.request_id
),

keyed as (
    select
        r.*,
        case
            when r.session_id is not null then 's:' || r.principal_id || ':' || r.session_id
            else 'k:' || r.key_id::text || ':' || n.run_number::text
        end as session_key
    from requests as r
    left join numbered as n on n.request_id = r.request_id
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

-- One row per session: its requests' counts and timing, and its hooks' summary.
with requests as (
    select * from {{ ref('int_requests_sessionized') }}
),

sessions as (
    select
        session_key,
        min(session_id) as session_id,
        min(key_id::text)::uuid as key_id,
        mode() within group (order by team_id) as team_id,
        min(user_id::text)::uuid as user_id,
        min(service_account_id::text)::uuid as service_account_id,
        min(started_at) as started_at,
        max(started_at) as ended_at,
        count(*)::bigint as request_count,
        (count(*) filter (where not coalesce(is_last_turn_tool_result, false)))::bigint
            as human_turn_count,
        (count(*) filter (where is_last_turn_tool_result))::bigint as tool_result_turn_count,
        coalesce(sum(tool_call_count), 0)::bigint as tool_call_count,
        coalesce(max(tools_offered_count), 0) as max_tools_offered,
        percentile_cont(0.5) within group (order by gap_seconds) as median_gap_seconds,
        mode() within group (order by model_served) as main_model,
        mode() within group (order by client) as client,
        sum(cost_usd) as cost_usd,
        sum(input_tokens)::bigint as input_tokens,
        sum(output_tokens)::bigint as output_tokens
    from requests
    group by session_key
)

select
    s.*,
    h.session_key is not null as has_hooks,
    coalesce(h.hook_prompt_count, 0) as hook_prompt_count,
    coalesce(h.hook_tool_use_count, 0) as hook_tool_use_count,
    h.permission_mode
from sessions as s
left join {{ ref('int_hook_sessions_summarized') }} as h on h.session_key = s.session_key

-- Per developer, team and UTC week (Monday): how they worked and their agentic score.
with sessions as (
    select * from {{ ref('sessions') }} where user_id is not null
),

weekly as (
    select
        week_start,
        team_id,
        user_id,
        count(*)::bigint as session_count,
        (count(*) filter (where session_class = 'interactive'))::bigint as interactive_session_count,
        (count(*) filter (where session_class = 'agentic'))::bigint as agentic_session_count,
        (count(*) filter (where session_class = 'autonomous'))::bigint as autonomous_session_count,
        sum(request_count)::bigint as request_count,
        sum(human_prompt_count)::bigint as human_prompt_count,
        sum(tool_call_count)::bigint as tool_call_count,
        sum(cost_usd) as cost_usd
    from sessions
    group by week_start, team_id, user_id
)

select
    {{ surrogate_key(['week_start', 'team_id', 'user_id']) }} as weekly_transformation_by_developer_id,
    w.*,
    (w.agentic_session_count + w.autonomous_session_count)::double precision
        / w.session_count as agentic_share,
    w.request_count::double precision / greatest(w.human_prompt_count, 1) as calls_per_prompt,
    {{ agentic_score('w.session_count', 'w.agentic_session_count + w.autonomous_session_count',
                     'w.autonomous_session_count', 'w.request_count',
                     'w.human_prompt_count') }} as agentic_score,
    now() as refreshed_at
from weekly as w

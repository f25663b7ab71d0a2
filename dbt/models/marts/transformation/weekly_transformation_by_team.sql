-- Per team and UTC week: every session of the team (service accounts' too), scored with
-- the same formula as a developer's.
with weekly as (
    select
        week_start,
        team_id,
        count(*)::bigint as session_count,
        (count(distinct user_id))::bigint as developer_count,
        (count(*) filter (where session_class = 'interactive'))::bigint as interactive_session_count,
        (count(*) filter (where session_class = 'agentic'))::bigint as agentic_session_count,
        (count(*) filter (where session_class = 'autonomous'))::bigint as autonomous_session_count,
        sum(request_count)::bigint as request_count,
        sum(human_prompt_count)::bigint as human_prompt_count,
        sum(cost_usd) as cost_usd
    from {{ ref('sessions') }}
    where team_id is not null
    group by week_start, team_id
)

select
    {{ surrogate_key(['week_start', 'team_id']) }} as weekly_transformation_by_team_id,
    w.*,
    (w.agentic_session_count + w.autonomous_session_count)::double precision
        / w.session_count as agentic_share,
    {{ agentic_score('w.session_count', 'w.agentic_session_count + w.autonomous_session_count',
                     'w.autonomous_session_count', 'w.request_count',
                     'w.human_prompt_count') }} as agentic_score,
    now() as refreshed_at
from weekly as w

-- Teams whose agentic share over the last `laggard_weeks` weeks is far below the
-- organisation's: below `laggard_max_share_of_org` of it, with at least
-- `laggard_min_sessions` sessions (a quiet team is not a lagging one).
with recent as (
    select * from {{ ref('sessions') }}
    where started_at >= now() - interval '{{ var("laggard_weeks") | int }} weeks'
      and team_id is not null
),

org as (
    select
        count(*)::bigint as session_count,
        (count(*) filter (where is_agent_driven))::double precision / nullif(count(*), 0)
            as agentic_share
    from recent
),

teams as (
    select
        team_id,
        count(*)::bigint as session_count,
        (count(*) filter (where is_agent_driven))::double precision / count(*) as agentic_share
    from recent
    group by team_id
)

select
    t.team_id,
    now() - interval '{{ var("laggard_weeks") | int }} weeks' as window_start_at,
    t.session_count,
    t.agentic_share,
    o.agentic_share as org_agentic_share,
    t.agentic_share / nullif(o.agentic_share, 0) as share_of_org,
    (t.session_count >= {{ var('laggard_min_sessions') | int }}
     and t.agentic_share < {{ var('laggard_max_share_of_org') }} * o.agentic_share)
        as is_laggard,
    now() as refreshed_at
from teams as t
cross join org as o

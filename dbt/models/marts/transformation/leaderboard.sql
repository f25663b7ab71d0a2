-- Weekly leaderboards, opt-in only: a team board per team and one company board. Only
-- people who turned a board on are on it; ranks are counted among them alone, and the
-- board carries no total or count, so nobody who stayed off can be read out of it.
-- (The api.* readers also check the current choice: opting out takes effect at once.)
with opt_ins as (
    select * from {{ ref('stg_league__leaderboard_opt_ins') }}
),

team_rows as (
    select
        'team' as board,
        d.week_start,
        d.team_id,
        d.user_id,
        d.session_count,
        d.agentic_score
    from {{ ref('weekly_transformation_by_developer') }} as d
    join opt_ins as o on o.user_id = d.user_id and o.is_on_team_board
),

company_weekly as (
    select
        week_start,
        user_id,
        sum(session_count)::bigint as session_count,
        {{ agentic_score('sum(session_count)',
                         'sum(agentic_session_count + autonomous_session_count)',
                         'sum(autonomous_session_count)', 'sum(request_count)',
                         'sum(human_prompt_count)') }} as agentic_score
    from {{ ref('weekly_transformation_by_developer') }}
    group by week_start, user_id
),

company_rows as (
    select
        'company' as board,
        c.week_start,
        null::uuid as team_id,
        c.user_id,
        c.session_count,
        c.agentic_score
    from company_weekly as c
    join opt_ins as o on o.user_id = c.user_id and o.is_on_company_board
),

board_rows as (
    select * from team_rows
    union all
    select * from company_rows
)

select
    {{ surrogate_key(['b.board', 'b.week_start', 'b.team_id', 'b.user_id']) }} as leaderboard_id,
    b.board,
    b.week_start,
    b.team_id,
    b.user_id,
    u.display_name,
    b.session_count,
    b.agentic_score,
    rank() over (partition by b.board, b.week_start, b.team_id
                 order by b.agentic_score desc) as rank,
    now() as refreshed_at
from board_rows as b
join {{ ref('dim_users') }} as u on u.user_id = b.user_id

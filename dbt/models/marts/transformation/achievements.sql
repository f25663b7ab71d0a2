{{ config(
    materialized='incremental',
    incremental_strategy='append',
    on_schema_change='fail',
    full_refresh=false,
    indexes=[
        {'columns': ['user_id', 'achievement'], 'unique': True},
    ],
) }}

-- Achievements, each awarded once per person with the time it was earned. Append-only:
-- a run adds what was newly earned and never changes or removes an award, so running the
-- build again awards nothing twice; `--full-refresh` leaves it alone (full_refresh=false).
--   first_agentic_session     their first agentic or autonomous session
--   first_autonomous_session  their first autonomous session
--   agentic_streak            `streak_length` agent-driven sessions in a row
--   marathon_session          a session with `marathon_tool_calls` tool calls or more
--   half_agentic_week         a completed week with an agentic score of 50 or more
--   top_10_percent_team       a completed week in a team whose score was in the top 10%
--                             of the teams active that week (awarded to its developers)
with sessions as (
    select * from {{ ref('sessions') }} where user_id is not null
),

first_agentic as (
    select distinct on (user_id)
        user_id, team_id, 'first_agentic_session' as achievement, ended_at as earned_at
    from sessions where is_agent_driven
    order by user_id, ended_at
),

first_autonomous as (
    select distinct on (user_id)
        user_id, team_id, 'first_autonomous_session' as achievement, ended_at as earned_at
    from sessions where session_class = 'autonomous'
    order by user_id, ended_at
),

runs as (
    select
        s.*,
        row_number() over (partition by user_id order by started_at, session_key)
        - row_number() over (partition by user_id, is_agent_driven
                             order by started_at, session_key) as run_id
    from sessions as s
),

streak as (
    select distinct on (user_id)
        user_id, team_id, 'agentic_streak' as achievement, ended_at as earned_at
    from (
        select r.*, row_number() over (partition by user_id, run_id
                                       order by started_at, session_key) as run_position
        from runs as r where is_agent_driven
    ) as positioned
    where run_position = {{ var('streak_length') | int }}
    order by user_id, ended_at
),

marathon as (
    select distinct on (user_id)
        user_id, team_id, 'marathon_session' as achievement, ended_at as earned_at
    from sessions where tool_call_count >= {{ var('marathon_tool_calls') | int }}
    order by user_id, ended_at
),

completed_weeks as (
    select * from {{ ref('weekly_transformation_by_developer') }}
    where week_start + 7 <= (now() at time zone 'UTC')::date
),

half_agentic as (
    select distinct on (user_id)
        user_id, team_id, 'half_agentic_week' as achievement,
        (week_start + 7)::timestamp at time zone 'UTC' as earned_at
    from completed_weeks where agentic_score >= 50
    order by user_id, week_start
),

ranked_teams as (
    select
        week_start, team_id,
        percent_rank() over (partition by week_start order by agentic_score desc) as pct
    from {{ ref('weekly_transformation_by_team') }}
    where week_start + 7 <= (now() at time zone 'UTC')::date
),

top_team as (
    select distinct on (d.user_id)
        d.user_id, d.team_id, 'top_10_percent_team' as achievement,
        (d.week_start + 7)::timestamp at time zone 'UTC' as earned_at
    from completed_weeks as d
    join ranked_teams as t on t.week_start = d.week_start and t.team_id = d.team_id
    where t.pct <= 0.1
    order by d.user_id, d.week_start
),

earned as (
    select * from first_agentic
    union all select * from first_autonomous
    union all select * from streak
    union all select * from marathon
    union all select * from half_agentic
    union all select * from top_team
)

select
    {{ surrogate_key(['e.user_id', 'e.achievement']) }} as achievement_id,
    e.user_id,
    e.team_id,
    e.achievement,
    e.earned_at,
    now() as awarded_at
from earned as e
{% if is_incremental() -%}
where not exists (
    select 1 from {{ this }} as a where a.user_id = e.user_id and a.achievement = e.achievement
)
{%- endif %}

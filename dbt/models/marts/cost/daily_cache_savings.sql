{{ config(
    materialized='incremental',
    incremental_strategy='merge',
    unique_key='daily_cache_savings_id',
    indexes=[
        {'columns': ['daily_cache_savings_id'], 'unique': True},
        {'columns': ['team_id', 'usage_day']},
        {'columns': ['usage_day']},
    ],
) }}

-- What the response cache saved, per team and UTC day: its own counters (every lookup,
-- bypasses included) beside what the team spent.
with stats as (
    select * from {{ ref('stg_cache__team_daily_stats') }}
    {% if is_incremental() -%}
    where usage_day >= {{ lookback_day('usage_day') }}
    {%- endif %}
),

spend as (
    select usage_day, team_id, sum(cost_usd) as cost_usd, sum(saved_usd) as event_saved_usd
    from {{ ref('daily_cost_by_team') }}
    {% if is_incremental() -%}
    where usage_day >= {{ lookback_day('usage_day') }}
    {%- endif %}
    group by usage_day, team_id
)

select
    {{ surrogate_key(['s.usage_day', 's.team_id']) }} as daily_cache_savings_id,
    s.usage_day,
    s.team_id,
    s.exact_hit_count,
    s.semantic_hit_count,
    s.miss_count,
    s.bypass_count,
    (s.exact_hit_count + s.semantic_hit_count)::double precision
        / nullif(s.exact_hit_count + s.semantic_hit_count + s.miss_count, 0) as hit_rate,
    s.saved_usd,
    coalesce(p.cost_usd, 0) as cost_usd,
    -- of what the team would have paid without the cache, the share it did not pay
    s.saved_usd / nullif(s.saved_usd + coalesce(p.cost_usd, 0), 0) as savings_share,
    now() as refreshed_at
from stats as s
left join spend as p on p.usage_day = s.usage_day and p.team_id = s.team_id

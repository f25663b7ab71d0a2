with source as (
    select
        team_id,
        day,
        exact_hits,
        semantic_hits,
        misses,
        bypasses,
        saved_usd
    from {{ source('cache', 'team_daily_stats') }}
),

renamed as (
    select
        team_id,
        day as usage_day,
        exact_hits as exact_hit_count,
        semantic_hits as semantic_hit_count,
        misses as miss_count,
        bypasses as bypass_count,
        saved_usd
    from source
)

select * from renamed

{{ config(
    materialized='incremental',
    incremental_strategy='merge',
    unique_key='daily_model_insights_id',
    indexes=[
        {'columns': ['daily_model_insights_id'], 'unique': True},
        {'columns': ['team_id', 'usage_day']},
        {'columns': ['usage_day']},
    ],
) }}

-- Errors and latency per UTC day, team, model and deployment. Percentiles do not add up
-- across rows, which is why whole days are recomputed rather than merged piecewise.
with requests as (
    select * from {{ ref('stg_events__requests') }}
    {% if is_incremental() -%}
    where started_at >= {{ lookback_start('usage_day') }}
    {%- endif %}
)

select
    {{ surrogate_key(['usage_day', 'team_id', 'model_served', 'deployment']) }}
        as daily_model_insights_id,
    usage_day,
    team_id,
    model_served,
    deployment,
    count(*)::bigint as request_count,
    (count(*) filter (where http_status >= 400))::bigint as error_count,
    (count(*) filter (where http_status >= 400))::double precision / count(*) as error_rate,
    (count(*) filter (where http_status = 429))::bigint as rate_limited_count,
    (count(*) filter (where http_status >= 500))::bigint as upstream_error_count,
    (count(*) filter (where guardrail_action = 'block'))::bigint as guardrail_blocked_count,
    (count(*) filter (where is_client_disconnected))::bigint as client_disconnected_count,
    (count(*) filter (where upstream_attempts > 1))::bigint as retried_count,
    avg(latency_ms) as latency_ms_avg,
    percentile_cont(0.5) within group (order by latency_ms) as latency_ms_p50,
    percentile_cont(0.95) within group (order by latency_ms) as latency_ms_p95,
    percentile_cont(0.95) within group (order by upstream_latency_ms) as upstream_latency_ms_p95,
    mode() within group (order by error_type) as most_common_error_type,
    now() as refreshed_at
from requests
group by usage_day, team_id, model_served, deployment

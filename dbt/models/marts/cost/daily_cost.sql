{{ config(
    materialized='incremental',
    incremental_strategy='merge',
    unique_key='daily_cost_id',
    on_schema_change='append_new_columns',
    indexes=[
        {'columns': ['daily_cost_id'], 'unique': True},
        {'columns': ['team_id', 'usage_day']},
        {'columns': ['user_id', 'usage_day']},
    ],
) }}

-- Indexed on its merge key and on what the api.* readers filter by (team or user, day),
-- as are the other daily marts.
-- The cost fact: one row per UTC day, team, key, principal, model, deployment and tag
-- set. Sums over it equal the event log's; grouping by one tag is daily_cost_by_tag.
with requests as (
    select * from {{ ref('stg_events__requests') }}
    {% if is_incremental() -%}
    where started_at >= {{ lookback_start('usage_day') }}
    {%- endif %}
),

priced as (
    select
        r.*,
        t.area_id,
        -- what the tokens cost at list price: every input token at the input price,
        -- cached ones included (the gap to cost_usd is the provider's cache discount)
        coalesce(
            (r.input_tokens * p.input_usd_per_mtok + r.output_tokens * p.output_usd_per_mtok)
            / 1000000, r.cost_usd) as list_cost_usd
    from requests as r
    left join {{ ref('stg_policy__model_prices') }} as p on p.model_name = r.model_served
    left join {{ ref('stg_iam__teams') }} as t on t.team_id = r.team_id
)

select
    {{ surrogate_key(['usage_day', 'team_id', 'key_id', 'user_id', 'service_account_id',
                      'model_served', 'deployment', 'tags']) }} as daily_cost_id,
    usage_day,
    team_id,
    area_id,
    key_id,
    user_id,
    service_account_id,
    model_served,
    deployment,
    tags,
    count(*)::bigint as request_count,
    (count(*) filter (where http_status >= 400))::bigint as error_count,
    (count(*) filter (where cache_status in ('hit-exact', 'hit-semantic')))::bigint
        as cache_hit_count,
    sum(input_tokens)::bigint as input_tokens,
    sum(cached_input_tokens)::bigint as cached_input_tokens,
    sum(output_tokens)::bigint as output_tokens,
    sum(cost_usd)::numeric(20, 9) as cost_usd,
    sum(list_cost_usd)::numeric(20, 9) as list_cost_usd,
    sum(saved_usd)::numeric(20, 9) as saved_usd,
    min(started_at) as first_request_at,
    max(started_at) as last_request_at,
    max(recorded_at) as last_recorded_at,
    now() as refreshed_at
from priced
group by usage_day, team_id, area_id, key_id, user_id, service_account_id, model_served,
    deployment, tags

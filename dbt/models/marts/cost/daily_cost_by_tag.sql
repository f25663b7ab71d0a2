{{ config(
    materialized='incremental',
    incremental_strategy='merge',
    unique_key='daily_cost_by_tag_id',
    indexes=[
        {'columns': ['daily_cost_by_tag_id'], 'unique': True},
        {'columns': ['team_id', 'usage_day']},
        {'columns': ['usage_day']},
    ],
) }}

-- One row per tag (key and value): a request tagged pr=… and env=ci counts under both,
-- so sum per tag_key, never across keys. Untagged requests are not here (daily_cost).
with cost as (
    select * from {{ ref('daily_cost') }}
    {% if is_incremental() -%}
    where usage_day >= {{ lookback_day('usage_day') }}
    {%- endif %}
),

tagged as (
    select c.*, tag.key as tag_key, tag.value as tag_value
    from cost as c
    cross join lateral jsonb_each_text(c.tags) as tag
)

select
    {{ surrogate_key(['usage_day', 'team_id', 'tag_key', 'tag_value']) }} as daily_cost_by_tag_id,
    usage_day,
    team_id,
    tag_key,
    tag_value,
    sum(request_count)::bigint as request_count,
    sum(error_count)::bigint as error_count,
    sum(input_tokens)::bigint as input_tokens,
    sum(cached_input_tokens)::bigint as cached_input_tokens,
    sum(output_tokens)::bigint as output_tokens,
    sum(cost_usd) as cost_usd,
    sum(list_cost_usd) as list_cost_usd,
    sum(saved_usd) as saved_usd,
    now() as refreshed_at
from tagged
group by usage_day, team_id, tag_key, tag_value

{#- A daily cost mart grouped by `group_columns` (besides usage_day), incremental: merged
    on its grain, recomputing the lookback window from daily_cost. `attributes` are
    carried along but not part of the key (a team's area: a team that moves to another
    area keeps one row per day, updated, not a second one). -#}
{% macro cost_rollup(group_columns, attributes=[]) -%}
{%- set grain = ['usage_day'] + group_columns -%}
with cost as (
    select * from {{ ref('daily_cost') }}
    {% if is_incremental() -%}
    where usage_day >= {{ lookback_day('usage_day') }}
    {%- endif %}
)

select
    {{ surrogate_key(grain) }} as {{ this.identifier }}_id,
    {{ (grain + attributes) | join(',\n    ') }},
    sum(request_count)::bigint as request_count,
    sum(error_count)::bigint as error_count,
    sum(cache_hit_count)::bigint as cache_hit_count,
    sum(input_tokens)::bigint as input_tokens,
    sum(cached_input_tokens)::bigint as cached_input_tokens,
    sum(output_tokens)::bigint as output_tokens,
    sum(cost_usd) as cost_usd,
    sum(list_cost_usd) as list_cost_usd,
    sum(saved_usd) as saved_usd,
    now() as refreshed_at
from cost
group by {{ (grain + attributes) | join(', ') }}
{%- endmacro %}

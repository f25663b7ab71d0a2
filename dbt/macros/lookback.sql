{#- Where an incremental daily mart starts recomputing: `lookback_days` before the newest
    day it holds, as a UTC timestamp so the filter on the event log can use its index on
    started_at. Whole days are recomputed, so a late event lands in its day. -#}
{% macro lookback_start(day_column) -%}
    (((select coalesce(max({{ day_column }}), date '1970-01-01') from {{ this }})
      - {{ var('lookback_days') | int }})::timestamp at time zone 'UTC')
{%- endmacro %}

{% macro lookback_day(day_column) -%}
    ((select coalesce(max({{ day_column }}), date '1970-01-01') from {{ this }})
     - {{ var('lookback_days') | int }})
{%- endmacro %}

{#- Data tests over the event log check, on an incremental build, only its recent rows.

    The staging views over events.requests and events.hooks (and the daily marts) hold the
    whole log: unique / not_null over ten million rows cost tens of seconds each, on
    every refresh, for rows a previous build already checked. A test whose `where` config
    names `__recent__` (e.g. `started_at >= __recent__`) checks, on an incremental build,
    only the rows of the last `lookback_days` days — the rows that build read. The full
    check, the whole log, runs on the first build, under `--full-refresh`
    (`aigw analytics run --full-refresh`) and with `--vars '{full_scan: true}'`
    (`aigw analytics run --var full_scan=true`).
    This overrides dbt's get_where_subquery (the hook dbt documents for it).
-#}
{% macro get_where_subquery(relation) -%}
    {%- set where = config.get('where') -%}
    {%- if where and '__recent__' in where -%}
        {%- if flags.FULL_REFRESH or var('full_scan', false) or not _built_before() -%}
            {%- do return(relation) -%}
        {%- endif -%}
        {%- set where = where | replace('__recent__',
            "(now() - interval '" ~ (var('lookback_days') | int) ~ " days')") -%}
    {%- endif -%}
    {%- if where -%}
        {%- set filtered -%}
            (select * from {{ relation }} where {{ where }}) dbt_subquery
        {%- endset -%}
        {%- do return(filtered) -%}
    {%- else -%}
        {%- do return(relation) -%}
    {%- endif -%}
{%- endmacro %}

{#- Whether the marts were built before this build: the sessions mart, the last model a
    build makes, exists (tests run after their model, so the model's own table says
    nothing). -#}
{% macro _built_before() -%}
    {%- if not execute -%}{{ return(false) }}{%- endif -%}
    {{ return(sessions_mart() is not none) }}
{%- endmacro %}

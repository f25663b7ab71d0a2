{{ config(
    materialized='incremental',
    incremental_strategy='merge',
    unique_key='daily_cost_by_key_id',
) }}

{{ cost_rollup(['team_id', 'key_id']) }}

{{ config(
    materialized='incremental',
    incremental_strategy='merge',
    unique_key='daily_cost_by_team_id',
) }}

{{ cost_rollup(['team_id'], attributes=['area_id']) }}

{{ config(
    materialized='incremental',
    incremental_strategy='merge',
    unique_key='daily_cost_by_model_id',
) }}

{{ cost_rollup(['team_id', 'model_served']) }}

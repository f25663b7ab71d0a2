{{ config(
    materialized='incremental',
    incremental_strategy='merge',
    unique_key='daily_cost_by_area_id',
) }}

{{ cost_rollup(['area_id']) }}
